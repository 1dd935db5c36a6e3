// The peer: Hive Gateway over the OpenAPI documents of the three JSON department
// systems (planning, fire, utilities), composed by GraphQL Mesh. bench/peer.py sets
// the URLs and the utilities API key (the fixtures' demo key) in the environment.
import { createPrefixTransform, defineConfig } from '@graphql-mesh/compose-cli';
import { loadOpenAPISubgraph } from '@omnigraph/openapi';

function department(name: string, variable: string, headers: Record<string, string> = {}) {
  const endpoint = process.env[variable];
  if (!endpoint) throw new Error(`${variable} is not set`);
  return {
    sourceHandler: loadOpenAPISubgraph(name, {
      source: `${endpoint}/openapi.json`,
      endpoint,
      operationHeaders: headers,
    }),
    // The systems share type names (Health, Page, ...) with different fields; the root
    // fields keep their operationIds, which are already distinct.
    transforms: [createPrefixTransform({ value: `${name}_`, includeRootOperations: false })],
  };
}

export const composeConfig = defineConfig({
  subgraphs: [
    department('planning', 'PLANNING_URL'),
    department('fire', 'FIRE_URL'),
    department('utilities', 'UTILITIES_URL', { 'X-Api-Key': process.env.UTILITIES_API_KEY ?? '' }),
  ],
});
