import type { SearchRequest } from '@medplum/core';
import { getStatus, isOperationOutcome, notFound, OperationOutcomeError, type WithId } from '@medplum/core';
import { FhirRepository, type SearchOptions } from '@medplum/fhir-router';
import type { Bundle, Reference, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../../fhir/definitions.js';
import { createPool, migrate, type Pool } from '../../infra/postgres.js';
import { createDatabase, dropDatabase, randomDatabaseName } from '../../test/test-database.js';
import { executeSearch, parseSearchQuery, type SearchContext, searchByReference } from './execute.js';
import { computeSearchRows } from './index-values.js';
import { FIXTURES } from './search.fixtures.js';
import { appendSearchRowDeletes, appendSearchRowInserts } from './write-rows.js';

const BASE = 'http://localhost:8103/';
let dbName: string;
let pool: Pool;

/** Writes a resource row and its index rows in one statement, as the repository does. */
async function insert(resource: Resource, lastUpdated: string, deleted = false): Promise<void> {
  const values: unknown[] = [resource.resourceType, resource.id, JSON.stringify(resource), lastUpdated, deleted];
  const current = `INSERT INTO resource (resource_type, id, version_id, last_updated, content, deleted)
     VALUES ($1, $2, gen_random_uuid(), $4, $3, $5) RETURNING sid`;
  const ctes = appendSearchRowInserts(computeSearchRows(resource), resource.resourceType, 'r', values);
  await pool.query(withResource(current, ctes), values);
}

/** One statement: the resource write as CTE `r` (returning its sid), then the other CTEs. */
function withResource(current: string, ctes: string[]): string {
  return `WITH r AS (${current})${ctes.map((body, i) => `, w${i} AS (${body})`).join('')} SELECT 1`;
}

/** Just enough repository for getExtraEntries: search through executeSearch, reads by SELECT. */
class TestRepository extends FhirRepository {
  constructor(readonly ctx: SearchContext) {
    super();
  }
  search<T extends Resource>(request: SearchRequest<T>, options?: SearchOptions): Promise<Bundle<WithId<T>>> {
    return executeSearch(this.ctx, this, request, options);
  }
  searchByReference<T extends Resource>(
    request: SearchRequest<T>,
    field: string,
    refs: string[]
  ): Promise<Record<string, WithId<T>[]>> {
    return searchByReference(this.ctx, this, request, field, refs);
  }
  async readReferences<T extends Resource>(references: readonly Reference<T>[]): Promise<(T | Error)[]> {
    const keys = references.map((r) => r.reference?.split('/') ?? []);
    const result = await pool.query<{ resource_type: string; id: string; content: string }>(
      `SELECT resource_type, id, content FROM resource WHERE NOT deleted
       AND (resource_type, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [keys.map((k) => k[0]), keys.map((k) => k[1])]
    );
    const found = new Map(result.rows.map((r) => [`${r.resource_type}/${r.id}`, JSON.parse(r.content) as T]));
    return references.map((r) => found.get(r.reference ?? '') ?? new OperationOutcomeError(notFound));
  }
  async readReference<T extends Resource>(reference: Reference<T>): Promise<WithId<T>> {
    const [result] = await this.readReferences([reference]);
    if (result instanceof Error) {
      throw result;
    }
    return result as WithId<T>;
  }
  readResource<T extends Resource>(resourceType: string, id: string): Promise<WithId<T>> {
    return this.readReference({ reference: `${resourceType}/${id}` });
  }
  setMode(): void {}
  generateId(): string {
    return crypto.randomUUID();
  }
  createResource = notUsed;
  readHistory = notUsed;
  readVersion = notUsed;
  updateResource = notUsed;
  deleteResource = notUsed;
  patchResource = notUsed;
  withTransaction = notUsed;
}

async function notUsed(): Promise<never> {
  throw new Error('not used by search');
}

function context(overrides: Partial<SearchContext> = {}): SearchContext {
  return { db: pool, baseUrl: BASE, lenient: false, maxAccurateTotal: 1000, ...overrides };
}

/** Runs `Type?query` the way the HTTP layer will: parseSearchQuery, then executeSearch. */
async function search(url: string, overrides: Partial<SearchContext> = {}): Promise<Bundle> {
  const [type, query = ''] = url.split('?');
  const record: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(query)) {
    record[k] = [...(record[k] ?? []), v];
  }
  const ctx = context(overrides);
  return executeSearch(ctx, new TestRepository(ctx), parseSearchQuery(type || 'MultipleTypes', record));
}

/** Ids of the matches, in result order. */
async function ids(url: string, overrides: Partial<SearchContext> = {}): Promise<string[]> {
  const bundle = await search(url, overrides);
  return (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id as string);
}

async function sortedIds(url: string): Promise<string[]> {
  return (await ids(url)).sort();
}

/** Expects a 400 OperationOutcome whose text matches. */
async function expectBadRequest(url: string, message: RegExp): Promise<void> {
  const err = await search(url).then(
    () => undefined,
    (e: unknown) => e
  );
  expect(err).toBeInstanceOf(OperationOutcomeError);
  const outcome = (err as OperationOutcomeError).outcome;
  expect(isOperationOutcome(outcome) && getStatus(outcome)).toBe(400);
  expect(outcome.issue?.[0]?.details?.text).toMatch(message);
}

beforeAll(async () => {
  loadFhirDefinitions();
  dbName = randomDatabaseName();
  const url = await createDatabase(dbName);
  await migrate(url);
  pool = createPool(url, 4);
  for (const { resource, lastUpdated, deleted } of FIXTURES) {
    await insert(resource, lastUpdated, deleted);
  }
});

afterAll(async () => {
  await pool?.end();
  if (dbName) {
    await dropDatabase(dbName);
  }
});

describe('string', () => {
  test('prefix match, case- and accent-insensitive', async () => {
    expect(await sortedIds('Patient?name=zoe')).toEqual(['p1']);
    expect(await sortedIds('Patient?name=MÜLL')).toEqual(['p1']);
    expect(await sortedIds('Patient?name=john')).toEqual(['p2', 'p3']);
    expect(await sortedIds('Patient?family=smi')).toEqual(['p2']);
    expect(await sortedIds('Patient?name=smith,otieno')).toEqual(['p2', 'p4']);
    expect(await sortedIds('Patient?name=m_l,%25,jo%25')).toEqual([]);
  });
  test(':exact and :contains', async () => {
    expect(await sortedIds('Patient?name:exact=John')).toEqual(['p2']);
    expect(await sortedIds('Patient?name:exact=john')).toEqual([]);
    expect(await sortedIds('Patient?name:contains=PPL')).toEqual(['p3']);
    expect(await sortedIds('Patient?name:contains=%')).toEqual([]);
    expect(await sortedIds('Patient?name:contains=ÜLL,xyz')).toEqual(['p1']);
    expect(await sortedIds('Patient?given:contains=ohn')).toEqual(['p2', 'p3']);
    expect(await sortedIds('Organization?name:contains=hosp')).toEqual(['o1']);
  });
});

describe('token', () => {
  test('code, system|code, system|, |code', async () => {
    expect(await sortedIds('Patient?gender=male')).toEqual(['p2', 'p3']);
    expect(await sortedIds('Patient?identifier=http://mrn|111')).toEqual(['p1']);
    expect(await sortedIds('Patient?identifier=222')).toEqual(['p2']);
    expect(await sortedIds('Patient?identifier=http://other|')).toEqual(['p2']);
    expect(await sortedIds('Patient?identifier=|111')).toEqual([]);
    expect(await sortedIds('Patient?identifier=111,222')).toEqual(['p1', 'p2']);
    expect(await sortedIds('Patient?active=false')).toEqual(['p4']);
    expect(await sortedIds('Observation?code=http://loinc.org|8480-6')).toEqual(['ob1', 'ob2']);
  });
  test(':not, :missing, :text', async () => {
    expect(await sortedIds('Patient?gender:not=male')).toEqual(['p1', 'p4']);
    expect(await sortedIds('Patient?gender:missing=true')).toEqual(['p4']);
    expect(await sortedIds('Patient?gender:missing=false')).toEqual(['p1', 'p2', 'p3']);
    expect(await sortedIds('Observation?code:text=systolic')).toEqual(['ob1', 'ob2']);
    expect(await sortedIds('Observation?code:text=FREE')).toEqual(['ob6']);
  });
  test('_id, _tag, _security-style meta tokens', async () => {
    expect(await sortedIds('Patient?_id=p1,p3')).toEqual(['p1', 'p3']);
    expect(await sortedIds('Patient?_id:not=p1')).toEqual(['p2', 'p3', 'p4']);
    expect(await sortedIds('Patient?_tag=http://tags|vip')).toEqual(['p1']);
    expect(await sortedIds('Patient?_security=http://sec|R')).toEqual(['p2']);
    expect(await sortedIds('Patient?_source=http://clinic.example/emr')).toEqual(['p2']);
  });
});

describe('date', () => {
  test('partial dates cover their precision', async () => {
    expect(await sortedIds('Patient?birthdate=2024-05')).toEqual(['p1', 'p3']);
    expect(await sortedIds('Patient?birthdate=2024')).toEqual(['p1', 'p3']);
    expect(await sortedIds('Patient?birthdate=2024-05-10')).toEqual(['p1']);
  });
  test('prefixes follow FHIR range semantics', async () => {
    expect(await sortedIds('Patient?birthdate=ge2024-05-10')).toEqual(['p1', 'p3']);
    expect(await sortedIds('Patient?birthdate=gt2024-05-10')).toEqual(['p3']);
    expect(await sortedIds('Patient?birthdate=lt2000')).toEqual(['p2', 'p4']);
    expect(await sortedIds('Patient?birthdate=le1990')).toEqual(['p2', 'p4']);
    expect(await sortedIds('Patient?birthdate=ne2024-05')).toEqual(['p2', 'p4']);
    expect(await sortedIds('Patient?birthdate=sa2000')).toEqual(['p1', 'p3']);
    expect(await sortedIds('Patient?birthdate=eb2000')).toEqual(['p2', 'p4']);
    expect(await sortedIds('Patient?birthdate=ap1980-02-18')).toEqual(['p2']);
    expect(await sortedIds('Patient?birthdate=ap0001-01-01T00:30:00%2B01:00')).toEqual([]);
    expect(await sortedIds('Patient?birthdate=ge1985&birthdate=lt2000')).toEqual(['p4']);
  });
  test('open periods and _lastUpdated', async () => {
    expect(await sortedIds('Observation?date=ge2024-06-01')).toEqual(['ob2', 'ob5']);
    expect(await sortedIds('Observation?date=2024-01-01')).toEqual([]);
    expect(await sortedIds('Patient?_lastUpdated=ge2024-03-01')).toEqual(['p3', 'p4']);
    expect(await sortedIds('Patient?_lastUpdated=lt2024-02')).toEqual(['p1']);
  });
});

describe('number and quantity', () => {
  test('precision and prefixes', async () => {
    expect(await sortedIds('Observation?value-quantity=gt100')).toEqual(['ob1']);
    expect(await sortedIds('Observation?value-quantity=5')).toEqual(['ob5']);
    expect(await sortedIds('Observation?value-quantity=5.40')).toEqual(['ob5']);
    expect(await sortedIds('Observation?value-quantity=5.5')).toEqual([]);
    expect(await sortedIds('Observation?value-quantity=le95|http://unitsofmeasure.org|mm[Hg]')).toEqual(['ob2', 'ob3']);
    expect(await sortedIds('Observation?value-quantity=lt100||kg')).toEqual(['ob5']);
    expect(await sortedIds('RiskAssessment?probability=gt0.5')).toEqual(['ra1']);
    expect(await sortedIds('RiskAssessment?probability=0.25')).toEqual(['ra2']);
  });
});

describe('reference', () => {
  test('Type/id, bare id, :Type, absolute URL, :identifier', async () => {
    expect(await sortedIds('Observation?subject=Patient/p1')).toEqual(['ob1', 'ob2']);
    expect(await sortedIds('Observation?subject=p2')).toEqual(['ob3', 'ob4']);
    expect(await sortedIds('Observation?subject:Patient=p3')).toEqual(['ob5', 'ob6']);
    expect(await sortedIds('Observation?patient=Patient/p1')).toEqual(['ob1', 'ob2']);
    expect(await sortedIds('Patient?general-practitioner=Practitioner/pr1')).toEqual(['p1', 'p4']);
    expect(await sortedIds(`Patient?general-practitioner=${BASE}fhir/R4/Practitioner/pr1`)).toEqual(['p1', 'p4']);
    expect(await sortedIds('Patient?general-practitioner:identifier=http://npi|777')).toEqual(['p3']);
  });
  test('a reference as written: another server, kept apart from plain Type/id references', async () => {
    expect(await sortedIds('Patient?organization=https://other.example/fhir/Organization/o9')).toEqual(['p2']);
    expect(await sortedIds('Patient?organization=https://third.example/fhir/Organization/o9')).toEqual([]);
    expect(await sortedIds('Patient?organization=Organization/o9')).toEqual(['p2']);
    expect(await sortedIds('Patient?organization:Practitioner=Organization/o1')).toEqual([]);
  });
});

// Parameters whose values another parameter's rows hold (shared-rows.ts) search those rows.
describe('parameters that share rows', () => {
  test('same expression: phonetic reads the name rows, in filters, chains and _sort', async () => {
    expect(await sortedIds('Patient?phonetic=appl')).toEqual(['p3']);
    expect(await sortedIds('Patient?phonetic:contains=ULL')).toEqual(['p1']);
    expect(await sortedIds('Observation?patient.phonetic=apple')).toEqual(['ob5', 'ob6']);
    expect(await ids('Patient?_sort=phonetic')).toEqual(await ids('Patient?_sort=name'));
  });
  test('subset by part: family, given and address-city read the part rows of name and address', async () => {
    expect(await sortedIds('Patient?family=smi,otie')).toEqual(['p2', 'p4']);
    expect(await sortedIds('Patient?family=john')).toEqual([]);
    expect(await sortedIds('Patient?family:exact=Smith')).toEqual(['p2']);
    expect(await sortedIds('Patient?family:contains=EED')).toEqual(['p3']);
    expect(await sortedIds('Patient?family:contains=john')).toEqual([]);
    expect(await sortedIds('Patient?address=1%20main,xyz')).toEqual(['p3']);
    expect(await sortedIds('Patient?address-city=nai')).toEqual(['p3']);
    expect(await sortedIds('Patient?address-city=ke')).toEqual([]);
    expect(await sortedIds('Patient?address-country=ke&address-city:contains=robi')).toEqual(['p3']);
    expect(await sortedIds('Patient?address-city:missing=true')).toEqual(['p1', 'p2', 'p4']);
    expect(await sortedIds('Observation?patient.given=amina,zo')).toEqual(['ob1', 'ob2']);
  });
  test('subset by system: phone and email read the telecom rows of that system', async () => {
    expect(await sortedIds('Patient?phone=%2B254700000002')).toEqual(['p2']);
    expect(await sortedIds('Patient?phone=john@example.org')).toEqual([]);
    expect(await sortedIds('Patient?email=john@example.org')).toEqual(['p2']);
    expect(await sortedIds('Patient?telecom=john@example.org')).toEqual(['p2']);
    expect(await sortedIds('Patient?phone:missing=false')).toEqual(['p2', 'p4']);
    expect(await sortedIds('Patient?email:missing=true')).toEqual(['p1', 'p3', 'p4']);
    expect(await ids('Patient?phone:not=%2B254700000002&_sort=-phone')).toEqual(['p4', 'p1', 'p3']);
  });
  test('subset by target type: patient reads the subject rows that name a Patient', async () => {
    expect(await sortedIds('RiskAssessment?subject=g1')).toEqual(['ra3']);
    expect(await sortedIds('RiskAssessment?patient=g1')).toEqual([]);
    expect(await sortedIds('RiskAssessment?patient=p1,p2')).toEqual(['ra1', 'ra2']);
    expect(await sortedIds('RiskAssessment?patient:missing=true')).toEqual(['ra3']);
    expect(await sortedIds('RiskAssessment?subject:identifier=http://groups|g1')).toEqual(['ra3']);
    expect(await sortedIds('RiskAssessment?patient:identifier=http://groups|g1')).toEqual([]);
    expect(await sortedIds('Patient?_has:RiskAssessment:patient:probability=gt0.5')).toEqual(['p1']);
    expect(await ids('RiskAssessment?_sort=-patient')).toEqual(['ra2', 'ra1', 'ra3']);
    const ctx = context();
    const result = await searchByReference(ctx, new TestRepository(ctx), { resourceType: 'Observation' }, 'patient', [
      'Patient/p1',
    ]);
    expect(result['Patient/p1'].map((r) => r.id).sort()).toEqual(['ob1', 'ob2']);
  });
});

describe('uri', () => {
  test('exact, :below, :above', async () => {
    const profile = 'http://example.org/fhir/StructureDefinition/kenya-patient';
    expect(await sortedIds(`Patient?_profile=${profile}`)).toEqual(['p1']);
    expect(await sortedIds('Patient?_profile=http://example.org/fhir')).toEqual([]);
    expect(await sortedIds('Patient?_profile:below=http://example.org/fhir')).toEqual(['p1']);
    expect(await sortedIds(`Patient?_profile:above=${profile}/v2`)).toEqual(['p1']);
  });
});

describe('composite', () => {
  test('components on the resource itself', async () => {
    expect(await sortedIds('Observation?code-value-quantity=http://loinc.org|8480-6$gt100')).toEqual(['ob1']);
  });
  test('components must match within the same repeating element; totals stay exact', async () => {
    expect(await sortedIds('Observation?component-code-value-quantity=http://loinc.org|8480-6$gt140')).toEqual(['ob4']);
    const none = await search(
      'Observation?component-code-value-quantity=http://loinc.org|8462-4$gt140&_total=accurate'
    );
    expect(none.entry).toEqual([]);
    expect(none.total).toBe(0);
  });
});

describe('chains and _has', () => {
  test('forward chains, typed and untyped, multi-level', async () => {
    expect(await sortedIds('Observation?subject:Patient.name=zoe')).toEqual(['ob1', 'ob2']);
    expect(await sortedIds('Observation?subject.name=john')).toEqual(['ob3', 'ob4', 'ob5', 'ob6']);
    expect(await sortedIds('Observation?subject:Patient.general-practitioner.name=grace')).toEqual(['ob1', 'ob2']);
    expect(await sortedIds('Observation?subject:Patient.organization.name=kenyatta')).toEqual(['ob1', 'ob2']);
    expect(await sortedIds('Observation?subject:Patient.name=deleted')).toEqual([]);
  });
  test('reverse chains, nested', async () => {
    expect(await sortedIds('Patient?_has:Observation:subject:code=8462-4')).toEqual(['p2']);
    expect(await sortedIds('Patient?_has:Observation:patient:code=http://loinc.org|8480-6')).toEqual(['p1']);
    expect(
      await sortedIds('Practitioner?_has:Patient:general-practitioner:_has:Observation:subject:code=8462-4')
    ).toEqual(['pr2']);
  });
});

describe('_filter', () => {
  test('comparisons, and/or/not, as the equivalent parameters', async () => {
    expect(await sortedIds('Patient?_filter=name eq John')).toEqual(['p2']);
    expect(await sortedIds('Patient?_filter=name sw john')).toEqual(['p2', 'p3']);
    expect(await sortedIds('Patient?_filter=name co PPL')).toEqual(['p3']);
    expect(await sortedIds('Patient?_filter=name eq John or name eq Zoë')).toEqual(['p1', 'p2']);
    expect(await sortedIds('Patient?_filter=name sw john and not (family sw smi)')).toEqual(['p3']);
    expect(await sortedIds('Observation?_filter=code eq 8462-4 and subject.name sw john')).toEqual(
      await sortedIds('Observation?code=8462-4&subject.name=john')
    );
  });
  test('a malformed or unsupported _filter is a 400', async () => {
    await expect(search('Patient?_filter=name eq')).rejects.toThrow();
    await expect(search('Patient?_filter=name ew son')).rejects.toThrow(/Invalid _filter/);
    await expect(search('Patient?_filter=name in http://x')).rejects.toThrow(/not supported/);
  });
});

describe('system search, sort and paging', () => {
  test('_type searches several types', async () => {
    expect(await sortedIds('?_type=Patient,Practitioner&name=grace')).toEqual(['pr1']);
    expect(await ids('?_type=Organization,Practitioner&_sort=_id')).toEqual(['o1', 'o2', 'pr1', 'pr2']);
  });
  test('_sort by date, string, token, _lastUpdated, several keys', async () => {
    expect(await ids('Patient?_sort=birthdate')).toEqual(['p2', 'p4', 'p3', 'p1']);
    expect(await ids('Patient?_sort=-birthdate')).toEqual(['p3', 'p1', 'p4', 'p2']);
    expect(await ids('Patient?_sort=family')).toEqual(['p3', 'p1', 'p4', 'p2']);
    expect(await ids('Patient?_sort=gender,-_id')).toEqual(['p1', 'p3', 'p2', 'p4']);
    expect(await ids('Patient?_sort=-_lastUpdated')).toEqual(['p4', 'p3', 'p2', 'p1']);
  });
  test('_count, _offset and links', async () => {
    const first = await search('Patient?_sort=_id&_count=2');
    expect(first.entry?.map((e) => e.resource?.id)).toEqual(['p1', 'p2']);
    expect(first.entry?.[0].fullUrl).toBe(`${BASE}fhir/R4/Patient/p1`);
    expect(first.total).toBeUndefined();
    const next = first.link?.find((l) => l.relation === 'next')?.url;
    expect(next).toBe(`${BASE}fhir/R4/Patient?_count=2&_offset=2&_sort=_id`);
    const second = await search(`Patient?${new URL(next as string).search.slice(1)}`);
    expect(second.entry?.map((e) => e.resource?.id)).toEqual(['p3', 'p4']);
    expect(second.link?.find((l) => l.relation === 'next')).toBeUndefined();
    expect(second.link?.find((l) => l.relation === 'previous')?.url).toBe(`${BASE}fhir/R4/Patient?_count=2&_sort=_id`);
    expect(second.total).toBe(4); // known for free on the last page
  });
});

describe('totals and subsets', () => {
  test('_total=accurate, bounded by maxAccurateTotal', async () => {
    expect((await search('Patient?_total=accurate&_count=1')).total).toBe(4);
    const bounded = await search('Observation?_total=accurate&_count=1', { maxAccurateTotal: 2 });
    expect(bounded.total).toBeGreaterThanOrEqual(3);
    expect((await search('Patient?_summary=count')).entry).toEqual([]);
    expect((await search('Patient?_summary=count')).total).toBe(4);
  });
  test('_elements keeps mandatory elements and tags SUBSETTED', async () => {
    const patient = (await search('Patient?_id=p1&_elements=name')).entry?.[0].resource;
    expect(Object.keys(patient ?? {}).sort()).toEqual(['id', 'meta', 'name', 'resourceType']);
    expect(patient?.meta?.tag?.map((t) => t.code)).toEqual(['vip', 'SUBSETTED']);
    const obs = (await search('Observation?_id=ob1&_elements=subject')).entry?.[0].resource;
    expect(Object.keys(obs ?? {}).sort()).toEqual(['code', 'id', 'meta', 'resourceType', 'status', 'subject']);
    const summary = (await search('Patient?_id=p1&_summary=true')).entry?.[0].resource;
    expect(Object.keys(summary ?? {}).sort()).toEqual([
      'active',
      'birthDate',
      'gender',
      'id',
      'identifier',
      'managingOrganization',
      'meta',
      'name',
      'resourceType',
    ]);
  });
});

describe('_include and _revinclude', () => {
  test('include, include:iterate, revinclude', async () => {
    const modes = (b: Bundle) => b.entry?.map((e) => `${e.search?.mode}:${e.resource?.resourceType}/${e.resource?.id}`);
    expect(modes(await search('Observation?_id=ob1&_include=Observation:subject'))).toEqual([
      'match:Observation/ob1',
      'include:Patient/p1',
    ]);
    const iterated = await search(
      'Observation?_id=ob1&_include=Observation:subject&_include:iterate=Patient:general-practitioner'
    );
    expect(modes(iterated)).toEqual(['match:Observation/ob1', 'include:Patient/p1', 'include:Practitioner/pr1']);
    expect(iterated.entry?.[2].fullUrl).toBe(`${BASE}fhir/R4/Practitioner/pr1`);
    const rev = await search('Patient?_id=p2&_revinclude=Observation:subject');
    expect(modes(rev)?.sort()).toEqual(['include:Observation/ob3', 'include:Observation/ob4', 'match:Patient/p2']);
  });
  test('searchByReference groups matches per reference in one query', async () => {
    const ctx = context();
    const result = await searchByReference(ctx, new TestRepository(ctx), { resourceType: 'Observation' }, 'subject', [
      'Patient/p1',
      'Patient/p2',
      'Patient/nobody',
    ]);
    const byRef = Object.fromEntries(Object.entries(result).map(([k, v]) => [k, v.map((r) => r.id).sort()]));
    expect(byRef).toEqual({ 'Patient/p1': ['ob1', 'ob2'], 'Patient/p2': ['ob3', 'ob4'], 'Patient/nobody': [] });
  });
});

describe('errors', () => {
  test('unknown parameters: 400, or ignored when lenient', async () => {
    await expectBadRequest('Patient?foo=bar', /Unknown search parameter: foo/);
    const lenient = await search('Patient?foo=bar&gender=male', { lenient: true });
    expect(lenient.entry?.map((e) => e.resource?.id).sort()).toEqual(['p2', 'p3']);
    expect(lenient.link?.[0].url).toBe(`${BASE}fhir/R4/Patient?gender=male`);
  });
  test('malformed values are 400s, never database errors', async () => {
    await expectBadRequest('Patient?birthdate=2024-13', /Invalid format for date/);
    await expectBadRequest('Patient?birthdate:missing=maybe', /missing/);
    await expectBadRequest('Observation?value-quantity=abc', /Invalid quantity value/);
    await expectBadRequest('RiskAssessment?probability=1,2x', /Invalid number value/);
    await expectBadRequest('Patient?name:foo=x', /Unknown modifier :foo/);
    await expectBadRequest('Patient?gender:in=http://vs', /not supported/);
    await expectBadRequest('Patient?_count=abc', /_count/);
    await expectBadRequest('Patient?_sort=foo', /Unknown sort parameter: foo/);
    await expectBadRequest('Patient?_total=maybe', /_total/);
    await expectBadRequest('Patient?name=a%00b', /Invalid character/);
    await expectBadRequest('Observation?subject.birthdate=2024-99', /Invalid date value/);
    await expectBadRequest('Observation?code-value-quantity=8480-6', /parts separated by \$/);
    await expectBadRequest('?_type=Patient,Nope', /Unknown resource type: Nope/);
  });
  test('lenient mode also drops unknown chained parameters and sort keys', async () => {
    expect(await ids('Observation?subject:Patient.foo=1&_sort=nope&code=8462-4', { lenient: true })).toEqual(['ob3']);
  });
});

// Last: rewrites a resource. Mirrors the repository's update: one statement deletes the old
// index rows and inserts the new ones; both CTEs see the same snapshot, so they do not interfere.
describe('update in one statement', () => {
  test('old index rows are replaced by the new ones', async () => {
    const resource: Resource = {
      resourceType: 'Practitioner',
      id: 'pr2',
      name: [{ given: ['Peter'], family: 'Odhiambo' }],
    };
    const values: unknown[] = ['Practitioner', 'pr2', JSON.stringify(resource)];
    const current =
      'UPDATE resource SET content = $3, last_updated = now() WHERE resource_type = $1 AND id = $2 RETURNING sid';
    const ctes = [
      ...appendSearchRowDeletes('r'),
      ...appendSearchRowInserts(computeSearchRows(resource), 'Practitioner', 'r', values),
    ];
    await pool.query(withResource(current, ctes), values);
    expect(await ids('Practitioner?name=odhiambo')).toEqual(['pr2']);
    expect(await ids('Practitioner?name=kamau')).toEqual([]);
    expect(await ids('Practitioner?name=peter')).toEqual(['pr2']);
  });
});
