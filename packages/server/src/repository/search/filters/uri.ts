import { type Condition, splitValues } from '../params.js';
import type { UriRow } from '../rows.js';
import { type CompileContext, indexExists, orJoin, type Scope, startsWith } from '../sql.js';
import { truncate } from '../text.js';

/**
 * URI search (https://hl7.org/fhir/R4/search.html#uri): exact by default; `:below` matches
 * stored URIs that start with the value, `:above` those the value starts with.
 */
export function uriCondition(ctx: CompileContext, scope: Scope, cond: Condition): string {
  const values = splitValues(cond.value).map((v) => truncate(v));
  return indexExists(ctx, scope, 'search_uri', cond.param.code, (a) => {
    if (cond.modifier === 'below') {
      return orJoin(values.map((v) => startsWith(ctx, `${a}.value`, v)));
    }
    if (cond.modifier === 'above') {
      return orJoin(values.map((v) => `starts_with(${ctx.params.bind(v)}::text, ${a}.value)`));
    }
    return `${a}.value = ANY(${ctx.params.bind(values)}::text[])`;
  });
}

export function uriRowsMatch(rows: UriRow[], value: string): boolean {
  return rows.some((row) => row.value === value);
}
