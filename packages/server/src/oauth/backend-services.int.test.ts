import { MedplumClient } from '@medplum/core';
import type { ClientApplication, Project } from '@medplum/fhirtypes';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../test/free-port.js';
import { startTestServer, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type TestServer } from '../test/test-server.js';
import {
  JWT_BEARER,
  type JwksServer,
  makeKey,
  postTokenForm,
  type SigningKey,
  signAssertion,
  startJwksServer,
} from './client-assertion.fixtures.js';

// The token rules of SMART Backend Services (https://hl7.org/fhir/smart-app-launch/backend-services.html)
// and of client_credentials with a secret, over real HTTP.

let t: TestServer;
let baseUrl: string;
let tokenUrl: string;
let project: Project;
/** Serves the key set, plus paths that misbehave: too large, a redirect, no answer. */
let jwks: JwksServer;
let key: SigningKey;
/** Keys at `jwks.url` (allowed by JWKS_ALLOWED_HOSTS). */
let uriClient: ClientApplication;
/** Keys inline, registered scope `system/*.rs`. */
let inlineClient: ClientApplication;
/** A client with a secret, named for the token response's display. */
let secretClient: ClientApplication;

function grant(clientAssertion: string, scope: string | undefined, extra: Record<string, string> = {}) {
  return postTokenForm(tokenUrl, {
    grant_type: 'client_credentials',
    client_assertion_type: JWT_BEARER,
    client_assertion: clientAssertion,
    scope,
    ...extra,
  });
}

