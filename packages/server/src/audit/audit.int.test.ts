import type { AuditEvent, Bundle, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createPool } from '../infra/postgres.js';
import { startTestServer, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type TestServer } from '../test/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

/** The AuditEvents matching `query`, once at least `count` of them have been written (flushes run every 200 ms). */
async function auditEvents(query: string, count: number): Promise<AuditEvent[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await t.request({ method: 'GET', url: `/fhir/R4/AuditEvent?${query}&_count=100` });
    expect(res.statusCode).toBe(200);
    const events = ((res.json() as Bundle<AuditEvent>).entry ?? []).map((e) => e.resource as AuditEvent);
    if (events.length >= count || Date.now() > deadline) {
      return events;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const subtypeOf = (event: AuditEvent) => event.subtype?.[0]?.code;

test('create, read, vread, search, update, patch, history and delete each leave an AuditEvent: who, what, outcome, IP', async () => {
  const ip = '198.51.100.17';
  const created = await t.request({
    method: 'POST',
    url: '/fhir/R4/Patient',
    payload: { resourceType: 'Patient', name: [{ family: 'Auditson' }] },
    remoteAddress: ip,
  });
  expect(created.statusCode).toBe(201);
  const patient = created.json() as Patient;
  const ref = `Patient/${patient.id}`;
  const calls = [
    { method: 'GET', url: `/fhir/R4/${ref}` },
    { method: 'GET', url: `/fhir/R4/${ref}/_history/${patient.meta?.versionId}` },
    { method: 'GET', url: '/fhir/R4/Patient?family=Auditson' },
    { method: 'PUT', url: `/fhir/R4/${ref}`, payload: { ...patient, gender: 'female' } },
    {
      method: 'PATCH',
      url: `/fhir/R4/${ref}`,
      payload: JSON.stringify([{ op: 'add', path: '/birthDate', value: '1970-01-01' }]),
      headers: { 'content-type': 'application/json-patch+json' },
    },
    { method: 'GET', url: `/fhir/R4/${ref}/_history` },
    { method: 'DELETE', url: `/fhir/R4/${ref}` },
  ] as const;
  for (const call of calls) {
    const res = await t.request({ ...call, remoteAddress: ip });
    expect(res.statusCode, `${call.method} ${call.url}: ${res.body}`).toBeLessThan(300);
  }

  const events = await auditEvents(`address=${ip}`, 8);
  expect(events.map(subtypeOf).sort()).toEqual(
    ['create', 'read', 'vread', 'search', 'update', 'patch', 'history', 'delete'].sort()
  );
  for (const event of events) {
    expect(event.meta?.project).toBeTruthy();
    expect(event.outcome).toBe('0');
    expect(event.type.code).toBe('rest');
    expect(event.recorded).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(event.source.observer.display).toBe(t.config.baseUrl);
    const [agent] = event.agent;
    expect(agent.requestor).toBe(true);
    expect(agent.who?.reference).toMatch(/^ClientApplication\//);
    expect(agent.network).toEqual({ address: ip, type: '2' });
  }
  const byType = Object.fromEntries(events.map((e) => [subtypeOf(e), e]));
  expect(byType.create.action).toBe('C');
  expect(byType.create.entity?.[0].what?.reference).toBe(ref);
  expect(byType.read.action).toBe('R');
  expect(byType.read.entity?.[0].what?.reference).toBe(ref);
  expect(byType.vread.entity?.[0].what?.reference).toBe(`${ref}/_history/${patient.meta?.versionId}`);
  expect(byType.update.action).toBe('U');
  expect(byType.patch.action).toBe('U');
  expect(byType.delete.action).toBe('D');
  expect(byType.search.entity?.[0].what).toBeUndefined();
  expect(byType.search.entity?.[0].description).toBe('Patient?family=Auditson');
  expect(Buffer.from(byType.search.entity?.[0].query ?? '', 'base64').toString()).toBe('Patient?family=Auditson');

  // Every event about this patient (all but the search) can be found by reference.
  const aboutPatient = await auditEvents(`entity=${ref}`, 7);
  expect(aboutPatient.map(subtypeOf).sort()).toEqual(
    ['create', 'read', 'vread', 'update', 'patch', 'history', 'delete'].sort()
  );
});

test('failed requests are recorded with outcome 4, and their reason', async () => {
  const ip = '198.51.100.18';
  const missing = await t.request({ method: 'GET', url: '/fhir/R4/Patient/does-not-exist', remoteAddress: ip });
  expect(missing.statusCode).toBe(404);
  const invalid = await t.request({
    method: 'POST',
    url: '/fhir/R4/Observation',
    payload: { resourceType: 'Observation', status: 'not-a-status' },
    remoteAddress: ip,
  });
  expect(invalid.statusCode).toBe(400);
  const events = await auditEvents(`address=${ip}`, 2);
  expect(events.map((e) => [subtypeOf(e), e.outcome]).sort()).toEqual([
    ['create', '4'],
    ['read', '4'],
  ]);
  const read = events.find((e) => subtypeOf(e) === 'read');
  expect(read?.entity?.[0].what?.reference).toBe('Patient/does-not-exist');
  expect(events.find((e) => subtypeOf(e) === 'create')?.outcomeDesc).toBeTruthy();
});

test('reads of definitional resources and of AuditEvents are not audited; writes to them are', async () => {
  const ip = '198.51.100.19';
  for (const url of [
    '/fhir/R4/StructureDefinition?name=Patient',
    '/fhir/R4/ValueSet?_count=1',
    '/fhir/R4/AuditEvent',
  ]) {
    expect((await t.request({ method: 'GET', url, remoteAddress: ip })).statusCode).toBe(200);
  }
  // A clinical read after them: once it is written, the earlier ones would have been too.
  await t.request({ method: 'GET', url: '/fhir/R4/Observation?_count=1', remoteAddress: ip });
  const events = await auditEvents(`address=${ip}`, 1);
  expect(events.map((e) => e.entity?.[0].description)).toEqual(['Observation?_count=1']);
});

test('transaction entries are recorded one by one', async () => {
  const ip = '198.51.100.20';
  const res = await t.request({
    method: 'POST',
    url: '/fhir/R4',
    remoteAddress: ip,
    payload: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:4a1b3c3e-0000-4000-8000-000000000001',
          resource: { resourceType: 'Patient', name: [{ family: 'Bundled' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'weight' },
            subject: { reference: 'urn:uuid:4a1b3c3e-0000-4000-8000-000000000001' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
        { request: { method: 'GET', url: 'Patient?family=Bundled' } },
      ],
    },
  });
  expect(res.statusCode, res.body).toBe(200);
  const events = await auditEvents(`address=${ip}`, 3);
  expect(events.map(subtypeOf).sort()).toEqual(['create', 'create', 'search']);
  const created = events.filter((e) => subtypeOf(e) === 'create').map((e) => e.entity?.[0].what?.reference);
  expect(created.some((r) => r?.startsWith('Patient/'))).toBe(true);
  expect(created.some((r) => r?.startsWith('Observation/'))).toBe(true);
});

test('requests without a valid token are not recorded as FHIR interactions', async () => {
  const ip = '198.51.100.21';
  const res = await t.app.inject({ method: 'GET', url: '/fhir/R4/Patient', remoteAddress: ip });
  expect(res.statusCode).toBe(401);
  await t.request({ method: 'GET', url: '/fhir/R4/Patient?_count=1', remoteAddress: ip });
  const events = await auditEvents(`address=${ip}`, 1);
  expect(events).toHaveLength(1);
  expect(events[0].outcome).toBe('0');
});

test('token requests are recorded as sign-ins: success with the client, failure with the reason', async () => {
  const ip = '198.51.100.22';
  const tokenRequest = (secret: string) =>
    t.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `grant_type=client_credentials&client_id=${TEST_CLIENT_ID}&client_secret=${secret}`,
      remoteAddress: ip,
    });
  expect((await tokenRequest(TEST_CLIENT_SECRET)).statusCode).toBe(200);
  expect((await tokenRequest('wrong-secret')).statusCode).toBe(401);

  const [success] = await auditEvents(`address=${ip}&subtype=110122`, 1);
  expect(success.type.code).toBe('110114');
  expect(success.action).toBe('E');
  expect(success.outcome).toBe('0');
  expect(success.agent[0].who?.reference).toMatch(/^ClientApplication\//);
  expect(success.meta?.project).toBeTruthy();

  // A failure names no project when the auth code could not tell one, so no project's admin sees it:
  // look in the database.
  const db = createPool(t.config.databaseUrl, 1);
  try {
    let failures: AuditEvent[] = [];
    for (let i = 0; i < 50 && failures.length === 0; i++) {
      const { rows } = await db.query<{ content: string }>(
        `SELECT content FROM resource WHERE resource_type = 'AuditEvent' AND content LIKE $1`,
        [`%${ip}%`]
      );
      failures = rows.map((r) => JSON.parse(r.content) as AuditEvent).filter((e) => e.outcome === '4');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(failures).toHaveLength(1);
    expect(failures[0].subtype?.[0].code).toBe('110122');
    expect(failures[0].outcomeDesc).toMatch(/sign-in failed/);
  } finally {
    await db.end();
  }
});
