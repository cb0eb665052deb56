/** Thrown when an account or an IP has failed to sign in too often; answer 429 with Retry-After. */
export class TooManyAttemptsError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('Too many sign-in attempts; try again later');
  }
}

/** Per-account and per-IP sign-in throttling; implemented in login-throttle.ts (Redis). */
export interface SignInThrottle {
  /** Throws TooManyAttemptsError while the account or the IP is locked out. */
  assertAllowed(email: string, ip: string): Promise<void>;
  recordFailure(email: string, ip: string): Promise<void>;
  recordSuccess(email: string, ip: string): Promise<void>;
}
