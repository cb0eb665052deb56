import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { TibaConfig } from '../config.js';
import { type SignInThrottle, TooManyAttemptsError } from './types.js';

/** How many failed sign-ins are tolerated, per account and per IP, within one window. */
export interface SignInThrottleLimits {
  maxFailuresPerAccount: number;
  maxFailuresPerIp: number;
  windowSeconds: number;
}

export const DEFAULT_SIGN_IN_LIMITS: SignInThrottleLimits = {
  maxFailuresPerAccount: 10,
  maxFailuresPerIp: 50,
  windowSeconds: 15 * 60,
};

/**
 * Counts one attempt on the account (KEYS[1]) and the IP (KEYS[2]), atomically: each counter
 * expires ARGV[1] seconds after its first attempt. When either is now over its limit (ARGV[2],
 * ARGV[3]) the attempt is refused and taken off again, so refusals do not count as failures;
 * answers the seconds to wait, or 0.
 */
const COUNT_ATTEMPT = `
local account = redis.call('INCR', KEYS[1])
local ip = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
redis.call('EXPIRE', KEYS[2], ARGV[1], 'NX')
local wait = 0
if account > tonumber(ARGV[2]) then wait = math.max(wait, redis.call('TTL', KEYS[1]), 1) end
if ip > tonumber(ARGV[3]) then wait = math.max(wait, redis.call('TTL', KEYS[2]), 1) end
if wait > 0 then
  redis.call('DECR', KEYS[1])
  redis.call('DECR', KEYS[2])
end
return wait`;

/** Takes one attempt off a counter, never below zero and never creating it (it would never expire). */
const RELEASE_ATTEMPT = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0`;

/**
 * Counts sign-in attempts in Redis, per account (email, lower-cased) and per IP, each counter
 * expiring `windowSeconds` after its first attempt. An attempt is counted before its credentials
 * are checked, in one atomic step with the limit check, so of N parallel guesses only those within
 * the limit go on; an attempt that proves its credentials is taken off again, so the counters hold
 * failures. Over a limit, sign-in is refused with the time left. Redis being down does not lock
 * everyone out: the check is skipped.
 */
export function createSignInThrottle(
  redis: Redis,
  config: Pick<TibaConfig, 'redisKeyPrefix'>,
  limits: SignInThrottleLimits = DEFAULT_SIGN_IN_LIMITS
): SignInThrottle {
  // Emails are hashed so that Redis holds no addresses.
  const accountKey = (email: string) =>
    `${config.redisKeyPrefix}signin:account:${createHash('sha256').update(email.trim().toLowerCase()).digest('base64url')}`;
  const ipKey = (ip: string) => `${config.redisKeyPrefix}signin:ip:${ip}`;

  return {
    async countAttempt(email, ip) {
      let wait: unknown;
      try {
        wait = await redis.eval(
          COUNT_ATTEMPT,
          2,
          accountKey(email),
          ipKey(ip),
          limits.windowSeconds,
          limits.maxFailuresPerAccount,
          limits.maxFailuresPerIp
        );
      } catch {
        return;
      }
      if (typeof wait === 'number' && wait > 0) {
        throw new TooManyAttemptsError(wait);
      }
    },

    async recordFactorPassed(ip) {
      await redis.eval(RELEASE_ATTEMPT, 1, ipKey(ip)).catch(() => undefined);
    },

    async recordSuccess(email, ip) {
      await redis
        .multi()
        .del(accountKey(email))
        .eval(RELEASE_ATTEMPT, 1, ipKey(ip))
        .exec()
        .catch(() => undefined);
    },
  };
}
