import { jwtVerify } from 'jose';
import { signServerJwt } from './access-token.js';
import { SIGNING_ALG, type SigningKeys } from './keys.js';

/** OpenID Connect ID token claims: https://openid.net/specs/openid-connect-core-1_0.html#IDToken */
export interface IdTokenClaims {
  /** The User id. */
  sub: string;
  login_id: string;
  /** SMART: the signed-in user's FHIR resource ('Practitioner/123'). */
  fhirUser: string;
  /** The client the token was issued to, when there is one. */
  aud?: string;
  client_id?: string;
  nonce?: string;
  /** Seconds since the epoch when the user proved who they are. */
  auth_time: number;
  email?: string;
  name?: string;
  given_name?: string;
  family_name?: string;
}

/** Signs an ID token with the same key as access tokens (it has no project: it cannot be used as one). */
export function signIdToken(
  keys: SigningKeys,
  issuer: string,
  claims: IdTokenClaims,
  lifetimeSeconds: number
): Promise<string> {
  const { aud, ...rest } = claims;
  return signServerJwt(keys, issuer, rest, lifetimeSeconds, aud);
}

/** What a refresh token carries: which Login, and the secret that Login currently expects. */
export interface RefreshTokenClaims {
  login_id: string;
  refresh_secret: string;
}

/** A refresh token is a signed JWT so that a forged one is refused before any database read. */
export function signRefreshToken(
  keys: SigningKeys,
  issuer: string,
  claims: RefreshTokenClaims,
  lifetimeSeconds: number
): Promise<string> {
  return signServerJwt(keys, issuer, claims, lifetimeSeconds);
}

/** The claims of a refresh token this server signed and that has not expired; else undefined. */
export async function verifyRefreshToken(
  keys: SigningKeys,
  issuer: string,
  token: string
): Promise<RefreshTokenClaims | undefined> {
  try {
    const { payload } = await jwtVerify(token, keys.verifyKeys, { issuer, algorithms: [SIGNING_ALG] });
    if (typeof payload.login_id !== 'string' || typeof payload.refresh_secret !== 'string') {
      return undefined;
    }
    return { login_id: payload.login_id, refresh_secret: payload.refresh_secret };
  } catch {
    return undefined;
  }
}

/** The Login of an unexpired ID token this server signed (logout's `id_token_hint`). */
export async function verifyIdTokenHint(
  keys: SigningKeys,
  issuer: string,
  token: string
): Promise<{ login_id: string } | undefined> {
  try {
    const { payload } = await jwtVerify(token, keys.verifyKeys, { issuer, algorithms: [SIGNING_ALG] });
    if (typeof payload.login_id !== 'string' || typeof payload.fhirUser !== 'string') {
      return undefined;
    }
    return { login_id: payload.login_id };
  } catch {
    return undefined;
  }
}
