import {
  FhirFilterComparison,
  FhirFilterConnective,
  type FhirFilterExpression,
  FhirFilterNegation,
  type Filter,
  Operator,
  parseFilterParameter,
} from '@medplum/core';
import { compileFilter } from '../compile-filter.js';
import { findParam } from '../params.js';
import { badSearch, type CompileContext, type Scope } from '../sql.js';

const ORDERED_TYPES = new Set(['date', 'number', 'quantity']);

/**
 * `_filter` (https://hl7.org/fhir/R4/search_filter.html): comparisons joined by `and`/`or`,
 * negated by `not`, each compiled as the equivalent search parameter. Medplum's own clients
 * send it (`StructureDefinitionList(_filter: "name eq Patient")` when loading form schemas).
 * Returns undefined when nothing of it applies (unknown parameters in lenient mode).
 */
export function filterParamCondition(ctx: CompileContext, scope: Scope, value: string): string | undefined {
  let expression: FhirFilterExpression;
  try {
    expression = parseFilterParameter(value);
  } catch (err) {
    throw badSearch(`Invalid _filter: ${(err as Error).message}`);
  }
  return compileExpression(ctx, scope, expression);
}

function compileExpression(ctx: CompileContext, scope: Scope, expression: FhirFilterExpression): string | undefined {
  if (expression instanceof FhirFilterConnective) {
    const left = compileExpression(ctx, scope, expression.left);
    const right = compileExpression(ctx, scope, expression.right);
    if (expression.keyword === 'and') {
      return left && right ? `(${left} AND ${right})` : (left ?? right);
    }
    // An OR with an ignored side would match less than asked: ignore it whole.
    return left && right ? `(${left} OR ${right})` : undefined;
  }
  if (expression instanceof FhirFilterNegation) {
    const child = compileExpression(ctx, scope, expression.child);
    return child && `NOT (${child})`;
  }
  if (expression instanceof FhirFilterComparison) {
    return compileComparison(ctx, scope, expression);
  }
  throw badSearch('Invalid _filter expression');
}

function compileComparison(ctx: CompileContext, scope: Scope, comparison: FhirFilterComparison): string | undefined {
  const { path, value } = comparison;
  if (path.includes('.')) {
    // A chain compiles its last parameter with default matching, as `a.b=value` does.
    if (!['eq', 'exact', 'sw'].includes(comparison.operator)) {
      throw badSearch(`_filter operator not supported on a chain: ${comparison.operator}`);
    }
    return compileFilter(ctx, scope, { code: path, operator: Operator.EQUALS, value });
  }
  const type = findParam(scope.resourceType, path.split(':')[0])?.type;
  let operator = comparison.operator as string;
  if (operator === Operator.PRESENT) {
    return compileFilter(ctx, scope, {
      code: path,
      operator: Operator.MISSING,
      value: value === 'true' ? 'false' : 'true',
    });
  }
  if (operator === Operator.NOT_EQUALS && !ORDERED_TYPES.has(type ?? '')) {
    const equal = compileComparison(ctx, scope, new FhirFilterComparison(path, Operator.EQUALS, value));
    return equal && `NOT (${equal})`;
  }
  // `eq` arrives as `exact`: exact for strings, plain equality for every other type.
  if ((operator === Operator.EXACT || operator === Operator.EQUALS) && type !== 'string') {
    operator = Operator.EQUALS;
  } else if (operator === Operator.STARTS_WITH && type === 'string') {
    operator = Operator.EQUALS; // a plain string search matches prefixes
  } else if (operator === Operator.EQUALS && type === 'string') {
    operator = Operator.EXACT;
  }
  if (!['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap', 'exact', 'contains'].includes(operator)) {
    throw badSearch(`_filter operator not supported: ${comparison.operator}`);
  }
  const filter: Filter = { code: path, operator: operator as Operator, value };
  return compileFilter(ctx, scope, filter);
}
