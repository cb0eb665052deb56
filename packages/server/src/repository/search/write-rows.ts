import type { SearchRows } from './rows.js';

/** Index tables with their value columns (after resource_type, resource_sid) and SQL types. */
export const TABLES: { key: keyof SearchRows; table: string; columns: [string, string, string][] }[] = [
  {
    key: 'token',
    table: 'search_token',
    columns: [
      ['code', 'code', 'text'],
      ['system', 'system', 'text'],
      ['value', 'value', 'text'],
      ['text', 'text', 'text'],
    ],
  },
  {
    key: 'string',
    table: 'search_string',
    columns: [
      ['code', 'code', 'text'],
      ['value', 'value', 'text'],
      ['norm', 'norm', 'text'],
      ['whole', 'whole', 'boolean'],
      ['part', 'part', 'text'],
    ],
  },
  {
    key: 'date',
    table: 'search_date',
    columns: [
      ['code', 'code', 'text'],
      ['start_at', 'start', 'timestamptz'],
      ['end_at', 'end', 'timestamptz'],
    ],
  },
  {
    key: 'number',
    table: 'search_number',
    columns: [
      ['code', 'code', 'text'],
      ['value', 'value', 'numeric'],
      ['low', 'low', 'numeric'],
      ['high', 'high', 'numeric'],
    ],
  },
  {
    key: 'quantity',
    table: 'search_quantity',
    columns: [
      ['code', 'code', 'text'],
      ['value', 'value', 'numeric'],
      ['low', 'low', 'numeric'],
      ['high', 'high', 'numeric'],
      ['system', 'system', 'text'],
      ['unit', 'unit', 'text'],
    ],
  },
  {
    key: 'reference',
    table: 'search_reference',
    columns: [
      ['code', 'code', 'text'],
      ['target_type', 'targetType', 'text'],
      ['target_id', 'targetId', 'text'],
      ['reference', 'reference', 'text'],
    ],
  },
  {
    key: 'uri',
    table: 'search_uri',
    columns: [
      ['code', 'code', 'text'],
      ['value', 'value', 'text'],
    ],
  },
];

/**
 * Builds the INSERTs of a resource's search rows as CTE bodies, one per non-empty table, each
 * row set passed as one array parameter per column (`unnest`), so any number of rows costs a
 * fixed number of parameters. `resourceCte` names the CTE that wrote the resource row and
 * returns its `sid`. Parameters are appended to `values`; the caller composes the CTEs with the
 * resource write into one statement (one round trip per create).
 */
export function appendSearchRowInserts(
  rows: SearchRows,
  resourceType: string,
  resourceCte: string,
  values: unknown[]
): string[] {
  const bodies: string[] = [];
  let typeParam: string | undefined;
  for (const { key, table, columns } of TABLES) {
    const list = rows[key] as unknown as Record<string, unknown>[];
    if (list.length === 0) {
      continue;
    }
    typeParam ??= `$${values.push(resourceType)}`;
    const arrays = columns.map(([, field, sqlType]) => `$${values.push(list.map((row) => row[field]))}::${sqlType}[]`);
    bodies.push(
      `INSERT INTO ${table} (resource_type, resource_sid, ${columns.map(([c]) => c).join(', ')}) ` +
        `SELECT ${typeParam}::text, ${resourceCte}.sid, u.* FROM ${resourceCte}, unnest(${arrays.join(', ')}) AS u`
    );
  }
  return bodies;
}

/**
 * DELETEs of every search row of the resource whose `sid` the CTE `resourceCte` returns, as CTE
 * bodies. Data-modifying CTEs of one statement all see the snapshot taken before it, so these
 * remove only the previous version's rows even when the same statement inserts the new ones.
 */
export function appendSearchRowDeletes(resourceCte: string): string[] {
  return TABLES.map(({ table }) => `DELETE FROM ${table} WHERE resource_sid = (SELECT sid FROM ${resourceCte})`);
}
