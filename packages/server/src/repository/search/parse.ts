import {
  badRequest,
  type Filter,
  isResourceType,
  OperationOutcomeError,
  Operator,
  parseSearchRequest,
  type SearchRequest,
} from '@medplum/core';
import type { SearchLimits } from '../../config.js';
import { checkQueryLimits, checkRequestLimits } from './limits.js';
import { findParam } from './params.js';
import { badSearch } from './sql.js';

/** Modifiers Medplum's parser knows; anything else after a colon is an error (or a type, for references). */
const KNOWN_MODIFIERS = new Set([
  'contains',
  'exact',
  'above',
  'below',
  'text',
  'not',
  'in',
  'not-in',
  'of-type',
  'missing',
  'identifier',
  'iterate',
]);

const TOTAL_MODES = new Set(['none', 'estimate', 'accurate']);

/**
 * Parses a search query into a SearchRequest like @medplum/core's parseSearchRequest, and also:
 * keeps composite parameters (which Medplum's parser rejects with a plain Error) and the
 * `:Type` modifier of references (which it drops), rejects unknown modifiers, and turns every
 * parse failure into a 400 OperationOutcome. Unknown parameters stay as filters: the compiler
 * rejects them, or ignores them in lenient mode. With `limits` (requests from clients), a search
 * over any of them is refused first.
 */
export function parseSearchQuery(
  resourceType: string,
  query: Record<string, string | string[] | undefined>,
  limits?: Readonly<SearchLimits>
): SearchRequest {
  if (limits) {
    checkQueryLimits(query, limits);
  }
  const standard: Record<string, string[]> = {};
  const own: Filter[] = [];
  for (const [key, raw] of Object.entries(query)) {
    const values = raw === undefined ? [''] : Array.isArray(raw) ? raw : [raw];
    const code = key.split(/[:.]/)[0];
    if (code in Object.prototype) {
      // `__proto__`, `constructor`, `hasOwnProperty`: Medplum's parser would find them on every object.
      throw badSearch(`Unknown search parameter: ${code}`);
    }
    if (isOwnFilter(resourceType, key)) {
      own.push(...values.map((value) => ({ code: key, operator: Operator.EQUALS, value })));
    } else {
      standard[key] = values;
    }
  }
  let request: SearchRequest;
  try {
    request = parseSearchRequest(resourceType, standard);
  } catch (err) {
    throw err instanceof OperationOutcomeError ? err : new OperationOutcomeError(badRequest((err as Error).message));
  }
  if (own.length) {
    request.filters = [...(request.filters ?? []), ...own];
  }
  checkPaging(request);
  checkIncludes(request);
  if (limits) {
    checkRequestLimits(request, limits);
  }
  return request;
}

/** Keys this module parses itself; throws for an unknown modifier on a known parameter. */
function isOwnFilter(resourceType: string, key: string): boolean {
  const [code, modifier] = key.split(':');
  const param = findParam(resourceType, code);
  if (!param || code.startsWith('_has') || key.includes('.')) {
    return false;
  }
  if (param.type === 'composite' || param.type === 'special') {
    return true;
  }
  if (modifier && param.type === 'reference' && isResourceType(modifier)) {
    return true;
  }
  if (modifier && !KNOWN_MODIFIERS.has(modifier)) {
    throw badSearch(`Unknown modifier :${modifier} for search parameter ${code}`);
  }
  return false;
}

/** Each `_include`/`_revinclude` names a known type and one of its reference parameters (or `*`). */
function checkIncludes(request: SearchRequest): void {
  for (const include of [...(request.include ?? []), ...(request.revInclude ?? [])]) {
    const { resourceType, searchParam, targetType } = include;
    if (!isResourceType(resourceType) || (targetType !== undefined && !isResourceType(targetType))) {
      throw badSearch(`Unknown resource type in _include/_revinclude: ${resourceType}:${searchParam}`);
    }
    if (searchParam !== '*' && findParam(resourceType, searchParam)?.type !== 'reference') {
      throw badSearch(`Unknown reference search parameter in _include/_revinclude: ${resourceType}:${searchParam}`);
    }
  }
}

/** `_count`, `_offset` and `_total` must be meaningful; Medplum's parser yields NaN for `_count=abc`. */
export function checkPaging(request: SearchRequest): void {
  for (const [name, value] of [
    ['_count', request.count],
    ['_offset', request.offset],
  ] as const) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 0)) {
      throw badSearch(`Invalid ${name}: must be a non-negative integer`);
    }
  }
  if (request.total !== undefined && !TOTAL_MODES.has(request.total)) {
    throw badSearch(`Invalid _total: ${request.total} (expected none, estimate or accurate)`);
  }
}
