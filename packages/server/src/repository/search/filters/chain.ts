import { isResourceType } from '@medplum/core';
import { compileKey } from '../compile-filter.js';
import { findParam } from '../params.js';
import { badSearch, type CompileContext, orJoin, rowsOf, type Scope } from '../sql.js';

/**
 * Chained search (https://hl7.org/fhir/R4/search.html#chaining): `subject:Patient.name=x`,
 * any depth. The part after the first dot is compiled as a filter on the referenced resource,
 * which is joined through search_reference (and must not be deleted).
 */
export function chainCondition(ctx: CompileContext, scope: Scope, key: string, value: string): string | undefined {
  const dot = key.indexOf('.');
  const [code, typeModifier] = key.slice(0, dot).split(':');
  const rest = key.slice(dot + 1);
  const param = findParam(scope.resourceType, code);
  if (!param) {
    return unknown(ctx, `Unknown search parameter: ${code}`);
  }
  if (param.type !== 'reference') {
    throw badSearch(`Search parameter ${code} is not a reference and cannot be chained`);
  }
  if (typeModifier && !isResourceType(typeModifier)) {
    throw badSearch(`Unknown resource type in chain: ${typeModifier}`);
  }
  const nextCode = rest.split(/[.:]/)[0];
  const targets = typeModifier ? [typeModifier] : (param.target ?? []).filter((t) => findParam(t, nextCode));
  if (targets.length === 0) {
    return unknown(ctx, `Unknown search parameter in chain: ${key}`);
  }
  const conditions: string[] = [];
  for (const target of targets) {
    const mark = ctx.params.values.length;
    const c = ctx.params.alias('c');
    const r = ctx.params.alias('r');
    const inner: Scope = { alias: r, resourceType: target, typeParam: ctx.params.bind(target), topLevel: false };
    const rows = rowsOf(scope.resourceType, code, c, (v) => ctx.params.bind(v));
    const condition = compileKey(ctx, inner, rest, value);
    if (condition === undefined) {
      ctx.params.rollback(mark);
      continue;
    }
    conditions.push(
      `EXISTS (SELECT 1 FROM search_reference ${c} JOIN resource ${r} ON ${r}.resource_type = ${c}.target_type` +
        ` AND ${r}.id = ${c}.target_id AND NOT ${r}.deleted WHERE ${c}.resource_type = ${scope.typeParam}` +
        ` AND ${c}.resource_sid = ${scope.alias}.sid AND ${rows}` +
        ` AND ${c}.target_type = ${inner.typeParam} AND ${condition}${innerAccess(ctx, inner)})`
    );
  }
  return conditions.length ? orJoin(conditions) : undefined;
}

/**
 * Reverse chaining (https://hl7.org/fhir/R4/search.html#has): `_has:Observation:subject:code=x`
 * keeps resources that some (non-deleted) Observation references through `subject` and that
 * matches `code=x`; the inner part may itself be `_has:` or a chain.
 */
export function hasCondition(ctx: CompileContext, scope: Scope, key: string, value: string): string | undefined {
  const parts = key.split(':');
  if (parts.length < 4) {
    throw badSearch(`Invalid _has parameter: ${key}`);
  }
  const [, type, code] = parts;
  const rest = parts.slice(3).join(':');
  if (!isResourceType(type)) {
    throw badSearch(`Unknown resource type in _has: ${type}`);
  }
  const param = findParam(type, code);
  if (param?.type !== 'reference') {
    return unknown(ctx, `Unknown reference search parameter in _has: ${type}:${code}`);
  }
  const mark = ctx.params.values.length;
  const h = ctx.params.alias('h');
  const r = ctx.params.alias('r');
  const inner: Scope = { alias: r, resourceType: type, typeParam: ctx.params.bind(type), topLevel: false };
  const rows = rowsOf(type, code, h, (v) => ctx.params.bind(v));
  const condition = compileKey(ctx, inner, rest, value);
  if (condition === undefined) {
    ctx.params.rollback(mark);
    return undefined;
  }
  return (
    `EXISTS (SELECT 1 FROM search_reference ${h} JOIN resource ${r} ON ${r}.sid = ${h}.resource_sid` +
    ` AND NOT ${r}.deleted WHERE ${h}.resource_type = ${inner.typeParam}` +
    ` AND ${rows} AND ${h}.target_type = ${scope.typeParam}` +
    ` AND ${h}.target_id = ${scope.alias}.id AND ${condition}${innerAccess(ctx, inner)})`
  );
}

/** The caller's access rule on a resource a chain looks through: it may only filter by what it may read. */
function innerAccess(ctx: CompileContext, inner: Scope): string {
  return ctx.access ? ` AND ${ctx.access(ctx, inner)}` : '';
}

function unknown(ctx: CompileContext, message: string): undefined {
  if (!ctx.lenient) {
    throw badSearch(message);
  }
  return undefined;
}
