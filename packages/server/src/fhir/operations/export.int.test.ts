import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

test('$export kick-offs answer 404 with an OperationOutcome until bulk export exists', async () => {
  const patient = (
    await t.request({ method: 'POST', url: '/fhir/R4/Patient', payload: { resourceType: 'Patient' } })
  ).json();
  for (const [method, url] of [
    ['GET', '/fhir/R4/$export'],
    ['POST', '/fhir/R4/$export'],
    ['GET', '/fhir/R4/Patient/$export'],
    ['GET', `/fhir/R4/Group/${patient.id}/$export`],
  ] as const) {
    const res = await t.request({ method, url, headers: { prefer: 'respond-async' } });
    expect(res.statusCode, `${method} ${url}`).toBe(404);
    expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'not-found' }] });
  }
});
