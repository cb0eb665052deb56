import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRedis } from '../infra/redis.js';
import { createSignInThrottle, DEFAULT_SIGN_IN_LIMITS } from './login-throttle.js';
import { TooManyAttemptsError } from './types.js';

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

test('an account is locked after N failures, whatever the case of its email, until the window passes', async () => {
  const throttle = createSignInThrottle(redis, config, {
    maxFailuresPerAccount: 3,
    maxFailuresPerIp: 100,
    windowSeconds: 2,
  });
  for (let i = 0; i < 3; i++) {
    await throttle.assertAllowed('Nurse@Example.com', `192.0.2.${i}`);
    await throttle.recordFailure('Nurse@Example.com', `192.0.2.${i}`);
  }
  const locked = await refusal(throttle.assertAllowed(' nurse@example.com ', '192.0.2.50'));
  expect(locked?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  expect(locked?.retryAfterSeconds).toBeLessThanOrEqual(2);
  // Someone else from the same addresses is not affected.
  expect(await refusal(throttle.assertAllowed('doctor@example.com', '192.0.2.0'))).toBeUndefined();

  await new Promise((resolve) => setTimeout(resolve, 2100));
  expect(await refusal(throttle.assertAllowed('nurse@example.com', '192.0.2.50'))).toBeUndefined();
});

test('a successful sign-in clears the account counter', async () => {
  const throttle = createSignInThrottle(redis, config, {
    maxFailuresPerAccount: 3,
    maxFailuresPerIp: 100,
    windowSeconds: 60,
  });
  await throttle.recordFailure('clerk@example.com', '192.0.2.60');
  await throttle.recordFailure('clerk@example.com', '192.0.2.60');
  await throttle.recordSuccess('Clerk@example.com', '192.0.2.60');
  await throttle.recordFailure('clerk@example.com', '192.0.2.60');
  await throttle.recordFailure('clerk@example.com', '192.0.2.60');
  expect(await refusal(throttle.assertAllowed('clerk@example.com', '192.0.2.60'))).toBeUndefined();
  await throttle.recordFailure('clerk@example.com', '192.0.2.60');
  expect(await refusal(throttle.assertAllowed('clerk@example.com', '192.0.2.60'))).toBeDefined();
});

test('an IP trying many accounts is locked for every account, other IPs are not', async () => {
  const throttle = createSignInThrottle(redis, config, {
    maxFailuresPerAccount: 100,
    maxFailuresPerIp: 5,
    windowSeconds: 60,
  });
  for (let i = 0; i < 5; i++) {
    await throttle.recordFailure(`guess${i}@example.com`, '198.51.100.99');
  }
  const locked = await refusal(throttle.assertAllowed('someone-new@example.com', '198.51.100.99'));
  expect(locked?.retryAfterSeconds).toBeGreaterThan(50);
  expect(locked?.retryAfterSeconds).toBeLessThanOrEqual(60);
  expect(await refusal(throttle.assertAllowed('someone-new@example.com', '198.51.100.100'))).toBeUndefined();
});

test('the defaults: 10 failures per account, 50 per IP, in 15 minutes', async () => {
  expect(DEFAULT_SIGN_IN_LIMITS).toEqual({ maxFailuresPerAccount: 10, maxFailuresPerIp: 50, windowSeconds: 900 });
  const throttle = createSignInThrottle(redis, config);
  for (let i = 0; i < 9; i++) {
    await throttle.recordFailure('admin@example.com', '203.0.113.200');
  }
  expect(await refusal(throttle.assertAllowed('admin@example.com', '203.0.113.200'))).toBeUndefined();
  await throttle.recordFailure('admin@example.com', '203.0.113.200');
  expect(
    (await refusal(throttle.assertAllowed('admin@example.com', '203.0.113.201')))?.retryAfterSeconds
  ).toBeGreaterThan(890);
});
