import rateLimit from '@fastify/rate-limit';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { TibaConfig } from '../config.js';

/** Paths never limited: probes and scrapers poll them. */
const EXEMPT_PATHS = new Set(['/healthcheck', '/readyz', '/metrics']);

type Category = 'auth' | 'api';

/** Sign-in and token endpoints get the stricter limit. */
function categoryOf(url: string): Category {
  return url.startsWith('/auth/') || url.startsWith('/oauth2/') ? 'auth' : 'api';
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q >= 0 ? url.slice(0, q) : url;
}

/** Thrown by the limiter and answered by the hook below (never reaches the error handler). */
class RateLimitExceeded extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('Too many requests');
  }
}

/**
 * Rate limits on the whole API, counted in Redis (so that several servers share the counts),
 * per client IP and per window: one budget for /auth/* and /oauth2/*, one for everything else.
 * A limit of 0 switches that budget off. Over the limit the answer is 429 with Retry-After: an
 * OAuth2 error body on /oauth2/*, an OperationOutcome elsewhere. If Redis is down, requests pass.
 */
export async function registerRateLimits(
  app: FastifyInstance,
  redis: Redis,
  config: Pick<
    TibaConfig,
    'rateLimitAuthPerMinute' | 'rateLimitApiPerMinute' | 'rateLimitWindowSeconds' | 'redisKeyPrefix'
  >
): Promise<void> {
  const limits: Record<Category, number> = { auth: config.rateLimitAuthPerMinute, api: config.rateLimitApiPerMinute };
  if (limits.auth === 0 && limits.api === 0) {
    return;
  }
  // global: false — the plugin's own hook would answer through the app's error handler; ours answers per path.
  await app.register(rateLimit, {
    global: false,
    redis,
    nameSpace: `${config.redisKeyPrefix}rate-limit:`,
    timeWindow: config.rateLimitWindowSeconds * 1000,
    keyGenerator: (request) => `${categoryOf(request.url)}:${request.ip}`,
    max: async (_request, key) => limits[key.slice(0, key.indexOf(':')) as Category],
    allowList: (request) => EXEMPT_PATHS.has(pathOf(request.url)) || limits[categoryOf(request.url)] === 0,
    skipOnError: true,
    errorResponseBuilder: (_request, context) => new RateLimitExceeded(Math.ceil(context.ttl / 1000)),
  });
  const limiter = app.rateLimit();
  app.addHook('onRequest', async (request, reply) => {
    try {
      await limiter.call(app, request, reply);
    } catch (err) {
      if (err instanceof RateLimitExceeded) {
        return sendTooManyRequests(request, reply, err.retryAfterSeconds);
      }
      throw err;
    }
  });
}

function sendTooManyRequests(request: FastifyRequest, reply: FastifyReply, retryAfterSeconds: number): FastifyReply {
  const message = `Too many requests; try again in ${retryAfterSeconds} s`;
  reply.code(429).header('Retry-After', String(retryAfterSeconds));
  if (request.url.startsWith('/oauth2/')) {
    // RFC 6749 §4.1.2.1: temporarily_unavailable, "due to a temporary overloading".
    return reply
      .header('Cache-Control', 'no-store')
      .send({ error: 'temporarily_unavailable', error_description: message });
  }
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'throttled', details: { text: message } }],
  };
  return reply.type('application/fhir+json').send(outcome);
}
