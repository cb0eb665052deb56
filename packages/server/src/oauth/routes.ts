import type { FastifyInstance } from 'fastify';
import type { SigningKeys } from '../auth/keys.js';
import type { TibaConfig } from '../config.js';
import type { PostgresRepository } from '../repository/repository.js';
import { issueClientCredentialsToken, OAuthError } from './client-credentials.js';

export interface OAuthRoutesOptions {
  config: Readonly<TibaConfig>;
  keys: SigningKeys;
  systemRepo: PostgresRepository;
}

/** OAuth2 endpoints. The token endpoint takes form-encoded bodies only (RFC 6749 §4.4.2). */
export async function oauthRoutes(app: FastifyInstance, options: OAuthRoutesOptions): Promise<void> {
  const { config, keys, systemRepo } = options;

  app.post('/oauth2/token', async (request, reply) => {
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    if (!String(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return reply
        .code(400)
        .send(oauthError('invalid_request', 'Content-Type must be application/x-www-form-urlencoded'));
    }
    const body = (request.body ?? {}) as Record<string, string | undefined>;
    try {
      const basic = parseBasicAuth(request.headers.authorization);
      if (body.grant_type !== 'client_credentials') {
        throw new OAuthError(
          400,
          'unsupported_grant_type',
          `Unsupported grant_type: ${body.grant_type ?? '(missing)'}`
        );
      }
      const clientId = basic?.id ?? body.client_id;
      const clientSecret = basic?.secret ?? body.client_secret;
      if (!clientId || !clientSecret) {
        throw new OAuthError(400, 'invalid_request', 'Missing client_id or client_secret');
      }
      const token = await issueClientCredentialsToken(
        systemRepo,
        keys,
        { issuer: config.baseUrl, lifetime: config.accessTokenLifetime },
        { clientId, clientSecret, scope: body.scope }
      );
      return reply.send(token);
    } catch (err) {
      if (err instanceof OAuthError) {
        return reply.code(err.status).send(oauthError(err.error, err.description));
      }
      throw err;
    }
  });
}

function oauthError(error: string, description: string) {
  return { error, error_description: description };
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
