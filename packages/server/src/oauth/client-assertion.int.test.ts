import { randomUUID } from 'node:crypto';
import { MedplumClient } from '@medplum/core';
import type { ClientApplication } from '@medplum/fhirtypes';
import { type CryptoKey, decodeJwt, decodeProtectedHeader, exportJWK, importJWK, type JWTPayload, SignJWT } from 'jose';
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
import { CLIENT_JWKS_EXTENSION_URL } from './client-assertion.js';
import { JWKS_REFETCH_COOLDOWN_MS } from './jwks-fetch.js';

let t: TestServer;
let baseUrl: string;
let tokenUrl: string;
let projectId: string;
/** Publishes `jwks.published` at `jwks.url`. */
let jwks: JwksServer;
let jwksUrl: string;
/** Nobody listens there: an unreachable (but allowed) jwksUri. */
let offlinePort: number;

let rsaKey: SigningKey;
let ecKey: SigningKey;
let otherRsaKey: SigningKey;
/** Registered with an inline JWKS (RS384) and scope `system/*.read`. */
let inlineClient: ClientApplication;
/** Registered with a jwksUri served by `jwks` (ES384), no scope restriction. */
let uriClient: ClientApplication;

function assertion(
  clientId: string,
  key: SigningKey,
  claims: JWTPayload = {},
  header: Record<string, unknown> = {}
): Promise<string> {
  return signAssertion(tokenUrl, clientId, key, claims, header);
}

function postToken(fields: Record<string, string | undefined>, headers: Record<string, string> = {}) {
  return postTokenForm(tokenUrl, fields, headers);
}

/** A Backend Services grant; SMART requires a scope, so one is sent unless `extra` says otherwise. */
function assertionGrant(clientAssertion: string, extra: Record<string, string | undefined> = {}) {
  return postToken({
    grant_type: 'client_credentials',
    client_assertion_type: JWT_BEARER,
    client_assertion: clientAssertion,
    scope: 'system/*.read',
    ...extra,
  });
}

