import type { AuditEvent, Project } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  addMembership,
  createTestUser,
  newMedplumClient,
  pkcePair,
  postJson,
  postToken,
  type SignInTestServer,
  signInByHand,
  startSignInTestServer,
} from './sign-in.fixtures.js';
import { currentTotp } from './totp.js';

let t: SignInTestServer;
beforeAll(async () => {
  t = await startSignInTestServer();
});
afterAll(async () => {
  await t?.close();
});

describe('MedplumClient signs in by password', () => {
  test('startLogin + processCode, then reads a resource and knows its profile', async () => {
    const admin = { email: 'admin@example.com', password: 'test-admin-password' };
    const created = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      payload: { resourceType: 'Patient', name: [{ family: 'SignInRead' }] },
    });
    const patientId = created.json().id;

    const medplum = newMedplumClient(t.url);
    const response = await medplum.startLogin({ email: admin.email, password: admin.password });
    expect(response.login).toEqual(expect.any(String));
    expect(response.code).toEqual(expect.any(String));
    const profile = await medplum.processCode(response.code as string);

    expect(profile.resourceType).toBe('Practitioner');
    expect(medplum.getProject()?.id).toBe(t.defaultProject.id);
    expect(medplum.getProjectMembership()?.admin).toBe(true);
    const patient = await medplum.readResource('Patient', patientId);
    expect(patient.name?.[0]?.family).toBe('SignInRead');
  });

  test('with a clientId, the token carries it and MedplumClient accepts it', async () => {
    const client = await t.request({
      method: 'POST',
      url: '/fhir/R4/ClientApplication',
      payload: { resourceType: 'ClientApplication', name: 'Web app', redirectUri: 'https://app.example.com/' },
    });
    expect(client.statusCode).toBe(201);
    const clientId = client.json().id;
    const user = await createTestUser(t.repo, t.defaultProject.id);

    const medplum = newMedplumClient(t.url, { clientId });
    const response = await medplum.startLogin({ email: user.email, password: user.password });
    await medplum.processCode(response.code as string);
    const claims = JSON.parse(Buffer.from((medplum.getAccessToken() as string).split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({
      client_id: clientId,
      login_id: response.login,
      sub: user.user.id,
      username: user.user.id,
      profile: `Practitioner/${user.profile.id}`,
      project: t.defaultProject.id,
      membership: user.membership.id,
    });
    expect(medplum.getProfile()?.id).toBe(user.profile.id);
  });

  test('auth/me answers the session MedplumClient keeps', async () => {
    const user = await createTestUser(t.repo, t.defaultProject.id, { profileType: 'Patient' });
    const tokens = await signInByHand(t.url, user);
    const res = await fetch(`${t.url}auth/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(res.status).toBe(200);
    const me = (await res.json()) as any;
    expect(me.project).toMatchObject({ resourceType: 'Project', id: t.defaultProject.id, name: 'Default Project' });
    expect(me.membership).toEqual({
      resourceType: 'ProjectMembership',
      id: user.membership.id,
      user: { reference: `User/${user.user.id}` },
      profile: { reference: `Patient/${user.profile.id}` },
    });
    expect(me.profile).toMatchObject({ resourceType: 'Patient', id: user.profile.id });
    expect(me.config.resourceType).toBe('UserConfiguration');
    expect(me.config.menu[0].title).toBe('Favorites');
    // A patient gets the shipped patient policy, bound to their own record.
    expect(me.accessPolicy?.resourceType).toBe('AccessPolicy');
    expect(JSON.stringify(me.accessPolicy)).toContain(`Patient/${user.profile.id}`);
    expect(tokens.patient).toBe(user.profile.id);

    const unauthenticated = await fetch(`${t.url}auth/me`);
    expect(unauthenticated.status).toBe(401);
  });
});

describe('auth/login refuses', () => {
  test('an unknown email and a wrong password with the same answer', async () => {
    const user = await createTestUser(t.repo, t.defaultProject.id);
    const { challenge } = await pkcePair();
    const pkce = { codeChallenge: challenge, codeChallengeMethod: 'S256' };
    const wrongPassword = await postJson(t.url, 'auth/login', { email: user.email, password: 'wrong-pass', ...pkce });
    const unknownEmail = await postJson(t.url, 'auth/login', {
      email: 'nobody-here@example.com',
      password: 'wrong-pass',
      ...pkce,
    });
    expect(wrongPassword.status).toBe(400);
    expect(unknownEmail.status).toBe(400);
    expect(wrongPassword.body).toEqual(unknownEmail.body);
    expect(wrongPassword.body.resourceType).toBe('OperationOutcome');
    expect(wrongPassword.body.issue[0].details.text).toBe('Email or password is invalid');
    expect(wrongPassword.body.issue[0].expression).toEqual(['password']);
  });

  test('missing or malformed fields, naming the field', async () => {
    const missingEmail = await postJson(t.url, 'auth/login', { password: 'x' });
    expect(missingEmail.status).toBe(400);
    expect(missingEmail.body.issue[0].expression).toEqual(['email']);
    const badEmail = await postJson(t.url, 'auth/login', { email: 'not-an-email', password: 'x' });
    expect(badEmail.body.issue[0].expression).toEqual(['email']);
    const missingPassword = await postJson(t.url, 'auth/login', { email: 'a@example.com' });
    expect(missingPassword.status).toBe(400);
    expect(missingPassword.body.issue[0].expression).toEqual(['password']);
    const unknownMethod = await postJson(t.url, 'auth/login', {
      email: 'a@example.com',
      password: 'x',
      codeChallenge: 'a'.repeat(43),
      codeChallengeMethod: 'S512',
    });
    expect(unknownMethod.status).toBe(400);
    expect(unknownMethod.body.issue[0].expression).toEqual(['codeChallengeMethod']);
    const notJson = await fetch(`${t.url}auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"email":',
    });
    expect(notJson.status).toBe(400);
    const array = await postJson(t.url, 'auth/login', [1, 2]);
    expect(array.status).toBe(400);
  });

  test('auth/method answers {} for a valid email, 400 otherwise', async () => {
    expect((await postJson(t.url, 'auth/method', { email: 'someone@example.com' })).body).toEqual({});
    const bad = await postJson(t.url, 'auth/method', { email: 42 });
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].expression).toEqual(['email']);
  });
});

