import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    SEARCH_MAX_PARAMETERS: '6',
    SEARCH_MAX_VALUES: '5',
    SEARCH_MAX_SORT_KEYS: '3',
    SEARCH_MAX_FILTER_CLAUSES: '4',
    SEARCH_MAX_CHAIN_DEPTH: '2',
    SEARCH_MAX_INCLUDES: '2',
    DATABASE_STATEMENT_TIMEOUT_MS: '400',
  });
});
afterAll(async () => {
  await t?.close();
});

async function refusal(url: string): Promise<string> {
  const res = await t.request({ method: 'GET', url });
  expect(res.statusCode, url).toBe(400);
  const outcome = res.json();
  expect(outcome.resourceType).toBe('OperationOutcome');
  return outcome.issue[0].details.text as string;
}

describe('every search cost limit has its own 400', () => {
  test('within the limits a search runs', async () => {
    const res = await t.request({
      method: 'GET',
      url: '/fhir/R4/Patient?name=a,b&_sort=name,-birthdate&_include=Patient:organization&general-practitioner:Practitioner.name=x',
    });
    expect(res.statusCode).toBe(200);
  });

  test('parameters, values, sort keys, _filter, chains, includes', async () => {
    expect(await refusal('/fhir/R4/Patient?name=a&name=b&name=c&name=d&name=e&name=f&name=g')).toMatch(
      /SEARCH_MAX_PARAMETERS/
    );
    expect(await refusal('/fhir/R4/Patient?name=a,b,c,d,e,f')).toMatch(/SEARCH_MAX_VALUES/);
    expect(await refusal('/fhir/R4/Patient?_sort=name,birthdate,gender,_id')).toMatch(/SEARCH_MAX_SORT_KEYS/);
    expect(await refusal(`/fhir/R4/Patient?_sort=${Array(900).fill('name').join(',')}`)).toMatch(/SEARCH_MAX_VALUES/);
    expect(
      await refusal(`/fhir/R4/Patient?_filter=${encodeURIComponent(Array(5).fill('name eq "x"').join(' or '))}`)
    ).toMatch(/SEARCH_MAX_FILTER_CLAUSES/);
    expect(await refusal('/fhir/R4/Observation?subject:Patient.organization.partof.name=x')).toMatch(
      /SEARCH_MAX_CHAIN_DEPTH/
    );
    expect(
      await refusal(
        '/fhir/R4/Patient?_include=Patient:organization&_include=Patient:general-practitioner&_revinclude=Observation:subject'
      )
    ).toMatch(/SEARCH_MAX_INCLUDES/);
  });

  test('limits apply to searches inside a batch too', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/fhir/R4/',
      payload: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ request: { method: 'GET', url: 'Patient?name=a,b,c,d,e,f' } }],
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().entry[0].response.status).toMatch(/^400/);
  });
});

test('a search past the statement timeout is cancelled, and the server goes on serving', async () => {
  // A lock held elsewhere keeps the name search waiting: only the timeout can end it.
  const locker = new pg.Client({ connectionString: t.config.databaseUrl });
  await locker.connect();
  try {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE search_string IN ACCESS EXCLUSIVE MODE');
    const started = Date.now();
    const text = await refusal('/fhir/R4/Patient?name=akinyi');
    expect(text).toMatch(/too long/);
    expect(Date.now() - started).toBeLessThan(3000);
  } finally {
    await locker.query('ROLLBACK');
    await locker.end();
  }
  const after = await t.request({ method: 'GET', url: '/fhir/R4/Patient?name=akinyi' });
  expect(after.statusCode).toBe(200);
});
