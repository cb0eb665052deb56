import type { Bundle, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../test/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

const patient = (family: string): Patient => ({
  resourceType: 'Patient',
  name: [{ given: ['Amina'], family }],
  gender: 'female',
  birthDate: '1990-04-12',
});

async function create(resource: Patient) {
  const res = await t.request({ method: 'POST', url: '/fhir/R4/Patient', payload: resource });
  expect(res.statusCode).toBe(201);
  return res;
}

describe('create, read, vread', () => {
  test('create answers 201 with Location, ETag and Last-Modified; read returns the same', async () => {
    const res = await create(patient('Otieno'));
    const body = res.json() as Patient;
    expect(body.id).toBeTruthy();
    expect(body.meta?.versionId).toBeTruthy();
    expect(res.headers.etag).toBe(`W/"${body.meta?.versionId}"`);
    expect(res.headers.location).toBe(
      `http://localhost:8103/fhir/R4/Patient/${body.id}/_history/${body.meta?.versionId}`
    );
    expect(new Date(String(res.headers['last-modified'])).getTime()).toBeGreaterThan(0);

    const read = await t.request({ method: 'GET', url: `/fhir/R4/Patient/${body.id}` });
    expect(read.statusCode).toBe(200);
    expect(read.headers['content-type']).toContain('application/fhir+json');
    expect(read.json()).toEqual(body);

    const vread = await t.request({
      method: 'GET',
      url: `/fhir/R4/Patient/${body.id}/_history/${body.meta?.versionId}`,
    });
    expect(vread.statusCode).toBe(200);
    expect(vread.json()).toEqual(body);
  });

  test('server-managed meta from the client is replaced', async () => {
    const res = await create({ ...patient('Kamau'), meta: { versionId: 'fake', lastUpdated: '2001-01-01T00:00:00Z' } });
    const body = res.json() as Patient;
    expect(body.meta?.versionId).not.toBe('fake');
    expect(body.meta?.lastUpdated).not.toBe('2001-01-01T00:00:00Z');
  });

  test('unknown id is 404, unknown version is 404', async () => {
    expect((await t.request({ method: 'GET', url: '/fhir/R4/Patient/does-not-exist' })).statusCode).toBe(404);
    const { id } = (await create(patient('Njoroge'))).json() as Patient;
    const res = await t.request({
      method: 'GET',
      url: `/fhir/R4/Patient/${id}/_history/00000000-0000-0000-0000-000000000000`,
    });
    expect(res.statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: `/fhir/R4/Patient/${id}/_history/not-a-version` })).statusCode).toBe(
      404
    );
  });
});

