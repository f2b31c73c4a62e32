// The OpenAPI 3.1 document of Switchboard's /apideck edge
// (hub/apideck/openapi.json, served at GET /apideck/openapi.json) loads in
// common validators: Redocly's recommended lint with 0 errors, and every
// schema compiles in Ajv's strict mode (JSON Schema 2020-12, as OpenAPI 3.1
// uses it). With HUB_URL set, the served copy is checked against the file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const here = path.dirname(fileURLToPath(import.meta.url));
const file = path.join(here, "..", "hub", "apideck", "openapi.json");
const doc = JSON.parse(readFileSync(file, "utf8"));

test("is OpenAPI 3.1 with a servers entry", () => {
  assert.match(doc.openapi, /^3\.1\./);
  assert.ok(doc.servers?.length > 0 && doc.servers[0].url.endsWith("/apideck"));
});

test("Redocly recommended: 0 errors", () => {
  const redocly = path.join(here, "node_modules", ".bin", "redocly");
  let out;
  try {
    out = execFileSync(redocly, ["lint", "--extends=recommended", "--format=json", file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    assert.fail(`redocly lint failed:\n${err.stdout}\n${err.stderr}`);
  }
  const report = JSON.parse(out);
  const errors = report.problems.filter((p) => p.severity === "error");
  assert.deepEqual(errors, []);
  assert.deepEqual(report.problems.map((p) => `${p.ruleId}: ${p.message}`), [], "no warnings either");
});

// rebase points "#/components/schemas/X" at the schema added as "X.json".
const rebase = (v) => JSON.parse(JSON.stringify(v), (k, x) =>
  k === "$ref" && typeof x === "string" ? x.replace(/^#\/components\/schemas\/(.+)$/, "$1.json") : x);

test("every schema compiles in Ajv strict mode", () => {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  for (const [name, schema] of Object.entries(doc.components.schemas)) ajv.addSchema(rebase(schema), `${name}.json`);
  for (const name of Object.keys(doc.components.schemas)) {
    assert.ok(ajv.getSchema(`${name}.json`), name); // compiles it, strictly
  }
  let n = 0;
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      for (const [code, res] of Object.entries(op.responses)) {
        const schema = res.content?.["application/json"]?.schema;
        if (!schema) continue;
        assert.doesNotThrow(() => ajv.compile(rebase(schema)), `${method} ${p} ${code}`);
        n++;
      }
      for (const param of [...(op.parameters ?? []), ...Object.values(doc.components.parameters)]) {
        if (param.schema) assert.doesNotThrow(() => ajv.compile(rebase(param.schema)), `${method} ${p} ${param.name}`);
      }
    }
  }
  assert.ok(n >= 15, `${n} success response schemas`);
});

test("the hub serves this document", { skip: !process.env.HUB_URL && "HUB_URL not set" }, async () => {
  const res = await fetch(process.env.HUB_URL + "/apideck/openapi.json");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), doc);
});
