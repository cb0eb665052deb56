import { Operator, parseSearchRequest } from '@medplum/core';
import type { AccessPolicyResource } from '@medplum/fhirtypes';
import { type AccessContext, entriesFor, SHARED_DEFINITION_TYPES } from '../../access/policy.js';
import { compileFilter } from './compile-filter.js';
import type { CompileContext, Scope } from './sql.js';

/** Adds the caller's access condition to every `resource` row a search reads (see CompileContext.access). */
export type AccessCondition = (ctx: CompileContext, scope: Scope) => string;

/**
 * The SQL form of an AccessContext: a row is visible when it belongs to the caller's project and
 * some policy entry granting `search` on its type matches it (its compartment, its criteria).
 * Shared definitions (no project) are visible to everyone. Applied to the searched rows and to
 * every row a chain or `_has` looks through, so a filter cannot reveal what a read would not.
 */
export function accessCondition(access: AccessContext): AccessCondition {
  return (ctx, scope) => {
    let inProject = `${scope.alias}.project_id = ${ctx.params.bind(access.projectId)}`;
    if (scope.resourceType === 'Project') {
      // A Project belongs to itself (the server creates it outside any project).
      inProject = `(${inProject} OR ${scope.alias}.id = ${ctx.params.bind(access.projectId)})`;
    }
    const policy = policyCondition(ctx, scope, entriesFor(access.policy, scope.resourceType, 'search'));
    const own = policy === 'TRUE' ? inProject : `${inProject} AND ${policy}`;
    if (SHARED_DEFINITION_TYPES.has(scope.resourceType)) {
      return `(${scope.alias}.project_id IS NULL OR (${own}))`;
    }
    return `(${own})`;
  };
}

function policyCondition(ctx: CompileContext, scope: Scope, entries: AccessPolicyResource[]): string {
  const alternatives: string[] = [];
  for (const entry of entries) {
    const condition = entryCondition(ctx, scope, entry);
    if (condition === 'TRUE') {
      return 'TRUE';
    }
    if (condition !== undefined) {
      alternatives.push(condition);
    }
  }
  if (alternatives.length === 0) {
    return 'FALSE';
  }
  return alternatives.length === 1 ? alternatives[0] : `(${alternatives.map((a) => `(${a})`).join(' OR ')})`;
}

/**
 * One entry as SQL; undefined when it cannot be expressed (then it grants nothing here: a policy
 * the server cannot enforce in SQL must not widen a search).
 */
function entryCondition(ctx: CompileContext, scope: Scope, entry: AccessPolicyResource): string | undefined {
  if (scope.resourceType === 'Binary') {
    return 'TRUE'; // as in Medplum: Binary has no search parameters; its entry grants the type
  }
  // Policy criteria are compiled strictly (an unknown parameter denies) and without the
  // caller's access hook (they describe the rows, they are not a caller's search).
  const strict: CompileContext = { ...ctx, lenient: false, access: undefined, postFilters: [] };
  const conditions: string[] = [];
  const mark = ctx.params.values.length;
  try {
    if (entry.compartment?.reference) {
      const filter = { code: '_compartment', operator: Operator.EQUALS, value: entry.compartment.reference };
      conditions.push(compileFilter(strict, scope, filter) as string);
    }
    if (entry.criteria) {
      const request = parseSearchRequest(entry.criteria);
      if (request.resourceType !== scope.resourceType) {
        ctx.params.rollback(mark);
        return undefined;
      }
      for (const filter of request.filters ?? []) {
        const sql = compileFilter(strict, scope, filter);
        if (sql === undefined) {
          throw new Error(`Policy criteria not supported: ${entry.criteria}`);
        }
        conditions.push(sql);
      }
    }
  } catch {
    ctx.params.rollback(mark);
    return undefined;
  }
  if (strict.postFilters.length) {
    ctx.params.rollback(mark);
    return undefined;
  }
  return conditions.length ? conditions.join(' AND ') : 'TRUE';
}
