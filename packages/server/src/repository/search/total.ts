import type { Queryable } from '../../infra/postgres.js';
import type { CompiledSearch } from './compile.js';

/**
 * `_total=accurate` without the risk HAPI ran into: count at most `max + 1` matches; beyond
 * that, answer the planner's estimate (never less than what we know is there). A search over
 * millions of rows costs one bounded scan, not a full COUNT(*).
 */
export async function countMatches(db: Queryable, search: CompiledSearch, max: number): Promise<number> {
  const values = [...search.params.values, max + 1];
  const sql = `SELECT count(*)::int AS n FROM (SELECT 1 FROM resource r WHERE ${search.where} LIMIT $${values.length}) bounded`;
  const result = await db.query<{ n: number }>(sql, values);
  const counted = result.rows[0].n;
  if (counted <= max) {
    return counted;
  }
  return Math.max(await estimateMatches(db, search), max + 1);
}

/** The planner's row estimate for the search, from EXPLAIN: no rows are read. */
export async function estimateMatches(db: Queryable, search: CompiledSearch): Promise<number> {
  const sql = `EXPLAIN (FORMAT JSON) SELECT 1 FROM resource r WHERE ${search.where}`;
  const result = await db.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(sql, search.params.values);
  return Math.round(result.rows[0]['QUERY PLAN'][0].Plan['Plan Rows']);
}
