import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getResourceTypes, isResourceType } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { getRegisteredProfile, loadFhirDefinitions, readProfileFolder, registerProfile } from '../definitions.js';
import { collectValidationIssues, validateFhirResource } from './validate-resource.js';

/** The repo's shipped profile `fhir-profiles/tiba-hbv-viral-load.json`, as the server loads it. */
const PROFILE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../fhir-profiles');
const URL = 'https://tiba.health/fhir/StructureDefinition/tiba-hbv-viral-load';

const conforming: Observation = {
  resourceType: 'Observation',
  meta: { profile: [URL] },
  status: 'final',
  category: [
    { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] },
  ],
  code: {
    coding: [
      {
        system: 'http://loinc.org',
        code: '42595-9',
        display: 'Hepatitis B virus DNA [Units/volume] (viral load) in Serum or Plasma by NAA with probe detection',
      },
    ],
    text: 'HBV DNA',
  },
  subject: { reference: 'Patient/amina' },
  effectiveDateTime: '2024-05-02T09:30:00Z',
  valueQuantity: { value: 2400, unit: 'IU/mL', system: 'http://unitsofmeasure.org', code: '[IU]/mL' },
};

function errorsOf(resource: Observation): string[] {
  return collectValidationIssues(resource)
    .filter((i) => i.severity === 'error')
    .map((i) => `${i.expression?.[0]}: ${i.details?.text}`);
}

beforeAll(() => {
  loadFhirDefinitions();
  for (const sd of readProfileFolder(PROFILE_DIR)) {
    registerProfile(sd);
  }
});

test('the profile ships with a snapshot and is registered by its canonical URL', () => {
  const sd = getRegisteredProfile(URL);
  expect(sd).toMatchObject({ type: 'Observation', derivation: 'constraint', kind: 'resource' });
  expect(sd?.snapshot?.element.length).toBeGreaterThan(40);
});

describe('tiba-hbv-viral-load', () => {
  test('a conforming result passes, including a below-detection-limit result', () => {
    expect(() => validateFhirResource(conforming)).not.toThrow();
    const belowLimit = { ...conforming, valueQuantity: { ...conforming.valueQuantity, value: 10, comparator: '<' } };
    expect(errorsOf(belowLimit as Observation)).toEqual([]);
    expect(
      errorsOf({ ...conforming, subject: { reference: 'urn:uuid:4f1a5a0e-8f52-4d6c-9d0b-6f1c3b1d2e7a' } })
    ).toEqual([]);
  });

  test('the wrong LOINC code fails', () => {
    const alt = { ...conforming, code: { coding: [{ system: 'http://loinc.org', code: '1742-6' }] } };
    expect(errorsOf(alt)).toEqual([expect.stringMatching(/^Observation\.code: .*42595-9/)]);
  });

  test('a missing value fails', () => {
    const { valueQuantity: _, ...noValue } = conforming;
    expect(errorsOf(noValue)).toEqual([
      expect.stringMatching(/^Observation\.value(\[x\]|Quantity): .*Missing required/),
    ]);
  });

  test('a value in other units, or of another type, fails', () => {
    const copies = {
      ...conforming,
      valueQuantity: { value: 12000, system: 'http://unitsofmeasure.org', code: '{copies}/mL' },
    };
    expect(errorsOf(copies)).toEqual([expect.stringMatching(/^Observation\.valueQuantity: .*\[IU\]\/mL/)]);
    const { valueQuantity: _, ...rest } = conforming;
    expect(errorsOf({ ...rest, valueString: '2400 IU/mL' }).length).toBeGreaterThan(0);
  });

  test('a quantity without a number fails', () => {
    const noNumber = { ...conforming, valueQuantity: { system: 'http://unitsofmeasure.org', code: '[IU]/mL' } };
    expect(errorsOf(noNumber)).toEqual([expect.stringMatching(/tiba-hbv-2/)]);
  });

  test('the subject is required and must be a Patient', () => {
    const { subject: _, ...noSubject } = conforming;
    expect(errorsOf(noSubject)).toEqual([expect.stringMatching(/^Observation\.subject: .*Missing required/)]);
    expect(errorsOf({ ...conforming, subject: { reference: 'Group/ward-3' } })).toEqual([
      expect.stringMatching(/tiba-hbv-1/),
    ]);
  });

  test('the parsed profile schema never passes for a resource type', () => {
    validateFhirResource(conforming);
    expect(getResourceTypes().filter((t) => t.includes('tiba') || t.startsWith('TibaHbv'))).toEqual([]);
    expect(isResourceType(`tiba-profile:${URL}`)).toBe(false);
  });

  test('status stays required', () => {
    const { status: _, ...noStatus } = conforming;
    expect(errorsOf(noStatus as Observation)).toEqual([expect.stringMatching(/^Observation\.status: /)]);
  });
});
