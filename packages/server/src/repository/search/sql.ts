import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { AccessCondition } from './access-filter.js';
import { getRowSource } from './index-values.js';
import { prefixUpperBound } from './text.js';

/** Bind parameters and table aliases shared by everything compiled into one statement. */
export class QueryParams {
  readonly values: unknown[] = [];
  private aliases = 0;

  /** Adds a bind parameter and returns its placeholder; user input never enters SQL text. */
  bind(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  /**
   * Drops the parameters bound since `mark` (= values.length then), for a condition that was
   * compiled and then discarded: PostgreSQL rejects a statement with a parameter it cannot type.
   */
  rollback(mark: number): void {
    this.values.length = mark;
  }

  alias(prefix: string): string {
    this.aliases++;
    return `${prefix}${this.aliases}`;
  }
}

/** What a filter compiles against: a row of `resource` under `alias`, of one resource type. */
export interface Scope {
  alias: string;
  resourceType: string;
  /** Placeholder bound to resourceType, so index lookups carry the type as a constant. */
  typeParam: string;
  /** Top level of the query (not inside a chain or _has): JS post-filters are allowed here. */
  topLevel: boolean;
}

/** Everything filters need while compiling one search. */
export interface CompileContext {
  params: QueryParams;
  baseUrl: string;
  lenient: boolean;
  /** Checks run on candidate resources after SQL (composite parameters over repeating elements). */
  postFilters: ((resource: Resource) => boolean)[];
  /** The caller's access rule, added to every resource row the query reads; undefined for the server itself. */
  access?: AccessCondition;
}

export type IndexTable =
  | 'search_token'
  | 'search_string'
  | 'search_date'
  | 'search_number'
  | 'search_quantity'
  | 'search_reference'
  | 'search_uri';

/**
 * `EXISTS` over the index rows of the scoped resource for one parameter code; `condition`
 * receives the index table alias. The type is bound, not correlated, so the planner can drive
 * the lookup from the (resource_type, code, value) indexes.
 */
export function indexExists(
  ctx: CompileContext,
  scope: Scope,
  table: IndexTable,
  code: string,
  condition: ((alias: string) => string) | undefined,
  negate = false
): string {
  const a = ctx.params.alias('i');
  const rows = rowsOf(scope.resourceType, code, a, (v) => ctx.params.bind(v));
  const extra = condition ? ` AND (${condition(a)})` : '';
  return (
    `${negate ? 'NOT ' : ''}EXISTS (SELECT 1 FROM ${table} ${a} WHERE ${a}.resource_type = ${scope.typeParam}` +
    ` AND ${a}.resource_sid = ${scope.alias}.sid AND ${rows}${extra})`
  );
}

/**
 * Selects the index rows of parameter `code` of `resourceType` under table alias `a`: rows of
 * its code, or of the parameter it shares rows with, narrowed to its subset (shared-rows.ts).
 * `constant` turns a value into SQL: a bind parameter, or `sqlLiteral` where one cannot be bound.
 */
export function rowsOf(resourceType: string, code: string, a: string, constant: (value: string) => string): string {
  const source = getRowSource(resourceType, code);
  const conditions = [`${a}.code = ${constant(source.code)}`];
  if (source.system !== undefined) {
    conditions.push(`${a}.system = ${constant(source.system)}`);
  }
  if (source.targetType !== undefined) {
    conditions.push(`${a}.target_type = ${constant(source.targetType)}`);
  }
  if (source.part !== undefined) {
    conditions.push(`${a}.part = ${constant(source.part)}`);
  }
  return conditions.join(' AND ');
}

/** A string as an SQL literal; only for known values (parameter codes and the like), never user input. */
export function sqlLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * `column` starts with `prefix`, as a range on its text_pattern_ops index. `LIKE 'x%'` reaches
 * the index only when the planner sees the pattern, which a prepared statement's generic plan
 * does not: it would read every row of the type and code instead.
 */
export function startsWith(ctx: CompileContext, column: string, prefix: string): string {
  const from = `${column} ~>=~ ${ctx.params.bind(prefix)}`;
  const upper = prefixUpperBound(prefix);
  return upper === undefined ? from : `${from} AND ${column} ~<~ ${ctx.params.bind(upper)}`;
}

export function orJoin(conditions: string[]): string {
  return conditions.length === 1 ? conditions[0] : `(${conditions.map((c) => `(${c})`).join(' OR ')})`;
}

export function badSearch(message: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message));
}

/** A search over one of the configured cost limits (config.ts SearchLimits): 400, code too-costly. */
export function tooCostly(message: string, setting: string): OperationOutcomeError {
  return new OperationOutcomeError({
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: 'too-costly',
        details: { text: `${message}; narrow the search (the server's limit is set by ${setting})` },
      },
    ],
  });
}
