import { type DecimalRange, parseDecimalRange } from '../number-range.js';
import { type Condition, type Prefix, splitPrefix, splitValues } from '../params.js';
import type { NumberRow, QuantityRow } from '../rows.js';
import { badSearch, type CompileContext, indexExists, orJoin, type Scope } from '../sql.js';

export interface NumberItem {
  prefix: Prefix;
  number: DecimalRange;
  system?: string;
  unit?: string;
}

/** `gt5.4` or, for quantities, `5.4|http://unitsofmeasure.org|mg` / `5.4||mg`; 400 when invalid. */
export function parseNumberItem(code: string, item: string, quantity: boolean): NumberItem {
  const [prefix, rest] = splitPrefix(item);
  const parts = quantity ? rest.split('|') : [rest];
  const number = parseDecimalRange(parts[0]);
  if (!number || parts.length > 3) {
    throw badSearch(`Invalid ${quantity ? 'quantity' : 'number'} value for ${code}: ${item}`);
  }
  return { prefix, number, system: parts[1] || undefined, unit: parts[2] || undefined };
}

/**
 * Number search (https://hl7.org/fhir/R4/search.html#number): `eq` matches stored values within
 * the precision of the search value (5.4 → [5.35, 5.45)); `ap` within 10%; other prefixes compare.
 */
export function numberCondition(ctx: CompileContext, scope: Scope, cond: Condition): string {
  const items = splitValues(cond.value).map((v) => parseNumberItem(cond.param.code, v, false));
  return indexExists(ctx, scope, 'search_number', cond.param.code, (a) =>
    orJoin(items.map((item) => numberComparison(ctx, item, `${a}.value`)))
  );
}

/** Quantity search: the number comparison plus the unit's system and code when given. */
export function quantityCondition(ctx: CompileContext, scope: Scope, cond: Condition): string {
  const items = splitValues(cond.value).map((v) => parseNumberItem(cond.param.code, v, true));
  return indexExists(ctx, scope, 'search_quantity', cond.param.code, (a) =>
    orJoin(
      items.map((item) => {
        const parts = [numberComparison(ctx, item, `${a}.value`)];
        if (item.system) {
          parts.push(`${a}.system = ${ctx.params.bind(item.system)}`);
        }
        if (item.unit) {
          parts.push(`${a}.unit = ${ctx.params.bind(item.unit)}`);
        }
        return parts.join(' AND ');
      })
    )
  );
}

function numberComparison(ctx: CompileContext, item: NumberItem, column: string): string {
  // Bound only when used: PostgreSQL rejects a statement with a parameter it cannot type.
  const bind = (value: string) => `${ctx.params.bind(value)}::numeric`;
  const within = () => `${column} >= ${bind(item.number.low)} AND ${column} < ${bind(item.number.high)}`;
  if (item.prefix === 'eq' || item.prefix === 'ne') {
    return item.prefix === 'eq' ? within() : `NOT (${within()})`;
  }
  const v = bind(item.number.value);
  switch (item.prefix) {
    case 'gt':
    case 'sa':
      return `${column} > ${v}`;
    case 'lt':
    case 'eb':
      return `${column} < ${v}`;
    case 'ge':
      return `${column} >= ${v}`;
    case 'le':
      return `${column} <= ${v}`;
    case 'ap':
      return `${column} BETWEEN ${v} - abs(${v}) * 0.1 AND ${v} + abs(${v}) * 0.1`;
  }
}

/** The same comparisons in JS (floating point is fine here), for composite components. */
export function numberRowsMatch(
  rows: (NumberRow | QuantityRow)[],
  code: string,
  value: string,
  quantity: boolean
): boolean {
  const item = parseNumberItem(code, value, quantity);
  const v = Number(item.number.value);
  const low = Number(item.number.low);
  const high = Number(item.number.high);
  return rows.some((row) => {
    if (quantity && !unitMatches(row as QuantityRow, item)) {
      return false;
    }
    const x = Number(row.value);
    switch (item.prefix) {
      case 'eq':
        return x >= low && x < high;
      case 'ne':
        return !(x >= low && x < high);
      case 'gt':
      case 'sa':
        return x > v;
      case 'lt':
      case 'eb':
        return x < v;
      case 'ge':
        return x >= v;
      case 'le':
        return x <= v;
      case 'ap':
        return Math.abs(x - v) <= Math.abs(v) * 0.1;
    }
    return false;
  });
}

function unitMatches(row: QuantityRow, item: NumberItem): boolean {
  return (!item.system || row.system === item.system) && (!item.unit || row.unit === item.unit);
}
