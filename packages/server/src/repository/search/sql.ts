import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';

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
  const codeParam = ctx.params.bind(code);
  const extra = condition ? ` AND (${condition(a)})` : '';
  return (
    `${negate ? 'NOT ' : ''}EXISTS (SELECT 1 FROM ${table} ${a} WHERE ${a}.resource_type = ${scope.typeParam}` +
    ` AND ${a}.resource_id = ${scope.alias}.id AND ${a}.code = ${codeParam}${extra})`
  );
}

export function orJoin(conditions: string[]): string {
  return conditions.length === 1 ? conditions[0] : `(${conditions.map((c) => `(${c})`).join(' OR ')})`;
}

export function badSearch(message: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message));
}
