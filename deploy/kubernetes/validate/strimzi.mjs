// Reads a JSON array of Kubernetes resources on stdin; validates each Strimzi resource
// (kafka.strimzi.io, core.strimzi.io) against the schema of its CRD at its apiVersion;
// prints one JSON line per resource {kind, name, ok, errors} and exits 1 if any failed or
// if a Strimzi kind/version has no schema here.
import { readFileSync } from "node:fs";

const docs = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const doc of docs) {
  const [group, version] = (doc.apiVersion || "").split("/");
  if (!group.endsWith("strimzi.io")) continue;
  const name = doc.metadata?.name;
  let model;
  try {
    model = await import(`@kubernetes-models/strimzi-kafka-operator/${group}/${version}/${doc.kind}`);
  } catch (e) {
    console.log(JSON.stringify({ kind: doc.kind, name, ok: false, errors: [`no schema for ${doc.apiVersion} ${doc.kind}`] }));
    failed++;
    continue;
  }
  try {
    new model[doc.kind](doc).validate();
    console.log(JSON.stringify({ kind: doc.kind, name, ok: true }));
  } catch (e) {
    console.log(JSON.stringify({ kind: doc.kind, name, ok: false, errors: [String(e.message)] }));
    failed++;
  }
}
process.exit(failed ? 1 : 0);
