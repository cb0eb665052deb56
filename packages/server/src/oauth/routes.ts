import { resolveId } from '@medplum/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { SignInAuditSink } from '../audit/types.js';
import type { SigningKeys } from '../auth/keys.js';
import type { LoginStatus } from '../auth/login-status.js';
import type { TibaConfig } from '../config.js';
import type { PostgresRepository } from '../repository/repository.js';
import { exchangeAuthorizationCode, type UserGrantContext } from './authorization-code.js';
import { issueClientCredentialsToken } from './client-credentials.js';
import { createRemoteKeySets, JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES } from './jwks-fetch.js';
import { OAuthError, oauthErrorBody } from './oauth-error.js';
import { refreshUserTokens } from './refresh-token.js';

export interface OAuthRoutesOptions {
  config: Readonly<TibaConfig>;
  keys: SigningKeys;
  systemRepo: PostgresRepository;
  /** Remembers client assertion ids (`jti`) so that each assertion is accepted once. */
  redis: Redis;
  audit: SignInAuditSink;
  /** Told at once when a grant revokes a Login (code or refresh token reuse). */
  loginStatus: LoginStatus;
}

/** OAuth2 token endpoint. It takes form-encoded bodies only (RFC 6749 §4.1.3, §4.4.2, §6). */
export async function oauthRoutes(app: FastifyInstance, options: OAuthRoutesOptions): Promise<void> {
  const { config, keys, systemRepo, redis, audit, loginStatus } = options;
  const remoteKeySets = createRemoteKeySets({
    allowedHosts: config.jwksAllowedHosts,
    timeoutMs: JWKS_FETCH_TIMEOUT_MS,
    maxBytes: JWKS_MAX_BYTES,
  });

  app.post('/oauth2/token', async (request, reply) => {
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    if (!String(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return reply
        .code(400)
        .send(oauthErrorBody('invalid_request', 'Content-Type must be application/x-www-form-urlencoded'));
    }
    try {
      const body = formFields(request.body);
      const basic = parseBasicAuth(request.headers.authorization);
      const userGrant: UserGrantContext = {
        systemRepo,
        keys,
        options: {
          issuer: config.baseUrl,
          accessTokenLifetime: config.accessTokenLifetime,
          refreshTokenLifetime: config.refreshTokenLifetime,
        },
        loginStatus,
        audit,
        ip: request.ip,
      };
      switch (body.grant_type) {
        case 'authorization_code':
          return reply.send(
            await exchangeAuthorizationCode(userGrant, {
              code: body.code,
              codeVerifier: body.code_verifier,
              clientId: basic?.id ?? body.client_id,
              clientSecret: basic?.secret ?? body.client_secret,
            })
          );
        case 'refresh_token':
          return reply.send(
            await refreshUserTokens(userGrant, {
              refreshToken: body.refresh_token,
              clientId: basic?.id ?? body.client_id,
            })
          );
        case 'client_credentials':
          return reply.send(await clientCredentials(request, body, basic));
        default:
          throw new OAuthError(
            400,
            'unsupported_grant_type',
            `Unsupported grant_type: ${body.grant_type ?? '(missing)'}`
          );
      }
    } catch (err) {
      if (err instanceof OAuthError) {
        return reply.code(err.status).send(oauthErrorBody(err.error, err.description));
      }
      throw err;
    }
  });

  async function clientCredentials(
    request: FastifyRequest,
    body: Record<string, string | undefined>,
    basic: { id: string; secret: string } | undefined
  ) {
    const method = body.client_assertion || body.client_assertion_type ? 'private_key_jwt' : 'client_credentials';
    const clientId = basic?.id ?? body.client_id;
    try {
      const token = await issueClientCredentialsToken(
        systemRepo,
        keys,
        {
          issuer: config.baseUrl,
          lifetime: config.accessTokenLifetime,
          redis,
          redisKeyPrefix: config.redisKeyPrefix,
          remoteKeySets,
        },
        {
          clientId,
          clientSecret: basic?.secret ?? body.client_secret,
          clientAssertionType: body.client_assertion_type,
          clientAssertion: body.client_assertion,
          scope: body.scope,
          remoteAddress: request.ip,
          userAgent: request.headers['user-agent'],
        }
      );
      audit.recordSignIn({
        outcome: 'success',
        method,
        ip: request.ip,
        clientId: resolveId(token.profile),
        projectId: resolveId(token.project),
        who: token.profile.reference,
      });
      return token;
    } catch (err) {
      if (err instanceof OAuthError) {
        audit.recordSignIn({ outcome: 'failure', method, ip: request.ip, clientId, reason: err.description });
      }
      throw err;
    }
  }
}

/** Form fields as single strings: a repeated field (`a=1&a=2`) is refused rather than guessed at (RFC 6749 §3.2). */
function formFields(body: unknown): Record<string, string | undefined> {
  const result: Record<string, string | undefined> = {};
  if (typeof body !== 'object' || body === null) {
    return result;
  }
  for (const [name, value] of Object.entries(body)) {
    if (Array.isArray(value)) {
      throw new OAuthError(400, 'invalid_request', `Parameter ${name} must not be repeated`);
    }
    result[name] = typeof value === 'string' ? value : undefined;
  }
  return result;
}

function parseBasicAuth(header: string | undefined): { id: string; secret: string } | undefined {
  if (!header?.startsWith('Basic ')) {
    return undefined;
  }
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) {
    return undefined;
  }
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  } catch {
    throw new OAuthError(400, 'invalid_request', 'Malformed Basic authorization header');
  }
}
