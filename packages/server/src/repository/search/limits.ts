import type { SearchRequest } from '@medplum/core';
import type { SearchLimits } from '../../config.js';
import { tooCostly } from './sql.js';

type RawQuery = Record<string, string | string[] | undefined>;

/**
 * Refuses searches whose cost is unbounded before any SQL is built: too many parameters or
 * OR-ed values, long `_filter` expressions, deep chains, many includes or sort keys.
 * Each limit has its own clear 400 naming the setting that raises it.
 */
export function checkQueryLimits(query: RawQuery, limits: Readonly<SearchLimits>): void {
  let parameters = 0;
  for (const [key, raw] of Object.entries(query)) {
    const values = raw === undefined ? [''] : Array.isArray(raw) ? raw : [raw];
    parameters += values.length;
    if (parameters > limits.maxParameters) {
      throw tooCostly(`More than ${limits.maxParameters} search parameters`, 'SEARCH_MAX_PARAMETERS');
    }
    const depth = chainDepth(key);
    if (depth > limits.maxChainDepth) {
      throw tooCostly(`Chain of ${depth} links in ${key} (at most ${limits.maxChainDepth})`, 'SEARCH_MAX_CHAIN_DEPTH');
    }
    for (const value of values) {
      if (key === '_filter') {
        const { clauses, depth } = filterShape(value);
        // Nesting deeper than the clause limit cannot be useful, and the parser recurses on it.
        if (clauses > limits.maxFilterClauses || depth > limits.maxFilterClauses) {
          throw tooCostly(
            `_filter with ${clauses} comparisons, nested ${depth} deep (at most ${limits.maxFilterClauses} of each)`,
            'SEARCH_MAX_FILTER_CLAUSES'
          );
        }
      } else if (commaCount(value) >= limits.maxValuesPerParameter) {
        throw tooCostly(`More than ${limits.maxValuesPerParameter} values in ${key}`, 'SEARCH_MAX_VALUES');
      }
    }
  }
}

/** Limits only the parsed request shows (includes and sort keys from every spelling). */
export function checkRequestLimits(request: SearchRequest, limits: Readonly<SearchLimits>): void {
  const includes = (request.include?.length ?? 0) + (request.revInclude?.length ?? 0);
  if (includes > limits.maxIncludes) {
    throw tooCostly(
      `${includes} _include/_revinclude parameters (at most ${limits.maxIncludes})`,
      'SEARCH_MAX_INCLUDES'
    );
  }
  const sortKeys = request.sortRules?.length ?? 0;
  if (sortKeys > limits.maxSortKeys) {
    throw tooCostly(`${sortKeys} _sort keys (at most ${limits.maxSortKeys})`, 'SEARCH_MAX_SORT_KEYS');
  }
}

/** `subject:Patient.organization.name` → 2; each `_has:` level counts one. */
export function chainDepth(key: string): number {
  const dots = key.split('.').length - 1;
  const has = key.split('_has:').length - 1;
  return dots + has;
}

/**
 * Comparisons in a `_filter` expression (one more than its `and`/`or` connectives) and its
 * deepest parenthesis nesting, both counted outside quoted values.
 */
export function filterShape(expression: string): { clauses: number; depth: number } {
  let connectives = 0;
  let depth = 0;
  let deepest = 0;
  let inString = false;
  let word = '';
  for (let i = 0; i <= expression.length; i++) {
    const c = expression[i];
    if (inString) {
      if (c === '\\') {
        i++;
      } else if (c === '"') {
        inString = false;
      }
      continue;
    }
    if (c === undefined || c === ' ' || c === '(' || c === ')' || c === '"') {
      const lower = word.toLowerCase();
      if (lower === 'and' || lower === 'or') {
        connectives++;
      }
      word = '';
      inString = c === '"';
      depth += c === '(' ? 1 : c === ')' ? -1 : 0;
      deepest = Math.max(deepest, depth);
      continue;
    }
    word += c;
  }
  return { clauses: connectives + 1, depth: deepest };
}

function commaCount(value: string): number {
  let n = 0;
  for (let i = value.indexOf(','); i !== -1; i = value.indexOf(',', i + 1)) {
    n++;
  }
  return n;
}
