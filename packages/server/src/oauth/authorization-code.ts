import type { WithId } from '@medplum/core';
import { Operator, resolveId } from '@medplum/core';
import type { ClientApplication, Login } from '@medplum/fhirtypes';
import type { SignInAuditSink } from '../audit/types.js';
import type { SigningKeys } from '../auth/keys.js';
import type { LoginStatus } from '../auth/login-status.js';
import { revokeLogin, updateLoginIfUnchanged } from '../auth/logins.js';
import { secretsEqual } from '../auth/password.js';
import { hashSecret, pkceChallenge, randomSecret } from '../auth/secrets.js';
import type { PostgresRepository } from '../repository/repository.js';
import { OAuthError } from './oauth-error.js';
import { issueUserTokens, type UserTokenOptions, type UserTokenResponse } from './user-token-response.js';

/** How long an authorization code may wait to be exchanged (RFC 6749 §4.1.2 advises at most 10 minutes). */
export const CODE_LIFETIME_SECONDS = 120;

export interface UserGrantContext {
  systemRepo: PostgresRepository;
  keys: SigningKeys;
  options: UserTokenOptions;
  loginStatus: LoginStatus;
  audit: SignInAuditSink;
  ip: string;
}

/**
 * Reports a refused grant as a failed sign-in and returns the `invalid_grant` error to throw;
 * `login` (once found) names who and which project.
 */
export function grantFailure(ctx: UserGrantContext, method: 'authorization_code' | 'refresh_token', clientId?: string) {
  return (description: string, login?: Login): OAuthError => {
    ctx.audit.recordSignIn({
      outcome: 'failure',
      method,
      ip: ctx.ip,
      clientId: clientId || resolveId(login?.client),
      projectId: resolveId(login?.project),
      who: login?.user?.reference,
      reason: description,
    });
    return new OAuthError(400, 'invalid_grant', description);
  };
}

export interface AuthorizationCodeRequest {
  code?: string;
  codeVerifier?: string;
  /** From the form or the Basic header; '' (MedplumClient without a client id) counts as none. */
  clientId?: string;
  clientSecret?: string;
}

/**
 * The authorization_code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636): a code is exchanged
 * once, within CODE_LIFETIME_SECONDS, by whoever holds the verifier of its challenge. A code
 * presented a second time revokes the Login it was issued for (RFC 6749 §4.1.2): whoever holds
 * it, the tokens already issued on it stop working.
 */
export async function exchangeAuthorizationCode(
  ctx: UserGrantContext,
  request: AuthorizationCodeRequest
): Promise<UserTokenResponse> {
  if (!request.code) {
    throw new OAuthError(400, 'invalid_request', 'Missing code');
  }
  const fail = grantFailure(ctx, 'authorization_code', request.clientId);

  const login = await ctx.systemRepo.searchOne<Login>({
    resourceType: 'Login',
    filters: [{ code: 'code', operator: Operator.EQUALS, value: hashSecret(request.code) }],
  });
  if (!login?.membership) {
    throw fail('Invalid code');
  }
  if (login.revoked) {
    throw fail('Login revoked', login);
  }
  if (login.granted) {
    await revokeLogin(ctx.systemRepo, ctx.loginStatus, login.id);
    throw fail('Code already used; the login is revoked', login);
  }
  const issuedAt = new Date(login.meta?.lastUpdated as string).getTime();
  if (Date.now() - issuedAt > CODE_LIFETIME_SECONDS * 1000) {
    throw fail('Code expired', login);
  }
  const loginClientId = resolveId(login.client);
  if (request.clientId && request.clientId !== loginClientId) {
    throw fail('Code was issued to another client', login);
  }
  await checkProofOfPossession(ctx.systemRepo, login, loginClientId, request, fail);

  const refreshSecret = login.refreshSecret ? randomSecret() : undefined;
  const granted = await updateLoginIfUnchanged(ctx.systemRepo, {
    ...login,
    granted: true,
    refreshSecret: refreshSecret ? hashSecret(refreshSecret) : undefined,
  });
  if (!granted) {
    // Another request exchanged the same code at the same moment: one of them is not the client.
    await revokeLogin(ctx.systemRepo, ctx.loginStatus, login.id);
    throw fail('Code already used; the login is revoked', login);
  }
  const tokens = await issueUserTokens(ctx.systemRepo, ctx.keys, ctx.options, granted, refreshSecret);
  ctx.audit.recordSignIn({
    outcome: 'success',
    method: 'authorization_code',
    ip: ctx.ip,
    clientId: loginClientId,
    projectId: resolveId(tokens.project),
    who: tokens.profile.reference,
  });
  return tokens;
}

/**
 * PKCE: the verifier must hash to the login's challenge. A login without a challenge is
 * exchanged only by a confidential client registered as `pkceOptional`, with its secret.
 */
async function checkProofOfPossession(
  systemRepo: PostgresRepository,
  login: WithId<Login>,
  loginClientId: string | undefined,
  request: AuthorizationCodeRequest,
  fail: (description: string, login?: Login) => OAuthError
): Promise<void> {
  const client = loginClientId
    ? await systemRepo.readResource<ClientApplication>('ClientApplication', loginClientId).catch(() => undefined)
    : undefined;
  // A client that authenticates must do so correctly, PKCE or not.
  if (request.clientSecret && !(client?.secret && secretsEqual(client.secret, request.clientSecret))) {
    throw new OAuthError(401, 'invalid_client', 'Invalid client credentials');
  }
  if (login.codeChallenge) {
    if (!request.codeVerifier) {
      throw fail('Missing code_verifier', login);
    }
    const expected = login.codeChallengeMethod === 'plain' ? request.codeVerifier : pkceChallenge(request.codeVerifier);
    if (!secretsEqual(expected, login.codeChallenge)) {
      throw fail('Invalid code_verifier', login);
    }
    return;
  }
  if (!client?.pkceOptional || !request.clientSecret) {
    throw fail('PKCE is required: this login has no code challenge', login);
  }
}
