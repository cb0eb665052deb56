import { type Condition, splitValues } from '../params.js';
import type { StringRow } from '../rows.js';
import { type CompileContext, indexExists, orJoin, type Scope } from '../sql.js';
import { escapeLike, MAX_STRING_VALUE_CHARS, normalizeString, truncate } from '../text.js';

/**
 * String search (https://hl7.org/fhir/R4/search.html#string): by default a case- and
 * accent-insensitive prefix match on any part (`norm`); `:contains` anywhere in it; `:exact`
 * the value as written.
 */
export function stringCondition(ctx: CompileContext, scope: Scope, cond: Condition): string {
  const values = splitValues(cond.value);
  return indexExists(ctx, scope, 'search_string', cond.param.code, (a) => {
    if (cond.modifier === 'exact') {
      const exact = values.map((v) => truncate(v, MAX_STRING_VALUE_CHARS));
      return `${a}.value = ANY(${ctx.params.bind(exact)}::text[])`;
    }
    const contains = cond.modifier === 'contains';
    return orJoin(
      values.map((v) => {
        const pattern = `${contains ? '%' : ''}${escapeLike(normalizeString(v))}%`;
        return `${a}.norm LIKE ${ctx.params.bind(pattern)}`;
      })
    );
  });
}

export function stringRowsMatch(rows: StringRow[], value: string): boolean {
  const norm = normalizeString(value);
  return rows.some((row) => row.norm.startsWith(norm));
}
