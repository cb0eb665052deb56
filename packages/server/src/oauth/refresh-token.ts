import { resolveId } from '@medplum/core';
import { readLogin, revokeLogin, updateLoginIfUnchanged } from '../auth/logins.js';
import { secretsEqual } from '../auth/password.js';
import { hashSecret, randomSecret } from '../auth/secrets.js';
import { verifyRefreshToken } from '../auth/user-tokens.js';
import { grantFailure, type UserGrantContext } from './authorization-code.js';
import { OAuthError } from './oauth-error.js';
import { issueUserTokens, type UserTokenResponse } from './user-token-response.js';

export interface RefreshTokenRequest {
  refreshToken?: string;
  /** '' (MedplumClient without a client id) counts as none. */
  clientId?: string;
}

/**
 * The refresh_token grant (RFC 6749 §6) with rotation: every use returns a new refresh token and
 * the old one stops working. A refresh token that this server signed for a Login but that is not
 * that Login's current one has been used before: someone holds a copy, so the whole Login is
 * revoked (OAuth 2.0 Security BCP §4.14.2) and every token of the chain stops working.
 */
export async function refreshUserTokens(
  ctx: UserGrantContext,
  request: RefreshTokenRequest
): Promise<UserTokenResponse> {
  if (!request.refreshToken) {
    throw new OAuthError(400, 'invalid_request', 'Missing refresh_token');
  }
  const fail = grantFailure(ctx, 'refresh_token', request.clientId);

  const claims = await verifyRefreshToken(ctx.keys, ctx.options.issuer, request.refreshToken);
  const login = claims ? await readLogin(ctx.systemRepo, claims.login_id) : undefined;
  if (!claims || !login?.refreshSecret || !login.granted || !login.membership) {
    throw fail('Invalid refresh token', login);
  }
  if (login.revoked) {
    throw fail('Login revoked', login);
  }
  if (!secretsEqual(hashSecret(claims.refresh_secret), login.refreshSecret)) {
    await revokeLogin(ctx.systemRepo, ctx.loginStatus, login.id);
    throw fail('Refresh token already used; the login is revoked', login);
  }
  if (request.clientId && request.clientId !== resolveId(login.client)) {
    throw fail('Refresh token was issued to another client', login);
  }

  const refreshSecret = randomSecret();
  const rotated = await updateLoginIfUnchanged(ctx.systemRepo, {
    ...login,
    refreshSecret: hashSecret(refreshSecret),
    refreshSecretRotatedAt: new Date().toISOString(),
  });
  if (!rotated) {
    // The same refresh token won a race a moment ago: it was used twice.
    await revokeLogin(ctx.systemRepo, ctx.loginStatus, login.id);
    throw fail('Refresh token already used; the login is revoked', login);
  }
  const tokens = await issueUserTokens(ctx.systemRepo, ctx.keys, ctx.options, rotated, refreshSecret);
  ctx.audit.recordSignIn({
    outcome: 'success',
    method: 'refresh_token',
    ip: ctx.ip,
    clientId: resolveId(login.client),
    projectId: resolveId(tokens.project),
    who: tokens.profile.reference,
  });
  return tokens;
}
