import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import type { TibaConfig } from '../../config.js';
import { bullPrefix, createBullConnection } from '../../jobs/queues.js';
import type { OutboxReaction, OutboxRow } from '../../subscriptions/relay.js';
import { type OutboundContext, type SendOutcome, sendCommunicationRequest } from './send-request.js';

/** One written version of a CommunicationRequest, to be looked at (and maybe sent) by the sender. */
export interface OutboundJob {
  requestId: string;
  versionId: string;
  projectId: string;
}

export const OUTBOUND_QUEUE = 'outbound-message';

export type OutboundSettings = Pick<
  TibaConfig,
  | 'redisUrl'
  | 'redisKeyPrefix'
  | 'baseUrl'
  | 'twilio'
  | 'outboundMaxAttempts'
  | 'outboundRetryDelayMs'
  | 'jobConcurrency'
>;

export interface OutboundMessaging {
  /** Registered with the outbox relay: CommunicationRequest writes become jobs. */
  reaction: OutboxReaction;
  close(): Promise<void>;
}

/**
 * Outbound messaging's background work: an outbox reaction that queues one job per written
 * CommunicationRequest version (job id `<request>_<version>`, so a relay batch queued twice adds
 * nothing), and the worker that runs the single sending function for each. A job is delayed
 * (not slept) until the request's time or the end of quiet hours; transient Twilio failures are
 * retried with exponential backoff; the attempt record makes sending at most once per request.
 */
export function startOutboundMessaging(
  config: OutboundSettings,
  ctx: Omit<OutboundContext, 'baseUrl' | 'twilioApiBaseUrl'>,
  logger: FastifyBaseLogger
): OutboundMessaging {
  const connection = createBullConnection(config.redisUrl);
  const prefix = bullPrefix(config);
  const queue = new Queue<OutboundJob>(OUTBOUND_QUEUE, { connection, prefix });
  queue.on('error', () => undefined);
  const context: OutboundContext = { ...ctx, baseUrl: config.baseUrl, twilioApiBaseUrl: config.twilio.apiBaseUrl };
  const worker = new Worker<OutboundJob>(
    OUTBOUND_QUEUE,
    (job, token) => processOutboundJob(context, job, token),
    // The lock outlives a Twilio call (15 s timeout) with room to spare.
    { connection, prefix, concurrency: config.jobConcurrency, lockDuration: 60_000 }
  );
  worker.on('error', (err) => logger.warn({ err, queue: OUTBOUND_QUEUE }, 'Job worker error'));
  const reaction: OutboxReaction = {
    name: 'outbound messages',
    resourceTypes: ['CommunicationRequest'],
    async enqueue(rows: readonly OutboxRow[]) {
      const jobs = rows
        .filter((row) => row.interaction !== 'delete')
        .map((row) => ({
          name: 'send',
          data: { requestId: row.resource_id, versionId: row.version_id, projectId: row.project_id },
          opts: {
            jobId: `${row.resource_id}_${row.version_id}`,
            attempts: config.outboundMaxAttempts,
            backoff: { type: 'exponential', delay: config.outboundRetryDelayMs },
            removeOnComplete: { age: 24 * 3600, count: 10_000 },
            removeOnFail: { age: 7 * 24 * 3600 },
          },
        }));
      if (jobs.length > 0) {
        await queue.addBulk(jobs);
      }
    },
  };
  return {
    reaction,
    async close() {
      await worker.close();
      await queue.close();
      connection.disconnect();
    },
  };
}

/**
 * One run of an outbound job: sends (or not) through `sendCommunicationRequest`, moves the job
 * to the delayed set when it is not yet time, throws on a transient failure so BullMQ retries.
 */
export async function processOutboundJob(
  ctx: OutboundContext,
  job: Job<OutboundJob>,
  token: string | undefined
): Promise<SendOutcome> {
  const outcome = await sendCommunicationRequest(ctx, {
    requestId: job.data.requestId,
    attempt: job.attemptsMade + 1,
    maxAttempts: job.opts.attempts ?? 1,
  });
  if (outcome.kind === 'later') {
    // Waits in Redis, not in this process: a restart keeps the time, and no worker slot is held.
    await job.moveToDelayed(outcome.at.getTime(), token);
    throw new DelayedError();
  }
  if (outcome.kind === 'retry') {
    throw new Error(outcome.reason);
  }
  return outcome;
}
