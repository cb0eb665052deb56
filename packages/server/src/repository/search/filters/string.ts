import { getRowSource } from '../index-values.js';
import { type Condition, splitValues } from '../params.js';
import type { StringRow } from '../rows.js';
import { type CompileContext, indexExists, orJoin, type Scope, startsWith } from '../sql.js';
import { escapeLike, MAX_STRING_VALUE_CHARS, normalizeString, truncate } from '../text.js';

/**
 * String search (https://hl7.org/fhir/R4/search.html#string): by default a case- and
 * accent-insensitive prefix match on any part (`norm`); `:contains` anywhere in the whole value;
 * `:exact` the value as written.
 */
export function stringCondition(ctx: CompileContext, scope: Scope, cond: Condition): string {
  const values = splitValues(cond.value);
  if (cond.modifier === 'contains') {
    return containsCondition(ctx, scope, cond.param.code, values);
  }
  return indexExists(ctx, scope, 'search_string', cond.param.code, (a) => {
    if (cond.modifier === 'exact') {
      const exact = values.map((v) => truncate(v, MAX_STRING_VALUE_CHARS));
      return `${a}.value = ANY(${ctx.params.bind(exact)}::text[])`;
    }
    return orJoin(values.map((v) => startsWith(ctx, `${a}.norm`, normalizeString(v))));
  });
}

/**
 * Only whole values are in the trigram index; they contain their parts. A parameter over one
 * part (`family` of `name`) finds the whole values that contain the text through the index, then
 * checks the part itself.
 */
function containsCondition(ctx: CompileContext, scope: Scope, code: string, values: string[]): string {
  const patterns = values.map((v) => `%${escapeLike(normalizeString(v))}%`);
  const like = (a: string) => orJoin(patterns.map((p) => `${a}.norm LIKE ${ctx.params.bind(p)}`));
  const source = getRowSource(scope.resourceType, code);
  const whole = indexExists(
    ctx,
    scope,
    'search_string',
    source.part ? source.code : code,
    (a) => `${a}.whole AND ${like(a)}`
  );
  return source.part ? `${whole} AND ${indexExists(ctx, scope, 'search_string', code, like)}` : whole;
}

export function stringRowsMatch(rows: StringRow[], value: string): boolean {
  const norm = normalizeString(value);
  return rows.some((row) => row.norm.startsWith(norm));
}
