import type { Observation, Patient } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../../fhir/definitions.js';
import { computeSearchRows, getRowSource } from './index-values.js';

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
    expect(names.find((s) => s.value === 'Müller')?.part).toBe('family');
    expect(rows.string.filter((s) => s.part === 'city').map((s) => `${s.code}=${s.norm}`)).toEqual(['address=nairobi']);
  });

  test('strings: only whole values are marked whole; a one-part name is its own whole', () => {
    const names = computeSearchRows(patient).string.filter((s) => s.code === 'name');
    expect(names.filter((s) => s.whole).map((s) => s.value)).toEqual(['Dr Zoë Ann Müller']);
    const single = computeSearchRows({ resourceType: 'Patient', name: [{ family: 'Otieno' }] });
    expect(single.string.filter((s) => s.code === 'name')).toEqual([
      { code: 'name', value: 'Otieno', norm: 'otieno', whole: true, part: 'family' },
    ]);
    const long = computeSearchRows({
      resourceType: 'Patient',
      name: [{ given: ['A'.repeat(300)], family: 'B'.repeat(300) }],
    });
    expect(long.string.filter((s) => s.code === 'name').every((s) => s.whole)).toBe(true);
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
    // `patient` is `subject` where the reference names a Patient: one row, under `subject`
    expect(rows.reference.filter((r) => r.code === 'subject')).toHaveLength(1);
    expect(rows.reference.filter((r) => r.code === 'patient')).toHaveLength(0);
  });
});

describe('parameters that share rows', () => {
  test('same expression: stored once; a where() subset: read from its base', () => {
    const rows = computeSearchRows(patient);
    expect(rows.string.filter((s) => s.code === 'phonetic')).toEqual([]);
    expect(rows.token.filter((t) => t.code === 'email' || t.code === 'phone')).toEqual([]);
    expect(getRowSource('Patient', 'phonetic')).toEqual({ code: 'name' });
    expect(getRowSource('Patient', 'name')).toEqual({ code: 'name' });
    expect(getRowSource('Patient', 'email')).toEqual({ code: 'telecom', system: 'email' });
    expect(getRowSource('Observation', 'patient')).toEqual({
      code: 'subject',
      targetType: 'Patient',
      identifiersOf: 'patient',
    });
    expect(getRowSource('Coverage', 'patient')).toEqual({ code: 'beneficiary' });
    expect(getRowSource('Patient', 'family')).toEqual({ code: 'name', part: 'family' });
    expect(getRowSource('Organization', 'address-postalcode')).toEqual({ code: 'address', part: 'postalCode' });
    expect(getRowSource('Patient', 'address-use')).toEqual({ code: 'address-use' });
  });

  test('a value that is several parts keeps a row per part; a whole equal to a part is that row', () => {
    const rows = computeSearchRows({
      resourceType: 'Patient',
      name: [{ given: ['James', 'James'], family: 'James' }, { text: 'Kim' }, { family: 'Kim' }],
    }).string.filter((s) => s.code === 'name');
    expect(rows.map((s) => `${s.value}/${s.part}/${s.whole}`)).toEqual([
      'James/given/false',
      'James/family/false',
      'James James James/null/true',
      'Kim/family/true',
    ]);
  });

  test('a type subset keeps its own :identifier rows (an identifier names no type)', () => {
    const obs: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'Patient/p1', identifier: { system: 'http://mrn', value: '1' } },
      performer: [{ identifier: { system: 'http://npi', value: '2' } }],
    };
    const identifiers = computeSearchRows(obs).token.filter((t) => t.code.endsWith(':identifier'));
    expect(identifiers.map((t) => `${t.code}=${t.system}|${t.value}`).sort()).toEqual([
      'patient:identifier=http://mrn|1',
      'performer:identifier=http://npi|2',
      'subject:identifier=http://mrn|1',
    ]);
    expect(getRowSource('Observation', 'patient:identifier')).toEqual({ code: 'patient:identifier' });
    expect(getRowSource('Coverage', 'patient:identifier')).toEqual({ code: 'beneficiary:identifier' });
    expect(getRowSource('Observation', 'subject:identifier')).toEqual({ code: 'subject:identifier' });
  });
});
