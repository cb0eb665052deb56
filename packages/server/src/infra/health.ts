import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Pool } from './postgres.js';

export interface HealthOptions {
  pool: Pool;
  redis: Redis;
  /**
   * Start-up work the server needs before it can serve, by name: each answers `true` once done,
   * or a word saying where it is (`building`, `failed`).
   */
  startup: Record<string, () => true | string>;
}

/**
 * Liveness and readiness probes. `/healthcheck` answers as long as the event loop turns (200 when
 * PostgreSQL and Redis answer); `/readyz` is 200 only once the start-up work is done as well, so
 * a load balancer sends no traffic to a server still building its caches.
 */
export async function healthRoutes(app: FastifyInstance, options: HealthOptions): Promise<void> {
  const { pool, redis, startup } = options;
  const services = async () => {
    const [postgres, redisOk] = await Promise.all([
      pool.query('SELECT 1').then(
        () => true,
        () => false
      ),
      redis.ping().then(
        (pong) => pong === 'PONG',
        () => false
      ),
    ]);
    return { postgres, redis: redisOk };
  };

  app.get('/healthcheck', async (_request, reply) => {
    const checks = await services();
    const ok = checks.postgres && checks.redis;
    return reply.code(ok ? 200 : 503).send({ ok, ...checks });
  });

  app.get('/readyz', async (_request, reply) => {
    const checks: Record<string, boolean | string> = await services();
    for (const [name, check] of Object.entries(startup)) {
      checks[name] = check();
    }
    const notReady = Object.keys(checks).filter((name) => checks[name] !== true);
    const ready = notReady.length === 0;
    return reply.code(ready ? 200 : 503).send({ ready, ...(ready ? {} : { notReady }), ...checks });
  });
}
