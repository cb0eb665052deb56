// Per-resource validation cost. Skipped in normal runs; to measure:
//   cd packages/server && BENCH=1 sh ../../scripts/node24.sh npx vitest run src/fhir/validation/validate-resource.bench.test.ts
// Validation runs on every write, so it must stay far below the ~1 ms a create can spend in
// total at 1,000 creates/s on two cores.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Observation, Patient, Resource } from '@medplum/fhirtypes';
import { beforeAll, expect, test } from 'vitest';
import { loadFhirDefinitions, readProfileFolder, registerProfile } from '../definitions.js';
import { validateFhirResource } from './validate-resource.js';

const PROFILE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../fhir-profiles');
const EXAMPLES_DIR = path.dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));

const patient: Patient = {
  resourceType: 'Patient',
  identifier: [{ system: 'https://tiba.health/mrn', value: 'KE-000123' }],
  name: [{ given: ['Amina'], family: 'Otieno' }],
  telecom: [{ system: 'phone', value: '+254700000000', use: 'mobile' }],
  gender: 'female',
  birthDate: '1990-04-02',
  address: [{ city: 'Kisumu', country: 'KE' }],
};

const viralLoad: Observation = {
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '42595-9' }] },
  subject: { reference: 'Patient/123' },
  effectiveDateTime: '2024-05-02T09:30:00Z',
  valueQuantity: { value: 2400, unit: 'IU/mL', system: 'http://unitsofmeasure.org', code: '[IU]/mL' },
};

function readExample(name: string): Resource {
  return JSON.parse(readFileSync(path.join(EXAMPLES_DIR, name), 'utf8'));
}

/**
 * Microseconds per call: the best of several rounds, since the machine is shared (database, load
 * generator, other tests) and the minimum is the figure least disturbed by them.
 */
function measure(resource: Resource, rounds = 10, iterations = 1000): number {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round <= rounds; round++) {
    const start = performance.now();
    for (let i = 0; i < iterations; i++) {
      validateFhirResource(resource);
    }
    // Round 0 is the warm-up.
    best = round === 0 ? best : Math.min(best, ((performance.now() - start) * 1000) / iterations);
  }
  return best;
}

beforeAll(() => {
  loadFhirDefinitions();
  for (const sd of readProfileFolder(PROFILE_DIR)) {
    registerProfile(sd);
  }
});

test.runIf(process.env.BENCH)('validation cost per resource', () => {
  const cases: Record<string, Resource> = {
    'typical Patient': patient,
    'Patient-example.json (3 names, contact, narrative)': readExample('Patient-example.json'),
    'HBV viral-load Observation': viralLoad,
    'HBV viral load + tiba-hbv-viral-load profile': {
      ...viralLoad,
      meta: { profile: ['https://tiba.health/fhir/StructureDefinition/tiba-hbv-viral-load'] },
    },
    'Observation-example.json': readExample('Observation-example.json'),
  };
  const results = Object.entries(cases).map(([name, r]) => ({ name, 'µs/resource': Math.round(measure(r)) }));
  console.table(results);
  expect(results.every((r) => r['µs/resource'] < 1000)).toBe(true);
});
