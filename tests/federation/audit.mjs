// Runs graphql-http's GraphQL-over-HTTP server audits against a URL.
// Prints one line per audit; exits 1 if any MUST audit fails.
// Usage: node audit.mjs URL
import { auditServer } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs URL");
  process.exit(2);
}
const results = await auditServer({ url });
let failedMust = 0;
for (const result of results) {
  const reason = result.status === "ok" ? "" : ` -- ${result.reason}`;
  console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}${reason}`);
  if (result.status === "error") failedMust += 1;
}
console.log(`audits: ${results.length}, MUST failures: ${failedMust}`);
process.exit(failedMust ? 1 : 0);
