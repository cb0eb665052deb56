import { Secret, TOTP } from 'otpauth';

/** Authenticator app codes (RFC 6238): SHA-1, 6 digits, 30 s, as every authenticator app expects. */
const TOTP_PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
const ISSUER = 'Tiba';

/** A new TOTP secret, base32 (what User.mfaSecret holds). */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The otpauth:// URI an authenticator app scans. */
export function totpEnrollUri(secret: string, accountName: string): string {
  return new TOTP({ ...TOTP_PARAMS, issuer: ISSUER, label: accountName, secret: Secret.fromBase32(secret) }).toString();
}

/** Whether a code is valid now, allowing one period of clock drift either way. */
export function checkTotp(secret: string, token: unknown): boolean {
  if (typeof token !== 'string' || !/^\d{6}$/.test(token.trim())) {
    return false;
  }
  try {
    return (
      TOTP.validate({ ...TOTP_PARAMS, secret: Secret.fromBase32(secret), token: token.trim(), window: 1 }) !== null
    );
  } catch {
    return false;
  }
}

/** The current code for a secret (tests, and nothing else, need to compute one). */
export function currentTotp(secret: string): string {
  return TOTP.generate({ ...TOTP_PARAMS, secret: Secret.fromBase32(secret) });
}
