import { DEFAULT_MAX_SEARCH_COUNT, DEFAULT_SEARCH_COUNT, type SearchRequest, type WithId } from '@medplum/core';
import type { FhirRepository } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';
import { compileSearch } from './compile.js';
import { subsetResource } from './elements.js';
import { executeSearch, type SearchContext } from './execute.js';
import { findParam } from './params.js';
import { parseReferenceTarget } from './reference-string.js';
import { badSearch, rowsOf } from './sql.js';

/**
 * For GraphQL: the matches of `searchRequest` that point at each of `references` through the
 * reference parameter `referenceField`, up to `_count` per reference, in ONE query (a LATERAL
 * join per reference) instead of one search per reference.
 */
export async function searchByReference<T extends Resource>(
  ctx: SearchContext,
  repo: FhirRepository,
  searchRequest: SearchRequest<T>,
  referenceField: string,
  references: string[]
): Promise<Record<string, WithId<T>[]>> {
  const unique = [...new Set(references)];
  const result: Record<string, WithId<T>[]> = Object.fromEntries(unique.map((r) => [r, []]));
  if (unique.length === 0) {
    return result;
  }
  if (findParam(searchRequest.resourceType, referenceField)?.type !== 'reference') {
    throw badSearch(`Unknown reference search parameter: ${referenceField}`);
  }
  const search = compileSearch(ctx, { ...searchRequest, types: undefined });
  if (search.postFilters.length) {
    return searchEach(ctx, repo, searchRequest, referenceField, unique);
  }
  const targets = unique.map((r) => parseReferenceTarget(r));
  const p = search.params;
  const count = Math.min(searchRequest.count ?? DEFAULT_SEARCH_COUNT, DEFAULT_MAX_SEARCH_COUNT);
  const sql =
    `SELECT k.ref, m.content FROM unnest(${p.bind(unique)}::text[], ${p.bind(targets.map((t) => t?.type ?? null))}::text[],` +
    ` ${p.bind(targets.map((t) => t?.id ?? null))}::text[]) AS k(ref, target_type, target_id)` +
    ` CROSS JOIN LATERAL (SELECT r.content FROM resource r WHERE ${search.where} AND EXISTS (SELECT 1 FROM search_reference x` +
    ` WHERE x.resource_sid = r.sid AND x.resource_type = ${p.bind(searchRequest.resourceType)}` +
    ` AND ${rowsOf(searchRequest.resourceType, referenceField, 'x', (v) => p.bind(v))}` +
    ` AND x.target_type = k.target_type AND x.target_id = k.target_id) ${search.orderBy} LIMIT ${p.bind(count)}) m`;
  const rows = await ctx.db.query<{ ref: string; content: string }>(sql, p.values);
  for (const row of rows.rows) {
    const resource = JSON.parse(row.content) as WithId<T>;
    result[row.ref].push(subsetResource(resource, searchRequest.fields, searchRequest.summary));
  }
  return result;
}

/** Fallback for searches that need JS post-filtering: one search per reference. */
async function searchEach<T extends Resource>(
  ctx: SearchContext,
  repo: FhirRepository,
  searchRequest: SearchRequest<T>,
  referenceField: string,
  references: string[]
): Promise<Record<string, WithId<T>[]>> {
  const result: Record<string, WithId<T>[]> = {};
  for (const reference of references) {
    const filters = [
      ...(searchRequest.filters ?? []),
      { code: referenceField, operator: 'eq' as const, value: reference },
    ];
    const bundle = await executeSearch(ctx, repo, { ...searchRequest, filters }, { resourceOnly: true });
    result[reference] = (bundle.entry ?? []).map((e) => e.resource as WithId<T>);
  }
  return result;
}
