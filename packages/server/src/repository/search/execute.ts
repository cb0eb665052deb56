import {
  DEFAULT_MAX_SEARCH_COUNT,
  DEFAULT_SEARCH_COUNT,
  OperationOutcomeError,
  type SearchRequest,
  type WithId,
} from '@medplum/core';
import { type FhirRepository, getExtraEntries, type SearchOptions } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import type { Queryable } from '../../infra/postgres.js';
import { type CompiledSearch, compileSearch } from './compile.js';
import { subsetResource } from './elements.js';
import { searchLinks } from './links.js';
import { checkPaging } from './parse.js';
import { badSearch } from './sql.js';
import { countMatches } from './total.js';

export { parseSearchQuery } from './parse.js';
export { searchByReference } from './search-by-reference.js';

/** What a search needs from the repository that runs it. */
export interface SearchContext {
  db: Queryable;
  /** Server base URL with a trailing slash, e.g. http://localhost:8103/ */
  baseUrl: string;
  /** Prefer: handling=lenient — unknown parameters are ignored (and left out of the links). */
  lenient: boolean;
  /** `_total=accurate` counts at most this many matches, then falls back to an estimate. */
  maxAccurateTotal: number;
}

/** Most candidates a composite search over a repeating element checks in JS (see filters/composite.ts). */
const MAX_POST_FILTER_CANDIDATES = 10_000;

/** One page of matches; `total` is set when it came for free (the last page was reached). */
interface Page {
  resources: WithId<Resource>[];
  hasMore: boolean;
  total: number | undefined;
}

/**
 * Runs a FHIR search (https://hl7.org/fhir/R4/search.html) against PostgreSQL and returns
 * the searchset Bundle: matches, `_include`/`_revinclude` entries, total and paging links.
 */
export async function executeSearch<T extends Resource>(
  ctx: SearchContext,
  repo: FhirRepository,
  searchRequest: SearchRequest<T>,
  options?: SearchOptions
): Promise<Bundle<WithId<T>>> {
  checkPaging(searchRequest);
  const count = Math.min(searchRequest.count ?? DEFAULT_SEARCH_COUNT, DEFAULT_MAX_SEARCH_COUNT);
  const offset = searchRequest.offset ?? 0;
  const search = compileSearch(ctx, searchRequest);
  const page = search.postFilters.length
    ? await selectFiltered(ctx.db, search, count, offset)
    : await selectPage(ctx.db, search, count, offset);
  const entries: BundleEntry[] = page.resources.map((resource) => ({
    fullUrl: resourceUrl(ctx.baseUrl, resource),
    resource: subsetResource(resource, searchRequest.fields, searchRequest.summary),
    search: { mode: 'match' },
  }));
  if (page.resources.length && (searchRequest.include?.length || searchRequest.revInclude?.length)) {
    await addIncludes(ctx, repo, searchRequest, page.resources, entries);
  }
  const bundle: Bundle<WithId<T>> = {
    resourceType: 'Bundle',
    type: 'searchset',
    entry: entries as BundleEntry<WithId<T>>[],
  };
  if (!options?.resourceOnly) {
    const total = await resolveTotal(ctx, search, searchRequest.total, page);
    if (total !== undefined) {
      bundle.total = total;
    }
    bundle.link = searchLinks(ctx.baseUrl, search.effective, count, offset, page.hasMore);
  }
  return bundle;
}

export function resourceUrl(baseUrl: string, resource: Resource): string {
  return `${baseUrl}fhir/R4/${resource.resourceType}/${resource.id}`;
}

async function selectPage(db: Queryable, search: CompiledSearch, count: number, offset: number): Promise<Page> {
  if (count === 0) {
    return { resources: [], hasMore: false, total: undefined };
  }
  const values = [...search.params.values, count + 1, offset];
  const sql =
    `SELECT r.content FROM resource r WHERE ${search.where} ${search.orderBy}` +
    ` LIMIT $${values.length - 1} OFFSET $${values.length}`;
  const result = await db.query<{ content: string }>(sql, values);
  const hasMore = result.rows.length > count;
  const resources = result.rows.slice(0, count).map((row) => JSON.parse(row.content) as WithId<Resource>);
  // Past the last match the total is known without counting; an empty page past the end is not.
  const total = !hasMore && (resources.length > 0 || offset === 0) ? offset + resources.length : undefined;
  return { resources, hasMore, total };
}

/** Searches with JS post-filters: fetch the (bounded) candidates, filter, then page in memory. */
async function selectFiltered(db: Queryable, search: CompiledSearch, count: number, offset: number): Promise<Page> {
  const values = [...search.params.values, MAX_POST_FILTER_CANDIDATES + 1];
  const sql = `SELECT r.content FROM resource r WHERE ${search.where} ${search.orderBy} LIMIT $${values.length}`;
  const result = await db.query<{ content: string }>(sql, values);
  if (result.rows.length > MAX_POST_FILTER_CANDIDATES) {
    throw badSearch('Composite search matches too many resources; add more search parameters');
  }
  const matches = result.rows
    .map((row) => JSON.parse(row.content) as WithId<Resource>)
    .filter((resource) => search.postFilters.every((f) => f(resource)));
  return {
    resources: matches.slice(offset, offset + count),
    hasMore: matches.length > offset + count,
    total: matches.length,
  };
}

async function resolveTotal(
  ctx: SearchContext,
  search: CompiledSearch,
  mode: SearchRequest['total'],
  page: Page
): Promise<number | undefined> {
  if (mode === 'none') {
    return undefined;
  }
  if (page.total !== undefined) {
    return page.total;
  }
  if (mode === 'accurate' || mode === 'estimate') {
    return countMatches(ctx.db, search, ctx.maxAccurateTotal);
  }
  return undefined;
}

/** `_include` / `_revinclude` (with `:iterate`) through Medplum's router helper, so access rules of `repo` apply. */
async function addIncludes(
  ctx: SearchContext,
  repo: FhirRepository,
  searchRequest: SearchRequest,
  resources: Resource[],
  entries: BundleEntry[]
): Promise<void> {
  try {
    await getExtraEntries(repo, searchRequest, resources, entries, {
      fullUrl: (type, id) => `${ctx.baseUrl}fhir/R4/${type}/${id}`,
    });
  } catch (err) {
    // The include depth/size circuit breaker throws a plain Error: it is the caller's query that is too broad.
    if (err instanceof Error && !(err instanceof OperationOutcomeError) && err.message.includes('include')) {
      throw badSearch(err.message);
    }
    throw err;
  }
}