async function registerClient(body: Record<string, unknown>): Promise<ClientApplication> {
  const res = await t.request({ method: 'POST', url: `/admin/projects/${projectId}/client`, payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

beforeAll(async () => {
  const port = await freePort();
  offlinePort = await freePort();
  baseUrl = `http://127.0.0.1:${port}/`;
  tokenUrl = `${baseUrl}oauth2/token`;
  jwks = await startJwksServer();
  jwksUrl = jwks.url;
  // The key servers of these tests are on loopback, which JWKS fetches refuse unless allowed.
  t = await startTestServer({
    BASE_URL: baseUrl,
    JWKS_ALLOWED_HOSTS: `127.0.0.1:${jwks.port},127.0.0.1:${offlinePort}`,
  });
  await t.app.listen({ port, host: '127.0.0.1' });
  projectId = decodeJwt(t.token).project as string;

  [rsaKey, ecKey, otherRsaKey] = await Promise.all([makeKey('RS384'), makeKey('ES384'), makeKey('RS384')]);
  jwks.published = { keys: [ecKey.publicJwk] };

  inlineClient = await registerClient({
    name: 'Research export (inline JWKS)',
    jwks: { keys: [rsaKey.publicJwk] },
    scope: 'system/*.read',
  });
  uriClient = await registerClient({ name: 'EMR bridge (JWKS URL)', jwksUri: jwksUrl });
});

afterAll(async () => {
  await jwks?.close();
  await t?.close();
});

describe('registration', () => {
  test('a client with keys gets no secret; its inline JWKS is kept in a Tiba extension', () => {
    expect(inlineClient.secret).toBeUndefined();
    const ext = inlineClient.extension?.find((e) => e.url === CLIENT_JWKS_EXTENSION_URL);
    expect(JSON.parse(ext?.valueString ?? '{}')).toEqual({ keys: [rsaKey.publicJwk] });
    expect(inlineClient.defaultScope).toEqual(['system/*.read']);
    expect(uriClient.jwksUri).toBe(jwksUrl);
  });
});

describe('private_key_jwt', () => {
  test('an RS384 assertion checked against the inline JWKS; MedplumClient works with the token', async () => {
    const { status, body } = await assertionGrant(await assertion(inlineClient.id as string, rsaKey));
    expect(status, JSON.stringify(body)).toBe(200);
    const token = body.access_token as string;
    expect(decodeJwt(token)).toMatchObject({
      client_id: inlineClient.id,
      profile: `ClientApplication/${inlineClient.id}`,
    });
    const medplum = new MedplumClient({ baseUrl, fetch });
    medplum.setAccessToken(token);
    const bundle = await medplum.search('Patient', { _count: '1' });
    expect(bundle.resourceType).toBe('Bundle');
  });

  test('MedplumClient.startJwtAssertionLogin sends no scope, which SMART requires: invalid_scope', async () => {
    const medplum = new MedplumClient({ baseUrl, fetch });
    await expect(medplum.startJwtAssertionLogin(await assertion(inlineClient.id as string, rsaKey))).rejects.toThrow(
      /scope/
    );
  });

  test('an ES384 assertion checked against the jwksUri; backend-service token shape', async () => {
    const { status, body } = await assertionGrant(await assertion(uriClient.id as string, ecKey), {
      scope: 'system/Observation.rs',
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBeLessThanOrEqual(300);
    expect(body.refresh_token).toBeUndefined();
    expect(body.scope).toBe('system/Observation.rs');
    const claims = decodeJwt(body.access_token as string);
    expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(300);
    expect(claims.scope).toBe('system/Observation.rs');
  });

  test('a key added to the jwksUri later is fetched when its kid appears, at most once per cooldown', async () => {
    const fetchedAt = Date.now();
    expect((await assertionGrant(await assertion(uriClient.id as string, ecKey))).status).toBe(200);
    const added = await makeKey('RS384');
    jwks.published = { keys: [ecKey.publicJwk, added.publicJwk] };
    // Just after a fetch an unknown kid does not refetch (forged kids cannot hammer the client's server)…
    const early = await assertionGrant(await assertion(uriClient.id as string, added));
    expect(early.status).toBe(401);
    // …after the cooldown it does.
    await new Promise((resolve) => setTimeout(resolve, fetchedAt + JWKS_REFETCH_COOLDOWN_MS + 200 - Date.now()));
    const later = await assertionGrant(await assertion(uriClient.id as string, added));
    expect(later.status, JSON.stringify(later.body)).toBe(200);
  });

  test('scope: v1 system scope granted, a scope beyond the registered one refused, user/ scopes refused', async () => {
    const id = inlineClient.id as string;
    const ok = await assertionGrant(await assertion(id, rsaKey), { scope: 'system/*.read' });
    expect(ok.status).toBe(200);
    expect(ok.body.scope).toBe('system/*.read');
    const narrower = await assertionGrant(await assertion(id, rsaKey), { scope: 'system/Observation.rs' });
    expect(narrower.status).toBe(200);
    const wider = await assertionGrant(await assertion(id, rsaKey), { scope: 'system/Patient.cruds' });
    expect(wider).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    const user = await assertionGrant(await assertion(id, rsaKey), { scope: 'user/*.read' });
    expect(user).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    const noScope = await assertionGrant(await assertion(id, rsaKey), { scope: undefined });
    expect(noScope).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  test('a replayed assertion (same jti) is rejected', async () => {
    const once = await assertion(inlineClient.id as string, rsaKey);
    expect((await assertionGrant(once)).status).toBe(200);
    const again = await assertionGrant(once);
    expect(again).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(again.body.error_description).toMatch(/jti/);
    // The same jti in a freshly signed assertion is a replay too.
    const { jti } = decodeJwt(once);
    const resigned = await assertionGrant(await assertion(inlineClient.id as string, rsaKey, { jti }));
    expect(resigned.status).toBe(401);
  });

  const rejected: [string, () => Promise<string>, RegExp][] = [
    ['wrong aud', () => assertion(inlineClient.id as string, rsaKey, { aud: `${baseUrl}fhir/R4` }), /aud/],
    [
      'expired exp',
      () => assertion(inlineClient.id as string, rsaKey, { exp: Math.floor(Date.now() / 1000) - 120 }),
      /expired/,
    ],
    [
      'exp more than 5 minutes ahead',
      () => assertion(inlineClient.id as string, rsaKey, { exp: Math.floor(Date.now() / 1000) + 3600 }),
      /5 minutes/,
    ],
    ['no jti', () => assertion(inlineClient.id as string, rsaKey, { jti: undefined }), /jti/],
    ['signed with an unregistered key', () => assertion(inlineClient.id as string, otherRsaKey), /key/],
    [
      'an unregistered key posing as the registered kid',
      () => assertion(inlineClient.id as string, { ...otherRsaKey, kid: rsaKey.kid }),
      /signature/,
    ],
    [
      'iss differs from sub',
      () => assertion(inlineClient.id as string, rsaKey, { sub: 'someone-else' }),
      /iss and sub/,
    ],
    ['unknown client', () => assertion('no-such-client', rsaKey), /Unknown client/],
    [
      'alg none',
      async () => {
        const now = Math.floor(Date.now() / 1000);
        const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
        const id = inlineClient.id as string;
        return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: id, sub: id, aud: tokenUrl, exp: now + 60, jti: randomUUID() })}.`;
      },
      /RS384 or ES384/,
    ],
    [
      'HS256 (shared secret)',
      async () => {
        const id = inlineClient.id as string;
        return new SignJWT({ iss: id, sub: id, aud: tokenUrl, jti: randomUUID() })
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('2m')
          .sign(new TextEncoder().encode('a-shared-secret-of-32-bytes-long!'));
      },
      /RS384 or ES384/,
    ],
    [
      'RS256 with the registered key',
      async () => {
        // The registered RSA key, used with SHA-256 instead of SHA-384.
        const privateKey = (await importJWK(
          { ...(await exportJWK(rsaKey.privateKey)), alg: 'RS256' },
          'RS256'
        )) as CryptoKey;
        return assertion(inlineClient.id as string, { ...rsaKey, privateKey }, {}, { alg: 'RS256' });
      },
      /RS384 or ES384/,
    ],
    ['not a JWT', async () => 'not-a-jwt', /Malformed/],
  ];

  test.each(rejected)('rejected: %s', async (_name, make, description) => {
    const { status, body } = await assertionGrant(await make());
    expect(status).toBe(401);
    expect(body.error).toBe('invalid_client');
    expect(body.error_description).toMatch(description);
  });

  test('malformed requests are 400 invalid_request, never 500', async () => {
    const wrongType = await postToken({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:example:saml',
      client_assertion: await assertion(inlineClient.id as string, rsaKey),
    });
    expect(wrongType).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const missing = await postToken({
      grant_type: 'client_credentials',
      client_assertion_type: JWT_BEARER,
    });
    expect(missing).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const both = await assertionGrant(await assertion(inlineClient.id as string, rsaKey), { client_secret: 'x' });
    expect(both).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  test('an unreachable jwksUri is invalid_client, not a server error', async () => {
    const offline = await registerClient({
      name: 'Offline keys',
      jwksUri: `http://127.0.0.1:${offlinePort}/jwks.json`,
    });
    const { status, body } = await assertionGrant(await assertion(offline.id as string, ecKey));
    expect(status).toBe(401);
    expect(body.error).toBe('invalid_client');
  });
});

describe('client secret', () => {
  test('MedplumClient signs in with startClientLogin', async () => {
    const medplum = new MedplumClient({ baseUrl, fetch });
    const profile = await medplum.startClientLogin(TEST_CLIENT_ID, TEST_CLIENT_SECRET);
    expect(profile.resourceType).toBe('ClientApplication');
    expect(decodeProtectedHeader(medplum.getAccessToken() as string).alg).toBe('ES256');
  });

  test('Basic header works; a wrong secret is invalid_client', async () => {
    const basic = Buffer.from(`${TEST_CLIENT_ID}:${TEST_CLIENT_SECRET}`).toString('base64');
    const ok = await postToken({ grant_type: 'client_credentials' }, { authorization: `Basic ${basic}` });
    expect(ok.status).toBe(200);
    const wrong = await postToken({
      grant_type: 'client_credentials',
      client_id: TEST_CLIENT_ID,
      client_secret: 'nope',
    });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  test('a client registered without keys gets a secret that works', async () => {
    const client = await registerClient({ name: 'Secret client' });
    expect(client.secret).toMatch(/^[0-9a-f]{64}$/);
    const { status, body } = await postToken({
      grant_type: 'client_credentials',
      client_id: client.id as string,
      client_secret: client.secret as string,
    });
    expect(status).toBe(200);
    // A key-based client cannot fall back to a secret it was never given.
    const keyOnly = await postToken({
      grant_type: 'client_credentials',
      client_id: inlineClient.id as string,
      client_secret: '',
    });
    expect(keyOnly.status).toBeGreaterThanOrEqual(400);
    expect(body.expires_in).toBe(t.config.accessTokenLifetime);
  });
});
