import { createHash, randomBytes } from 'node:crypto';

/** A random, URL-safe secret with `bytes` bytes of entropy (authorization codes, refresh secrets). */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * SHA-256 of a high-entropy secret, base64url. Codes and refresh secrets are stored only as
 * hashes, so a copy of the database does not hand out sessions. (Passwords use scrypt instead:
 * they have little entropy.)
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** The PKCE S256 challenge of a code verifier: https://datatracker.ietf.org/doc/html/rfc7636#section-4.2 */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}
