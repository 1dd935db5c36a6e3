// The peer's gateway configuration, as its users write it: with PEER_RESPONSE_CACHE_TTL_MS
// set above 0 (bench/procs.py sets it for the warm scenario, to the hub's result-cache
// TTL), Hive Gateway's built-in response cache (`responseCaching`) is on, one cache for
// every caller (the peer has no authentication, so there is one session); otherwise it
// is off (the cold scenario).
import { defineConfig } from '@graphql-hive/gateway';

const ttl = Number(process.env.PEER_RESPONSE_CACHE_TTL_MS ?? '0');

export const gatewayConfig = defineConfig(
  ttl > 0 ? { responseCaching: { session: () => null, ttl } } : {},
);
