// gen-corpus.mjs writes corpus/NAME.json beside every corpus/NAME.yaml: the document as the
// reference parser reads it, for TestCorpus (corpus_test.go). The reference is the npm package
// "yaml" (eemeli/yaml), a YAML 1.2 parser with the core schema; merge keys are turned on, as
// Tiaki reads them. The Go tests need neither node nor the package: run this only after
// changing the corpus, and commit the JSON it writes.
//
//   cd internal/yamldoc/testdata && npm install --no-save --prefix /tmp/yamlref yaml@2.9.1 &&
//     NODE_PATH=/tmp/yamlref/node_modules node gen-corpus.mjs
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const YAML = require("yaml");
const dir = new URL("corpus/", import.meta.url);
for (const name of readdirSync(dir).filter((n) => n.endsWith(".yaml")).sort()) {
  const src = readFileSync(new URL(name, dir), "utf8");
  const doc = YAML.parseDocument(src, { merge: true, uniqueKeys: true, prettyErrors: false });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) throw new Error(`${name}: ${problems.join("; ")}`);
  const value = doc.toJS();
  writeFileSync(new URL(name.replace(/\.yaml$/, ".json"), dir), JSON.stringify(value, null, 2) + "\n");
  console.log(name);
}
