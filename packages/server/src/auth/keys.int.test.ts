import { decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPool, type Pool } from '../infra/postgres.js';
import { startTestServer, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type TestServer } from '../test/test-server.js';
import { listSigningKeys, loadSigningKeys, retireSigningKey, rotateSigningKeys, SIGNING_ALG } from './keys.js';

let t: TestServer;
let pool: Pool;

beforeAll(async () => {
  // Reload every second, so the test sees a rotation reach the server the way other processes would.
  t = await startTestServer({ SIGNING_KEY_RELOAD_SECONDS: '1' });
  pool = createPool(t.config.databaseUrl, 2);
});
afterAll(async () => {
  await pool?.end();
  await t?.close();
});

async function clientToken(): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `grant_type=client_credentials&client_id=${TEST_CLIENT_ID}&client_secret=${TEST_CLIENT_SECRET}`,
  });
  expect(res.statusCode).toBe(200);
  return res.json().access_token;
}

async function publishedKids(): Promise<string[]> {
  const res = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  expect(res.statusCode).toBe(200);
  return (res.json() as JSONWebKeySet).keys.map((k) => k.kid as string);
}

function readPatients(token: string) {
  return t.app.inject({
    method: 'GET',
    url: '/fhir/R4/Patient?_count=1',
    headers: { authorization: `Bearer ${token}` },
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error('timed out');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('jwks.json', () => {
  test('is public and lists only public keys', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    const { keys } = res.json() as JSONWebKeySet;
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'EC', alg: SIGNING_ALG, use: 'sig' });
      expect(key.kid).toEqual(expect.any(String));
      expect(key).not.toHaveProperty('d');
    }
  });

  test('verifies the tokens the server issues', async () => {
    const token = await clientToken();
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    const { createLocalJWKSet } = await import('jose');
    const { payload } = await jwtVerify(token, createLocalJWKSet(res.json()), { issuer: t.config.baseUrl });
    expect(payload.login_id).toEqual(expect.any(String));
  });
});

describe('rotation', () => {
  test('a new key signs after the periodic reload; tokens of the old key keep verifying until it is retired', async () => {
    const before = await clientToken();
    const oldKid = decodeProtectedHeader(before).kid as string;
    const unusedOldToken = await clientToken();

    const { kid: newKid, retired } = await rotateSigningKeys(pool, { retireAfterSeconds: 3600 });
    expect(retired).toEqual([]);
    expect(newKid).not.toBe(oldKid);

    // The server reloads within a second (SIGNING_KEY_RELOAD_SECONDS=1): then both keys are published.
    await waitFor(async () => (await publishedKids()).includes(newKid));
    expect(await publishedKids()).toEqual(expect.arrayContaining([oldKid, newKid]));

    const after = await clientToken();
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    expect((await readPatients(after)).statusCode).toBe(200);
    expect((await readPatients(before)).statusCode).toBe(200);

    // Retiring the old key: it is no longer published and its tokens stop verifying.
    expect(await retireSigningKey(pool, oldKid)).toBe(true);
    await waitFor(async () => !(await publishedKids()).includes(oldKid));
    expect((await readPatients(unusedOldToken)).statusCode).toBe(401);
    expect((await readPatients(after)).statusCode).toBe(200);
  });

  test('rotate-keys retires keys replaced longer ago than the retire delay, never the signer', async () => {
    const first = await rotateSigningKeys(pool, { retireAfterSeconds: 3600 });
    const second = await rotateSigningKeys(pool, { retireAfterSeconds: 0 });
    expect(second.retired).toContain(first.kid);
    const keys = await listSigningKeys(pool);
    expect(keys.filter((k) => k.active).map((k) => k.kid)).toEqual([second.kid]);
    await expect(retireSigningKey(pool, second.kid)).rejects.toThrow(/only active key/);
  });

  test('another process verifies a token signed with a key it has not loaded yet (reload on unknown kid)', async () => {
    const processA = await loadSigningKeys(pool);
    const processB = await loadSigningKeys(pool);
    const { kid } = await rotateSigningKeys(pool, { retireAfterSeconds: 3600 });
    await processA.reload();
    expect(processA.kid).toBe(kid);
    expect(processB.kid).not.toBe(kid);

    const { SignJWT } = await import('jose');
    const token = await new SignJWT({ hello: 'world' })
      .setProtectedHeader({ alg: SIGNING_ALG, kid: processA.kid })
      .setExpirationTime('1m')
      .sign(processA.privateKey);
    const { payload } = await jwtVerify(token, processB.verifyKeys, { algorithms: [SIGNING_ALG] });
    expect(payload.hello).toBe('world');
    expect(processB.kid).toBe(kid);

    // A forged kid does not make every request reload: the next unknown kid is refused without a query.
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: SIGNING_ALG, kid: 'no-such-key' })
      .sign(processA.privateKey);
    await expect(jwtVerify(forged, processB.verifyKeys)).rejects.toThrow();
  });
});
