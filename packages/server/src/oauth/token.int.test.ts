import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createTestUser,
  newMedplumClient,
  pkcePair,
  postJson,
  postToken,
  type SignInTestServer,
  signInByHand,
  startSignInTestServer,
  type TestUser,
} from '../auth/sign-in.fixtures.js';

let t: SignInTestServer;
let user: TestUser;
beforeAll(async () => {
  t = await startSignInTestServer();
  user = await createTestUser(t.repo, t.defaultProject.id);
});
afterAll(async () => {
  await t?.close();
});

/** A FHIR read with a bearer token: 200 while the token works, 401 once it does not. */
async function readStatus(accessToken: string): Promise<number> {
  const res = await fetch(`${t.url}fhir/R4/Practitioner/${user.profile.id}`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  return res.status;
}

async function startLogin(extra: Record<string, unknown> = {}) {
  const { verifier, challenge } = await pkcePair();
  const login = await postJson(t.url, 'auth/login', {
    email: user.email,
    password: user.password,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
    ...extra,
  });
  expect(login.status).toBe(200);
  return { code: login.body.code as string, verifier, loginId: login.body.login as string };
}

describe('authorization_code with PKCE', () => {
  test('answers the token response MedplumClient and SMART apps expect', async () => {
    const { code, verifier } = await startLogin({ scope: 'openid profile email offline_access', nonce: 'n-123' });
    const res = await postToken(t.url, { grant_type: 'authorization_code', code, code_verifier: verifier });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'openid profile email offline_access',
      access_token: expect.any(String),
      id_token: expect.any(String),
      refresh_token: expect.any(String),
      project: { reference: `Project/${t.defaultProject.id}` },
      profile: { reference: `Practitioner/${user.profile.id}` },
    });
    // The ID token verifies against the published keys and names the user.
    const jwks = createRemoteJWKSet(new URL(`${t.url}.well-known/jwks.json`));
    const { payload } = await jwtVerify(res.body.id_token, jwks, { issuer: t.config.baseUrl });
    expect(payload).toMatchObject({
      sub: user.user.id,
      fhirUser: `Practitioner/${user.profile.id}`,
      nonce: 'n-123',
      email: user.email,
      name: 'Test User',
    });
    expect(await readStatus(res.body.access_token)).toBe(200);

    const userinfo = await fetch(`${t.url}oauth2/userinfo`, {
      headers: { authorization: `Bearer ${res.body.access_token}` },
    });
    expect(await userinfo.json()).toMatchObject({
      sub: user.user.id,
      fhirUser: `Practitioner/${user.profile.id}`,
      email: user.email,
      given_name: 'Test',
      family_name: 'User',
    });
    expect((await fetch(`${t.url}oauth2/userinfo`)).status).toBe(401);
  });

  test('a wrong or missing code_verifier is refused', async () => {
    const { code, verifier } = await startLogin();
    const other = await pkcePair();
    const wrong = await postToken(t.url, { grant_type: 'authorization_code', code, code_verifier: other.verifier });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toEqual({ error: 'invalid_grant', error_description: 'Invalid code_verifier' });
    const missing = await postToken(t.url, { grant_type: 'authorization_code', code });
    expect(missing.body.error).toBe('invalid_grant');
    // The right verifier still works: a failed check does not spend the code.
    const right = await postToken(t.url, { grant_type: 'authorization_code', code, code_verifier: verifier });
    expect(right.status).toBe(200);
  });

  test('a code works once: a second exchange is refused and revokes what the first one issued', async () => {
    const { code, verifier } = await startLogin({ remember: true });
    const first = await postToken(t.url, { grant_type: 'authorization_code', code, code_verifier: verifier });
    expect(first.status).toBe(200);
    expect(await readStatus(first.body.access_token)).toBe(200);

    const second = await postToken(t.url, { grant_type: 'authorization_code', code, code_verifier: verifier });
    expect(second.status).toBe(400);
    expect(second.body.error).toBe('invalid_grant');
    expect(await readStatus(first.body.access_token)).toBe(401);
    const refresh = await postToken(t.url, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    expect(refresh.body.error).toBe('invalid_grant');
  });

  test('unknown codes, other clients and bad requests get OAuth errors', async () => {
    const unknown = await postToken(t.url, {
      grant_type: 'authorization_code',
      code: 'no-such-code',
      code_verifier: 'x',
    });
    expect(unknown).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'Invalid code' } });
    const noCode = await postToken(t.url, { grant_type: 'authorization_code' });
    expect(noCode.body.error).toBe('invalid_request');

    const { code, verifier } = await startLogin();
    const otherClient = await postToken(t.url, {
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      client_id: 'some-other-client',
    });
    expect(otherClient.body.error).toBe('invalid_grant');

    const json = await fetch(`${t.url}oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'authorization_code', code }),
    });
    expect(json.status).toBe(400);
    expect(((await json.json()) as any).error).toBe('invalid_request');
    const repeated = await fetch(`${t.url}oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=authorization_code&code=a&code=b',
    });
    expect(repeated.status).toBe(400);
    expect(((await repeated.json()) as any).error).toBe('invalid_request');
  });
});

