import type { Resource } from '@medplum/fhirtypes';
import { type Queryable, queryPrepared } from '../infra/postgres.js';
import { signalOutboxWrite } from '../subscriptions/outbox-signal.js';
import { computeSearchRows } from './search/index-values.js';
import { appendSearchRowDeletes, appendSearchRowInserts } from './search/write-rows.js';

/** One version about to be written: the resource already carries its new meta. */
export interface VersionToWrite {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  projectId: string | undefined;
  /** The HTTP verb of the interaction, kept in history bundles. */
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** undefined for a deletion. */
  resource: Resource | undefined;
}

/** The current row a write replaces, as its caller read (and locked) it. */
export type ReplacedRow = Pick<CurrentRow, 'versionId' | 'deleted'>;

/**
 * Writes a version in ONE statement: the current row, the history row and the search index
 * rows. A single statement is atomic on its own, so a plain create needs no BEGIN/COMMIT.
 * `previous` is the current row being replaced (update, delete, re-create after delete), which the
 * caller holds locked: the row keeps its `sid`, and its previous search rows are deleted in the
 * same statement. undefined when no row exists yet.
 */
export async function writeVersion(
  db: Queryable,
  version: VersionToWrite,
  previous: ReplacedRow | undefined
): Promise<void> {
  const { resourceType, id, versionId, lastUpdated, projectId, method, resource } = version;
  const content = resource ? JSON.stringify(resource) : null;
  const values: unknown[] = [resourceType, id, versionId, lastUpdated, projectId ?? null, content, method];
  const current = previous
    ? `UPDATE resource SET version_id = $3, last_updated = $4, project_id = $5, content = $6, deleted = $6::text IS NULL
       WHERE resource_type = $1 AND id = $2 RETURNING sid`
    : `INSERT INTO resource (resource_type, id, version_id, last_updated, project_id, content, deleted)
       VALUES ($1, $2, $3, $4, $5, $6, $6::text IS NULL) RETURNING sid`;
  const ctes = [
    `INSERT INTO resource_history (version_id, resource_type, id, last_updated, project_id, method, content)
     VALUES ($3, $1, $2, $4, $5, $7, $6)`,
  ];
  if (previous) {
    ctes.push(...appendSearchRowDeletes('r'));
  }
  if (resource) {
    ctes.push(...appendSearchRowInserts(computeSearchRows(resource), resourceType, 'r', values));
  }
  const outbox = hasSubscriptionTrigger(version);
  if (outbox) {
    ctes.push(outboxInsert(method, previous, values));
  }
  const sql = `WITH r AS (${current}),\n${ctes.map((body, i) => `w${i} AS (${body})`).join(',\n')} SELECT 1`;
  await queryPrepared(db, sql, values);
  if (outbox) {
    signalOutboxWrite(db);
  }
}

/** Subscriptions belong to projects, and never fire on AuditEvents (as in Medplum). */
function hasSubscriptionTrigger(version: VersionToWrite): boolean {
  return version.projectId !== undefined && version.resourceType !== 'AuditEvent';
}

/**
 * The subscription outbox row of this write (docs/architecture.md § Subscriptions), appending its
 * parameters to `values`. A write over a deleted resource is a create again, with no previous version.
 */
function outboxInsert(method: VersionToWrite['method'], previous: ReplacedRow | undefined, values: unknown[]): string {
  const live = previous && !previous.deleted ? previous : undefined;
  const interaction = method === 'DELETE' ? 'delete' : live ? 'update' : 'create';
  const previousParam = values.push(live?.versionId ?? null);
  const interactionParam = values.push(interaction);
  return `INSERT INTO subscription_outbox (resource_type, resource_id, version_id, previous_version_id, project_id, interaction)
     VALUES ($1, $2, $3, $${previousParam}, $5, $${interactionParam})`;
}

/** The current row of a resource, locked for the rest of the transaction when `forUpdate`. */
export interface CurrentRow {
  versionId: string;
  deleted: boolean;
  content: string | null;
  /** The project the resource belongs to (null for shared definitions and server records). */
  projectId: string | null;
}

export async function selectCurrent(
  db: Queryable,
  resourceType: string,
  id: string,
  forUpdate: boolean
): Promise<CurrentRow | undefined> {
  const result = await queryPrepared<{
    version_id: string;
    deleted: boolean;
    content: string | null;
    project_id: string | null;
  }>(
    db,
    `SELECT version_id, deleted, content, project_id FROM resource WHERE resource_type = $1 AND id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
    [resourceType, id]
  );
  const row = result.rows[0];
  return row
    ? { versionId: row.version_id, deleted: row.deleted, content: row.content, projectId: row.project_id }
    : undefined;
}