async function registerClient(body: Record<string, unknown>): Promise<ClientApplication> {
  const res = await t.request({ method: 'POST', url: `/admin/projects/${project.id}/client`, payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

beforeAll(async () => {
  jwks = await startJwksServer({
    '/big.json': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [{ ...jwks.published.keys[0], padding: 'x'.repeat(100_000) }] }));
    },
    '/redirect.json': (_req, res) => {
      res.writeHead(302, { location: '/jwks.json' });
      res.end();
    },
    '/slow.json': () => undefined, // never answers
  });
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}/`;
  tokenUrl = `${baseUrl}oauth2/token`;
  t = await startTestServer({ BASE_URL: baseUrl, JWKS_ALLOWED_HOSTS: `127.0.0.1:${jwks.port}` });
  await t.app.listen({ port, host: '127.0.0.1' });
  const projectId = decodeJwt(t.token).project as string;
  project = (await t.request({ method: 'GET', url: `/fhir/R4/Project/${projectId}` })).json();

  key = await makeKey('ES384');
  jwks.published = { keys: [key.publicJwk] };
  uriClient = await registerClient({ name: 'Lab bridge', jwksUri: jwks.url });
  inlineClient = await registerClient({ name: 'Export job', jwks: { keys: [key.publicJwk] }, scope: 'system/*.rs' });
  secretClient = await registerClient({ name: 'Reporting script' });
});

afterAll(async () => {
  await jwks?.close();
  await t?.close();
});

describe('scope', () => {
  test('a missing scope is invalid_scope, and the refused assertion can still be used with a scope', async () => {
    const once = await signAssertion(tokenUrl, uriClient.id as string, key);
    const missing = await grant(once, undefined);
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ error: 'invalid_scope', error_description: expect.stringMatching(/required/) });
    const corrected = await grant(once, 'system/Patient.rs');
    expect(corrected.status, JSON.stringify(corrected.body)).toBe(200);
    expect(corrected.body.scope).toBe('system/Patient.rs');
    // Now it has been used.
    expect((await grant(once, 'system/Patient.rs')).body.error).toBe('invalid_client');
  });

  test('an empty scope is invalid_scope', async () => {
    const res = await grant(await signAssertion(tokenUrl, uriClient.id as string, key), '  ');
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  test('a scope with no SMART system/ scope in it is invalid_scope', async () => {
    for (const scope of ['openid offline_access', 'launch/patient', 'read-everything please']) {
      const res = await grant(await signAssertion(tokenUrl, uriClient.id as string, key), scope);
      expect(res, scope).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    }
  });

  test('unknown words are dropped from the granted scope and the token', async () => {
    const res = await grant(
      await signAssertion(tokenUrl, uriClient.id as string, key),
      'openid system/Observation.rs warp-drive offline_access'
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.scope).toBe('system/Observation.rs');
    expect(decodeJwt(res.body.access_token as string).scope).toBe('system/Observation.rs');
  });

  test('a scope for a resource type that does not exist is invalid_scope', async () => {
    const res = await grant(await signAssertion(tokenUrl, uriClient.id as string, key), 'system/Spaceship.read');
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    expect(res.body.error_description).toMatch(/Spaceship/);
    const mixed = await grant(
      await signAssertion(tokenUrl, inlineClient.id as string, key),
      'system/Patient.rs system/Spaceship.rs'
    );
    expect(mixed).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  test('with a secret: no scope keeps the Medplum default; a sent scope follows the same rules', async () => {
    const secret = { grant_type: 'client_credentials', client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET };
    const none = await postTokenForm(tokenUrl, secret);
    expect(none).toMatchObject({ status: 200, body: { scope: 'system/*.*' } });
    expect((await postTokenForm(tokenUrl, { ...secret, scope: '' })).body.error).toBe('invalid_scope');
    expect((await postTokenForm(tokenUrl, { ...secret, scope: 'openid' })).body.error).toBe('invalid_scope');
    expect((await postTokenForm(tokenUrl, { ...secret, scope: 'system/Spaceship.rs' })).body.error).toBe(
      'invalid_scope'
    );
    const some = await postTokenForm(tokenUrl, { ...secret, scope: 'system/Patient.rs junk' });
    expect(some).toMatchObject({ status: 200, body: { scope: 'system/Patient.rs' } });
    // MedplumClient and the Medplum CLI's client-credentials login send no scope.
    const medplum = new MedplumClient({ baseUrl, fetch });
    expect((await medplum.startClientLogin(TEST_CLIENT_ID, TEST_CLIENT_SECRET)).resourceType).toBe('ClientApplication');
  });
});

describe('jku', () => {
  test('a jku other than the registered jwksUri is invalid_client; the registered one is fine', async () => {
    const elsewhere = await grant(
      await signAssertion(tokenUrl, uriClient.id as string, key, {}, { jku: 'https://keys.example/jwks.json' }),
      'system/*.rs'
    );
    expect(elsewhere).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(elsewhere.body.error_description).toMatch(/jku/);
    const registered = await grant(
      await signAssertion(tokenUrl, uriClient.id as string, key, {}, { jku: jwks.url }),
      'system/*.rs'
    );
    expect(registered.status, JSON.stringify(registered.body)).toBe(200);
  });

  test('a client with inline keys has no jwksUri: any jku is invalid_client', async () => {
    const res = await grant(
      await signAssertion(tokenUrl, inlineClient.id as string, key, {}, { jku: jwks.url }),
      'system/*.rs'
    );
    expect(res).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });
});

describe('fetching a jwksUri', () => {
  async function clientAt(jwksUri: string): Promise<string> {
    return (await registerClient({ name: `Keys at ${jwksUri}`, jwksUri })).id as string;
  }

  async function refusal(clientId: string): Promise<string> {
    const res = await grant(await signAssertion(tokenUrl, clientId, key), 'system/*.rs');
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    return res.body.error_description as string;
  }

  test('a private address not in JWKS_ALLOWED_HOSTS is never contacted', async () => {
    // localhost is 127.0.0.1, but only `127.0.0.1:<port>` is allowed.
    const before = jwks.hits.get('/jwks.json') ?? 0;
    const id = await clientAt(`http://localhost:${jwks.port}/jwks.json`);
    expect(await refusal(id)).toMatch(/private address \(JWKS_ALLOWED_HOSTS\)/);
    expect(jwks.hits.get('/jwks.json') ?? 0).toBe(before);
    const metadata = await clientAt('http://169.254.169.254/latest/meta-data/jwks.json');
    expect(await refusal(metadata)).toMatch(/private address/);
  });

  test('an answer larger than the limit is refused', async () => {
    expect(await refusal(await clientAt(`http://127.0.0.1:${jwks.port}/big.json`))).toMatch(/larger than/);
  });

  test('redirects are not followed', async () => {
    expect(await refusal(await clientAt(`http://127.0.0.1:${jwks.port}/redirect.json`))).toMatch(/HTTP 302/);
  });

  test('a key server that does not answer times out', async () => {
    const started = Date.now();
    expect(await refusal(await clientAt(`http://127.0.0.1:${jwks.port}/slow.json`))).toMatch(/Timed out/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('token response references carry display names (Medplum CLI whoami, project list)', () => {
  test('client_credentials with a secret and with an assertion', async () => {
    const bySecret = await postTokenForm(tokenUrl, {
      grant_type: 'client_credentials',
      client_id: secretClient.id,
      client_secret: secretClient.secret,
    });
    expect(bySecret.status).toBe(200);
    expect(bySecret.body.project).toEqual({ reference: `Project/${project.id}`, display: project.name });
    expect(bySecret.body.profile).toEqual({
      reference: `ClientApplication/${secretClient.id}`,
      display: 'Reporting script',
    });
    expect(project.name).toEqual(expect.any(String));

    const byAssertion = await grant(await signAssertion(tokenUrl, uriClient.id as string, key), 'system/*.rs');
    expect(byAssertion.body.profile).toEqual({ reference: `ClientApplication/${uriClient.id}`, display: 'Lab bridge' });
    expect(byAssertion.body.project).toEqual({ reference: `Project/${project.id}`, display: project.name });
  });

  test('MedplumClient keeps them as its login state', async () => {
    const medplum = new MedplumClient({ baseUrl, fetch });
    await medplum.startClientLogin(secretClient.id as string, secretClient.secret as string);
    const login = medplum.getActiveLogin();
    expect(login?.project).toEqual({ reference: `Project/${project.id}`, display: project.name });
    expect(login?.profile.display).toBe('Reporting script');
  });
});
