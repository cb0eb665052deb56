import { allOk, badRequest, OperationOutcomeError, unauthorized } from '@medplum/core';
import type { ProjectMembership, Reference, User } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SignInAuditSink } from '../audit/types.js';
import { FHIR_JSON } from '../fhir/response.js';
import { type SignInThrottle, TooManyAttemptsError } from '../rate-limit/types.js';
import type { PostgresRepository } from '../repository/repository.js';
import { chooseProfile, type SignInContext, signInWithPassword, verifyMfa } from './login-flow.js';
import { readSessionDetails } from './me.js';
import { newTotpSecret, totpEnrollUri, type UsedTotpSteps, useTotp } from './totp.js';

export interface AuthRoutesOptions {
  systemRepo: PostgresRepository;
  audit: SignInAuditSink;
  signInThrottle: SignInThrottle;
  /** Each TOTP code is accepted once, whichever endpoint it is sent to. */
  usedTotpSteps: UsedTotpSteps;
  /** requireBearerToken: verifies the token and that its Login is not revoked. */
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

/** Medplum's `auth/*` endpoints, as MedplumClient and @medplum/react's SignInForm call them (JSON bodies). */
export async function authRoutes(app: FastifyInstance, options: AuthRoutesOptions): Promise<void> {
  const { systemRepo, authenticate, usedTotpSteps } = options;
  const context = (request: FastifyRequest): SignInContext => ({
    systemRepo,
    audit: options.audit,
    throttle: options.signInThrottle,
    usedTotpSteps,
    ip: request.ip,
    userAgent: request.headers['user-agent'],
  });

  // Throttled sign-ins answer 429 with Retry-After; everything else goes to the app's handler.
  app.setErrorHandler((err, _request, reply) => {
    if (err instanceof TooManyAttemptsError) {
      return reply
        .code(429)
        .header('Retry-After', String(err.retryAfterSeconds))
        .type(FHIR_JSON)
        .send({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'throttled', details: { text: err.message } }],
        });
    }
    throw err;
  });
  app.addHook('onSend', async (_request, reply) => {
    reply.header('Cache-Control', 'no-store');
  });

  // No external identity providers: every email signs in with a password here.
  app.post('/auth/method', async (request) => {
    const email = (request.body as { email?: unknown } | undefined)?.email;
    if (typeof email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(email.trim())) {
      throw new OperationOutcomeError(badRequest('Valid email address is required', 'email'));
    }
    return {};
  });

  app.post('/auth/login', async (request) => signInWithPassword(context(request), request.body));
  app.post('/auth/profile', async (request) => chooseProfile(context(request), request.body));
  app.post('/auth/mfa/verify', async (request) => verifyMfa(context(request), request.body));

  app.get('/auth/me', { preHandler: authenticate }, async (request) =>
    readSessionDetails(systemRepo, request.auth as NonNullable<FastifyRequest['auth']>)
  );

  // TOTP enrolment for the signed-in user (Medplum's auth/mfa/status, enroll, disable).
  const enrolment = async (request: FastifyRequest) => {
    let user = await signedInUser(request);
    if (user.mfaEnrolled) {
      return { enrolled: true };
    }
    if (!user.mfaSecret) {
      user = await systemRepo.updateResource<User>({ ...user, mfaSecret: newTotpSecret() });
    }
    const secret = user.mfaSecret as string;
    return { enrolled: false, enrollUri: totpEnrollUri(secret, user.email ?? user.id), secret };
  };
  app.get('/auth/mfa/status', { preHandler: authenticate }, enrolment);
  app.post('/auth/mfa/setup', { preHandler: authenticate }, enrolment);

  app.post('/auth/mfa/enroll', { preHandler: authenticate }, async (request, reply) => {
    const user = await signedInUser(request);
    if (user.mfaEnrolled) {
      throw new OperationOutcomeError(badRequest('Already enrolled'));
    }
    if (!user.mfaSecret) {
      throw new OperationOutcomeError(badRequest('Call auth/mfa/setup first'));
    }
    if (!(await useTotp(usedTotpSteps, user.id, user.mfaSecret, bodyToken(request)))) {
      throw new OperationOutcomeError(badRequest('Invalid MFA code', 'token'));
    }
    await systemRepo.updateResource<User>({ ...user, mfaEnrolled: true });
    return reply.type(FHIR_JSON).send(allOk);
  });

  app.post('/auth/mfa/disable', { preHandler: authenticate }, async (request, reply) => {
    const user = await signedInUser(request);
    if (!user.mfaEnrolled || !user.mfaSecret) {
      throw new OperationOutcomeError(badRequest('User not enrolled in MFA'));
    }
    if (!(await useTotp(usedTotpSteps, user.id, user.mfaSecret, bodyToken(request)))) {
      throw new OperationOutcomeError(badRequest('Invalid MFA code', 'token'));
    }
    // A new secret, so that a lost device's codes are worthless if MFA is enabled again.
    await systemRepo.updateResource<User>({ ...user, mfaEnrolled: false, mfaSecret: newTotpSecret() });
    return reply.type(FHIR_JSON).send(allOk);
  });

  /** The User behind the caller's token; client applications have none. */
  async function signedInUser(request: FastifyRequest) {
    const auth = request.auth as NonNullable<FastifyRequest['auth']>;
    const membership = await systemRepo.readResource<ProjectMembership>('ProjectMembership', auth.membership);
    if (!membership.user?.reference?.startsWith('User/')) {
      throw new OperationOutcomeError(badRequest('Only users can use MFA'));
    }
    return systemRepo.readReference<User>(membership.user as Reference<User>).catch(() => {
      throw new OperationOutcomeError(unauthorized);
    });
  }
}

function bodyToken(request: FastifyRequest): unknown {
  const body = request.body as { token?: unknown } | undefined;
  return body?.token;
}
