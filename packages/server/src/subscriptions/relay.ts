import type { WithId } from '@medplum/core';
import { resourceMatchesSubscriptionCriteria } from '@medplum/core';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import type { JobsOptions } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import type { TibaConfig } from '../config.js';
import { type Pool, type PoolClient, type Queryable, queryPrepared } from '../infra/postgres.js';
import type { DeliveryJob, JobQueues } from '../jobs/queues.js';
import { subscriptionMaxAttempts } from './extensions.js';
import { outboxWrites } from './outbox-signal.js';
import { type IndexedSubscription, SUBSCRIPTION_FINGERPRINT_SQL, SubscriptionIndex } from './subscription-index.js';

export interface OutboxRow {
  id: string;
  resource_type: string;
  resource_id: string;
  version_id: string;
  previous_version_id: string | null;
  project_id: string;
  interaction: DeliveryJob['interaction'];
  /** When the write committed, ms since the epoch. */
  created_ms: string;
}

/**
 * Claims the oldest rows (skipping those another relay holds) and deletes them, in the caller's
 * transaction; each row carries the Subscription fingerprint of the same snapshot, so a batch
 * needs no separate round trip to see whether Subscriptions changed.
 */
const CLAIM_SQL = `WITH claimed AS (
    DELETE FROM subscription_outbox WHERE id IN (
      SELECT id FROM subscription_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
    RETURNING id, resource_type, resource_id, version_id, previous_version_id, project_id, interaction,
      (extract(epoch FROM created_at) * 1000)::bigint AS created_ms)
  SELECT claimed.*, (${SUBSCRIPTION_FINGERPRINT_SQL}) AS subscriptions FROM claimed`;

/**
 * Server work a capability does when resources of some types are written (STYLE rule 8): the
 * relay hands it the committed writes of those types, in the transaction that removes them from
 * the outbox, so `enqueue` must queue idempotently (fixed job ids): after a crash before the
 * commit the same rows come again.
 */
export interface OutboxReaction {
  name: string;
  resourceTypes: readonly string[];
  enqueue(rows: readonly OutboxRow[]): Promise<void>;
}

export interface RelayOptions {
  config: Pick<TibaConfig, 'outboxPollMs' | 'subscriptionMaxAttempts' | 'subscriptionRetryDelayMs'>;
  pool: Pool;
  queues: Pick<JobQueues, 'delivery'>;
  logger: FastifyBaseLogger;
  /** Internal reactions registered by capabilities, besides the project's Subscriptions. */
  reactions?: readonly OutboxReaction[];
  /** Rows claimed per transaction. */
  batchSize?: number;
  /** How often the Subscription index is read again in full, whatever changed (ms). */
  fullReloadMs?: number;
}

/**
 * Moves committed writes from the outbox to the delivery queue. Each batch is claimed and
 * deleted in one transaction (`FOR UPDATE SKIP LOCKED`, so several relays share the work) that
 * commits only once its jobs are queued; job ids are `<subscription>_<version>`, so a batch queued
 * again after a crash before the commit does not deliver twice. Wakes on local writes at once
 * and polls for the writes of other processes.
 */
