import type { WithId } from '@medplum/core';
import type { ClientApplication, Extension } from '@medplum/fhirtypes';
import type { Redis } from 'ioredis';
import type { JSONWebKeySet, JWK, JWTPayload } from 'jose';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { PostgresRepository } from '../repository/repository.js';
import { JwksFetchError, type RemoteKeySets } from './jwks-fetch.js';
import { OAuthError } from './oauth-error.js';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** SMART Backend Services: assertions are signed RS384 or ES384, nothing else. */
export const CLIENT_ASSERTION_ALGORITHMS = ['RS384', 'ES384'];

/**
 * A Tiba extension on ClientApplication holding the client's public keys inline, as the JSON
 * text of a JWK Set (`valueString`). It is the alternative to `ClientApplication.jwksUri` for
 * clients that cannot publish their keys at a URL.
 */
export const CLIENT_JWKS_EXTENSION_URL = 'https://tiba.health/fhir/StructureDefinition/client-jwks';

/** SMART: an assertion's `exp` is at most five minutes in the future. */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/** Tolerated clock difference between the client and this server. */
const CLOCK_TOLERANCE_SECONDS = 30;

export interface ClientAssertionContext {
  systemRepo: PostgresRepository;
  /** The token endpoint URL, which the assertion's `aud` must name. */
  tokenUrl: string;
  /** Remembers used `jti`s until their assertion expires, so an assertion works once. */
  redis: Redis;
  redisKeyPrefix: string;
  /** Fetches (and caches) the key sets at clients' jwksUris. */
  remoteKeySets: RemoteKeySets;
}

/** A client whose assertion verified; its `jti` counts as used only once `recordUse` succeeds. */
export interface AuthenticatedAssertion {
  client: WithId<ClientApplication>;
  /**
   * Records the `jti` (SET NX until the assertion expires) and fails if it was used before. Call
   * it after every other check of the request, so that a request refused for another reason (its
   * scope) does not use up the assertion.
   */
  recordUse(): Promise<void>;
}

/**
 * Authenticates a client by its `private_key_jwt` assertion (RFC 7523 §2.2, SMART Backend
 * Services): checks the algorithm, a `jku` header (only the registered jwksUri), the signature
 * (the client's registered JWKS or JWKS URL), `iss = sub = client_id`, `aud` and `exp`; the
 * returned `recordUse` checks that the `jti` was never used before.
 * Every failure is an OAuthError (`invalid_client`, 401), never anything else.
 */
export async function authenticateClientAssertion(
  ctx: ClientAssertionContext,
  assertionType: string | undefined,
  assertion: string | undefined,
  claimedClientId: string | undefined
): Promise<AuthenticatedAssertion> {
  if (assertionType !== JWT_BEARER_ASSERTION_TYPE) {
    throw new OAuthError(400, 'invalid_request', `Unsupported client_assertion_type: ${assertionType ?? '(missing)'}`);
  }
  if (!assertion) {
    throw new OAuthError(400, 'invalid_request', 'Missing client_assertion');
  }
  const { alg, jku, clientId } = readUnverified(assertion);
  if (!alg || !CLIENT_ASSERTION_ALGORITHMS.includes(alg)) {
    throw invalidClient(`Client assertion must be signed with ${CLIENT_ASSERTION_ALGORITHMS.join(' or ')}`);
  }
  if (claimedClientId && claimedClientId !== clientId) {
    throw invalidClient('client_id does not match the client assertion');
  }
  const client = await ctx.systemRepo
    .readResource<ClientApplication>('ClientApplication', clientId)
    .catch(() => undefined);
  if (!client || (client.status && client.status !== 'active')) {
    throw invalidClient('Unknown client');
  }
  // Keys are only ever taken from what the client registered: a `jku` naming anything else is
  // an attempt to supply the keys along with the signature.
  if (jku !== undefined && !sameUrl(jku, client.jwksUri)) {
    throw invalidClient("Client assertion jku is not the client's registered jwksUri");
  }
  const payload = await verifySignatureAndClaims(assertion, client, ctx);
  return { client, recordUse: () => rememberAssertionId(ctx, client.id, payload) };
}

function sameUrl(a: unknown, b: string | undefined): boolean {
  if (typeof a !== 'string' || !b) {
    return false;
  }
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
}

/** The registered public keys of a client: its inline JWKS extension, else its JWKS URL. */
export function clientKeySource(client: ClientApplication): JSONWebKeySet | URL | undefined {
  const inline = client.extension?.find((e) => e.url === CLIENT_JWKS_EXTENSION_URL)?.valueString;
  if (inline) {
    return parseJwks(inline);
  }
  if (client.jwksUri) {
    return parseJwksUri(client.jwksUri);
  }
  return undefined;
}

/**
 * Checks a JWK Set a client registers: JSON with a non-empty `keys` array of public RSA or EC
 * keys. Returns a message describing the first problem, or undefined when it is usable.
 */
export function describeJwksProblem(jwks: unknown): string | undefined {
  const keys = (jwks as JSONWebKeySet | undefined)?.keys;
  if (!jwks || typeof jwks !== 'object' || !Array.isArray(keys) || keys.length === 0) {
    return 'JWKS must be an object with a non-empty "keys" array';
  }
  for (const key of keys as JWK[]) {
    if (!key || typeof key !== 'object' || (key.kty !== 'RSA' && key.kty !== 'EC')) {
      return 'JWKS keys must be RSA or EC public keys';
    }
    if ('d' in key || 'p' in key || 'q' in key) {
      return 'JWKS must hold public keys only (found private key material)';
    }
  }
  return undefined;
}

