import { describe, expect, test } from 'vitest';
import { findLocalValueSet, getLocalValueSet, valueSetHasCode } from './value-sets.js';

describe('getLocalValueSet', () => {
  test('expands a value set that includes a whole code system', () => {
    const vs = getLocalValueSet('http://hl7.org/fhir/ValueSet/administrative-gender');
    expect(vs?.contains.map((c) => c.code)).toEqual(['male', 'female', 'other', 'unknown']);
    expect(vs?.contains[0]).toEqual({
      system: 'http://hl7.org/fhir/administrative-gender',
      code: 'male',
      display: 'Male',
    });
  });

  test('resolves a version suffix, falling back to the URL when that version is not held', () => {
    const exact = getLocalValueSet('http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1');
    expect(exact?.valueSet.version).toBe('4.0.1');
    // R4 binds to terminology.hl7.org value sets "|4.0.1" although they carry other versions
    const other = getLocalValueSet('http://terminology.hl7.org/ValueSet/v3-ActPriority|4.0.1');
    expect(other && valueSetHasCode(other, 'http://terminology.hl7.org/CodeSystem/v3-ActPriority', 'EM')).toBe(true);
  });

  test('includes nested concepts of hierarchical code systems', () => {
    const vs = getLocalValueSet('http://hl7.org/fhir/ValueSet/condition-clinical');
    expect(vs?.contains.map((c) => c.code)).toEqual(
      expect.arrayContaining(['active', 'recurrence', 'relapse', 'inactive', 'remission', 'resolved'])
    );
  });

  test('expands explicit concept lists, taking displays from the code system when missing', () => {
    const vs = getLocalValueSet('http://hl7.org/fhir/ValueSet/languages');
    expect(vs?.contains.find((c) => c.code === 'en-US')).toMatchObject({ system: 'urn:ietf:bcp:47' });
    expect(vs && valueSetHasCode(vs, undefined, 'sw')).toBe(false);
  });

  test('expands Medplum value sets for Medplum resource types', () => {
    const vs = getLocalValueSet('https://medplum.com/fhir/ValueSet/project-feature');
    expect(vs?.contains.length).toBeGreaterThan(5);
  });

  test('does not pretend to enumerate grammar-based or external code systems', () => {
    expect(getLocalValueSet('http://hl7.org/fhir/ValueSet/ucum-units')).toBeUndefined();
    expect(getLocalValueSet('http://hl7.org/fhir/ValueSet/mimetypes|4.0.1')).toBeUndefined();
    expect(getLocalValueSet('http://hl7.org/fhir/ValueSet/currencies')).toBeUndefined();
    expect(findLocalValueSet('http://hl7.org/fhir/ValueSet/currencies')?.url).toBe(
      'http://hl7.org/fhir/ValueSet/currencies'
    );
  });

  test('returns undefined for an unknown value set, and caches either way', () => {
    expect(getLocalValueSet('http://example.org/ValueSet/nope')).toBeUndefined();
    const a = getLocalValueSet('http://hl7.org/fhir/ValueSet/observation-status');
    expect(getLocalValueSet('http://hl7.org/fhir/ValueSet/observation-status')).toBe(a);
  });
});