export class OutboxRelay {
  private readonly index: SubscriptionIndex;
  private readonly batchSize: number;
  private readonly pending = new WeakSet<object>();
  private pollTimer: NodeJS.Timeout | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly options: RelayOptions) {
    this.index = new SubscriptionIndex(options.pool);
    this.batchSize = options.batchSize ?? 200;
  }

  async start(): Promise<void> {
    await this.index.reload();
    outboxWrites.on('write', this.onWrite);
    this.options.pool.on('release', this.onRelease);
    this.pollTimer = setInterval(() => this.wake(), this.options.config.outboxPollMs);
    this.pollTimer.unref();
    this.reloadTimer = setInterval(() => {
      this.index.reload().catch((err) => this.options.logger.warn({ err }, 'Could not reload the Subscriptions'));
    }, this.options.fullReloadMs ?? 60_000);
    this.reloadTimer.unref();
    this.wake();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearInterval(this.reloadTimer);
    outboxWrites.off('write', this.onWrite);
    this.options.pool.off('release', this.onRelease);
    await this.running;
  }

  /** Relays until the outbox is empty (or another relay holds the rest). */
  wake(): void {
    if (this.closed) {
      return;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  // A write on the pool is committed; one in a transaction is once its client goes back to the pool.
  private readonly onWrite = (db: Queryable): void => {
    if (db === this.options.pool) {
      this.wake();
    } else {
      this.pending.add(db);
    }
  };

  private readonly onRelease = (_err: unknown, client: PoolClient): void => {
    if (this.pending.delete(client)) {
      this.wake();
    }
  };

  private async drain(): Promise<void> {
    try {
      while (!this.closed && (await this.relayBatch()) === this.batchSize) {
        // a full batch: more may be waiting
      }
    } catch (err) {
      this.options.logger.error({ err }, 'Outbox relay failed; retrying at the next poll');
    }
  }

  /** Claims, matches and queues one batch; returns how many rows it claimed. */
  private async relayBatch(): Promise<number> {
    const client = await this.options.pool.connect();
    try {
      await client.query('BEGIN');
      const claimed = await queryPrepared<OutboxRow & { subscriptions: string }>(client, CLAIM_SQL, [this.batchSize]);
      const rows = claimed.rows.sort((a, b) => Number(a.id) - Number(b.id));
      if (rows.length > 0) {
        await this.index.refreshIfChanged(rows[0].subscriptions, client);
        const jobs = await this.matchBatch(client, rows);
        if (jobs.length > 0) {
          await this.options.queues.delivery.addBulk(jobs);
        }
        await this.react(rows);
      }
      await client.query('COMMIT');
      return rows.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async react(rows: OutboxRow[]): Promise<void> {
    for (const reaction of this.options.reactions ?? []) {
      const theirs = rows.filter((row) => reaction.resourceTypes.includes(row.resource_type));
      if (theirs.length > 0) {
        await reaction.enqueue(theirs);
      }
    }
  }

  private async matchBatch(db: Queryable, rows: OutboxRow[]) {
    // Candidates row by row (a Subscription reaches the index before the writes after it), then
    // one history read for every version the batch needs.
    const candidateRows: { row: OutboxRow; candidates: IndexedSubscription[] }[] = [];
    for (const row of rows) {
      if (row.resource_type === 'Subscription') {
        await this.applySubscriptionWrite(db, row);
      }
      const candidates = this.index.candidates(row.project_id, row.resource_type);
      if (candidates.length > 0) {
        candidateRows.push({ row, candidates });
      }
    }
    const versions = await readVersions(
      db,
      candidateRows.flatMap(({ row, candidates }) => neededVersionIds(row, candidates))
    );
    const jobs: { name: string; data: DeliveryJob; opts: JobsOptions }[] = [];
    for (const { row, candidates } of candidateRows) {
      for (const candidate of await this.matching(row, candidates, versions)) {
        jobs.push(this.deliveryJob(row, candidate.subscription));
      }
    }
    return jobs;
  }

  /** A Subscription written through this relay reaches the index before the writes after it. */
  private async applySubscriptionWrite(db: Queryable, row: OutboxRow): Promise<void> {
    const current = await queryPrepared<{ content: string | null; project_id: string | null }>(
      db,
      `SELECT content, project_id FROM resource WHERE resource_type = 'Subscription' AND id = $1`,
      [row.resource_id]
    );
    const found = current.rows[0];
    const subscription = found?.content ? (JSON.parse(found.content) as WithId<Subscription>) : undefined;
    this.index.apply(row.resource_id, found?.project_id ?? undefined, subscription);
  }

  private async matching(
    row: OutboxRow,
    candidates: IndexedSubscription[],
    versions: Map<string, Resource>
  ): Promise<IndexedSubscription[]> {
    const [currentId, previousId] = versionIdsOf(row, candidates);
    const current = currentId ? versions.get(currentId) : undefined;
    const previous = previousId ? versions.get(previousId) : undefined;
    // A deletion is matched (and delivered) as the version it removed, as Medplum does.
    const resource = row.interaction === 'delete' ? previous : current;
    if (!resource) {
      return [];
    }
    const matched: IndexedSubscription[] = [];
    for (const candidate of candidates) {
      try {
        const matches = await resourceMatchesSubscriptionCriteria({
          resource,
          subscription: candidate.subscription,
          context: { interaction: row.interaction },
          getPreviousResource: async () => previous,
        });
        if (matches) {
          matched.push(candidate);
        }
      } catch (err) {
        this.options.logger.warn(
          { err, subscription: candidate.subscription.id },
          'Subscription criteria could not be evaluated'
        );
      }
    }
    return matched;
  }

  private deliveryJob(row: OutboxRow, subscription: WithId<Subscription>) {
    const { config } = this.options;
    const data: DeliveryJob = {
      subscriptionId: subscription.id,
      projectId: row.project_id,
      resourceType: row.resource_type,
      resourceId: row.resource_id,
      versionId: row.version_id,
      interaction: row.interaction,
      requestTime: new Date(Number(row.created_ms)).toISOString(),
    };
    if (row.previous_version_id) {
      data.previousVersionId = row.previous_version_id;
    }
    const opts: JobsOptions = {
      jobId: `${subscription.id}_${row.version_id}`,
      attempts: subscriptionMaxAttempts(subscription, config.subscriptionMaxAttempts),
      backoff: { type: 'exponential', delay: config.subscriptionRetryDelayMs },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    };
    return { name: 'deliver', data, opts };
  }
}

/**
 * The history versions a row is matched with: [current, previous]. A deletion has no current
 * version; the previous one is read only for a deletion or criteria that read %previous.
 */
function versionIdsOf(row: OutboxRow, candidates: IndexedSubscription[]): [string | undefined, string | undefined] {
  if (row.interaction === 'delete') {
    return [undefined, row.previous_version_id ?? undefined];
  }
  const needsPrevious = candidates.some((c) => c.needsPrevious);
  return [row.version_id, needsPrevious ? (row.previous_version_id ?? undefined) : undefined];
}

function neededVersionIds(row: OutboxRow, candidates: IndexedSubscription[]): string[] {
  return versionIdsOf(row, candidates).filter((id): id is string => Boolean(id));
}

/** The contents of history versions by version id (a missing id or a deletion is absent). */
async function readVersions(db: Queryable, ids: string[]): Promise<Map<string, Resource>> {
  const versions = new Map<string, Resource>();
  if (ids.length === 0) {
    return versions;
  }
  const result = await queryPrepared<{ version_id: string; content: string | null }>(
    db,
    'SELECT version_id, content FROM resource_history WHERE version_id = ANY($1::uuid[])',
    [[...new Set(ids)]]
  );
  for (const { version_id, content } of result.rows) {
    if (content) {
      versions.set(version_id, JSON.parse(content) as Resource);
    }
  }
  return versions;
}