describe('update', () => {
  test('If-Match with the current version updates; a stale one answers 412', async () => {
    const created = (await create(patient('Wanjiru'))).json() as Patient;
    const ok = await t.request({
      method: 'PUT',
      url: `/fhir/R4/Patient/${created.id}`,
      headers: { 'if-match': `W/"${created.meta?.versionId}"` },
      payload: { ...created, gender: 'other' },
    });
    expect(ok.statusCode).toBe(200);
    const updated = ok.json() as Patient;
    expect(updated.meta?.versionId).not.toBe(created.meta?.versionId);

    const stale = await t.request({
      method: 'PUT',
      url: `/fhir/R4/Patient/${created.id}`,
      headers: { 'if-match': `W/"${created.meta?.versionId}"` },
      payload: { ...created, gender: 'male' },
    });
    expect(stale.statusCode).toBe(412);
    expect((stale.json() as OperationOutcome).resourceType).toBe('OperationOutcome');
  });

  test('concurrent writers with the same If-Match: exactly one wins', async () => {
    const created = (await create(patient('Mwangi'))).json() as Patient;
    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        t.request({
          method: 'PUT',
          url: `/fhir/R4/Patient/${created.id}`,
          headers: { 'if-match': `W/"${created.meta?.versionId}"` },
          payload: { ...created, name: [{ family: `Writer${i}` }] },
        })
      )
    );
    const statuses: number[] = attempts.map((r) => r.statusCode).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(7);
    const history = (
      await t.request({ method: 'GET', url: `/fhir/R4/Patient/${created.id}/_history` })
    ).json() as Bundle;
    expect(history.entry).toHaveLength(2);
  });

  test('update as create with a client id; wrong id in body is 400', async () => {
    const res = await t.request({
      method: 'PUT',
      url: '/fhir/R4/Patient/client-chosen-1',
      payload: { ...patient('Achieng'), id: 'client-chosen-1' },
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toMatch(/\/fhir\/R4\/Patient\/client-chosen-1\/_history\//);
    expect((await t.request({ method: 'GET', url: '/fhir/R4/Patient/client-chosen-1' })).statusCode).toBe(200);
    const again = await t.request({
      method: 'PUT',
      url: '/fhir/R4/Patient/client-chosen-1',
      payload: { ...patient('Achieng'), id: 'client-chosen-1' },
    });
    expect(again.statusCode).toBe(200);
    const mismatch = await t.request({
      method: 'PUT',
      url: '/fhir/R4/Patient/client-chosen-1',
      payload: { ...patient('Achieng'), id: 'other' },
    });
    expect(mismatch.statusCode).toBe(400);
  });

  test('JSON Patch applies; a failing test op is 400 and writes nothing', async () => {
    const created = (await create(patient('Chebet'))).json() as Patient;
    const res = await t.request({
      method: 'PATCH',
      url: `/fhir/R4/Patient/${created.id}`,
      headers: { 'content-type': 'application/json-patch+json' },
      payload: JSON.stringify([{ op: 'replace', path: '/gender', value: 'male' }]),
    });
    expect(res.statusCode).toBe(200);
    expect((res.json() as Patient).gender).toBe('male');
    const bad = await t.request({
      method: 'PATCH',
      url: `/fhir/R4/Patient/${created.id}`,
      headers: { 'content-type': 'application/json-patch+json' },
      payload: JSON.stringify([
        { op: 'test', path: '/gender', value: 'female' },
        { op: 'remove', path: '/name' },
      ]),
    });
    expect(bad.statusCode).toBe(400);
    const after = (await t.request({ method: 'GET', url: `/fhir/R4/Patient/${created.id}` })).json() as Patient;
    expect(after.name).toBeDefined();
  });
});

describe('delete and history', () => {
  test('delete, then read is 410 and history keeps every version', async () => {
    const created = (await create(patient('Odhiambo'))).json() as Patient;
    await t.request({ method: 'PUT', url: `/fhir/R4/Patient/${created.id}`, payload: { ...created, gender: 'male' } });
    const del = await t.request({ method: 'DELETE', url: `/fhir/R4/Patient/${created.id}` });
    expect(del.statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: `/fhir/R4/Patient/${created.id}` })).statusCode).toBe(410);
    const history = (
      await t.request({ method: 'GET', url: `/fhir/R4/Patient/${created.id}/_history` })
    ).json() as Bundle;
    expect(history.type).toBe('history');
    expect(history.entry?.map((e) => e.request?.method)).toEqual(['DELETE', 'PUT', 'POST']);
    expect(history.entry?.[0].resource).toBeUndefined();
    const search = (await t.request({ method: 'GET', url: `/fhir/R4/Patient?_id=${created.id}` })).json() as Bundle;
    expect(search.entry ?? []).toHaveLength(0);
  });

  test('type and system history list recent writes, newest first, with paging', async () => {
    const a = (await create(patient('History1'))).json() as Patient;
    const b = (await create(patient('History2'))).json() as Patient;
    const typeHistory = (
      await t.request({ method: 'GET', url: '/fhir/R4/Patient/_history?_count=2' })
    ).json() as Bundle;
    expect(typeHistory.entry?.map((e) => e.resource?.id)).toEqual([b.id, a.id]);
    expect(typeHistory.link?.find((l) => l.relation === 'next')).toBeDefined();
    const since = a.meta?.lastUpdated as string;
    const system = (
      await t.request({ method: 'GET', url: `/fhir/R4/_history?_since=${encodeURIComponent(since)}` })
    ).json() as Bundle;
    const ids = system.entry?.map((e) => e.resource?.id);
    expect(ids).toContain(a.id);
    expect(ids).toContain(b.id);
  });
});

describe('conditional interactions and Prefer', () => {
  test('If-None-Exist creates once, then returns the match', async () => {
    const body = { ...patient('Kiprop'), identifier: [{ system: 'https://tiba.health/mrn', value: 'MRN-001' }] };
    const headers = { 'if-none-exist': 'identifier=https://tiba.health/mrn|MRN-001' };
    const first = await t.request({ method: 'POST', url: '/fhir/R4/Patient', headers, payload: body });
    expect(first.statusCode).toBe(201);
    const second = await t.request({ method: 'POST', url: '/fhir/R4/Patient', headers, payload: body });
    expect(second.statusCode).toBe(200);
    expect((second.json() as Patient).id).toBe((first.json() as Patient).id);
  });

  test('conditional update and conditional delete by identifier', async () => {
    const body = { ...patient('Mutua'), identifier: [{ system: 'https://tiba.health/mrn', value: 'MRN-002' }] };
    const url = '/fhir/R4/Patient?identifier=https://tiba.health/mrn|MRN-002';
    const createdByPut = await t.request({ method: 'PUT', url, payload: body });
    expect(createdByPut.statusCode).toBe(201);
    const updated = await t.request({ method: 'PUT', url, payload: { ...body, gender: 'male' } });
    expect(updated.statusCode).toBe(200);
    expect((updated.json() as Patient).id).toBe((createdByPut.json() as Patient).id);
    const deleted = await t.request({ method: 'DELETE', url });
    expect(deleted.statusCode).toBe(200);
    const after = (await t.request({ method: 'GET', url })).json() as Bundle;
    expect(after.entry ?? []).toHaveLength(0);
  });

  test('Prefer: return=minimal and return=OperationOutcome', async () => {
    const minimal = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      headers: { prefer: 'return=minimal' },
      payload: patient('Minimal'),
    });
    expect(minimal.statusCode).toBe(201);
    expect(minimal.body).toBe('');
    expect(minimal.headers.location).toBeTruthy();
    const outcome = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      headers: { prefer: 'return=OperationOutcome' },
      payload: patient('Outcome'),
    });
    expect(outcome.statusCode).toBe(201);
    expect(outcome.json().resourceType).toBe('OperationOutcome');
  });
});
