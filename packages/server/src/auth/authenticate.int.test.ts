import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createPool } from '../infra/postgres.js';
import { loadSigningKeys, SIGNING_ALG } from './keys.js';
import {
  createTestUser,
  type SignInTestServer,
  signInByHand,
  startSignInTestServer,
  type TestUser,
} from './sign-in.fixtures.js';

let t: SignInTestServer;
let user: TestUser;
let tokens: { access_token: string; id_token: string; refresh_token: string };
let claims: Record<string, unknown>;
beforeAll(async () => {
  t = await startSignInTestServer();
  user = await createTestUser(t.repo, t.defaultProject.id);
  tokens = await signInByHand(t.url, user, { remember: true });
  claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
});
afterAll(async () => {
  await t?.close();
});

async function readWith(authorization: string | undefined): Promise<number> {
  const res = await fetch(`${t.url}fhir/R4/Practitioner/${user.profile.id}`, {
    headers: authorization ? { authorization } : {},
  });
  if (res.status === 401) {
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  }
  return res.status;
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

test('a valid token reads', async () => {
  expect(await readWith(`Bearer ${tokens.access_token}`)).toBe(200);
});

test('no token, an empty one, another scheme or garbage: 401', async () => {
  expect(await readWith(undefined)).toBe(401);
  expect(await readWith('Bearer ')).toBe(401);
  expect(await readWith(`Basic ${Buffer.from('a:b').toString('base64')}`)).toBe(401);
  expect(await readWith('Bearer not-a-jwt')).toBe(401);
});

test('alg "none" with the same claims: 401', async () => {
  const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
  expect(await readWith(`Bearer ${unsigned}`)).toBe(401);
});

test('signed with another key (even naming the real kid): 401', async () => {
  const header = JSON.parse(Buffer.from(tokens.access_token.split('.')[0], 'base64url').toString());
  const { privateKey } = await generateKeyPair(SIGNING_ALG);
  const forged = await new SignJWT(claims).setProtectedHeader({ alg: SIGNING_ALG, kid: header.kid }).sign(privateKey);
  expect(await readWith(`Bearer ${forged}`)).toBe(401);
  // An HMAC token "signed" with the public key (algorithm confusion).
  const publicJwk = await exportJWK((await generateKeyPair(SIGNING_ALG)).publicKey);
  const hmac = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid: header.kid })
    .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
  expect(await readWith(`Bearer ${hmac}`)).toBe(401);
});

test('a real token with a changed payload: 401', async () => {
  const [header, , signature] = tokens.access_token.split('.');
  const tampered = `${header}.${b64({ ...claims, profile: 'Practitioner/someone-else' })}.${signature}`;
  expect(await readWith(`Bearer ${tampered}`)).toBe(401);
});

test('an expired token signed by the server itself: 401', async () => {
  const pool = createPool(t.config.databaseUrl, 1);
  try {
    const keys = await loadSigningKeys(pool);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...claims, iat: now - 7200, exp: now - 60 })
      .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.kid, typ: 'JWT' })
      .sign(keys.privateKey);
    expect(await readWith(`Bearer ${expired}`)).toBe(401);
    // The same claims, unexpired, prove the key and claims are right: only the expiry differs.
    const fresh = await new SignJWT({ ...claims, iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.kid, typ: 'JWT' })
      .sign(keys.privateKey);
    expect(await readWith(`Bearer ${fresh}`)).toBe(200);
  } finally {
    await pool.end();
  }
});

test('ID and refresh tokens are not access tokens: 401', async () => {
  expect(await readWith(`Bearer ${tokens.id_token}`)).toBe(401);
  expect(await readWith(`Bearer ${tokens.refresh_token}`)).toBe(401);
});

test('a revoked login: 401 at once, on the FHIR API and auth/me', async () => {
  const other = await signInByHand(t.url, user);
  expect(await readWith(`Bearer ${other.access_token}`)).toBe(200);
  const logout = await fetch(`${t.url}oauth2/logout`, {
    method: 'POST',
    headers: { authorization: `Bearer ${other.access_token}` },
  });
  expect(logout.status).toBe(200);
  expect(await readWith(`Bearer ${other.access_token}`)).toBe(401);
  const me = await fetch(`${t.url}auth/me`, { headers: { authorization: `Bearer ${other.access_token}` } });
  expect(me.status).toBe(401);
  // Other logins of the same user are untouched.
  expect(await readWith(`Bearer ${tokens.access_token}`)).toBe(200);
});
