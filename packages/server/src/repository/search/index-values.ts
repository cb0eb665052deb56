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
import { IDENTIFIER_SUFFIX, type IndexedParamType, RowCollector } from './index-convert.js';
import type { SearchRows } from './rows.js';
import { findSharedRows, type RowSource } from './shared-rows.js';

/** A SearchParameter ready for indexing: parsed once, with the properties it depends on. */
interface IndexedParam {
  code: string;
  type: IndexedParamType;
  expression: FhirPathAtom;
  /** Direct JSON reads equivalent to `expression`, when its shape allows (see fast-path.ts). */
  fast: FastPath | undefined;
  /** Top-level properties read by the expression; undefined means "always evaluate". */
  roots: { name: string; isChoice: boolean }[] | undefined;
  /** `identifiers`: the other rows are another parameter's (see shared-rows.ts), `:identifier` rows are its own. */
  rows: 'all' | 'identifiers';
}

/** What indexing and search need to know about one resource type's parameters. */
interface TypeIndex {
  /** Number of SearchParameters of the type when built: the index is rebuilt when it changes. */
  count: number;
  /** The parameters that write rows. */
  params: IndexedParam[];
  /** Parameters whose rows another parameter writes. */
  shared: Map<string, RowSource>;
  /** Every indexable parameter by code, as it would write rows on its own (shared or not). */
  own: Map<string, IndexedParam>;
}

const INDEXED_TYPES = new Set(['token', 'string', 'date', 'number', 'quantity', 'reference', 'uri']);

/** `_id` and `_lastUpdated` are columns of the resource table, not index rows. */
const COLUMN_PARAMS = new Set(['_id', '_lastUpdated']);

const cache = new Map<string, TypeIndex>();

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
      if (param.rows === 'all') {
        collector.add(param.code, param.type, value);
      } else {
        collector.addReferenceIdentifier(param.code, value);
      }
    }
  }
  return collector.rows;
}

/** The rows parameter `code` would write on its own, even when it shares another's (tests compare the two). */
export function computeOwnRows(resource: Resource, code: string): SearchRows {
  const param = getTypeIndex(resource.resourceType).own.get(code);
  const collector = new RowCollector();
  const input = [toTypedValue(resource)];
  for (const value of param ? (param.fast?.(resource) ?? evaluate(param, input, { '%resource': input[0] })) : []) {
    collector.add(code, param?.type as IndexedParamType, value);
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

/** The parameters of a type that write index rows, rebuilt when SearchParameters are added to the schema. */
export function getIndexedParams(resourceType: string): IndexedParam[] {
  return getTypeIndex(resourceType).params;
}

/**
 * Where the rows of a parameter (or of `code:identifier`, a reference's identifiers) are stored:
 * under its own code, or under another parameter's (see shared-rows.ts). Search reads them there.
 */
export function getRowSource(resourceType: string, code: string): RowSource {
  const shared = getTypeIndex(resourceType).shared;
  if (code.endsWith(IDENTIFIER_SUFFIX)) {
    const source = shared.get(code.slice(0, -IDENTIFIER_SUFFIX.length));
    const owner = source && (source.identifiersOf ?? source.code);
    return { code: owner ? owner + IDENTIFIER_SUFFIX : code };
  }
  return shared.get(code) ?? { code };
}

function getTypeIndex(resourceType: string): TypeIndex {
  const all = getSearchParameters(resourceType) ?? {};
  const count = Object.keys(all).length;
  const cached = cache.get(resourceType);
  if (cached && cached.count === count) {
    return cached;
  }
  const own = new Map<string, IndexedParam>();
  const candidates = Object.entries(all).flatMap(([code, sp]) => {
    const param = toIndexedParam(resourceType, sp);
    if (param) {
      own.set(code, param);
    }
    return param ? [{ param, sp }] : [];
  });
  const shared = findSharedRows(
    candidates.map(({ param, sp }) => ({
      code: param.code,
      type: param.type,
      expression: param.expression.toString(),
      elementTypes: getElementTypes(resourceType, sp),
    }))
  );
  const params = candidates.flatMap(({ param }) => {
    const source = shared.get(param.code);
    if (!source) {
      return [param];
    }
    return source.identifiersOf === param.code ? [{ ...param, rows: 'identifiers' as const }] : [];
  });
  const index = { count, params, shared, own };
  cache.set(resourceType, index);
  return index;
}

function getElementTypes(resourceType: string, sp: SearchParameter): string[] | undefined {
  try {
    const elements = getSearchParameterDetails(resourceType, sp).elementDefinitions;
    return elements?.flatMap((e) => e.type?.map((t) => t.code) ?? []);
  } catch {
    return undefined;
  }
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
  return { code: sp.code, type: sp.type as IndexedParamType, expression, fast, roots, rows: 'all' };
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
