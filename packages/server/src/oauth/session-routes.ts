import type { Reference, User } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SigningKeys } from '../auth/keys.js';
import type { LoginStatus } from '../auth/login-status.js';
import { revokeLogin } from '../auth/logins.js';
import { verifyIdTokenHint } from '../auth/user-tokens.js';
import type { PostgresRepository } from '../repository/repository.js';
import { identityClaims } from './user-token-response.js';

export interface SessionRoutesOptions {
  baseUrl: string;
  keys: SigningKeys;
  systemRepo: PostgresRepository;
  loginStatus: LoginStatus;
  /** requireBearerToken: verifies the token and that its Login is not revoked. */
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

/** `oauth2/userinfo` and `oauth2/logout`: the signed-in session, and its end. */
export async function sessionRoutes(app: FastifyInstance, options: SessionRoutesOptions): Promise<void> {
  const { systemRepo, loginStatus, authenticate } = options;
  app.addHook('onSend', async (_request, reply) => {
    reply.header('Cache-Control', 'no-store');
  });

  // https://openid.net/specs/openid-connect-core-1_0.html#UserInfo
  const userinfo = async (request: FastifyRequest) => {
    const auth = request.auth as NonNullable<FastifyRequest['auth']>;
    const user = auth.username
      ? await systemRepo
          .readReference<User>({ reference: `User/${auth.username}` } as Reference<User>)
          .catch(() => undefined)
      : undefined;
    return {
      sub: auth.sub,
      fhirUser: auth.profile,
      ...(user ? await identityClaims(systemRepo, auth.scope, user, auth.profile) : undefined),
    };
  };
  app.get('/oauth2/userinfo', { preHandler: authenticate }, userinfo);
  app.post('/oauth2/userinfo', { preHandler: authenticate }, userinfo);

  /**
   * Ends the session of the bearer token (MedplumClient.signOut), or of `id_token_hint` (OpenID
   * RP-initiated logout from a browser): its access and refresh tokens stop working.
   */
  const logout = async (request: FastifyRequest, reply: FastifyReply) => {
    const hint = (request.query as { id_token_hint?: unknown }).id_token_hint;
    let loginId = request.auth?.login_id;
    if (!loginId && typeof hint === 'string') {
      loginId = (await verifyIdTokenHint(options.keys, options.baseUrl, hint))?.login_id;
    }
    if (!loginId) {
      return reply.code(401).send({ error: 'invalid_token', error_description: 'Missing or invalid token' });
    }
    await revokeLogin(systemRepo, loginStatus, loginId);
    return reply.send({});
  };
  // With a bearer token it must be valid; a browser redirect has only the id_token_hint.
  const authenticateUnlessHint = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.headers.authorization || !(request.query as { id_token_hint?: unknown }).id_token_hint) {
      await authenticate(request, reply);
    }
  };
  app.get('/oauth2/logout', { preHandler: authenticateUnlessHint }, logout);
  app.post('/oauth2/logout', { preHandler: authenticateUnlessHint }, logout);
}
