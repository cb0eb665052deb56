import type { User } from '@medplum/fhirtypes';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRedis } from '../infra/redis.js';
import {
  createTestUser,
  postJson,
  type SignInTestServer,
  signInByHand,
  startSignInTestServer,
  type TestUser,
} from './sign-in.fixtures.js';
import { currentTotp, newTotpSecret } from './totp.js';

// Guards against guessing and replay on the sign-in endpoints, over real HTTP.

let t: SignInTestServer;
let redis: Redis;
beforeAll(async () => {
  t = await startSignInTestServer();
  redis = createRedis(t.config.redisUrl);
  await redis.connect();
});
afterAll(async () => {
  redis?.disconnect();
  await t?.close();
});

/** A user with TOTP on; the password step answers `{login, mfaRequired}`. */
async function mfaUser(): Promise<TestUser & { secret: string }> {
  const user = await createTestUser(t.repo, t.defaultProject.id);
  const secret = newTotpSecret();
  await t.repo.updateResource<User>({ ...user.user, mfaSecret: secret, mfaEnrolled: true });
  return { ...user, secret };
}

async function passwordStep(user: TestUser): Promise<string> {
  const res = await postJson(t.url, 'auth/login', { email: user.email, password: user.password });
  expect(res.body.mfaRequired).toBe(true);
  return res.body.login as string;
}

test('parallel wrong passwords: only the account limit (10) is checked, the rest get 429', async () => {
  const user = await createTestUser(t.repo, t.defaultProject.id);
  const answers = await Promise.all(
    Array.from({ length: 30 }, (_, i) => postJson(t.url, 'auth/login', { email: user.email, password: `guess-${i}` }))
  );
  const statuses = answers.map((a) => a.status);
  expect(statuses.filter((s) => s === 400)).toHaveLength(10);
  expect(statuses.filter((s) => s === 429)).toHaveLength(20);
  const right = await postJson(t.url, 'auth/login', { email: user.email, password: user.password });
  expect(right.status).toBe(429);
  // The refused guesses did not count against the address: another account still signs in from it.
  const colleague = await createTestUser(t.repo, t.defaultProject.id);
  expect((await signInByHand(t.url, colleague)).access_token).toEqual(expect.any(String));
});

test('a TOTP code signs in once: the same code again is refused, the next one works', async () => {
  const user = await mfaUser();
  const code = currentTotp(user.secret);
  const first = await postJson(t.url, 'auth/mfa/verify', { login: await passwordStep(user), token: code });
  expect(first.status).toBe(200);
  expect(first.body.code).toEqual(expect.any(String));

  const replay = await postJson(t.url, 'auth/mfa/verify', { login: await passwordStep(user), token: code });
  expect(replay.status).toBe(400);
  expect(replay.body.issue[0].expression).toEqual(['token']);

  const next = await postJson(t.url, 'auth/mfa/verify', {
    login: await passwordStep(user),
    token: currentTotp(user.secret, Date.now() + 30_000),
  });
  expect(next.status).toBe(200);

  // Each used step is remembered only while its code could still be accepted (two periods at most).
  const keys = await redis.keys(`${t.config.redisKeyPrefix}totp-used:${user.user.id}:*`);
  expect(keys).toHaveLength(2);
  for (const key of keys) {
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(91);
  }
});

test('one code sent in parallel to two pending logins finishes only one of them', async () => {
  const user = await mfaUser();
  const [a, b] = [await passwordStep(user), await passwordStep(user)];
  const token = currentTotp(user.secret);
  const answers = await Promise.all([a, b].map((login) => postJson(t.url, 'auth/mfa/verify', { login, token })));
  expect(answers.map((r) => r.status).sort()).toEqual([200, 400]);
});

test('a code used to sign in cannot also turn MFA off', async () => {
  const user = await createTestUser(t.repo, t.defaultProject.id);
  // A session from before MFA was turned on.
  const auth = { authorization: `Bearer ${(await signInByHand(t.url, user)).access_token}` };
  const secret = newTotpSecret();
  await t.repo.updateResource<User>({ ...user.user, mfaSecret: secret, mfaEnrolled: true });
  const code = currentTotp(secret);
  expect((await postJson(t.url, 'auth/mfa/verify', { login: await passwordStep(user), token: code })).status).toBe(200);
  expect((await postJson(t.url, 'auth/mfa/disable', { token: code }, auth)).status).toBe(400);
  const unused = currentTotp(secret, Date.now() + 30_000);
  expect((await postJson(t.url, 'auth/mfa/disable', { token: unused }, auth)).status).toBe(200);
});
