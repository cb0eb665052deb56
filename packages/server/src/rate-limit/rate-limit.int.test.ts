import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, TEST_CLIENT_ID, type TestServer } from '../test/test-server.js';

let t: TestServer;
let unlimitedApi: TestServer;
beforeAll(async () => {
  // Small limits and a short window (each test server has Redis keys of its own).
  t = await startTestServer({
    RATE_LIMIT_API_PER_MINUTE: '5',
    RATE_LIMIT_AUTH_PER_MINUTE: '3',
    RATE_LIMIT_WINDOW_SECONDS: '2',
  });
  unlimitedApi = await startTestServer({
    RATE_LIMIT_API_PER_MINUTE: '0',
    RATE_LIMIT_AUTH_PER_MINUTE: '2',
  });
});
afterAll(async () => {
  await Promise.all([t?.close(), unlimitedApi?.close()]);
});

const search = (server: TestServer, ip: string) =>
  server.request({ method: 'GET', url: '/fhir/R4/Patient?_count=1', remoteAddress: ip });

test('the FHIR API answers 429 with Retry-After and an OperationOutcome past the limit, per IP, until the window passes', async () => {
  const ip = '198.51.100.1';
  for (let i = 0; i < 5; i++) {
    const res = await search(t, ip);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-ratelimit-remaining']).toBe(String(4 - i));
  }
  const refused = await search(t, ip);
  expect(refused.statusCode).toBe(429);
  const retryAfter = Number(refused.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(2);
  expect(refused.headers['content-type']).toMatch(/^application\/fhir\+json/);
  expect(refused.json()).toMatchObject({
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'throttled' }],
  });

  // Another client is not affected, and probes are never limited.
  expect((await search(t, '198.51.100.2')).statusCode).toBe(200);
  expect((await t.app.inject({ method: 'GET', url: '/healthcheck', remoteAddress: ip })).statusCode).toBe(200);
  expect((await t.app.inject({ method: 'GET', url: '/metrics', remoteAddress: ip })).statusCode).toBe(200);

  await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 100));
  expect((await search(t, ip)).statusCode).toBe(200);
});

test('the token endpoint has its own, smaller budget and answers an OAuth2 error', async () => {
  const ip = '198.51.100.3';
  const token = () =>
    t.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `grant_type=client_credentials&client_id=${TEST_CLIENT_ID}&client_secret=wrong`,
      remoteAddress: ip,
    });
  for (let i = 0; i < 3; i++) {
    expect((await token()).statusCode).toBe(401);
  }
  const refused = await token();
  expect(refused.statusCode).toBe(429);
  expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(refused.json()).toEqual({
    error: 'temporarily_unavailable',
    error_description: expect.stringMatching(/Too many requests/),
  });
  // The API budget of the same IP is separate.
  expect((await search(t, ip)).statusCode).toBe(200);
});

test('/auth/* shares the sign-in budget and answers an OperationOutcome', async () => {
  const ip = '198.51.100.4';
  const method = () =>
    t.app.inject({ method: 'POST', url: '/auth/method', payload: { email: 'x@example.com' }, remoteAddress: ip });
  for (let i = 0; i < 3; i++) {
    expect((await method()).statusCode).not.toBe(429);
  }
  const refused = await method();
  expect(refused.statusCode).toBe(429);
  expect(refused.json().resourceType).toBe('OperationOutcome');
});

test('a limit of 0 switches that budget off', async () => {
  const ip = '198.51.100.5';
  for (let i = 0; i < 30; i++) {
    expect((await search(unlimitedApi, ip)).statusCode).toBe(200);
  }
  const auth = () => unlimitedApi.app.inject({ method: 'POST', url: '/auth/method', payload: {}, remoteAddress: ip });
  await auth();
  await auth();
  expect((await auth()).statusCode).toBe(429);
});
