import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { AuditEvent } from '@medplum/fhirtypes';
import { type Queryable, queryPrepared } from '../infra/postgres.js';
import { TABLES } from '../repository/search/write-rows.js';
import { auditEventSearchRows } from './audit-search-rows.js';

/** An AuditEvent to store, with the project it belongs to (meta.project). */
export interface PendingAuditEvent {
  projectId: string | undefined;
  event: AuditEvent;
}

/**
 * The batch insert: the current rows, the history rows and every search row of many new
 * AuditEvents in ONE statement of fixed shape (each column one array parameter, `unnest`), so
 * a batch of any size is one round trip and one prepared statement. Search rows find their
 * resource's `sid` by joining on the id the resource insert returns. The storage layout is the
 * repository's (write-resource.ts, search/write-rows.ts); only the row-per-resource shape differs.
 *
 * Arrays are sent as array literals built here (textArray) and the JSON contents as one text that
 * PostgreSQL splits: pg's generic array encoding (two regex passes over every element, the JSON
 * included) cost more server CPU per event than building the event did, and PostgreSQL parses
 * the split text faster than a literal of escaped JSON.
 */
const INSERT_SQL = buildInsertSql();

/**
 * Separates the events' JSON texts in the contents parameter. JSON.stringify escapes every
 * control character inside strings and emits none outside them, so it never occurs in one.
 */
const CONTENT_SEPARATOR = '\x1e';

function buildInsertSql(): string {
  const resources = `unnest($1::text[], $2::uuid[], $4::uuid[], string_to_array($5::text, E'\\x1e'))
      AS u(id, version_id, project_id, content)`;
  const ctes = [
    `r AS (INSERT INTO resource (resource_type, id, version_id, last_updated, project_id, content, deleted)
      SELECT 'AuditEvent', u.id, u.version_id, $3::timestamptz, u.project_id, u.content, false FROM ${resources}
      RETURNING sid, id)`,
    `h AS (INSERT INTO resource_history (version_id, resource_type, id, last_updated, project_id, method, content)
      SELECT u.version_id, 'AuditEvent', u.id, $3::timestamptz, u.project_id, 'POST', u.content FROM ${resources})`,
  ];
  let param = 6;
  for (const { table, columns } of TABLES) {
    const arrays = [`$${param++}::text[]`, ...columns.map(([, , sqlType]) => `$${param++}::${sqlType}[]`)];
    const names = columns.map(([column]) => column);
    ctes.push(
      `${table} AS (INSERT INTO ${table} (resource_type, resource_sid, ${names.join(', ')})
      SELECT 'AuditEvent', r.sid, ${names.map((n) => `u.${n}`).join(', ')}
      FROM unnest(${arrays.join(', ')}) AS u(resource_id, ${names.join(', ')}) JOIN r ON r.id = u.resource_id)`
    );
  }
  return `WITH ${ctes.join(',\n')}\nSELECT count(*)::int AS written FROM r`;
}

/**
 * A PostgreSQL array literal (`{"a",NULL,"b"}`) of strings, booleans or nulls, for a `$n::type[]`
 * parameter: every element quoted, with only `"` and `\` escaped (the literal's own syntax).
 */
export function textArray(values: readonly (string | boolean | null | undefined)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) {
      out += ',';
    }
    if (value === null || value === undefined) {
      out += 'NULL';
    } else if (typeof value === 'boolean') {
      out += value ? 't' : 'f';
    } else if (value.includes('"') || value.includes('\\')) {
      out += `"${value.replace(/["\\]/g, '\\$&')}"`;
    } else {
      out += `"${value}"`;
    }
  }
  return `${out}}`;
}

/**
 * UUIDv7-shaped ids (RFC 9562: 48-bit millisecond time, then random bits) for the `count`
 * events of a batch: AuditEvents are written in time order, so their primary-key entries
 * (resource, resource_history) land at the right edge of the b-trees instead of at random places.
 */
function timeOrderedIds(count: number): string[] {
  const bytes = randomBytes(16 * count);
  const now = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const b = bytes.subarray(16 * i, 16 * i + 16);
    b.writeUIntBE(now, 0, 6);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = b.toString('hex');
    ids.push(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`);
  }
  return ids;
}

/**
 * Stores AuditEvents (no validation: Tiba builds them itself, and a unit test validates the
 * shapes). Each gets an id, a version, meta.project and meta.author 'system', as the system
 * repository would give them.
 */
/** Events encoded between two turns of the event loop (~25 µs each). */
const YIELD_EVERY = 32;

export async function writeAuditEvents(db: Queryable, pending: readonly PendingAuditEvent[]): Promise<number> {
  if (pending.length === 0) {
    return 0;
  }
  const ids: string[] = [];
  const versions: string[] = [];
  const projects: (string | null)[] = [];
  const contents: string[] = [];
  const columns: (string | boolean | null)[][][] = TABLES.map(({ columns: c }) => [[], ...c.map(() => [])]);
  const lastUpdated = new Date().toISOString();
  const newIds = timeOrderedIds(2 * pending.length);
  for (const [i, { projectId, event }] of pending.entries()) {
    if (i > 0 && i % YIELD_EVERY === 0) {
      // Encoding a whole batch at once would hold the event loop for milliseconds: requests wait.
      await yieldToEventLoop();
    }
    const id = newIds[2 * i];
    const versionId = newIds[2 * i + 1];
    const resource: AuditEvent = {
      ...event,
      id,
      meta: {
        ...event.meta,
        versionId,
        lastUpdated,
        ...(projectId ? { project: projectId } : undefined),
        author: { reference: 'system' },
      },
    };
    ids.push(id);
    versions.push(versionId);
    projects.push(projectId ?? null);
    contents.push(JSON.stringify(resource));
    const rows = auditEventSearchRows(resource);
    for (let t = 0; t < TABLES.length; t++) {
      const arrays = columns[t];
      const fields = TABLES[t].columns;
      for (const row of rows[TABLES[t].key] as unknown as Record<string, string | boolean | null>[]) {
        arrays[0].push(id);
        for (let c = 0; c < fields.length; c++) {
          arrays[c + 1].push(row[fields[c][1]]);
        }
      }
    }
  }
  const values: unknown[] = [
    textArray(ids),
    textArray(versions),
    lastUpdated,
    textArray(projects),
    contents.join(CONTENT_SEPARATOR),
    ...columns.flat().map(textArray),
  ];
  const result = await queryPrepared<{ written: number }>(db, INSERT_SQL, values);
  return result.rows[0]?.written ?? 0;
}
