import { type Condition, splitValues } from '../params.js';
import type { TokenRow } from '../rows.js';
import { type CompileContext, indexExists, orJoin, type Scope } from '../sql.js';
import { escapeLike, truncate } from '../text.js';

/** A token search value: `code`, `system|code`, `|code` (no system) or `system|` (any code). */
export interface TokenValue {
  /** undefined: any system; null: the value must have no system. */
  system: string | null | undefined;
  code: string | undefined;
}

export function parseTokenValue(value: string): TokenValue {
  const bar = value.indexOf('|');
  if (bar < 0) {
    return { system: undefined, code: truncate(value) };
  }
  const system = value.slice(0, bar);
  const code = value.slice(bar + 1);
  return { system: system === '' ? null : truncate(system), code: code === '' ? undefined : truncate(code) };
}

/**
 * Token search (https://hl7.org/fhir/R4/search.html#token): comma-separated values are ORed;
 * `:not` keeps resources with no matching value (including those with no value at all);
 * `:text` matches the display text (contains, case-insensitive; no index: it reads the rows of
 * the type and code, which is fine for a rarely used modifier).
 */
export function tokenCondition(ctx: CompileContext, scope: Scope, cond: Condition, code = cond.param.code): string {
  const values = splitValues(cond.value);
  if (cond.modifier === 'text') {
    return indexExists(ctx, scope, 'search_token', code, (a) =>
      orJoin(values.map((v) => `${a}.text LIKE ${ctx.params.bind(`%${escapeLike(v.toLowerCase())}%`)}`))
    );
  }
  const tokens = values.map(parseTokenValue);
  return indexExists(ctx, scope, 'search_token', code, (a) => tokenMatch(ctx, a, tokens), cond.modifier === 'not');
}

function tokenMatch(ctx: CompileContext, a: string, tokens: TokenValue[]): string {
  const conditions: string[] = [];
  const plainCodes = tokens.filter((t) => t.system === undefined).map((t) => t.code);
  if (plainCodes.length === 1) {
    conditions.push(`${a}.value = ${ctx.params.bind(plainCodes[0])}`);
  } else if (plainCodes.length > 1) {
    conditions.push(`${a}.value = ANY(${ctx.params.bind(plainCodes)}::text[])`);
  }
  for (const t of tokens.filter((x) => x.system !== undefined)) {
    const parts = [t.system === null ? `${a}.system IS NULL` : `${a}.system = ${ctx.params.bind(t.system)}`];
    if (t.code !== undefined) {
      parts.push(`${a}.value = ${ctx.params.bind(t.code)}`);
    }
    conditions.push(parts.join(' AND '));
  }
  return orJoin(conditions);
}

/** `_id` lives in the resource table itself. */
export function idCondition(ctx: CompileContext, scope: Scope, cond: Condition): string {
  const ids = splitValues(cond.value);
  const test = `${scope.alias}.id = ANY(${ctx.params.bind(ids)}::text[])`;
  return cond.modifier === 'not' ? `NOT (${test})` : test;
}

/** Same semantics as tokenMatch, for composite components checked in JS. */
export function tokenRowsMatch(rows: TokenRow[], value: string): boolean {
  const t = parseTokenValue(value);
  return rows.some(
    (row) =>
      (t.code === undefined || row.value === t.code) &&
      (t.system === undefined || (t.system === null ? row.system === null : row.system === t.system))
  );
}
