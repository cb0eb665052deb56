import { unauthorized } from '@medplum/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccessTokenVerifier, VerifiedToken } from './access-token.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified access token of the caller; set on every authenticated route. */
    auth?: VerifiedToken;
  }
}

/** A preHandler that answers 401 with an OperationOutcome unless a valid bearer token is sent. */
export function requireBearerToken(verifier: AccessTokenVerifier) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const claims = token ? await verifier.verify(token) : undefined;
    if (!claims) {
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
