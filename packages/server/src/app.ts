import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import formBody from '@fastify/formbody';
import { notFound } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Redis } from 'ioredis';
import { adminRoutes } from './admin/routes.js';
import { selfSignUpRoutes } from './admin/self-signup.js';
import { createAuditLog } from './audit/audit-log.js';
import { registerFhirAudit } from './audit/fhir-audit.js';
import { AccessTokenVerifier } from './auth/access-token.js';
import { requireBearerToken } from './auth/authenticate.js';
import { jwksRoutes, type SigningKeys } from './auth/keys.js';
import { LoginStatus } from './auth/login-status.js';
import { authRoutes } from './auth/routes.js';
import { createUsedTotpSteps } from './auth/totp.js';
import { botRoutes } from './bots/routes.js';
import type { TibaConfig } from './config.js';
import { toOperationOutcome } from './errors.js';
import { buildCapabilityStatement } from './fhir/capability-statement.js';
import { fhirDefinitionsLoaded } from './fhir/definitions.js';
import { sharedGraphqlThread } from './fhir/graphql/graphql-thread.js';
import { sendOutcome } from './fhir/response.js';
import { createFhirRouter } from './fhir/router.js';
import { fhirRoutes } from './fhir/routes.js';
import { createClientErrorHandler } from './http/client-errors.js';
import { registerJsonBodyParsers } from './http/json-body.js';
import { answeredBeforeBody } from './http/lingering-close.js';
import { registerUrlLimit } from './http/url-limit.js';
import { healthRoutes } from './infra/health.js';
import { registerMetrics } from './infra/metrics.js';
import type { Pool } from './infra/postgres.js';
import { startBackgroundWork } from './jobs/background.js';
import { closeSharedJobQueues, enqueueBotRun, jobQueuesFor } from './jobs/queues.js';
import { twilioStatusRoutes } from './messaging/outbound/status-routes.js';
import { simulatorRoutes } from './messaging/simulator/simulator-routes.js';
import { twilioInboundRoutes } from './messaging/twilio/inbound-routes.js';
import type { TwilioStandIn } from './messaging/twilio-stand-in/stand-in.js';
import { ussdRoutes } from './messaging/ussd/ussd-routes.js';
import { authorizeRoutes } from './oauth/authorize.js';
import { oauthRoutes } from './oauth/routes.js';
import { sessionRoutes } from './oauth/session-routes.js';
import { wellKnownRoutes } from './oauth/well-known.js';
import { createSignInThrottle } from './rate-limit/login-throttle.js';
import { registerRateLimits } from './rate-limit/rate-limit.js';
import { createRepositoryFactory } from './repository/factory.js';
import { registerApiCors } from './web/cors.js';
import { staticApp } from './web/static-app.js';

export interface AppDeps {
  config: Readonly<TibaConfig>;
  pool: Pool;
  redis: Redis;
  keys: SigningKeys;
  logger: FastifyBaseLogger;
  /** Build expensive caches (the GraphQL schema, in its worker thread) at once; /readyz waits for them. */
  warmUp?: boolean;
  /** The local Twilio stand-in, when TWILIO_STAND_IN is on: the phone simulator drives it. */
  standIn?: TwilioStandIn;
}

/** @tiba/server's version, from its package.json (the same path from src/ and dist/). */
const SERVER_VERSION: string = createRequire(import.meta.url)('../package.json').version;

