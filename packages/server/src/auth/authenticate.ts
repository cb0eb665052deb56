import { unauthorized } from '@medplum/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccessTokenVerifier, VerifiedToken } from './access-token.js';
import type { LoginStatus } from './login-status.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified access token of the caller; set on every authenticated route. */
    auth?: VerifiedToken;
  }
}

/** The bearer token of a request, if it sends one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() || undefined : undefined;
}

/**
 * A preHandler that answers 401 with an OperationOutcome unless a valid bearer token is sent
 * whose Login has not been revoked (sign-out, refresh token reuse).
 */
export function requireBearerToken(verifier: AccessTokenVerifier, loginStatus: LoginStatus) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const token = bearerToken(request);
    const claims = token ? await verifier.verify(token) : undefined;
    if (!claims || !(await loginStatus.isActive(claims.login_id))) {
      await reply
        .code(401)
        .header('WWW-Authenticate', 'Bearer realm="tiba"')
        .type('application/fhir+json')
        .send(unauthorized);
      return;
    }
    request.auth = claims;
  };
}
