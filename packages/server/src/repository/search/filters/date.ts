import { compareInstants, type DateRange, parseDateRange } from '../date-range.js';
import { type Condition, type Prefix, splitPrefix, splitValues } from '../params.js';
import type { DateRow } from '../rows.js';
import { badSearch, type CompileContext, indexExists, orJoin, type Scope } from '../sql.js';

const DAY_MS = 86_400_000;

export interface DateItem {
  prefix: Prefix;
  range: DateRange;
}

/** `ge2024-05` → prefix and the range the (possibly partial) date covers; 400 when invalid. */
export function parseDateItem(code: string, item: string): DateItem {
  const [prefix, text] = splitPrefix(item);
  const range = parseDateRange(text);
  if (!range) {
    throw badSearch(`Invalid date value for ${code}: ${item}`);
  }
  return { prefix, range: prefix === 'ap' ? widen(range) : range };
}

/**
 * "Approximately": the range widened by 10% of its distance from now, and by at least a day
 * (the spec leaves the margin to the server).
 */
function widen(range: DateRange): DateRange {
  const start = Date.parse(range.start);
  const end = Date.parse(range.end);
  if (Number.isNaN(start) || Number.isNaN(end)) {
    return range; // an open end (-infinity/infinity) needs no widening
  }
  const margin = Math.max(DAY_MS, Math.abs(Date.now() - start) * 0.1);
  return { start: new Date(start - margin).toISOString(), end: new Date(end + margin).toISOString() };
}

/**
 * Date search with FHIR range semantics (https://hl7.org/fhir/R4/search.html#prefix): both
 * the stored value and the search value are ranges; `eq` means the stored range lies within the
 * searched one, `gt` that the stored range reaches past it, and so on.
 */
export function dateCondition(ctx: CompileContext, scope: Scope, cond: Condition): string {
  const items = splitValues(cond.value).map((v) => parseDateItem(cond.param.code, v));
  if (cond.param.code === '_lastUpdated') {
    const column = `${scope.alias}.last_updated`;
    return orJoin(items.map((item) => dateComparison(ctx, item, column, column)));
  }
  return indexExists(ctx, scope, 'search_date', cond.param.code, (a) =>
    orJoin(items.map((item) => dateComparison(ctx, item, `${a}.start_at`, `${a}.end_at`)))
  );
}

/** SQL for one prefixed date against a stored [start, end] range. */
export function dateComparison(ctx: CompileContext, item: DateItem, start: string, end: string): string {
  // Bound only when used: PostgreSQL rejects a statement with a parameter it cannot type.
  const lo = () => `${ctx.params.bind(item.range.start)}::timestamptz`;
  const hi = () => `${ctx.params.bind(item.range.end)}::timestamptz`;
  const within = () => `${start} >= ${lo()} AND ${end} <= ${hi()}`;
  switch (item.prefix) {
    case 'eq':
      return within();
    case 'ne':
      return `NOT (${within()})`;
    case 'gt':
      return `${end} > ${hi()}`;
    case 'lt':
      return `${start} < ${lo()}`;
    case 'ge':
      return `(${end} > ${hi()} OR (${within()}))`;
    case 'le':
      return `(${start} < ${lo()} OR (${within()}))`;
    case 'sa':
      return `${start} > ${hi()}`;
    case 'eb':
      return `${end} < ${lo()}`;
    case 'ap':
      return `${start} <= ${hi()} AND ${end} >= ${lo()}`;
  }
}

/** The same comparison in JS, for composite components. */
export function dateRowsMatch(rows: DateRow[], code: string, value: string): boolean {
  const { prefix, range } = parseDateItem(code, value);
  const cmp = compareInstants;
  return rows.some((row) => {
    const within = cmp(row.start, range.start) >= 0 && cmp(row.end, range.end) <= 0;
    switch (prefix) {
      case 'eq':
        return within;
      case 'ne':
        return !within;
      case 'gt':
        return cmp(row.end, range.end) > 0;
      case 'lt':
        return cmp(row.start, range.start) < 0;
      case 'ge':
        return cmp(row.end, range.end) > 0 || within;
      case 'le':
        return cmp(row.start, range.start) < 0 || within;
      case 'sa':
        return cmp(row.start, range.end) > 0;
      case 'eb':
        return cmp(row.end, range.start) < 0;
      case 'ap':
        return cmp(row.start, range.end) <= 0 && cmp(row.end, range.start) >= 0;
    }
    return false;
  });
}
