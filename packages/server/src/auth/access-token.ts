import { jwtVerify, SignJWT } from 'jose';
import { SIGNING_ALG, type SigningKeys } from './keys.js';

/** The claims Tiba puts in access tokens; MedplumClient needs a string `login_id` and `exp`. */
export interface AccessTokenClaims {
  login_id: string;
  sub: string;
  client_id?: string;
  profile: string;
  scope: string;
  /** The project the token acts in. */
  project: string;
  /** The ProjectMembership id the token acts as. */
  membership: string;
  /** SMART launch context: the Patient ('Patient/123') that `patient/` scopes are limited to. */
  patient?: string;
  /** The User id, for user sign-ins (Medplum's `username` claim). */
  username?: string;
}

export interface VerifiedToken extends AccessTokenClaims {
  exp: number;
}

/** Signs a JWT of this server (access, ID or refresh token) with the newest key. */
export async function signServerJwt(
  keys: SigningKeys,
  issuer: string,
  claims: object,
  lifetimeSeconds: number,
  audience?: string
): Promise<string> {
  const jwt = new SignJWT({ ...claims })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.kid, typ: 'JWT' })
    .setIssuer(issuer)
    .setIssuedAt()
    .setExpirationTime(`${lifetimeSeconds}s`);
  if (audience) {
    jwt.setAudience(audience);
  }
  return jwt.sign(keys.privateKey);
}

/** Signs an access token with the newest key. */
export function signAccessToken(
  keys: SigningKeys,
  issuer: string,
  claims: AccessTokenClaims,
  lifetimeSeconds: number
): Promise<string> {
  return signServerJwt(keys, issuer, claims, lifetimeSeconds);
}

const CACHE_LIMIT = 10_000;

/**
 * Verifies access tokens. A verified token is remembered until it expires, because signature
 * checks would otherwise cost more than the read they guard.
 */
export class AccessTokenVerifier {
  private readonly cache = new Map<string, VerifiedToken>();

  constructor(
    private readonly keys: SigningKeys,
    private readonly issuer: string
  ) {}

  /** Returns the claims, or undefined when the token is missing, forged, expired or malformed. */
  async verify(token: string): Promise<VerifiedToken | undefined> {
    const now = Date.now() / 1000;
    const cached = this.cache.get(token);
    if (cached) {
      if (cached.exp > now) {
        return cached;
      }
      this.cache.delete(token);
      return undefined;
    }
    try {
      const { payload } = await jwtVerify(token, this.keys.verifyKeys, {
        issuer: this.issuer,
        algorithms: [SIGNING_ALG],
      });
      // Refresh and ID tokens are signed by the same key but carry no project or membership.
      if (
        typeof payload.login_id !== 'string' ||
        typeof payload.project !== 'string' ||
        typeof payload.membership !== 'string' ||
        !payload.exp
      ) {
        return undefined;
      }
      const claims = payload as unknown as VerifiedToken;
      if (this.cache.size >= CACHE_LIMIT) {
        this.cache.delete(this.cache.keys().next().value as string);
      }
      this.cache.set(token, claims);
      return claims;
    } catch {
      return undefined;
    }
  }
}
