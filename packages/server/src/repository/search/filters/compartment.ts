import type { SearchRequest } from '@medplum/core';
import { getCompartmentParams } from '../../compartments.js';
import { findParam } from '../params.js';
import { badSearch, type CompileContext, orJoin, rowsOf } from '../sql.js';

/** The compartment a search is confined to: `GET [base]/Patient/123/Observation`. */
export interface Compartment {
  resourceType: string;
  id: string;
  /** `Patient/123/*` without `_type`: every member type, which the paging links need not list. */
  allTypes?: boolean;
}

/** A SearchRequest confined to a compartment (https://hl7.org/fhir/R4/http.html#search). */
export type CompartmentSearchRequest = SearchRequest & { compartment?: Compartment };

/**
 * The resources of `types` in the compartment: its own resource, and every resource of which
 * some compartment parameter of its type references it. One `r.sid IN (…)` over the reference
 * index, whose arms (type, parameter) ORed together each use search_reference_target_idx: the
 * search reads the compartment's rows, however many other resources the types hold.
 * @see https://hl7.org/fhir/R4/compartmentdefinition.html
 */
export function compartmentCondition(ctx: CompileContext, types: string[], compartment: Compartment): string {
  const bind = (value: unknown) => ctx.params.bind(value);
  const c = ctx.params.alias('c');
  const arms: string[] = [];
  let owner = false;
  for (const type of types) {
    const codes = (getCompartmentParams(compartment.resourceType)?.get(type) ?? []).filter(
      // Every R4 compartment parameter is a reference; anything else could not point at the owner.
      (code) => findParam(type, code)?.type === 'reference'
    );
    // `{def}` in R4's definitions; Tiba puts every owner in its own compartment (as meta.compartment does).
    owner ||= type === compartment.resourceType;
    if (!codes.length && type !== compartment.resourceType) {
      throw badSearch(`${type} is not in the ${compartment.resourceType} compartment`);
    }
    const typeParam = codes.length ? bind(type) : '';
    for (const code of codes) {
      arms.push(`${c}.resource_type = ${typeParam} AND ${rowsOf(type, code, c, bind)}`);
    }
  }
  const id = bind(compartment.id);
  const ownerType = bind(compartment.resourceType);
  const selects: string[] = [];
  if (arms.length) {
    selects.push(
      `SELECT ${c}.resource_sid FROM search_reference ${c} WHERE ${c}.target_id = ${id}` +
        ` AND ${c}.target_type = ${ownerType} AND ${orJoin(arms)}`
    );
  }
  if (owner) {
    const o = ctx.params.alias('o');
    selects.push(`SELECT ${o}.sid FROM resource ${o} WHERE ${o}.resource_type = ${ownerType} AND ${o}.id = ${id}`);
  }
  return `r.sid IN (${selects.join(' UNION ALL ')})`;
}
