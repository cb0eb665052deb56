import type { SortRule } from '@medplum/core';
import { findParam } from './params.js';
import { badSearch, type CompileContext, rowsOf, sqlLiteral } from './sql.js';

/** Index column each parameter type sorts by; dates sort by start ascending, by end descending. */
const SORT_COLUMNS: Record<string, { table: string; asc: string; desc: string }> = {
  token: { table: 'search_token', asc: 'value', desc: 'value' },
  string: { table: 'search_string', asc: 'norm', desc: 'norm' },
  date: { table: 'search_date', asc: 'start_at', desc: 'end_at' },
  number: { table: 'search_number', asc: 'value', desc: 'value' },
  quantity: { table: 'search_quantity', asc: 'value', desc: 'value' },
  reference: { table: 'search_reference', asc: 'reference', desc: 'reference' },
  uri: { table: 'search_uri', asc: 'value', desc: 'value' },
};

export interface CompiledSort {
  orderBy: string;
  /** The rules applied (lenient mode drops unknown ones), for the paging links. */
  rules: SortRule[];
}

/**
 * `_sort` (https://hl7.org/fhir/R4/search.html#sort): each key is the smallest (ascending) or
 * largest (descending) of the resource's index values for the parameter; resources without a
 * value come last. The id breaks ties so that paging is stable.
 */
export function compileSort(ctx: CompileContext, types: string[], rules: SortRule[] | undefined): CompiledSort {
  const keys: string[] = [];
  const applied: SortRule[] = [];
  for (const rule of rules ?? []) {
    const key = sortKey(ctx, types, rule);
    if (key) {
      keys.push(key);
      applied.push(rule);
    }
  }
  keys.push(types.length > 1 ? 'r.resource_type, r.id' : 'r.id');
  return { orderBy: `ORDER BY ${keys.join(', ')}`, rules: applied };
}

function sortKey(ctx: CompileContext, types: string[], rule: SortRule): string | undefined {
  const direction = rule.descending ? 'DESC' : 'ASC';
  if (rule.code === '_id') {
    return `r.id ${direction}`;
  }
  if (rule.code === '_lastUpdated') {
    return `r.last_updated ${direction}`;
  }
  const type = types.find((t) => findParam(t, rule.code));
  const param = type ? findParam(type, rule.code) : undefined;
  const column = param && SORT_COLUMNS[param.type];
  if (!column) {
    if (ctx.lenient && !param) {
      return undefined;
    }
    throw badSearch(param ? `Cannot sort by ${rule.code}` : `Unknown sort parameter: ${rule.code}`);
  }
  const a = ctx.params.alias('s');
  const fn = rule.descending ? 'max' : 'min';
  // The code is a known parameter's (checked above), so it is inlined: a bind parameter here
  // would be unreferenced in the count query, which shares the WHERE but not the ORDER BY.
  const rows = rowsOf(type as string, param.code, a, sqlLiteral);
  const col = rule.descending ? column.desc : column.asc;
  return `(SELECT ${fn}(${a}.${col}) FROM ${column.table} ${a} WHERE ${a}.resource_sid = r.sid AND ${rows}) ${direction} NULLS LAST`;
}
