// Composes subgraph SDL files into a supergraph; exits 1 on composition errors.
// Usage: node compose.mjs NAME=FILE [NAME=FILE ...] [--out SUPERGRAPH_FILE]
import { readFileSync, writeFileSync } from "node:fs";
import { parse } from "graphql";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";

const args = process.argv.slice(2);
let out = null;
const services = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--out") {
    out = args[++i];
    continue;
  }
  const [name, file] = args[i].split("=");
  if (!name || !file) {
    console.error(`bad argument ${args[i]}: expected NAME=FILE`);
    process.exit(2);
  }
  services.push({ name, typeDefs: parse(readFileSync(file, "utf8")) });
}
if (services.length === 0) {
  console.error("usage: node compose.mjs NAME=FILE [NAME=FILE ...] [--out FILE]");
  process.exit(2);
}

const result = composeServices(services);
if (compositionHasErrors(result)) {
  for (const error of result.errors) console.error(`composition error: ${error.message}`);
  process.exit(1);
}
if (out) writeFileSync(out, result.supergraphSdl);
console.log(`composed ${services.length} subgraph(s): ${services.map((s) => s.name).join(", ")}`);
