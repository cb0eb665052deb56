import formBody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { type AuditLog, createAuditLog } from '../audit/audit-log.js';
import { loadSigningKeys, type SigningKeys } from '../auth/keys.js';
import type { BotContext } from '../bots/execute.js';
import type { TibaConfig } from '../config.js';
import { toOperationOutcome } from '../errors.js';
import { sendOutcome } from '../fhir/response.js';
import { createLogger } from '../infra/logger.js';
import { createPool, type Pool } from '../infra/postgres.js';
import { createRedis } from '../infra/redis.js';
import { createRepositoryFactory, type RepositoryFactory } from '../repository/factory.js';

/**
 * The pieces a capability plugin is built from, on a test server's database and Redis, for tests
 * that give a plugin what the app cannot (a clock they move) or call a module below the routes.
 */
export interface ServerParts {
  config: Readonly<TibaConfig>;
  pool: Pool;
  redis: Redis;
  keys: SigningKeys;
  repositories: RepositoryFactory;
  audit: AuditLog;
  bots: BotContext;
  /** A bare Fastify app (form bodies, the server's error answers) to register one plugin on. */
  bareApp(): FastifyInstance;
  close(): Promise<void>;
}

export async function openServerParts(config: Readonly<TibaConfig>): Promise<ServerParts> {
  const pool = createPool(config.databaseUrl, 4);
  const redis = createRedis(config.redisUrl);
  await redis.connect();
  const keys = await loadSigningKeys(pool);
  const logger: FastifyBaseLogger = createLogger('silent', false);
  const repositories = createRepositoryFactory(config, pool);
  const audit = createAuditLog({ databaseUrl: config.databaseUrl, baseUrl: config.baseUrl, enabled: true, logger });
  const apps: FastifyInstance[] = [];
  return {
    config,
    pool,
    redis,
    keys,
    repositories,
    audit,
    bots: { config, systemRepo: repositories.system('tests'), keys, audit, logger },
    bareApp() {
      const app = Fastify({ loggerInstance: logger });
      app.register(formBody);
      app.setErrorHandler((err, _request, reply) => {
        const { status, outcome } = toOperationOutcome(err);
        return sendOutcome(reply, status, outcome);
      });
      apps.push(app);
      return app;
    },
    async close() {
      await Promise.all(apps.map((app) => app.close()));
      await audit.close();
      redis.disconnect();
      await pool.end();
    },
  };
}
