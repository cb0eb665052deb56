import type { WithId } from '@medplum/core';
import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { type Queryable, queryPrepared } from '../infra/postgres.js';

/** Which history: instance (type + id), type (type only) or system (neither). */
export interface HistoryQuery {
  resourceType?: string;
  id?: string;
  /** `_since`: only versions written at or after this instant. */
  since?: string;
  /** `_count` and `_offset` page through the versions. */
  count?: number;
  offset?: number;
  /** Only versions of this project (set by the repository for callers, never from the URL). */
  projectId?: string;
}

const DEFAULT_COUNT = 100;
const MAX_COUNT = 1000;
const STATUS_BY_METHOD: Record<string, string> = {
  POST: '201 Created',
  PUT: '200 OK',
  PATCH: '200 OK',
  DELETE: '204 No Content',
};

/** Reads a page of versions, newest first, as a `history` Bundle. */
export async function readHistoryBundle<T extends Resource>(
  db: Queryable,
  baseUrl: string,
  query: HistoryQuery
): Promise<Bundle<WithId<T>>> {
  const count = Math.min(query.count ?? DEFAULT_COUNT, MAX_COUNT);
  const offset = query.offset ?? 0;
  if (!Number.isInteger(count) || count < 0 || !Number.isInteger(offset) || offset < 0) {
    throw new OperationOutcomeError(badRequest('_count and _offset must be non-negative integers'));
  }
  const where: string[] = [];
  const values: unknown[] = [];
  if (query.resourceType) {
    values.push(query.resourceType);
    where.push(`resource_type = $${values.length}`);
  }
  if (query.id) {
    values.push(query.id);
    where.push(`id = $${values.length}`);
  }
  if (query.projectId) {
    values.push(query.projectId);
    where.push(`project_id = $${values.length}`);
  }
  if (query.since) {
    if (Number.isNaN(Date.parse(query.since))) {
      throw new OperationOutcomeError(badRequest(`Invalid _since: ${query.since}`));
    }
    values.push(query.since);
    where.push(`last_updated >= $${values.length}`);
  }
  values.push(count + 1, offset);
  const sql = `SELECT version_id, resource_type, id, method, content,
      to_char(last_updated AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_updated FROM resource_history
    ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY last_updated DESC, version_id DESC LIMIT $${values.length - 1} OFFSET $${values.length}`;
  const result = await queryPrepared<HistoryRow>(db, sql, values);
  const rows = result.rows.slice(0, count);
  const bundle: Bundle<WithId<T>> = {
    resourceType: 'Bundle',
    type: 'history',
    entry: rows.map((row) => toEntry<T>(row, baseUrl)),
    link: [{ relation: 'self', url: pageUrl(baseUrl, query, count, offset) }],
  };
  if (result.rows.length > count) {
    bundle.link?.push({ relation: 'next', url: pageUrl(baseUrl, query, count, offset + count) });
  }
  if (offset > 0) {
    bundle.link?.push({ relation: 'previous', url: pageUrl(baseUrl, query, count, Math.max(0, offset - count)) });
  }
  return bundle;
}

interface HistoryRow {
  version_id: string;
  resource_type: string;
  id: string;
  last_updated: string;
  method: string;
  content: string | null;
}

function toEntry<T extends Resource>(row: HistoryRow, baseUrl: string): BundleEntry<WithId<T>> {
  const path = `${row.resource_type}/${row.id}`;
  return {
    fullUrl: `${baseUrl}fhir/R4/${path}`,
    ...(row.content ? { resource: JSON.parse(row.content) as WithId<T> } : undefined),
    request: { method: row.method as 'POST', url: row.method === 'POST' ? row.resource_type : path },
    response: {
      status: STATUS_BY_METHOD[row.method] ?? '200 OK',
      etag: `W/"${row.version_id}"`,
      lastModified: row.last_updated,
    },
  };
}

function pageUrl(baseUrl: string, query: HistoryQuery, count: number, offset: number): string {
  const path = [query.resourceType, query.id, '_history'].filter(Boolean).join('/');
  const params = new URLSearchParams();
  if (query.since) {
    params.set('_since', query.since);
  }
  params.set('_count', String(count));
  if (offset) {
    params.set('_offset', String(offset));
  }
  return `${baseUrl}fhir/R4/${path}?${params}`;
}
