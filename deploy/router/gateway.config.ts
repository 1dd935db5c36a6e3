// Hive Gateway in front of the hub replicas and the subgraphs that extend `Matter`.
//
// SUBGRAPHS lists the subgraphs as `name=url,name=url` (the hub first: its replicas
// behind one address). At start, and every SUPERGRAPH_POLL_MS (default 60 s), the
// gateway fetches each subgraph's `_service { sdl }` (with `Authorization: Bearer
// $ROUTER_TOKEN` when set: a production hub shows its SDL only to signed-in roles)
// and composes them with The Guild's Federation 2 composition; a failed fetch or
// composition keeps the last good supergraph. Each client's Authorization,
// X-Request-Id, X-Case-Number and W3C trace context (traceparent, tracestate) headers
// go on to the subgraphs: the hub authorises every field itself, logs the request id
// and case number, and continues the caller's trace. The gateway's own OpenTelemetry
// spans are not set up here.
import { defineConfig } from '@graphql-hive/gateway';
import { composeServices, compositionHasErrors } from '@theguild/federation-composition';
import { parse } from 'graphql';

interface Subgraph {
  name: string;
  url: string;
}

function subgraphs(): Subgraph[] {
  const listed = (process.env.SUBGRAPHS ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const at = entry.indexOf('=');
      return { name: entry.slice(0, at), url: entry.slice(at + 1) };
    });
  if (listed.length === 0 || listed.some((s) => !s.name || !s.url.startsWith('http'))) {
    throw new Error('SUBGRAPHS must list the subgraphs as name=url,name=url');
  }
  return listed;
}

async function sdl({ name, url }: Subgraph): Promise<string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
  };
  if (process.env.ROUTER_TOKEN) headers.authorization = `Bearer ${process.env.ROUTER_TOKEN}`;
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json().catch(() => null)) as {
    data?: { _service?: { sdl?: string } };
    errors?: { message: string }[];
  } | null;
  const found = body?.data?._service?.sdl;
  if (!found) {
    const why = body?.errors?.map((e) => e.message).join('; ') ?? `HTTP ${response.status}`;
    throw new Error(`subgraph ${name}: no SDL from _service (${why})`);
  }
  return found;
}

export const gatewayConfig = defineConfig({
  supergraph: async () => {
    const services = await Promise.all(
      subgraphs().map(async (subgraph) => ({ ...subgraph, typeDefs: parse(await sdl(subgraph)) })),
    );
    const result = composeServices(services);
    if (compositionHasErrors(result)) {
      throw new Error(`composition failed: ${result.errors.map((e) => e.message).join('; ')}`);
    }
    return result.supergraphSdl;
  },
  pollingInterval: Number(process.env.SUPERGRAPH_POLL_MS ?? 60_000),
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({
      authorization: request.headers.get('authorization'),
      'x-request-id': request.headers.get('x-request-id'),
      'x-case-number': request.headers.get('x-case-number'),
      // The caller's trace goes on to the hub, which continues it (or starts one).
      traceparent: request.headers.get('traceparent'),
      tracestate: request.headers.get('tracestate'),
    }),
  },
});
