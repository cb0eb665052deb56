import { createAuditLog } from './audit/audit-log.js';
import { loadSigningKeys } from './auth/keys.js';
import { loadConfig } from './config.js';
import { createLogger } from './infra/logger.js';
import { createPool } from './infra/postgres.js';
import { stopOnSignals } from './infra/shutdown.js';
import { startBackgroundWork } from './jobs/background.js';
import { closeSharedJobQueues } from './jobs/queues.js';
import { createRepositoryFactory } from './repository/factory.js';
import { prepareDatabase } from './setup/prepare-database.js';

/**
 * `npm run worker`: a process that relays the subscription outbox and runs queued jobs
 * (deliveries, async bot runs) without serving HTTP. Start as many as the load needs; with
 * them, servers may run with WORKERS_IN_PROCESS=false.
 */
const config = loadConfig();
const logger = createLogger(config.logLevel, true);
const pool = createPool(config.databaseUrl, config.databasePoolSize);
await prepareDatabase(config, pool, logger);
const keys = await loadSigningKeys(pool);
keys.startAutoReload(config.signingKeyReloadSeconds * 1000, (err) =>
  logger.warn({ err }, 'Could not reload the signing keys; keeping the current ones')
);
const audit = createAuditLog({
  databaseUrl: config.databaseUrl,
  baseUrl: config.baseUrl,
  enabled: config.auditEnabled,
  logger,
});
const background = await startBackgroundWork({
  config,
  pool,
  keys,
  repositories: createRepositoryFactory(config, pool),
  audit,
  logger,
});
logger.info('Worker started: relaying the subscription outbox and running jobs');

stopOnSignals(logger, 'Stopping: finishing running jobs', async () => {
  await background.close();
  await closeSharedJobQueues(config);
  await audit.close();
  keys.stopAutoReload();
  await pool.end();
});
