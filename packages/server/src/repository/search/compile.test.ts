import { parseSearchRequest } from '@medplum/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../../fhir/definitions.js';
import { compileSearch } from './compile.js';
import { parseSearchQuery } from './execute.js';

beforeAll(() => loadFhirDefinitions());

const options = { baseUrl: 'http://localhost:8103/', lenient: false };

function compile(url: string) {
  return compileSearch(options, parseSearchRequest(url));
}

/** Collapses whitespace so expectations can be written on one line. */
const squash = (sql: string) => sql.replace(/\s+/g, ' ');

describe('compileSearch', () => {
  test('string prefix: a normalized range on the index (usable by generic plans), values bound', () => {
    const search = compile('Patient?name=Zoë');
    expect(squash(search.where)).toBe(
      'r.resource_type = $1 AND EXISTS (SELECT 1 FROM search_string i1 WHERE i1.resource_type = $1' +
        ' AND i1.resource_sid = r.sid AND i1.code = $2 AND (i1.norm ~>=~ $3 AND i1.norm ~<~ $4)) AND NOT r.deleted'
    );
    expect(search.params.values).toEqual(['Patient', 'name', 'zoe', 'zof']);
    expect(search.orderBy).toBe('ORDER BY r.id');
  });

  test('string :contains: whole values only (the trigram index is on them)', () => {
    const search = compile('Patient?name:contains=ül,x');
    expect(search.where).toContain('i1.whole AND ((i1.norm LIKE $3) OR (i1.norm LIKE $4))');
    expect(search.params.values).toEqual(['Patient', 'name', '%ul%', '%x%']);
  });

  test('token system|code and plain codes', () => {
    const search = compile('Patient?identifier=http://mrn|1,2,3');
    expect(search.where).toContain('((i1.value = ANY($3::text[])) OR (i1.system = $4 AND i1.value = $5))');
    expect(search.params.values).toEqual(['Patient', 'identifier', ['2', '3'], 'http://mrn', '1']);
  });

  test('partial date with prefix compiles to a range comparison', () => {
    const search = compile('Patient?birthdate=ge2024-05');
    expect(search.where).toContain(
      '(i1.end_at > $3::timestamptz OR (i1.start_at >= $4::timestamptz AND i1.end_at <= $5::timestamptz))'
    );
    expect(search.params.values.slice(2)).toEqual([
      '2024-05-31T23:59:59.999Z',
      '2024-05-01T00:00:00.000Z',
      '2024-05-31T23:59:59.999Z',
    ]);
  });

  test('quantity with unit, number precision', () => {
    const search = compile('Observation?value-quantity=5.4|http://unitsofmeasure.org|mg');
    expect(search.where).toContain(
      'i1.value >= $3::numeric AND i1.value < $4::numeric AND i1.system = $5 AND i1.unit = $6'
    );
    expect(search.params.values.slice(2)).toEqual(['5.35', '5.45', 'http://unitsofmeasure.org', 'mg']);
  });

  test('chains join the target through search_reference, excluding deleted targets', () => {
    const search = compileSearch(options, parseSearchQuery('Observation', { 'subject:Patient.name': 'x' }));
    expect(squash(search.where)).toContain(
      'EXISTS (SELECT 1 FROM search_reference c1 JOIN resource r2 ON r2.resource_type = c1.target_type' +
        ' AND r2.id = c1.target_id AND NOT r2.deleted WHERE c1.resource_type = $1 AND c1.resource_sid = r.sid' +
        ' AND c1.code = $3 AND c1.target_type = $2 AND EXISTS (SELECT 1 FROM search_string i3' +
        ' WHERE i3.resource_type = $2 AND i3.resource_sid = r2.sid AND i3.code = $4' +
        ' AND (i3.norm ~>=~ $5 AND i3.norm ~<~ $6)))'
    );
  });

  test('_sort uses the smallest/largest index value, then the id', () => {
    const search = compile('Patient?_sort=-birthdate,_lastUpdated');
    expect(squash(search.orderBy)).toBe(
      "ORDER BY (SELECT max(s1.end_at) FROM search_date s1 WHERE s1.resource_sid = r.sid AND s1.code = 'birthdate')" +
        ' DESC NULLS LAST, r.last_updated ASC, r.id'
    );
  });

  test('composite over a repeating element adds a JS post-filter; on the root it does not', () => {
    const component = parseSearchQuery('Observation', { 'component-code-value-quantity': 'http://loinc.org|1$gt5' });
    expect(compileSearch(options, component).postFilters).toHaveLength(1);
    const root = parseSearchQuery('Observation', { 'code-value-quantity': 'http://loinc.org|1$gt5' });
    expect(compileSearch(options, root).postFilters).toHaveLength(0);
  });

  test('unknown parameter: rejected, or dropped from the effective request when lenient', () => {
    expect(() => compile('Patient?foo=1')).toThrow('Unknown search parameter: foo');
    const lenient = compileSearch({ ...options, lenient: true }, parseSearchRequest('Patient?foo=1&gender=male'));
    expect(lenient.effective.filters).toEqual([{ code: 'gender', operator: 'eq', value: 'male' }]);
    const chain = compileSearch({ ...options, lenient: true }, parseSearchRequest('Observation?subject:Patient.foo=1'));
    expect(chain.params.values).toEqual(['Observation']);
  });
});

describe('parseSearchQuery', () => {
  test('keeps composites and reference type modifiers, validates paging', () => {
    const request = parseSearchQuery('Observation', {
      'code-value-quantity': 'http://loinc.org|8480-6$gt100',
      'subject:Patient': '1',
      _count: '5',
    });
    expect(request.filters).toEqual([
      { code: 'code-value-quantity', operator: 'eq', value: 'http://loinc.org|8480-6$gt100' },
      { code: 'subject:Patient', operator: 'eq', value: '1' },
    ]);
    expect(request.count).toBe(5);
    expect(() => parseSearchQuery('Patient', { _count: '-1' })).toThrow('Invalid _count');
    expect(() => parseSearchQuery('Patient', { 'name:nope': 'x' })).toThrow('Unknown modifier :nope');
    expect(() => parseSearchQuery('Patient', { birthdate: '2024-02-30' })).toThrow('Invalid format for date');
  });
});
