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
 * Counts failed sign-ins in Redis, per account (email, lower-cased) and per IP, each counter
 * expiring `windowSeconds` after its first failure. While a counter is at its limit, sign-in is
 * refused with the time left. Redis being down does not lock everyone out: the check is skipped.
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

  /** Seconds until the counter at `key` expires, when it has reached `limit`. */
  const lockedFor = (count: string | null, ttl: number, limit: number): number =>
    Number(count ?? 0) >= limit ? Math.max(ttl, 1) : 0;

  return {
    async assertAllowed(email, ip) {
      const account = accountKey(email);
      const address = ipKey(ip);
      let results: [Error | null, unknown][] | null;
      try {
        results = await redis.multi().get(account).ttl(account).get(address).ttl(address).exec();
      } catch {
        return;
      }
      if (!results || results.some(([err]) => err)) {
        return;
      }
      const [accountCount, accountTtl, ipCount, ipTtl] = results.map(([, value]) => value) as [
        string | null,
        number,
        string | null,
        number,
      ];
      const retryAfter = Math.max(
        lockedFor(accountCount, accountTtl, limits.maxFailuresPerAccount),
        lockedFor(ipCount, ipTtl, limits.maxFailuresPerIp)
      );
      if (retryAfter > 0) {
        throw new TooManyAttemptsError(retryAfter);
      }
    },

    async recordFailure(email, ip) {
      const account = accountKey(email);
      const address = ipKey(ip);
      await redis
        .multi()
        .incr(account)
        .expire(account, limits.windowSeconds, 'NX')
        .incr(address)
        .expire(address, limits.windowSeconds, 'NX')
        .exec()
        .catch(() => undefined);
    },

    async recordSuccess(email, _ip) {
      await redis.del(accountKey(email)).catch(() => undefined);
    },
  };
}
