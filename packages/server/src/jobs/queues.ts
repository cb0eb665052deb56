import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { TibaConfig } from '../config.js';

/** A rest-hook or bot delivery of one resource version to one Subscription. */
export interface DeliveryJob {
  subscriptionId: string;
  projectId: string;
  resourceType: string;
  resourceId: string;
  versionId: string;
  /** The version a delete removed: what a deletion delivers (Medplum sends it to bots). */
  previousVersionId?: string;
  interaction: 'create' | 'update' | 'delete';
  /** When the write was committed (the outbox row's time). */
  requestTime: string;
}

/** An asynchronous `$execute` (Prefer: respond-async). */
export interface BotRunJob {
  botId: string;
  projectId: string;
  input: unknown;
  contentType: string;
  traceId: string;
  /** The AsyncJob that reports the run's outcome. */
  asyncJobId?: string;
}

export const DELIVERY_QUEUE = 'subscription-delivery';
export const BOT_RUN_QUEUE = 'bot-run';

/** BullMQ keys live under the server's Redis key prefix: `<prefix>bull:<queue>:…`. */
export function bullPrefix(config: Pick<TibaConfig, 'redisKeyPrefix'>): string {
  return `${config.redisKeyPrefix}bull`;
}

/**
 * A Redis connection for BullMQ: commands wait for a reconnect instead of failing (BullMQ
 * requires `maxRetriesPerRequest: null` for workers), unlike the server's request-path client.
 */
export function createBullConnection(redisUrl: string): Redis {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
  connection.on('error', () => undefined);
  return connection;
}

export interface JobQueues {
  delivery: Queue<DeliveryJob>;
  botRun: Queue<BotRunJob>;
  close(): Promise<void>;
}

/** The producer side of the job queues (adding jobs needs no worker in this process). */
export function createJobQueues(config: Pick<TibaConfig, 'redisUrl' | 'redisKeyPrefix'>): JobQueues {
  const connection = createBullConnection(config.redisUrl);
  const prefix = bullPrefix(config);
  const delivery = new Queue<DeliveryJob>(DELIVERY_QUEUE, { connection, prefix });
  const botRun = new Queue<BotRunJob>(BOT_RUN_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: { removeOnComplete: { age: 24 * 3600, count: 10_000 }, removeOnFail: { age: 7 * 24 * 3600 } },
  });
  delivery.on('error', () => undefined);
  botRun.on('error', () => undefined);
  return {
    delivery,
    botRun,
    async close() {
      await Promise.all([delivery.close(), botRun.close()]);
      connection.disconnect();
    },
  };
}

const sharedQueues = new Map<string, JobQueues>();

/**
 * The job queues of a server configuration, created on first use and shared by every caller in
 * the process (one Redis connection); `closeSharedJobQueues` closes them.
 */
export function jobQueuesFor(config: Pick<TibaConfig, 'redisUrl' | 'redisKeyPrefix'>): JobQueues {
  const key = `${config.redisUrl} ${config.redisKeyPrefix}`;
  let queues = sharedQueues.get(key);
  if (!queues) {
    queues = createJobQueues(config);
    sharedQueues.set(key, queues);
  }
  return queues;
}

export async function closeSharedJobQueues(config: Pick<TibaConfig, 'redisUrl' | 'redisKeyPrefix'>): Promise<void> {
  const key = `${config.redisUrl} ${config.redisKeyPrefix}`;
  const queues = sharedQueues.get(key);
  sharedQueues.delete(key);
  await queues?.close();
}

/** Queues an asynchronous bot run; returns the job id. */
export async function enqueueBotRun(queues: Pick<JobQueues, 'botRun'>, job: BotRunJob): Promise<string> {
  const added = await queues.botRun.add('run', job, job.asyncJobId ? { jobId: `async_${job.asyncJobId}` } : undefined);
  return added.id as string;
}
