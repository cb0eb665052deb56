import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getStatus, OperationOutcomeError } from '@medplum/core';
import type { Observation, OperationOutcome, Patient, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadFhirDefinitions, readProfileFolder, registerProfile } from '../definitions.js';
import { collectValidationIssues, validateFhirResource } from './validate-resource.js';

const HBV_PROFILE = 'https://tiba.health/fhir/StructureDefinition/tiba-hbv-viral-load';
const PROFILE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../fhir-profiles');

/** The OperationOutcome that validation throws, or undefined when the resource is valid. */
function outcomeOf(resource: Resource): OperationOutcome | undefined {
  try {
    validateFhirResource(resource);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(OperationOutcomeError);
    return (err as OperationOutcomeError).outcome;
  }
}

function issuesOf(resource: Resource): { code: string; expression?: string; text?: string }[] {
  return (outcomeOf(resource)?.issue ?? []).map((i) => ({
    code: i.code,
    expression: i.expression?.[0],
    text: i.details?.text,
  }));
}

beforeAll(() => {
  loadFhirDefinitions();
  for (const sd of readProfileFolder(PROFILE_DIR)) {
    registerProfile(sd);
  }
});

describe('base definition', () => {
  test('a valid patient passes', () => {
    const patient: Patient = { resourceType: 'Patient', gender: 'female', birthDate: '1990-04-02' };
    expect(() => validateFhirResource(patient)).not.toThrow();
  });

  test('rejects a code outside a required binding, at its FHIRPath', () => {
    const outcome = outcomeOf({ resourceType: 'Patient', gender: 'blue' } as unknown as Patient);
    expect(outcome && getStatus(outcome)).toBe(400);
    expect(outcome?.issue).toEqual([
      expect.objectContaining({ severity: 'error', code: 'code-invalid', expression: ['Patient.gender'] }),
    ]);
    expect(outcome?.issue[0].details?.text).toContain('"blue"');
  });

  test('accepts a primitive that carries only an extension', () => {
    const patient = {
      resourceType: 'Patient',
      _gender: {
        extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }],
      },
    } as Patient;
    expect(issuesOf(patient)).toEqual([]);
  });

  test('checks required bindings inside arrays and backbone elements', () => {
    const patient = { resourceType: 'Patient', name: [{ family: 'A' }, { family: 'B', use: 'nickname-ish' }] };
    expect(issuesOf(patient as Patient)).toEqual([expect.objectContaining({ expression: 'Patient.name[1].use' })]);
  });

  test('rejects a missing 1..1 element and an array for a single value', () => {
    const obs = { resourceType: 'Observation', status: ['final', 'amended'] } as unknown as Observation;
    expect(issuesOf(obs)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'structure',
          expression: 'Observation.code',
          text: 'Missing required property',
        }),
        expect.objectContaining({ code: 'structure', expression: 'Observation.status' }),
      ])
    );
  });

  test('rejects bad dates', () => {
    expect(issuesOf({ resourceType: 'Patient', birthDate: '1990-13-01' })).toEqual([
      expect.objectContaining({ expression: 'Patient.birthDate', text: 'Invalid date format' }),
    ]);
    expect(issuesOf({ resourceType: 'Patient', birthDate: '2023-02-29' })).toEqual([
      expect.objectContaining({ expression: 'Patient.birthDate', text: 'Invalid date value' }),
    ]);
  });

  test('rejects unknown elements', () => {
    expect(issuesOf({ resourceType: 'Patient', favouriteColour: 'blue' } as Patient)).toEqual([
      expect.objectContaining({ code: 'structure', expression: 'Patient.favouriteColour' }),
    ]);
  });

  test('rejects a broken invariant', () => {
    // pat-1: a contact needs details (name, telecom, address) or an organization
    const patient: Patient = { resourceType: 'Patient', contact: [{ gender: 'male' }] };
    expect(issuesOf(patient)).toEqual([
      expect.objectContaining({
        code: 'invariant',
        expression: 'Patient.contact[0]',
        text: expect.stringMatching(/pat-1/),
      }),
    ]);
  });

  test('names choice elements as they appear in the resource', () => {
    const obs = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'ALT' },
      valueQuantity: { value: 'high' },
    } as unknown as Observation;
    expect(issuesOf(obs)).toEqual([expect.objectContaining({ expression: 'Observation.valueQuantity.value' })]);
  });

  test('lists every issue, not just the first', () => {
    const patient = { resourceType: 'Patient', gender: 'blue', birthDate: 'yesterday', foo: 1 } as unknown as Patient;
    expect(issuesOf(patient).map((i) => i.expression)).toEqual(
      expect.arrayContaining(['Patient.gender', 'Patient.birthDate', 'Patient.foo'])
    );
  });

  test('accepts whitespace inside base64Binary, as R4 does', () => {
    const binary = { resourceType: 'Binary', contentType: 'text/plain', data: 'aGVs bG8g\nd29y bGQ=' } as Resource;
    expect(issuesOf(binary)).toEqual([]);
    expect(issuesOf({ ...binary, data: 'not base64!' } as Resource)).toHaveLength(1);
  });

  test('rejects an unknown resource type', () => {
    expect(outcomeOf({ resourceType: 'Spaceship' } as unknown as Resource)?.issue[0].severity).toBe('error');
  });
});

describe('profiles', () => {
  const viralLoad: Observation = {
    resourceType: 'Observation',
    meta: { profile: [HBV_PROFILE] },
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '42595-9' }] },
    subject: { reference: 'Patient/123' },
    valueQuantity: { value: 1200, unit: 'IU/mL', system: 'http://unitsofmeasure.org', code: '[IU]/mL' },
  };

  test('enforces a profile named in meta.profile that the server holds', () => {
    expect(() => validateFhirResource(viralLoad)).not.toThrow();
    const wrongCode = { ...viralLoad, code: { coding: [{ system: 'http://loinc.org', code: '1742-6' }] } };
    expect(issuesOf(wrongCode)).toEqual([
      expect.objectContaining({ expression: 'Observation.code', text: expect.stringContaining(HBV_PROFILE) }),
    ]);
  });

  test('without meta.profile, or with profiles off, only the base definition applies', () => {
    const plain = { ...viralLoad, meta: undefined, valueQuantity: { value: 3, unit: 'copies/mL' } };
    expect(issuesOf(plain)).toEqual([]);
    expect(() => validateFhirResource({ ...plain, meta: viralLoad.meta }, { profiles: false })).not.toThrow();
  });

  test('a profile the server does not hold is a warning, not an error', () => {
    const other = { ...viralLoad, meta: { profile: ['http://example.org/StructureDefinition/unknown'] } };
    expect(() => validateFhirResource(other)).not.toThrow();
    expect(collectValidationIssues(other)).toEqual([
      expect.objectContaining({ severity: 'warning', expression: ['Observation.meta.profile'] }),
    ]);
  });

  test('a profile for another resource type is an error', () => {
    const patient = { resourceType: 'Patient', meta: { profile: [HBV_PROFILE] } } as Patient;
    expect(issuesOf(patient)).toEqual([
      expect.objectContaining({ code: 'structure', text: expect.stringMatching(/Observation/) }),
    ]);
  });
});
