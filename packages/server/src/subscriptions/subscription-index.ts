import type { WithId } from '@medplum/core';
import { parseSearchRequest } from '@medplum/core';
import type { Subscription } from '@medplum/fhirtypes';
import { type Queryable, queryPrepared } from '../infra/postgres.js';
import { usesFhirPathCriteria } from './extensions.js';

/** A Subscription the relay matches writes against. */
export interface IndexedSubscription {
  subscription: WithId<Subscription>;
  projectId: string;
  /** The criteria's resource type: the index key. */
  resourceType: string;
  /** Its FHIRPath criteria may read %previous: the relay loads the previous version only then. */
  needsPrevious: boolean;
}

interface SubscriptionRow {
  id: string;
  project_id: string | null;
  deleted: boolean;
  content: string | null;
  last_updated: string;
}

/** How far back an incremental refresh reads, for writes committed after later-stamped ones. */
const REFRESH_OVERLAP_MS = 5_000;

/**
 * Count and newest write of all Subscription rows (an index-only read of (resource_type,
 * last_updated)), as one text. The relay reads it in its claim statement to save a round trip.
 */
export const SUBSCRIPTION_FINGERPRINT_SQL = `SELECT count(*)::text || '/' || coalesce(max(last_updated)::text, '-')
  FROM resource WHERE resource_type = 'Subscription'`;

/**
 * The deliverable Subscriptions of every project, indexed by project and resource type, so that
 * matching a write reads only the Subscriptions of its own type: a thousand Subscriptions on
 * other types cost nothing. Kept fresh three ways: `apply` (the relay sees Subscription writes
 * in the outbox), `refreshIfChanged` (a cheap check on the resource table's index before each
 * batch, for Subscriptions written through another process's relay) and a full `reload`.
 */
export class SubscriptionIndex {
  private byProject = new Map<string, Map<string, Map<string, IndexedSubscription>>>();
  private located = new Map<string, IndexedSubscription>();
  private fingerprint = '';
  private newestSeen: string | undefined;

  constructor(private readonly db: Queryable) {}

  candidates(projectId: string, resourceType: string): IndexedSubscription[] {
    const byType = this.byProject.get(projectId)?.get(resourceType);
    return byType ? [...byType.values()] : [];
  }

  async reload(): Promise<void> {
    const fingerprint = await readFingerprint(this.db);
    const result = await this.db.query<SubscriptionRow>(
      `SELECT id, project_id, deleted, content, last_updated FROM resource WHERE resource_type = 'Subscription' AND NOT deleted`
    );
    this.byProject = new Map();
    this.located = new Map();
    for (const row of result.rows) {
      this.applyRow(row);
    }
    this.fingerprint = fingerprint;
  }

  /**
   * Re-reads the Subscriptions written lately when their count or newest time moved. `fingerprint`:
   * one read already (SUBSCRIPTION_FINGERPRINT_SQL), else it is read here. `db`: the connection
   * to read on (the relay's open batch transaction), else the index's own.
   */
  async refreshIfChanged(fingerprint?: string, db: Queryable = this.db): Promise<void> {
    fingerprint ??= await readFingerprint(db);
    if (fingerprint === this.fingerprint) {
      return;
    }
    const result = await db.query<SubscriptionRow>(
      `SELECT id, project_id, deleted, content, last_updated FROM resource
       WHERE resource_type = 'Subscription' AND last_updated >= $1::timestamptz - $2 * interval '1 millisecond'`,
      [this.newestSeen ?? '-infinity', REFRESH_OVERLAP_MS]
    );
    for (const row of result.rows) {
      this.applyRow(row);
    }
    this.fingerprint = fingerprint;
  }

  /** Takes in a Subscription's current version (undefined once deleted). */
  apply(id: string, projectId: string | undefined, subscription: WithId<Subscription> | undefined): void {
    this.remove(id);
    if (!subscription || !projectId || !isDeliverable(subscription)) {
      return;
    }
    let resourceType: string;
    try {
      resourceType = parseSearchRequest(subscription.criteria as string).resourceType;
    } catch {
      return; // criteria that do not parse match nothing
    }
    const entry: IndexedSubscription = {
      subscription,
      projectId,
      resourceType,
      needsPrevious: usesFhirPathCriteria(subscription),
    };
    let byType = this.byProject.get(projectId);
    if (!byType) {
      byType = new Map();
      this.byProject.set(projectId, byType);
    }
    let byId = byType.get(resourceType);
    if (!byId) {
      byId = new Map();
      byType.set(resourceType, byId);
    }
    byId.set(id, entry);
    this.located.set(id, entry);
  }

  private remove(id: string): void {
    const entry = this.located.get(id);
    if (!entry) {
      return;
    }
    this.located.delete(id);
    const byType = this.byProject.get(entry.projectId);
    const byId = byType?.get(entry.resourceType);
    byId?.delete(id);
    if (byId?.size === 0) {
      byType?.delete(entry.resourceType);
    }
  }

  private applyRow(row: SubscriptionRow): void {
    // PostgreSQL's timestamptz text sorts as time within one session's zone.
    if (!this.newestSeen || row.last_updated > this.newestSeen) {
      this.newestSeen = row.last_updated;
    }
    const subscription = row.deleted || !row.content ? undefined : (JSON.parse(row.content) as WithId<Subscription>);
    this.apply(row.id, row.project_id ?? undefined, subscription);
  }
}

async function readFingerprint(db: Queryable): Promise<string> {
  const result = await queryPrepared<{ fingerprint: string }>(
    db,
    `SELECT (${SUBSCRIPTION_FINGERPRINT_SQL}) AS fingerprint`,
    []
  );
  return result.rows[0]?.fingerprint ?? '';
}

/**
 * Tiba delivers rest-hook Subscriptions (URLs and `Bot/<id>` endpoints) that are active, or in
 * error (a later success puts them back to active). `off` and `requested` receive nothing.
 */
export function isDeliverable(subscription: Subscription): boolean {
  return (
    (subscription.status === 'active' || subscription.status === 'error') &&
    subscription.channel?.type === 'rest-hook' &&
    Boolean(subscription.channel.endpoint) &&
    Boolean(subscription.criteria)
  );
}
