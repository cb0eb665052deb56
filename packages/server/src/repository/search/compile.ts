import { type Filter, isResourceType, type SearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { AccessCondition } from './access-filter.js';
import { compileFilter } from './compile-filter.js';
import { type CompartmentSearchRequest, compartmentCondition } from './filters/compartment.js';
import { compileSort } from './sort.js';
import { badSearch, type CompileContext, orJoin, QueryParams, type Scope } from './sql.js';

/** A search compiled to SQL over `resource r`; run it with `params.values`. */
export interface CompiledSearch {
  /** Condition on `resource r` (type, not deleted, filters). */
  where: string;
  orderBy: string;
  params: QueryParams;
  types: string[];
  /** JS checks the SQL cannot express exactly (see filters/composite.ts); empty almost always. */
  postFilters: ((resource: Resource) => boolean)[];
  /** The request without what lenient mode ignored: what the paging links repeat. */
  effective: CompartmentSearchRequest;
}

export interface CompileOptions {
  baseUrl: string;
  lenient: boolean;
  access?: AccessCondition;
}

/**
 * Compiles a SearchRequest to parametrized SQL: one EXISTS per filter over the index tables.
 * With `_type` (system search) each type gets its own branch, as a parameter may differ
 * between types. A compartment search adds its members (filters/compartment.ts).
 * See https://hl7.org/fhir/R4/search.html
 */
export function compileSearch(options: CompileOptions, request: CompartmentSearchRequest): CompiledSearch {
  const types = getSearchTypes(request);
  const { compartment } = request;
  const ctx: CompileContext = { params: new QueryParams(), ...options, postFilters: [] };
  const used = new Set<Filter>();
  const branches = types.map((type) => {
    const scope: Scope = { alias: 'r', resourceType: type, typeParam: ctx.params.bind(type), topLevel: true };
    const conditions = [`r.resource_type = ${scope.typeParam}`];
    if (ctx.access) {
      conditions.push(ctx.access(ctx, scope));
    }
    for (const filter of request.filters ?? []) {
      const sql = compileFilter(ctx, scope, filter);
      if (sql !== undefined) {
        conditions.push(sql);
        used.add(filter);
      }
    }
    return conditions.join(' AND ');
  });
  // The compartment's members, for all types at once: one lookup rather than one per type.
  const inCompartment = compartment ? ` AND ${compartmentCondition(ctx, types, compartment)}` : '';
  const sort = compileSort(ctx, types, request.sortRules);
  return {
    where: `${orJoin(branches)} AND NOT r.deleted${inCompartment}`,
    orderBy: sort.orderBy,
    params: ctx.params,
    types,
    postFilters: ctx.postFilters,
    effective: {
      ...request,
      filters: request.filters?.filter((f) => used.has(f)),
      sortRules: request.sortRules ? sort.rules : undefined,
    },
  };
}

function getSearchTypes(request: SearchRequest): string[] {
  const types = request.types?.length ? request.types : [request.resourceType];
  for (const type of types) {
    if (!isResourceType(type)) {
      throw badSearch(`Unknown resource type: ${type}`);
    }
  }
  return [...new Set(types)];
}
