import type { SearchRequest } from '@medplum/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../../../fhir/definitions.js';
import { getCompartmentParams, getCompartmentTypes } from '../../compartments.js';
import { compileSearch } from '../compile.js';
import { searchUrl } from '../links.js';
import type { Compartment, CompartmentSearchRequest } from './compartment.js';

beforeAll(() => loadFhirDefinitions());

const options = { baseUrl: 'http://localhost:8103/', lenient: false };
const squash = (sql: string) => sql.replace(/\s+/g, ' ');

function compile(request: SearchRequest, compartment: Compartment) {
  return compileSearch(options, { ...request, compartment } as CompartmentSearchRequest);
}

describe('compartment definitions', () => {
  test('the five R4 compartments, with their member types and parameters', () => {
    expect(getCompartmentParams('Patient')?.get('Observation')).toEqual(['subject', 'performer']);
    // Medplum's Patient definition (the one meta.compartment uses), not R4's `patient`.
    expect(getCompartmentParams('Patient')?.get('Encounter')).toEqual(['subject']);
    expect(getCompartmentParams('Encounter')?.get('Observation')).toEqual(['encounter']);
    expect(getCompartmentParams('Practitioner')?.get('Encounter')).toEqual(['practitioner', 'participant']);
    expect(getCompartmentParams('RelatedPerson')?.get('Observation')).toEqual(['performer']);
    expect(getCompartmentParams('Device')?.get('Observation')).toEqual(['subject', 'device']);
    // `{def}` is the owner itself, which is always a member anyway.
    expect(getCompartmentParams('Encounter')?.get('Encounter')).toBeUndefined();
    expect(getCompartmentParams('Observation')).toBeUndefined();
  });

  test('member types include the owner type, and not types outside the compartment', () => {
    expect(getCompartmentTypes('Device')).toEqual(expect.arrayContaining(['Device', 'Observation', 'Flag']));
    expect(getCompartmentTypes('Patient')).toContain('Patient');
    expect(getCompartmentTypes('Patient')).not.toContain('Organization');
    expect(getCompartmentTypes('Unknown')).toEqual([]);
  });
});

describe('compartment condition', () => {
  test("one lookup of the owner's references, ORing each (type, compartment parameter)", () => {
    const search = compile({ resourceType: 'Observation' }, { resourceType: 'Patient', id: 'p1' });
    expect(squash(search.where)).toBe(
      'r.resource_type = $1 AND NOT r.deleted AND r.sid IN (SELECT c1.resource_sid FROM search_reference c1' +
        ' WHERE c1.target_id = $5 AND c1.target_type = $6' +
        ' AND ((c1.resource_type = $2 AND c1.code = $3) OR (c1.resource_type = $2 AND c1.code = $4)))'
    );
    expect(search.params.values).toEqual(['Observation', 'Observation', 'subject', 'performer', 'p1', 'Patient']);
  });

  test('the owner is in its own compartment, besides the resources that reference it', () => {
    const patient = compile({ resourceType: 'Patient' }, { resourceType: 'Patient', id: 'p1' });
    expect(squash(patient.where)).toMatch(
      /AND c1\.resource_type = \$2 AND c1\.code = \$3 UNION ALL SELECT o2\.sid FROM resource o2 WHERE o2\.resource_type = \$5 AND o2\.id = \$4\)$/
    );
    expect(patient.params.values).toEqual(['Patient', 'Patient', 'link', 'p1', 'Patient']);
    const device = compile({ resourceType: 'Device' }, { resourceType: 'Device', id: 'd1' });
    expect(squash(device.where)).toBe(
      'r.resource_type = $1 AND NOT r.deleted AND r.sid IN' +
        ' (SELECT o2.sid FROM resource o2 WHERE o2.resource_type = $3 AND o2.id = $2)'
    );
  });

  test('search filters still apply to each type, ANDed with the membership', () => {
    const search = compile(
      {
        resourceType: 'Observation',
        filters: [{ code: 'code', operator: 'eq' as never, value: 'http://loinc.org|1-8' }],
      },
      { resourceType: 'Encounter', id: 'e1' }
    );
    expect(squash(search.where)).toMatch(
      /^r\.resource_type = \$1 AND EXISTS \(SELECT 1 FROM search_token .+\) AND NOT r\.deleted AND r\.sid IN \(/
    );
    expect(search.params.values.slice(-4)).toEqual(['Observation', 'encounter', 'e1', 'Encounter']);
  });

  test('several types: one lookup with the arms of every type', () => {
    const search = compile(
      { resourceType: 'MultipleTypes' as never, types: ['Observation', 'Condition'] },
      { resourceType: 'Patient', id: 'p1' }
    );
    expect(search.where.match(/FROM search_reference/g)).toHaveLength(1);
    expect(search.params.values).toEqual(expect.arrayContaining(['Condition', 'asserter', 'Observation', 'performer']));
  });

  test('a type outside the compartment is refused, not searched unconfined', () => {
    expect(() => compile({ resourceType: 'Organization' }, { resourceType: 'Patient', id: 'p1' })).toThrow(
      'Organization is not in the Patient compartment'
    );
  });
});

describe('compartment links', () => {
  const base = 'http://localhost:8103/';
  test('point back at the compartment URL', () => {
    const request: CompartmentSearchRequest = {
      resourceType: 'Observation',
      filters: [{ code: 'code', operator: 'eq' as never, value: '1-8' }],
      count: 1,
      offset: 1,
      compartment: { resourceType: 'Patient', id: 'p1' },
    };
    expect(searchUrl(base, request)).toBe(`${base}fhir/R4/Patient/p1/Observation?_count=1&_offset=1&code=1-8`);
  });

  test('every type: `*`, without listing the types unless the client narrowed them', () => {
    const all = { resourceType: 'MultipleTypes', types: ['Condition', 'Observation'] } as unknown as SearchRequest;
    const compartment = { resourceType: 'Patient', id: 'p1' };
    expect(searchUrl(base, { ...all, compartment: { ...compartment, allTypes: true } })).toBe(
      `${base}fhir/R4/Patient/p1/*`
    );
    expect(searchUrl(base, { ...all, compartment })).toBe(`${base}fhir/R4/Patient/p1/*?_type=Condition,Observation`);
  });
});
