import type { Observation, Patient } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../../fhir/definitions.js';
import { computeSearchRows } from './index-values.js';

beforeAll(() => loadFhirDefinitions());

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p1',
  meta: { tag: [{ system: 'http://tags', code: 't1' }], profile: ['http://example.org/profile'] },
  identifier: [{ system: 'http://mrn', value: '123', type: { text: 'MRN' } }],
  active: true,
  name: [{ given: ['Zoë', 'Ann'], family: 'Müller', prefix: ['Dr'] }],
  telecom: [{ system: 'email', value: 'zoe@example.org' }],
  gender: 'female',
  birthDate: '2024-05',
  address: [{ line: ['1 Main St'], city: 'Nairobi', country: 'KE' }],
  generalPractitioner: [{ reference: 'Practitioner/pr1' }, { identifier: { system: 'http://npi', value: '9' } }],
  managingOrganization: { reference: 'https://other.example/fhir/Organization/o1' },
};

describe('computeSearchRows', () => {
  test('tokens: identifier, code, boolean, ContactPoint, meta.tag', () => {
    const rows = computeSearchRows(patient);
    const tokens = rows.token.map((t) => `${t.code}=${t.system ?? ''}|${t.value ?? ''}|${t.text ?? ''}`).sort();
    expect(tokens).toEqual(
      expect.arrayContaining([
        '_tag=http://tags|t1|',
        'active=|true|',
        'email=email|zoe@example.org|',
        'gender=|female|',
        'general-practitioner:identifier=http://npi|9|',
        'identifier=http://mrn|123|mrn',
        'telecom=email|zoe@example.org|',
      ])
    );
  });

  test('strings: HumanName parts, full name, accents folded', () => {
    const rows = computeSearchRows(patient);
    const names = rows.string.filter((s) => s.code === 'name');
    expect(names.map((s) => s.value).sort()).toEqual(['Ann', 'Dr', 'Dr Zoë Ann Müller', 'Müller', 'Zoë']);
    expect(names.find((s) => s.value === 'Müller')?.norm).toBe('muller');
    expect(rows.string.filter((s) => s.code === 'address-city').map((s) => s.norm)).toEqual(['nairobi']);
  });

  test('dates cover their precision', () => {
    const rows = computeSearchRows(patient);
    expect(rows.date.filter((d) => d.code === 'birthdate')).toEqual([
      { code: 'birthdate', start: '2024-05-01T00:00:00.000Z', end: '2024-05-31T23:59:59.999Z' },
    ]);
  });

  test('references: relative and absolute; uri: profile', () => {
    const rows = computeSearchRows(patient);
    expect(rows.reference).toEqual(
      expect.arrayContaining([
        { code: 'general-practitioner', targetType: 'Practitioner', targetId: 'pr1', reference: 'Practitioner/pr1' },
        {
          code: 'organization',
          targetType: 'Organization',
          targetId: 'o1',
          reference: 'https://other.example/fhir/Organization/o1',
        },
      ])
    );
    expect(rows.uri).toContainEqual({ code: '_profile', value: 'http://example.org/profile' });
  });

  test('quantity precision, CodeableConcept text, open period, dedupe', () => {
    const obs: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic' }], text: 'BP sys' },
      subject: { reference: 'Patient/p1' },
      effectivePeriod: { start: '2024-05-03T10:00:00+02:00' },
      valueQuantity: { value: 5.4, unit: 'milligram', system: 'http://unitsofmeasure.org', code: 'mg' },
    };
    const rows = computeSearchRows(obs);
    expect(rows.quantity.filter((q) => q.code === 'value-quantity')).toEqual([
      {
        code: 'value-quantity',
        value: '5.4',
        low: '5.35',
        high: '5.45',
        system: 'http://unitsofmeasure.org',
        unit: 'mg',
      },
      { code: 'value-quantity', value: '5.4', low: '5.35', high: '5.45', system: null, unit: 'milligram' },
    ]);
    expect(rows.token.filter((t) => t.code === 'code')).toEqual([
      { code: 'code', system: 'http://loinc.org', value: '8480-6', text: 'systolic' },
      { code: 'code', system: null, value: null, text: 'bp sys' },
    ]);
    expect(rows.date.find((d) => d.code === 'date')).toEqual({
      code: 'date',
      start: '2024-05-03T08:00:00.000Z',
      end: 'infinity',
    });
    // `subject` and `patient` are distinct params; each has exactly one row
    expect(rows.reference.filter((r) => r.code === 'subject')).toHaveLength(1);
    expect(rows.reference.filter((r) => r.code === 'patient')).toHaveLength(1);
  });
});
