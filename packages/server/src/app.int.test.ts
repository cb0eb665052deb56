import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from './test/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

test('healthcheck reports PostgreSQL and Redis', async () => {
  const res = await t.app.inject({ method: 'GET', url: '/healthcheck' });
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual({ ok: true, postgres: true, redis: true });
});

test('metadata is public and describes what the server supports', async () => {
  const res = await t.app.inject({ method: 'GET', url: '/fhir/R4/metadata' });
  expect(res.statusCode).toBe(200);
  const cs = res.json();
  expect(cs.resourceType).toBe('CapabilityStatement');
  expect(cs.fhirVersion).toBe('4.0.1');
  const patient = cs.rest[0].resource.find((r: { type: string }) => r.type === 'Patient');
  expect(patient.searchParam.length).toBeGreaterThan(10);
});

test('token endpoint: wrong secret and unsupported grants are refused', async () => {
  const wrong = await t.app.inject({
    method: 'POST',
    url: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'grant_type=client_credentials&client_id=test-admin-client&client_secret=nope',
  });
  expect(wrong.statusCode).toBe(401);
  expect(wrong.json().error).toBe('invalid_client');
  const grant = await t.app.inject({
    method: 'POST',
    url: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'grant_type=password',
  });
  expect(grant.statusCode).toBe(400);
  expect(grant.json().error).toBe('unsupported_grant_type');
});

test('metrics count requests by route and status, and show the pool', async () => {
  await t.request({ method: 'GET', url: '/fhir/R4/Patient' });
  const res = await t.app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.body).toMatch(/tiba_http_requests_total\{method="GET",route="[^"]+",status="200"\} \d+/);
  expect(res.body).toMatch(/tiba_http_request_duration_seconds_bucket/);
  expect(res.body).toMatch(/tiba_db_pool_clients\{state="total"\}/);
});

test('every response carries a request id', async () => {
  const res = await t.app.inject({ method: 'GET', url: '/healthcheck', headers: { 'x-request-id': 'abc-123' } });
  expect(res.headers['x-request-id']).toBe('abc-123');
});