test('a user with several memberships chooses one with auth/profile', async () => {
  const other = await t.repo.createResource<Project>({ resourceType: 'Project', name: 'Second Clinic' });
  const user = await createTestUser(t.repo, t.defaultProject.id);
  const second = await addMembership(t.repo, user.user, other.id, { profileType: 'Patient' });
  const { verifier, challenge } = await pkcePair();

  const login = await postJson(t.url, 'auth/login', {
    email: user.email.toUpperCase(),
    password: user.password,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
  });
  expect(login.status).toBe(200);
  expect(login.body.code).toBeUndefined();
  expect(login.body.memberships).toHaveLength(2);
  const choice = login.body.memberships.find((m: { id: string }) => m.id === second.membership.id);
  expect(choice).toEqual({
    id: second.membership.id,
    project: { reference: `Project/${other.id}`, display: 'Second Clinic' },
    profile: { reference: `Patient/${second.profile.id}`, display: 'Test User' },
  });

  // Another user's membership cannot be chosen.
  const stranger = await createTestUser(t.repo, t.defaultProject.id);
  const wrong = await postJson(t.url, 'auth/profile', { login: login.body.login, profile: stranger.membership.id });
  expect(wrong.status).toBe(400);

  const chosen = await postJson(t.url, 'auth/profile', { login: login.body.login, profile: second.membership.id });
  expect(chosen.status).toBe(200);
  expect(chosen.body).toEqual({ login: login.body.login, code: expect.any(String) });
  const tokens = await postToken(t.url, {
    grant_type: 'authorization_code',
    code: chosen.body.code,
    code_verifier: verifier,
  });
  expect(tokens.status).toBe(200);
  // The same names as in the choice: Medplum's CLI prints them.
  expect(tokens.body.project).toEqual(choice.project);
  expect(tokens.body.profile).toEqual(choice.profile);

  // The login is spent: no second choice.
  const again = await postJson(t.url, 'auth/profile', { login: login.body.login, profile: user.membership.id });
  expect(again.status).toBe(400);

  // With a projectId, only that project's membership counts: a code at once.
  const direct = await postJson(t.url, 'auth/login', {
    email: user.email,
    password: user.password,
    projectId: other.id,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
  });
  expect(direct.body.code).toEqual(expect.any(String));
});