/** The extension that stores a client's JWKS inline. */
export function clientJwksExtension(jwks: JSONWebKeySet): Extension {
  return { url: CLIENT_JWKS_EXTENSION_URL, valueString: JSON.stringify(jwks) };
}

function readUnverified(assertion: string): { alg?: string; jku?: unknown; clientId: string } {
  let alg: string | undefined;
  let jku: unknown;
  let claims: JWTPayload;
  try {
    ({ alg, jku } = decodeProtectedHeader(assertion));
    claims = decodeJwt(assertion);
  } catch {
    throw invalidClient('Malformed client assertion');
  }
  if (typeof claims.iss !== 'string' || !claims.iss || claims.iss !== claims.sub) {
    throw invalidClient('Client assertion iss and sub must both be the client_id');
  }
  return { alg, jku, clientId: claims.iss };
}

async function verifySignatureAndClaims(
  assertion: string,
  client: WithId<ClientApplication>,
  ctx: Pick<ClientAssertionContext, 'tokenUrl' | 'remoteKeySets'>
): Promise<JWTPayload> {
  const source = clientKeySource(client);
  if (!source) {
    throw invalidClient('Client has no registered keys (jwksUri or JWKS)');
  }
  const options = {
    algorithms: CLIENT_ASSERTION_ALGORITHMS,
    issuer: client.id,
    subject: client.id,
    audience: ctx.tokenUrl,
    requiredClaims: ['exp', 'jti'],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
  };
  let payload: JWTPayload;
  try {
    if (source instanceof URL) {
      payload = (await jwtVerify(assertion, ctx.remoteKeySets(source), options)).payload;
    } else {
      payload = (await jwtVerify(assertion, createLocalJWKSet(source), options)).payload;
    }
  } catch (err) {
    if (err instanceof errors.JWKSMultipleMatchingKeys) {
      payload = await verifyWithAnyMatchingKey(assertion, err, options);
    } else {
      throw invalidClient(describeVerifyFailure(err));
    }
  }
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.exp !== 'number' || payload.exp > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS) {
    throw invalidClient('Client assertion exp must be at most 5 minutes in the future');
  }
  if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) {
    throw invalidClient('Client assertion must carry a jti (at most 256 characters)');
  }
  return payload;
}

/** Several keys of the set match the header (no `kid`): the assertion is valid if one of them verifies it. */
async function verifyWithAnyMatchingKey(
  assertion: string,
  matches: errors.JWKSMultipleMatchingKeys,
  options: Parameters<typeof jwtVerify>[2]
): Promise<JWTPayload> {
  let lastError: unknown;
  for await (const key of matches) {
    try {
      return (await jwtVerify(assertion, key, options)).payload;
    } catch (err) {
      lastError = err;
    }
  }
  throw invalidClient(describeVerifyFailure(lastError));
}

/** Records the `jti` until the assertion expires; a second use within that time is a replay. */
async function rememberAssertionId(ctx: ClientAssertionContext, clientId: string, payload: JWTPayload): Promise<void> {
  const key = `${ctx.redisKeyPrefix}client-assertion-jti:${clientId}:${payload.jti}`;
  // Kept past exp by the clock tolerance, since the assertion is accepted that long.
  const expiresAt = (payload.exp as number) + CLOCK_TOLERANCE_SECONDS;
  let stored: string | null;
  try {
    stored = await ctx.redis.set(key, '1', 'EXAT', expiresAt, 'NX');
  } catch {
    // Without the replay check the assertion cannot be accepted safely.
    throw new OAuthError(503, 'temporarily_unavailable', 'Cannot check client assertions right now; retry later');
  }
  if (stored !== 'OK') {
    throw invalidClient('Client assertion jti was already used');
  }
}

function describeVerifyFailure(err: unknown): string {
  if (err instanceof JwksFetchError) {
    return err.message;
  }
  if (err instanceof errors.JWTExpired) {
    return 'Client assertion has expired';
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'aud':
        return 'Client assertion aud must be the token URL';
      case 'iss':
      case 'sub':
        return 'Client assertion iss and sub must both be the client_id';
      case 'nbf':
      case 'iat':
        return `Client assertion ${err.claim} is in the future`;
      default:
        return `Client assertion ${err.claim} claim is missing or invalid`;
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return `Client assertion must be signed with ${CLIENT_ASSERTION_ALGORITHMS.join(' or ')}`;
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return 'No registered key of the client matches the client assertion';
  }
  if (err instanceof errors.JWKSTimeout) {
    return "Timed out fetching the client's JWKS";
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return 'Client assertion signature is invalid';
  }
  if (err instanceof errors.JWKSInvalid || err instanceof errors.JWKInvalid) {
    return "The client's registered JWKS is invalid";
  }
  if (err instanceof errors.JOSEError) {
    return `Invalid client assertion (${err.code})`;
  }
  // fetch failures (refused connection, DNS): the key set is unreachable.
  return "Could not load the client's JWKS";
}

function parseJwks(text: string): JSONWebKeySet {
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch {
    throw invalidClient("The client's registered JWKS is not valid JSON");
  }
  const problem = describeJwksProblem(jwks);
  if (problem) {
    throw invalidClient(`The client's registered JWKS is unusable: ${problem}`);
  }
  return jwks as JSONWebKeySet;
}

function parseJwksUri(uri: string): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw invalidClient("The client's jwksUri is not a valid URL");
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalidClient("The client's jwksUri must be an http(s) URL");
  }
  return url;
}

function invalidClient(description: string): OAuthError {
  return new OAuthError(401, 'invalid_client', description);
}
