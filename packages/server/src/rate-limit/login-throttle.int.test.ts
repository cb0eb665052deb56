import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRedis } from '../infra/redis.js';
import { createSignInThrottle, DEFAULT_SIGN_IN_LIMITS } from './login-throttle.js';
import { type SignInThrottle, TooManyAttemptsError } from './types.js';

let redis: Redis;
// Keys of their own, so parallel test files and servers never share counters.
const config = { redisKeyPrefix: `test-${randomBytes(6).toString('hex')}:` };

beforeAll(async () => {
  redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  await redis.connect();
});
afterAll(async () => {
  const keys = await redis.keys(`${config.redisKeyPrefix}*`);
  if (keys.length > 0) {
    await redis.del(...keys);
  }
  redis.disconnect();
});

async function refusal(promise: Promise<void>): Promise<TooManyAttemptsError | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(TooManyAttemptsError);
    return err as TooManyAttemptsError;
  }
}

/** One sign-in attempt that fails: counted, then (its credentials being wrong) left counted. */
function fail(throttle: SignInThrottle, email: string, ip: string): Promise<void> {
  return throttle.countAttempt(email, ip);
}

test('an account is locked after N failures, whatever the case of its email, until the window passes', async () => {
  const throttle = createSignInThrottle(redis, config, {
    maxFailuresPerAccount: 3,
    maxFailuresPerIp: 100,
    windowSeconds: 2,
  });
  for (let i = 0; i < 3; i++) {
    expect(await refusal(fail(throttle, 'Nurse@Example.com', `192.0.2.${i}`))).toBeUndefined();
  }
  const locked = await refusal(throttle.countAttempt(' nurse@example.com ', '192.0.2.50'));
  expect(locked?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  expect(locked?.retryAfterSeconds).toBeLessThanOrEqual(2);
  // Someone else from the same addresses is not affected.
  expect(await refusal(throttle.countAttempt('doctor@example.com', '192.0.2.0'))).toBeUndefined();

  await new Promise((resolve) => setTimeout(resolve, 2100));
  expect(await refusal(throttle.countAttempt('nurse@example.com', '192.0.2.50'))).toBeUndefined();
});

test('parallel guesses are counted before they are checked: only the limit gets through', async () => {
  const throttle = createSignInThrottle(redis, config, {
    maxFailuresPerAccount: 5,
    maxFailuresPerIp: 1000,
    windowSeconds: 60,
  });
  const attempts = await Promise.all(
    Array.from({ length: 40 }, (_, i) => refusal(throttle.countAttempt('pharmacist@example.com', `192.0.2.${i}`)))
  );
  expect(attempts.filter((refused) => refused === undefined)).toHaveLength(5);

  // The same from one IP against many accounts.
  const perIp = createSignInThrottle(redis, config, {
    maxFailuresPerAccount: 1000,
    maxFailuresPerIp: 7,
    windowSeconds: 60,
  });
  const spray = await Promise.all(
    Array.from({ length: 40 }, (_, i) => refusal(perIp.countAttempt(`spray${i}@example.com`, '198.51.100.7')))
  );
  expect(spray.filter((refused) => refused === undefined)).toHaveLength(7);
});

test('refused attempts are not counted: hammering a locked account does not lock its address', async () => {
  const throttle = createSignInThrottle(redis, config, {
    maxFailuresPerAccount: 2,
    maxFailuresPerIp: 4,
    windowSeconds: 60,
  });
  await fail(throttle, 'locked@example.com', '192.0.2.80');
  await fail(throttle, 'locked@example.com', '192.0.2.80');
  for (let i = 0; i < 10; i++) {
    expect(await refusal(throttle.countAttempt('locked@example.com', '192.0.2.80'))).toBeDefined();
  }
  expect(await refusal(fail(throttle, 'neighbour@example.com', '192.0.2.80'))).toBeUndefined();
  expect(await refusal(fail(throttle, 'neighbour@example.com', '192.0.2.80'))).toBeUndefined();
  expect(await refusal(fail(throttle, 'third@example.com', '192.0.2.80'))).toBeDefined();
});

test('a successful sign-in clears the account counter and does not count against the IP', async () => {
  const throttle = createSignInThrottle(redis, config, {
    maxFailuresPerAccount: 3,
    maxFailuresPerIp: 3,
    windowSeconds: 60,
  });
  await fail(throttle, 'clerk@example.com', '192.0.2.60');
  await fail(throttle, 'clerk@example.com', '192.0.2.60');
  await throttle.countAttempt('Clerk@example.com', '192.0.2.60');
  await throttle.recordSuccess('Clerk@example.com', '192.0.2.60');
  // Colleagues behind the same address sign in successfully, more often than the IP limit.
  for (let i = 0; i < 5; i++) {
    await throttle.countAttempt(`colleague${i}@example.com`, '192.0.2.60');
    await throttle.recordSuccess(`colleague${i}@example.com`, '192.0.2.60');
  }
  // The IP holds only the clerk's two failures: one more fits, then it is locked.
  expect(await refusal(fail(throttle, 'clerk@example.com', '192.0.2.60'))).toBeUndefined();
  expect(await refusal(fail(throttle, 'porter@example.com', '192.0.2.60'))).toBeDefined();
  // The success cleared the clerk's account: that failure was its first, one more fits.
  expect(await refusal(fail(throttle, 'clerk@example.com', '192.0.2.61'))).toBeUndefined();
  expect(await refusal(fail(throttle, 'clerk@example.com', '192.0.2.62'))).toBeUndefined();
  expect(await refusal(fail(throttle, 'clerk@example.com', '192.0.2.63'))).toBeDefined();
});

test('a passed first factor leaves the IP but keeps the account counting until the last one', async () => {
  const throttle = createSignInThrottle(redis, config, {
    maxFailuresPerAccount: 2,
    maxFailuresPerIp: 2,
    windowSeconds: 60,
  });
  // The right password twice, then no MFA code: the IP is free, the account is at its limit.
  for (let i = 0; i < 2; i++) {
    await throttle.countAttempt('surgeon@example.com', '203.0.113.9');
    await throttle.recordFactorPassed('203.0.113.9');
  }
  expect(await refusal(throttle.countAttempt('surgeon@example.com', '203.0.113.10'))).toBeDefined();
  expect(await refusal(throttle.countAttempt('other@example.com', '203.0.113.9'))).toBeUndefined();
  // Releasing more than was counted never makes room for extra failures.
  await throttle.recordFactorPassed('203.0.113.50');
  await throttle.recordFactorPassed('203.0.113.50');
  expect(await redis.exists(`${config.redisKeyPrefix}signin:ip:203.0.113.50`)).toBe(0);
});

test('an IP trying many accounts is locked for every account, other IPs are not', async () => {
  const throttle = createSignInThrottle(redis, config, {
    maxFailuresPerAccount: 100,
    maxFailuresPerIp: 5,
    windowSeconds: 60,
  });
  for (let i = 0; i < 5; i++) {
    await fail(throttle, `guess${i}@example.com`, '198.51.100.99');
  }
  const locked = await refusal(throttle.countAttempt('someone-new@example.com', '198.51.100.99'));
  expect(locked?.retryAfterSeconds).toBeGreaterThan(50);
  expect(locked?.retryAfterSeconds).toBeLessThanOrEqual(60);
  expect(await refusal(throttle.countAttempt('someone-new@example.com', '198.51.100.100'))).toBeUndefined();
});

test('the defaults: 10 failures per account, 50 per IP, in 15 minutes', async () => {
  expect(DEFAULT_SIGN_IN_LIMITS).toEqual({ maxFailuresPerAccount: 10, maxFailuresPerIp: 50, windowSeconds: 900 });
  const throttle = createSignInThrottle(redis, config);
  for (let i = 0; i < 10; i++) {
    expect(await refusal(fail(throttle, 'admin@example.com', '203.0.113.200'))).toBeUndefined();
  }
  expect(
    (await refusal(throttle.countAttempt('admin@example.com', '203.0.113.201')))?.retryAfterSeconds
  ).toBeGreaterThan(890);
});