test('MFA: a user enables TOTP, then signing in needs a code from the authenticator', async () => {
  const user = await createTestUser(t.repo, t.defaultProject.id);
  const first = await signInByHand(t.url, user);
  const auth = { authorization: `Bearer ${first.access_token}` };

  const setup = await postJson(t.url, 'auth/mfa/setup', {}, auth);
  expect(setup.status).toBe(200);
  expect(setup.body.enrolled).toBe(false);
  expect(setup.body.enrollUri).toMatch(/^otpauth:\/\/totp\//);
  const secret = new URL(setup.body.enrollUri).searchParams.get('secret') as string;

  expect((await postJson(t.url, 'auth/mfa/enroll', { token: '000000' }, auth)).status).toBe(400);
  const enroll = await postJson(t.url, 'auth/mfa/enroll', { token: currentTotp(secret) }, auth);
  expect(enroll.status).toBe(200);
  const status = await fetch(`${t.url}auth/mfa/status`, { headers: auth });
  expect(await status.json()).toEqual({ enrolled: true });

  const { verifier, challenge } = await pkcePair();
  const login = await postJson(t.url, 'auth/login', {
    email: user.email,
    password: user.password,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
  });
  expect(login.body).toEqual({ login: expect.any(String), mfaRequired: true, mfaMethods: ['totp'] });
  // No code before the second factor, and a membership cannot be chosen around it.
  const skip = await postJson(t.url, 'auth/profile', { login: login.body.login, profile: user.membership.id });
  expect(skip.status).toBe(400);

  const wrong = await postJson(t.url, 'auth/mfa/verify', { login: login.body.login, token: '123456' });
  expect(wrong.status).toBe(400);
  expect(wrong.body.issue[0].expression).toEqual(['token']);
  // The enrolment used the current code, and each code works once: the next one (clock drift is allowed).
  const nextCode = currentTotp(secret, Date.now() + 30_000);
  const verified = await postJson(t.url, 'auth/mfa/verify', { login: login.body.login, token: nextCode });
  expect(verified.status).toBe(200);
  expect(verified.body).toEqual({ login: login.body.login, code: expect.any(String) });
  const tokens = await postToken(t.url, {
    grant_type: 'authorization_code',
    code: verified.body.code,
    code_verifier: verifier,
  });
  expect(tokens.status).toBe(200);

  // Verified once: the same login cannot be verified again.
  const replay = await postJson(t.url, 'auth/mfa/verify', { login: login.body.login, token: currentTotp(secret) });
  expect(replay.status).toBe(400);
});

test('repeated failures lock the account: 429 with Retry-After, even with the right password', async () => {
  const user = await createTestUser(t.repo, t.defaultProject.id);
  let last: Awaited<ReturnType<typeof postJson>> | undefined;
  for (let i = 0; i < 12; i++) {
    last = await postJson(t.url, 'auth/login', { email: user.email, password: `wrong-${i}` });
    if (last.status === 429) {
      break;
    }
    expect(last.status).toBe(400);
  }
  expect(last?.status).toBe(429);
  expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(last?.body.resourceType).toBe('OperationOutcome');
  const right = await postJson(t.url, 'auth/login', { email: user.email, password: user.password });
  expect(right.status).toBe(429);
});

test('sign-ins are audited, successes and failures', async () => {
  const user = await createTestUser(t.repo, t.defaultProject.id);
  await postJson(t.url, 'auth/login', { email: user.email, password: 'wrong-password' });
  await signInByHand(t.url, user);
  // The audit log writes in the background.
  let events: AuditEvent[] = [];
  for (let i = 0; i < 50 && events.length < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    events = await t.repo.searchResources<AuditEvent>({
      resourceType: 'AuditEvent',
      filters: [{ code: 'altid', operator: 'eq', value: user.email }],
    });
  }
  const outcomes = events.map((e) => e.outcome);
  expect(outcomes).toContain('0');
  expect(outcomes).toContain('4');
});