test('token responses name the project and profile (display) for the Medplum CLI, on every grant', async () => {
  const project = { reference: `Project/${t.defaultProject.id}`, display: t.defaultProject.name };
  expect(project.display).toEqual(expect.any(String));
  const { code, verifier } = await startLogin({ remember: true });
  const first = await postToken(t.url, { grant_type: 'authorization_code', code, code_verifier: verifier });
  expect(first.body.project).toEqual(project);
  expect(first.body.profile).toEqual({ reference: `Practitioner/${user.profile.id}`, display: 'Test User' });
  const refreshed = await postToken(t.url, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
  expect(refreshed.body.project).toEqual(project);
  expect(refreshed.body.profile).toEqual({ reference: `Practitioner/${user.profile.id}`, display: 'Test User' });

  const patient = await createTestUser(t.repo, t.defaultProject.id, { profileType: 'Patient' });
  const medplum = newMedplumClient(t.url);
  const login = await medplum.startLogin({ email: patient.email, password: patient.password });
  await medplum.processCode(login.code as string);
  expect(medplum.getActiveLogin()?.project).toEqual(project);
  expect(medplum.getActiveLogin()?.profile).toEqual({
    reference: `Patient/${patient.profile.id}`,
    display: 'Test User',
  });
});

describe('refresh_token', () => {
  test('is issued only when asked for (remember or offline scope)', async () => {
    const without = await signInByHand(t.url, user);
    expect(without.refresh_token).toBeUndefined();
    const withOffline = await signInByHand(t.url, user, { scope: 'openid offline' });
    expect(withOffline.refresh_token).toEqual(expect.any(String));
  });

  test('rotates on every use; a used one revokes the whole chain', async () => {
    const first = await signInByHand(t.url, user, { remember: true });
    const second = await postToken(t.url, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).toEqual(expect.any(String));
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    expect(second.body.access_token).not.toBe(first.access_token);
    const third = await postToken(t.url, { grant_type: 'refresh_token', refresh_token: second.body.refresh_token });
    expect(third.status).toBe(200);
    expect(await readStatus(third.body.access_token)).toBe(200);

    // The first refresh token again: someone kept a copy. Everything of this login stops.
    const reused = await postToken(t.url, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe('invalid_grant');
    const latest = await postToken(t.url, { grant_type: 'refresh_token', refresh_token: third.body.refresh_token });
    expect(latest.body.error).toBe('invalid_grant');
    expect(await readStatus(third.body.access_token)).toBe(401);
    expect(await readStatus(first.access_token)).toBe(401);
  });

  test('forged or foreign refresh tokens are refused', async () => {
    const tokens = await signInByHand(t.url, user, { remember: true });
    const [header, payload] = tokens.refresh_token.split('.');
    const forged = `${header}.${payload}.${Buffer.from('not a signature').toString('base64url')}`;
    expect((await postToken(t.url, { grant_type: 'refresh_token', refresh_token: forged })).body.error).toBe(
      'invalid_grant'
    );
    // An access token is not a refresh token.
    const access = await postToken(t.url, { grant_type: 'refresh_token', refresh_token: tokens.access_token });
    expect(access.body.error).toBe('invalid_grant');
    const missing = await postToken(t.url, { grant_type: 'refresh_token' });
    expect(missing.body.error).toBe('invalid_request');
  });

  test('MedplumClient refreshes an expiring token by itself', async () => {
    const short = await startSignInTestServer({ ACCESS_TOKEN_LIFETIME: '2' });
    try {
      const shortUser = await createTestUser(short.repo, short.defaultProject.id);
      // MedplumClient refreshes tokens that expire within its grace period (5 min by default):
      // with 2-second tokens, a shorter one.
      const medplum = newMedplumClient(short.url, { refreshGracePeriod: 500 });
      const login = await medplum.startLogin({ email: shortUser.email, password: shortUser.password, remember: true });
      await medplum.processCode(login.code as string);
      const firstToken = medplum.getAccessToken();
      expect(medplum.getActiveLogin()?.refreshToken).toEqual(expect.any(String));
      await new Promise((resolve) => setTimeout(resolve, 2500));

      // The token has expired: the client refreshes before it reads.
      const practitioner = await medplum.readResource('Practitioner', shortUser.profile.id);
      expect(practitioner.id).toBe(shortUser.profile.id);
      expect(medplum.getAccessToken()).not.toBe(firstToken);
      const expired = await fetch(`${short.url}fhir/R4/Practitioner/${shortUser.profile.id}`, {
        headers: { authorization: `Bearer ${firstToken}` },
      });
      expect(expired.status).toBe(401);
    } finally {
      await short.close();
    }
  });
});

describe('logout', () => {
  test('revokes the login: its access token gets 401, its refresh token invalid_grant', async () => {
    const tokens = await signInByHand(t.url, user, { remember: true });
    expect(await readStatus(tokens.access_token)).toBe(200);
    const res = await fetch(`${t.url}oauth2/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/fhir+json' },
      body: '{}',
    });
    expect(res.status).toBe(200);
    expect(await readStatus(tokens.access_token)).toBe(401);
    const refresh = await postToken(t.url, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refresh.body.error).toBe('invalid_grant');
    const again = await fetch(`${t.url}oauth2/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(again.status).toBe(401);
  });

  test('MedplumClient.signOut ends the session; an id_token_hint ends one from a browser', async () => {
    const medplum = newMedplumClient(t.url);
    const login = await medplum.startLogin({ email: user.email, password: user.password });
    await medplum.processCode(login.code as string);
    const accessToken = medplum.getAccessToken() as string;
    await medplum.signOut();
    expect(await readStatus(accessToken)).toBe(401);

    const tokens = await signInByHand(t.url, user);
    const hint = await fetch(`${t.url}oauth2/logout?id_token_hint=${tokens.id_token}`);
    expect(hint.status).toBe(200);
    expect(await readStatus(tokens.access_token)).toBe(401);
    expect((await fetch(`${t.url}oauth2/logout?id_token_hint=forged`)).status).toBe(401);
  });
});

test('client_credentials still works next to the user grants', async () => {
  const res = await postToken(t.url, {
    grant_type: 'client_credentials',
    client_id: 'test-admin-client',
    client_secret: 'test-admin-secret-0123456789',
  });
  expect(res.status).toBe(200);
  expect(await readStatus(res.body.access_token)).toBe(200);
});
