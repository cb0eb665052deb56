import type { TypedValueWithPath } from '@medplum/core';
import { getAllDataTypes } from '@medplum/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../definitions.js';
import { checkRequiredBindings } from './required-bindings.js';
import { getLocalValueSet } from './value-sets.js';

const CLINICAL = 'http://hl7.org/fhir/ValueSet/condition-clinical|4.0.1';
const CLINICAL_SYSTEM = 'http://terminology.hl7.org/CodeSystem/condition-clinical';

function token(type: string, value: unknown, path = 'Condition.clinicalStatus'): TypedValueWithPath {
  return { type, value, path };
}

beforeAll(() => {
  loadFhirDefinitions();
});

describe('checkRequiredBindings', () => {
  test('a CodeableConcept conforms when one of its codings is in the value set', () => {
    const cc = {
      coding: [
        { system: 'http://snomed.info/sct', code: '55561003' },
        { system: CLINICAL_SYSTEM, code: 'active' },
      ],
    };
    expect(checkRequiredBindings({ [CLINICAL]: [token('CodeableConcept', cc)] })).toEqual([]);
  });

  test('a CodeableConcept whose codings are all outside the value set is rejected', () => {
    const cc = { coding: [{ system: CLINICAL_SYSTEM, code: 'dormant' }] };
    expect(checkRequiredBindings({ [CLINICAL]: [token('CodeableConcept', cc)] })).toEqual([
      expect.objectContaining({ severity: 'error', code: 'code-invalid', expression: ['Condition.clinicalStatus'] }),
    ]);
  });

  test('the system matters: the right code in the wrong system is rejected', () => {
    const coding = { system: 'http://example.org/other', code: 'active' };
    expect(checkRequiredBindings({ [CLINICAL]: [token('Coding', coding)] })).toHaveLength(1);
  });

  test('a text-only CodeableConcept has nothing to check', () => {
    expect(checkRequiredBindings({ [CLINICAL]: [token('CodeableConcept', { text: 'active' })] })).toEqual([]);
  });

  test("Medplum's own resource types count as resource types", () => {
    const url = 'http://hl7.org/fhir/ValueSet/resource-types|4.0.1';
    expect(checkRequiredBindings({ [url]: [token('code', 'Project'), token('code', 'Patient')] })).toEqual([]);
    expect(checkRequiredBindings({ [url]: [token('code', 'Spaceship')] })).toHaveLength(1);
  });

  test('values bound to a value set that is not held locally are skipped', () => {
    const url = 'http://hl7.org/fhir/ValueSet/mimetypes|4.0.1';
    expect(checkRequiredBindings({ [url]: [token('code', 'application/x-anything')] })).toEqual([]);
  });
});

test('the required value sets skipped for want of local content are exactly the documented ones', () => {
  const required = new Set<string>();
  for (const schema of Object.values(getAllDataTypes())) {
    for (const element of Object.values(schema.elements)) {
      if (element.binding?.strength === 'required' && element.binding.valueSet) {
        required.add(element.binding.valueSet);
      }
    }
  }
  expect(required.size).toBeGreaterThan(200);
  const skipped = [...required].filter((url) => !getLocalValueSet(url)).sort();
  // Keep in step with the list in required-bindings.ts.
  expect(skipped).toEqual([
    'http://hl7.org/fhir/ValueSet/characteristic-combination|5.0.0',
    'http://hl7.org/fhir/ValueSet/currencies|4.0.1',
    'http://hl7.org/fhir/ValueSet/mimetypes|4.0.1',
    'http://hl7.org/fhir/ValueSet/subscription-notification-type|4.3.0',
    'http://hl7.org/fhir/ValueSet/ucum-units|4.0.1',
    'http://loinc.org/vs/LL379-9|4.0.1',
  ]);
});
