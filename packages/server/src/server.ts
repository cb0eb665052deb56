import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { loadSigningKeys } from './auth/keys.js';
import type { TibaConfig } from './config.js';
import { createLogger } from './infra/logger.js';
import { createPool } from './infra/postgres.js';
import { createRedis } from './infra/redis.js';
import { startConfiguredStandIn } from './messaging/simulator/configured-stand-in.js';
import { prepareDatabase } from './setup/prepare-database.js';

export interface TibaServer {
  app: FastifyInstance;
  listen(): Promise<string>;
  /** Stops accepting, finishes in-flight requests, then closes the pools. */
  close(): Promise<void>;
}

/** Prepares the database and builds the app; `listen()` opens the port. */
export async function createServer(
  configured: Readonly<TibaConfig>,
  options?: { logger?: boolean; warmUp?: boolean }
): Promise<TibaServer> {
  // Before anything reads the Twilio settings: with the stand-in on, they point at it.
  const { config, standIn } = await startConfiguredStandIn(configured);
  const log = createLogger(config.logLevel, options?.logger !== false);
  const pool = createPool(config.databaseUrl, config.databasePoolSize, {
    statementTimeoutMs: config.statementTimeoutMs,
  });
  const redis = createRedis(config.redisUrl);
  try {
    await redis.connect();
    await prepareDatabase(config, pool, log);
    const keys = await loadSigningKeys(pool);
    const app = await buildApp({ config, pool, redis, keys, logger: log, warmUp: options?.warmUp, standIn });
    // Picks up keys rotated by other processes (`npm run rotate-keys`).
    keys.startAutoReload(config.signingKeyReloadSeconds * 1000, (err) =>
      log.warn({ err }, 'Could not reload the signing keys; keeping the current ones')
    );
    app.addHook('onClose', async () => {
      keys.stopAutoReload();
      await pool.end();
      redis.disconnect();
      await standIn?.close();
    });
    return {
      app,
      listen: () => app.listen({ port: config.port, host: config.host }),
      close: () => app.close(),
    };
  } catch (err) {
    await pool.end().catch(() => undefined);
    redis.disconnect();
    await standIn?.close().catch(() => undefined);
    throw err;
  }
}
