import { type Filter, isResourceType } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import { chainCondition, hasCondition } from './filters/chain.js';
import { compositeCondition } from './filters/composite.js';
import { dateCondition } from './filters/date.js';
import { filterParamCondition } from './filters/filter-param.js';
import { numberCondition, quantityCondition } from './filters/number.js';
import { referenceCondition } from './filters/reference.js';
import { stringCondition } from './filters/string.js';
import { idCondition, tokenCondition } from './filters/token.js';
import { uriCondition } from './filters/uri.js';
import { type Condition, findParam, PREFIXES, splitValues } from './params.js';
import { badSearch, type CompileContext, type IndexTable, indexExists, type Scope } from './sql.js';

/** Modifiers each parameter type supports (besides `:missing`, which all do). */
const MODIFIERS: Record<string, string[]> = {
  token: ['not', 'text'],
  string: ['exact', 'contains'],
  uri: ['below', 'above'],
  reference: ['identifier'],
};

const TABLES: Record<string, IndexTable> = {
  token: 'search_token',
  string: 'search_string',
  date: 'search_date',
  number: 'search_number',
  quantity: 'search_quantity',
  reference: 'search_reference',
  uri: 'search_uri',
};

/**
 * Compiles one filter of a SearchRequest to an SQL condition on `scope`. Filters come from
 * Medplum's parseSearchRequest (or parseSearchQuery): the modifier or prefix is in `operator`,
 * chains and `_has` keep their whole key in `code`. Returns undefined for an unknown parameter
 * in lenient mode (the filter is then ignored).
 */
export function compileFilter(ctx: CompileContext, scope: Scope, filter: Filter): string | undefined {
  const { code, operator, value } = filter;
  if (code === '_filter') {
    return filterParamCondition(ctx, scope, value);
  }
  if (code.startsWith('_has:') || code.includes('.')) {
    return compileKey(ctx, scope, code, value);
  }
  const [paramCode, typeModifier] = code.split(':');
  const param = findParam(scope.resourceType, paramCode);
  if (!param) {
    return unknownParam(ctx, paramCode);
  }
  // Prefixes stay in the value (each OR-ed value may carry its own); modifiers move to `modifier`.
  const isPrefix = PREFIXES.has(operator) || operator === 'sw';
  const prefixed = isPrefix && operator !== 'eq' ? `${operator}${value}` : value;
  const modifier = typeModifier ?? (isPrefix ? undefined : operator);
  return compileCondition(ctx, scope, { param, modifier, value: prefixed });
}

/** Compiles a raw `key=value` pair (inside chains and `_has`, where keys are not pre-parsed). */
export function compileKey(ctx: CompileContext, scope: Scope, key: string, value: string): string | undefined {
  if (key.startsWith('_has:')) {
    return hasCondition(ctx, scope, key, value);
  }
  if (key.includes('.')) {
    return chainCondition(ctx, scope, key, value);
  }
  const [code, modifier] = key.split(':');
  const param = findParam(scope.resourceType, code);
  if (!param) {
    return unknownParam(ctx, code);
  }
  return compileCondition(ctx, scope, { param, modifier: modifier || undefined, value });
}

/** Compiles a resolved condition by parameter type. */
export function compileCondition(ctx: CompileContext, scope: Scope, cond: Condition): string {
  if (cond.value.includes('\u0000')) {
    throw badSearch(`Invalid character in value of ${cond.param.code}`);
  }
  if (cond.modifier === 'missing') {
    return missingCondition(ctx, scope, cond);
  }
  if (splitValues(cond.value).length === 0) {
    return 'TRUE'; // a parameter with an empty value is ignored (FHIR search, "Handling errors")
  }
  checkModifier(cond.param, cond.modifier);
  switch (cond.param.code) {
    case '_id':
      return idCondition(ctx, scope, cond);
    case '_lastUpdated':
      return dateCondition(ctx, scope, cond);
  }
  switch (cond.param.type) {
    case 'token':
      return tokenCondition(ctx, scope, cond);
    case 'string':
      return stringCondition(ctx, scope, cond);
    case 'date':
      return dateCondition(ctx, scope, cond);
    case 'number':
      return numberCondition(ctx, scope, cond);
    case 'quantity':
      return quantityCondition(ctx, scope, cond);
    case 'reference':
      return referenceCondition(ctx, scope, cond);
    case 'uri':
      return uriCondition(ctx, scope, cond);
    case 'composite':
      return compositeCondition(ctx, scope, cond);
    default:
      throw badSearch(`Search parameter ${cond.param.code} of type ${cond.param.type} is not supported`);
  }
}

function checkModifier(param: SearchParameter, modifier: string | undefined): void {
  if (!modifier) {
    return;
  }
  const allowed = MODIFIERS[param.type] ?? [];
  const typeModifier = param.type === 'reference' && isResourceType(modifier);
  const idNot = param.code === '_id' && modifier === 'not';
  if (!allowed.includes(modifier) && !typeModifier && !idNot) {
    throw badSearch(`Modifier :${modifier} is not supported for search parameter ${param.code}`);
  }
}

/** `:missing=true` keeps resources with no value for the parameter, `false` those with one. */
function missingCondition(ctx: CompileContext, scope: Scope, cond: Condition): string {
  if (cond.value !== 'true' && cond.value !== 'false') {
    throw badSearch(`Invalid value for ${cond.param.code}:missing (expected true or false): ${cond.value}`);
  }
  const missing = cond.value === 'true';
  if (cond.param.code === '_id' || cond.param.code === '_lastUpdated') {
    return missing ? 'FALSE' : 'TRUE';
  }
  const table = TABLES[cond.param.type];
  if (!table) {
    throw badSearch(`Modifier :missing is not supported for search parameter ${cond.param.code}`);
  }
  return indexExists(ctx, scope, table, cond.param.code, undefined, missing);
}

function unknownParam(ctx: CompileContext, code: string): undefined {
  if (!ctx.lenient) {
    throw badSearch(`Unknown search parameter: ${code}`);
  }
  return undefined;
}
