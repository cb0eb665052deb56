import type { Redis } from 'ioredis';
import { Secret, TOTP } from 'otpauth';
import type { TibaConfig } from '../config.js';

/** Authenticator app codes (RFC 6238): SHA-1, 6 digits, 30 s, as every authenticator app expects. */
const TOTP_PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** Periods of clock drift accepted either way. */
const TOTP_WINDOW = 1;
const ISSUER = 'Tiba';

/** A new TOTP secret, base32 (what User.mfaSecret holds). */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The otpauth:// URI an authenticator app scans. */
export function totpEnrollUri(secret: string, accountName: string): string {
  return new TOTP({ ...TOTP_PARAMS, issuer: ISSUER, label: accountName, secret: Secret.fromBase32(secret) }).toString();
}

/**
 * The time step (RFC 6238 counter) of a code valid at `timestamp` (ms), allowing one period of
 * clock drift either way; undefined when the code is not valid.
 */
export function matchTotp(secret: string, token: unknown, timestamp = Date.now()): number | undefined {
  if (typeof token !== 'string' || !/^\d{6}$/.test(token.trim())) {
    return undefined;
  }
  try {
    const delta = TOTP.validate({
      ...TOTP_PARAMS,
      secret: Secret.fromBase32(secret),
      token: token.trim(),
      timestamp,
      window: TOTP_WINDOW,
    });
    return delta === null ? undefined : TOTP.counter({ period: TOTP_PARAMS.period, timestamp }) + delta;
  } catch {
    return undefined;
  }
}

/** Remembers which time steps each user's codes have been used for. */
export interface UsedTotpSteps {
  /** True the first time a user's step is claimed; false when it was used before (a replay). */
  claim(userId: string, step: number): Promise<boolean>;
}

/**
 * Used steps in Redis (SET NX), each kept until its code is no longer accepted anyway. Redis being
 * down fails the check (the error propagates): a code that cannot be checked is not taken.
 */
export function createUsedTotpSteps(redis: Redis, config: Pick<TibaConfig, 'redisKeyPrefix'>): UsedTotpSteps {
  return {
    async claim(userId, step) {
      // A step's code is accepted until the end of the step after it (TOTP_WINDOW), plus a second.
      const expiresAt = (step + 1 + TOTP_WINDOW) * TOTP_PARAMS.period + 1;
      const key = `${config.redisKeyPrefix}totp-used:${userId}:${step}`;
      return (await redis.set(key, '1', 'EXAT', expiresAt, 'NX')) === 'OK';
    },
  };
}

/**
 * Whether a code is valid now and was not used before by this user: RFC 6238 §5.2, a code is
 * accepted once, so one seen over a shoulder or in a log is worthless.
 */
export async function useTotp(used: UsedTotpSteps, userId: string, secret: string, token: unknown): Promise<boolean> {
  const step = matchTotp(secret, token);
  return step !== undefined && (await used.claim(userId, step));
}

/** The code for a secret at `timestamp` (tests, and nothing else, need to compute one). */
export function currentTotp(secret: string, timestamp = Date.now()): string {
  return TOTP.generate({ ...TOTP_PARAMS, secret: Secret.fromBase32(secret), timestamp });
}
