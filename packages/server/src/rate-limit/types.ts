/** Thrown when an account or an IP has failed to sign in too often; answer 429 with Retry-After. */
export class TooManyAttemptsError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('Too many sign-in attempts; try again later');
  }
}

/**
 * Per-account and per-IP sign-in throttling; implemented in login-throttle.ts (Redis). Every
 * attempt is counted before its credentials are checked, so parallel guesses cannot all pass a
 * check made before any of them has failed.
 */
export interface SignInThrottle {
  /** Counts an attempt; throws TooManyAttemptsError when the account or the IP is now over its limit. */
  countAttempt(email: string, ip: string): Promise<void>;
  /**
   * The attempt's credentials were right but sign-in needs another factor: it no longer counts
   * against the IP (a clinic behind one address is not locked out by its own users). The account
   * keeps counting until the last factor succeeds, so a known password cannot reset it.
   */
  recordFactorPassed(ip: string): Promise<void>;
  /** The sign-in succeeded: the account's counter is cleared and the attempt taken off the IP's. */
  recordSuccess(email: string, ip: string): Promise<void>;
}
