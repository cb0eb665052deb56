import {
  evalFhirPathTyped,
  type FhirPathAtom,
  getSearchParameterDetails,
  getSearchParameters,
  parseFhirPath,
  type TypedValue,
  toTypedValue,
  tryGetDataType,
} from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import { getExpressionRoots, hasRoot } from './expression-roots.js';
import { compileFastPath, type FastPath } from './fast-path.js';
import { type IndexedParamType, RowCollector } from './index-convert.js';
import type { SearchRows } from './rows.js';

/** A SearchParameter ready for indexing: parsed once, with the properties it depends on. */
interface IndexedParam {
  code: string;
  type: IndexedParamType;
  expression: FhirPathAtom;
  /** Direct JSON reads equivalent to `expression`, when its shape allows (see fast-path.ts). */
  fast: FastPath | undefined;
  /** Top-level properties read by the expression; undefined means "always evaluate". */
  roots: { name: string; isChoice: boolean }[] | undefined;
}

const INDEXED_TYPES = new Set(['token', 'string', 'date', 'number', 'quantity', 'reference', 'uri']);

/** `_id` and `_lastUpdated` are columns of the resource table, not index rows. */
const COLUMN_PARAMS = new Set(['_id', '_lastUpdated']);

const cache = new Map<string, { count: number; params: IndexedParam[] }>();

/**
 * Computes the search index rows of a resource: every SearchParameter of its type is evaluated
 * and its values converted to rows for the search_* tables. Composite and special parameters
 * have no rows; composites are resolved at search time from their components' rows.
 * See https://hl7.org/fhir/R4/searchparameter.html
 */
export function computeSearchRows(resource: Resource): SearchRows {
  return computeSearchRowsWith(resource, true);
}

/** `useFastPaths = false` evaluates every expression with FHIRPath (tests compare the two). */
export function computeSearchRowsWith(resource: Resource, useFastPaths: boolean): SearchRows {
  const collector = new RowCollector();
  const record = resource as unknown as Record<string, unknown>;
  const input = [toTypedValue(resource)];
  const variables: Record<string, TypedValue> = { '%resource': input[0], '%rootResource': input[0] };
  for (const param of getIndexedParams(resource.resourceType)) {
    if (param.roots && !param.roots.some((r) => hasRoot(record, r.name, r.isChoice))) {
      continue;
    }
    const values = useFastPaths && param.fast ? param.fast(resource) : evaluate(param, input, variables);
    for (const value of values) {
      collector.add(param.code, param.type, value);
    }
  }
  return collector.rows;
}

function evaluate(param: IndexedParam, input: TypedValue[], variables: Record<string, TypedValue>): TypedValue[] {
  try {
    return evalFhirPathTyped(param.expression, input, variables);
  } catch {
    // An expression that cannot evaluate on this resource (e.g. a type test on odd data) must
    // not block the write: the resource is valid, it just has no value for this parameter.
    return [];
  }
}

/** The indexed parameters of a type, rebuilt when SearchParameters are added to the schema. */
export function getIndexedParams(resourceType: string): IndexedParam[] {
  const all = getSearchParameters(resourceType) ?? {};
  const count = Object.keys(all).length;
  const cached = cache.get(resourceType);
  if (cached && cached.count === count) {
    return cached.params;
  }
  const params: IndexedParam[] = [];
  for (const sp of Object.values(all)) {
    const param = toIndexedParam(resourceType, sp);
    if (param) {
      params.push(param);
    }
  }
  cache.set(resourceType, { count, params });
  return params;
}

function toIndexedParam(resourceType: string, sp: SearchParameter): IndexedParam | undefined {
  if (!INDEXED_TYPES.has(sp.type) || !sp.expression || COLUMN_PARAMS.has(sp.code)) {
    return undefined;
  }
  const expression = getParsedExpression(resourceType, sp);
  if (!expression) {
    return undefined;
  }
  const elements = tryGetDataType(resourceType)?.elements;
  const roots = getExpressionRoots(expression.child, resourceType)?.map((name) => ({
    name,
    isChoice: !!elements?.[`${name}[x]`],
  }));
  const fast = compileFastPath(expression.child, resourceType);
  return { code: sp.code, type: sp.type as IndexedParamType, expression, fast, roots };
}

/** Medplum's details narrow `A.x | B.y` to this type's branch; fall back to the full text. */
export function getParsedExpression(resourceType: string, sp: SearchParameter): FhirPathAtom | undefined {
  try {
    return getSearchParameterDetails(resourceType, sp).parsedExpression;
  } catch {
    try {
      return parseFhirPath(sp.expression as string);
    } catch {
      return undefined;
    }
  }
}
