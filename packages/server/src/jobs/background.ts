import { type Job, Worker } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import type { AuditLog } from '../audit/audit-log.js';
import type { SigningKeys } from '../auth/keys.js';
import { runBotJob } from '../bots/run-job.js';
import type { TibaConfig } from '../config.js';
import type { Pool } from '../infra/postgres.js';
import { startOutboundMessaging } from '../messaging/outbound/outbound-queue.js';
import type { RepositoryFactory } from '../repository/factory.js';
import { OutboxRelay } from '../subscriptions/relay.js';
import { processDelivery } from './delivery-worker.js';
import {
  BOT_RUN_QUEUE,
  type BotRunJob,
  bullPrefix,
  createBullConnection,
  DELIVERY_QUEUE,
  type DeliveryJob,
  jobQueuesFor,
} from './queues.js';

export interface BackgroundDeps {
  config: Readonly<TibaConfig>;
  pool: Pool;
  keys: SigningKeys;
  repositories: RepositoryFactory;
  audit: AuditLog;
  logger: FastifyBaseLogger;
}

export interface BackgroundWork {
  /**
   * Stops the relay, lets running jobs finish, closes the workers' connection. The shared job
   * queues stay open: their owner closes them (`closeSharedJobQueues`).
   */
  close(): Promise<void>;
}

/**
 * Starts the outbox relay and the workers (subscription deliveries, async bot runs). Runs in
 * every server unless WORKERS_IN_PROCESS=false, and in `npm run worker` processes: relays and
 * workers of any number of processes share the outbox and the queues.
 */
export async function startBackgroundWork(deps: BackgroundDeps): Promise<BackgroundWork> {
  const { config, logger } = deps;
  const queues = jobQueuesFor(config);
  // Capabilities that react to writes register here (STYLE rule 8): the relay feeds them.
  const outbound = startOutboundMessaging(
    config,
    { systemRepo: deps.repositories.system('send outbound patient messages'), now: () => new Date(), logger },
    logger
  );
  const relay = new OutboxRelay({ config, pool: deps.pool, queues, logger, reactions: [outbound.reaction] });
  const ctx = {
    config,
    systemRepo: deps.repositories.system('deliver subscription notifications and run bots'),
    keys: deps.keys,
    audit: deps.audit,
    logger,
  };
  const connection = createBullConnection(config.redisUrl);
  const workerOptions = { connection, prefix: bullPrefix(config), concurrency: config.jobConcurrency };
  const delivery = new Worker<DeliveryJob>(DELIVERY_QUEUE, (job: Job<DeliveryJob>) => processDelivery(ctx, job), {
    ...workerOptions,
    // The lock is renewed while an attempt runs; a short one lets another worker take over the
    // jobs of a killed process within seconds (BullMQ's stalled-job check).
    lockDuration: 10_000,
    stalledInterval: 5_000,
  });
  const botRuns = new Worker<BotRunJob>(
    BOT_RUN_QUEUE,
    async (job: Job<BotRunJob>) => {
      await runBotJob(ctx, job.data);
    },
    { ...workerOptions, lockDuration: config.botMaxTimeoutSeconds * 1000 + 30_000 }
  );
  for (const worker of [delivery, botRuns]) {
    worker.on('error', (err) => logger.warn({ err, queue: worker.name }, 'Job worker error'));
    worker.on('failed', (job, err) =>
      logger.debug({ err, queue: worker.name, job: job?.id, attempts: job?.attemptsMade }, 'Job attempt failed')
    );
  }
  try {
    await relay.start();
  } catch (err) {
    await Promise.all([delivery.close(), botRuns.close(), outbound.close()]);
    connection.disconnect();
    throw err;
  }
  return {
    async close() {
      await relay.close();
      await Promise.all([delivery.close(), botRuns.close(), outbound.close()]);
      connection.disconnect();
    },
  };
}
