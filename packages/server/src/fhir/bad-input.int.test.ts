import type { OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../test/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ MAX_BODY_BYTES: String(64 * 1024) });
});
afterAll(async () => {
  await t?.close();
});

function expectOutcome(res: { statusCode: number; body: string }, status: number, text?: RegExp): OperationOutcome {
  expect(res.statusCode).toBe(status);
  const outcome = JSON.parse(res.body) as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(res.body).not.toMatch(/at .*\.(ts|js):\d+/); // no stack traces
  if (text) {
    expect(JSON.stringify(outcome.issue)).toMatch(text);
  }
  return outcome;
}

describe('bad input gets a 4xx OperationOutcome and writes nothing', () => {
  test('a URL with a broken percent-escape', async () => {
    const res = await t.request({ method: 'GET', url: '/fhir/R4/Patient/%E0%A4%A' });
    expectOutcome(res, 400);
  });

  test('malformed JSON', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      headers: { 'content-type': 'application/fhir+json' },
      payload: '{"resourceType": "Patient", ',
    });
    expectOutcome(res, 400, /Invalid JSON/);
  });

  test('resourceType not matching the URL', async () => {
    const res = await t.request({ method: 'POST', url: '/fhir/R4/Patient', payload: { resourceType: 'Observation' } });
    expectOutcome(res, 400);
  });

  test('unknown resource type', async () => {
    expectOutcome(
      await t.request({ method: 'POST', url: '/fhir/R4/Spaceship', payload: { resourceType: 'Spaceship' } }),
      400
    );
    expect((await t.request({ method: 'GET', url: '/fhir/R4/Spaceship/1' })).statusCode).toBeGreaterThanOrEqual(400);
    expect((await t.request({ method: 'GET', url: '/fhir/R4/Spaceship/1' })).statusCode).toBeLessThan(500);
  });

  test('invalid element values, with the element named', async () => {
    const gender = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      payload: { resourceType: 'Patient', gender: 'blue' },
    });
    expectOutcome(gender, 400, /Patient\.gender/);
    const date = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      payload: { resourceType: 'Patient', birthDate: '2020-13-45' },
    });
    expectOutcome(date, 400, /birthDate/);
    const unknown = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      payload: { resourceType: 'Patient', favouriteColour: 'red' },
    });
    expectOutcome(unknown, 400, /favouriteColour/);
    const search = await t.request({ method: 'GET', url: '/fhir/R4/Patient?gender=blue&_total=accurate' });
    expect(search.json().total).toBe(0);
  });

  test('body over the limit is 413', async () => {
    const big = {
      resourceType: 'Patient',
      text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(70 * 1024)}</div>` },
    };
    expectOutcome(await t.request({ method: 'POST', url: '/fhir/R4/Patient', payload: big }), 413);
  });

  test('bad search values and unknown parameters', async () => {
    expectOutcome(await t.request({ method: 'GET', url: '/fhir/R4/Patient?birthdate=not-a-date' }), 400);
    expectOutcome(await t.request({ method: 'GET', url: '/fhir/R4/Observation?value-quantity=abc' }), 400);
    expectOutcome(await t.request({ method: 'GET', url: '/fhir/R4/Patient?shoe-size=42' }), 400, /shoe-size/);
    const lenient = await t.request({
      method: 'GET',
      url: '/fhir/R4/Patient?shoe-size=42',
      headers: { prefer: 'handling=lenient' },
    });
    expect(lenient.statusCode).toBe(200);
    expectOutcome(await t.request({ method: 'GET', url: '/fhir/R4/Patient?_count=abc' }), 400);
  });

  test('a conditional create whose search cannot be parsed (found by npm run fuzz)', async () => {
    const header = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      headers: { 'if-none-exist': '__proto__=1' },
      payload: { resourceType: 'Patient' },
    });
    expectOutcome(header, 400, /If-None-Exist/);
    const batch = await t.request({
      method: 'POST',
      url: '/fhir/R4',
      payload: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          {
            resource: { resourceType: 'Patient' },
            request: { method: 'POST', url: 'Patient', ifNoneExist: '__proto__=1' },
          },
        ],
      },
    });
    expectOutcome(batch, 400, /ifNoneExist/);
  });

  test('bad If-Match', async () => {
    const created = (
      await t.request({ method: 'POST', url: '/fhir/R4/Patient', payload: { resourceType: 'Patient' } })
    ).json();
    const res = await t.request({
      method: 'PUT',
      url: `/fhir/R4/Patient/${created.id}`,
      headers: { 'if-match': 'garbage' },
      payload: created,
    });
    expectOutcome(res, 400, /If-Match/);
  });

  test('a body that is not JSON where JSON is needed', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      headers: { 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
  });

  test('no token, a forged token: 401', async () => {
    const none = await t.app.inject({ method: 'GET', url: '/fhir/R4/Patient' });
    expectOutcome(none, 401);
    const forged = await t.app.inject({
      method: 'GET',
      url: '/fhir/R4/Patient',
      headers: { authorization: `Bearer ${t.token.slice(0, -4)}AAAA` },
    });
    expectOutcome(forged, 401);
    const alg = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = t.token.split('.')[1];
    const none2 = await t.app.inject({
      method: 'GET',
      url: '/fhir/R4/Patient',
      headers: { authorization: `Bearer ${alg}.${payload}.` },
    });
    expectOutcome(none2, 401);
  });
});