/** Builds the HTTP application: each capability registered in order, by hand. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, pool, redis, keys } = deps;
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: config.maxBodyBytes,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    // One log line per request (below) instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    // Behind a reverse proxy, request.ip (rate limits, sign-in throttling, audit) is the client's.
    trustProxy: config.trustProxy,
    // Errors raised before routing (a URL with a broken %-escape) get an OperationOutcome too.
    frameworkErrors: (err, _request, reply) => {
      const { status, outcome } = toOperationOutcome(err);
      void sendOutcome(reply, status, outcome);
    },
    clientErrorHandler: createClientErrorHandler(deps.logger),
  });
  // While stopping, answers close their connection: keep-alive sockets would hold close() open.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
    if (closing) {
      reply.header('Connection', 'close');
    }
    if (!request.raw.complete && request.raw.socket) {
      answeredBeforeBody(request, reply, config.maxBodyBytes);
    }
  });
  registerUrlLimit(app, config.maxUrlLength);

  // Set before any plugin is registered: plugins inherit the handler they see at registration.
  app.setErrorHandler((err, _request, reply) => {
    const { status, outcome } = toOperationOutcome(err);
    if (status >= 500) {
      reply.log.error({ err }, 'request failed');
    }
    return sendOutcome(reply, status, outcome);
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: request.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request'
    );
  });
  registerJsonBodyParsers(app, config.maxJsonDepth);
  await app.register(formBody);
  // Before the routes: preflight requests are answered before authentication.
  await registerApiCors(app, { origins: config.corsOrigins });
  const metrics = registerMetrics(app, pool);
  await registerRateLimits(app, redis, config);

  const graphql = sharedGraphqlThread();
  app.addHook('onClose', graphql.hold());
  if (deps.warmUp) {
    graphql.start().then(
      (ms) => app.log.info({ ms }, 'GraphQL schema built (worker thread)'),
      // Not when it was stopped on purpose (a close during the build).
      (err) => graphql.state === 'failed' && app.log.error({ err }, 'Could not build the GraphQL schema')
    );
  }
  await app.register(healthRoutes, {
    pool,
    redis,
    startup: {
      definitions: () => fhirDefinitionsLoaded() || 'not loaded',
      // Without warm-up the schema is built on the first $graphql request, in the worker.
      ...(deps.warmUp ? { graphql: () => graphql.state === 'ready' || graphql.state } : {}),
    },
  });

  const issuer = config.baseUrl;
  const repositories = createRepositoryFactory(config, pool);
  const audit = createAuditLog({
    databaseUrl: config.databaseUrl,
    baseUrl: config.baseUrl,
    enabled: config.auditEnabled,
    logger: app.log,
    metrics,
  });
  app.addHook('onClose', () => audit.close());
  const signInThrottle = createSignInThrottle(redis, config);
  const usedTotpSteps = createUsedTotpSteps(redis, config);
  const verifier = new AccessTokenVerifier(keys, issuer);
  const loginStatus = new LoginStatus(repositories.system('check that logins are not revoked'));
  const authenticate = requireBearerToken(verifier, loginStatus);
  await app.register(oauthRoutes, {
    config,
    keys,
    redis,
    systemRepo: repositories.system('issue tokens'),
    audit,
    loginStatus,
  });
  await app.register(jwksRoutes, { keys });
  const signInRepo = repositories.system('sign users in');
  await app.register(authRoutes, { systemRepo: signInRepo, audit, signInThrottle, usedTotpSteps, authenticate });
  await app.register(authorizeRoutes, {
    baseUrl: config.baseUrl,
    systemRepo: signInRepo,
    audit,
    signInThrottle,
    usedTotpSteps,
  });
  await app.register(sessionRoutes, { baseUrl: issuer, keys, systemRepo: signInRepo, loginStatus, authenticate });
  await app.register(wellKnownRoutes, { baseUrl: config.baseUrl });
  let capabilityStatement: Resource | undefined;
  const getCapabilityStatement = (): Resource =>
    (capabilityStatement ??= buildCapabilityStatement({ baseUrl: config.baseUrl, version: SERVER_VERSION }));
  const router = createFhirRouter((err) => app.log.error({ err }, 'FHIR handler failed'), {
    systemRepo: repositories.system('give bots their memberships'),
    graphql,
    searchLimits: config.searchLimits,
  });
  registerFhirAudit(app, audit);
  await app.register(fhirRoutes, {
    baseUrl: config.baseUrl,
    router,
    authenticate,
    repositoryFor: (request) => repositories.forRequest(request),
    capabilityStatement: getCapabilityStatement,
  });

  await app.register(botRoutes, {
    authenticate,
    repositoryFor: (request) => repositories.forRequest(request),
    bots: { config, systemRepo: repositories.system('run bots'), keys, audit, logger: app.log },
    enqueueBotRun: (job) => enqueueBotRun(jobQueuesFor(config), job),
  });
  // Patients' messages: public webhooks, each verified by its gateway's signature or secret.
  await app.register(twilioInboundRoutes, { baseUrl: config.baseUrl, repositories });
  await app.register(twilioStatusRoutes, { baseUrl: config.baseUrl, repositories });
  await app.register(ussdRoutes, { config, repositories, redis, keys, audit, logger: app.log });
  if (deps.standIn) {
    await app.register(simulatorRoutes, { standIn: deps.standIn, repositories, authenticate });
  }
  // The queues open on the first async run; closing them when none opened is a no-op.
  app.addHook('onClose', () => closeSharedJobQueues(config));
  await app.register(adminRoutes, { authenticate, systemRepo: repositories.system('project administration') });
  await app.register(selfSignUpRoutes, { systemRepo: repositories.system('self sign-up'), audit });

  // After the API routes: its catch-all GET serves the web app's files and pages.
  if (config.appDistDir) {
    await app.register(staticApp, { distDir: config.appDistDir });
  }

  app.setNotFoundHandler((request, reply) =>
    sendOutcome(reply, 404, {
      ...notFound,
      issue: [{ ...notFound.issue[0], diagnostics: `No route: ${request.method} ${request.url.split('?')[0]}` }],
    })
  );
  if (config.workersInProcess) {
    // Relay and workers stop before the pools and the audit log close (onClose hooks).
    const background = await startBackgroundWork({ config, pool, keys, repositories, audit, logger: app.log });
    app.addHook('preClose', () => background.close());
  }
  return app;
}
