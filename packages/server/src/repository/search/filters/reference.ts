import { isResourceType } from '@medplum/core';
import { IDENTIFIER_SUFFIX } from '../index-convert.js';
import { type Condition, splitValues } from '../params.js';
import { parseReferenceTarget } from '../reference-string.js';
import type { ReferenceRow } from '../rows.js';
import { type CompileContext, indexExists, orJoin, type Scope } from '../sql.js';
import { truncate } from '../text.js';
import { tokenCondition } from './token.js';

/** How one reference search value is matched against search_reference rows. */
type ReferenceMatch = { type: string | undefined; id: string } | { reference: string };

/**
 * Reference search (https://hl7.org/fhir/R4/search.html#reference): `Type/id`, a bare id
 * (any type, or the `:Type` modifier's), an absolute URL (this server's base is reduced to
 * `Type/id`; others match as written), a canonical URL; `:identifier` searches Reference.identifier.
 */
export function referenceCondition(ctx: CompileContext, scope: Scope, cond: Condition): string {
  if (cond.modifier === 'identifier') {
    return tokenCondition(ctx, scope, { ...cond, modifier: undefined }, cond.param.code + IDENTIFIER_SUFFIX);
  }
  const typeModifier = cond.modifier && isResourceType(cond.modifier) ? cond.modifier : undefined;
  const matches = splitValues(cond.value).map((v) => parseReferenceValue(ctx.baseUrl, v, typeModifier));
  return indexExists(ctx, scope, 'search_reference', cond.param.code, (a) =>
    orJoin(
      matches.map((m) => {
        if ('reference' in m) {
          return `${a}.reference = ${ctx.params.bind(truncate(m.reference))} AND ${writtenReference(a)}`;
        }
        const id = `${a}.target_id = ${ctx.params.bind(m.id)}`;
        return m.type ? `${id} AND ${a}.target_type = ${ctx.params.bind(m.type)}` : id;
      })
    )
  );
}

/**
 * Rows whose reference as written is not plain `Type/id`, the predicate of the partial index
 * search_reference_ref_idx (written the same way, or the planner cannot use the index). A plain
 * `Type/id` search value is always matched by target, never by the written reference.
 */
function writtenReference(a: string): string {
  return `(${a}.target_id IS NULL OR ${a}.reference <> ${a}.target_type || '/' || ${a}.target_id)`;
}

export function parseReferenceValue(baseUrl: string, value: string, typeModifier: string | undefined): ReferenceMatch {
  const local = `${baseUrl}fhir/R4/`;
  const relative = baseUrl && value.startsWith(local) ? value.slice(local.length) : value;
  if (/^[a-z][a-z0-9+.-]*:/i.test(relative)) {
    return { reference: relative }; // absolute URL elsewhere, URN, or canonical
  }
  if (!relative.includes('/')) {
    return { type: typeModifier, id: relative };
  }
  const target = parseReferenceTarget(relative);
  if (target && (!typeModifier || target.type === typeModifier)) {
    return target;
  }
  return { reference: relative };
}

export function referenceRowsMatch(rows: ReferenceRow[], baseUrl: string, value: string): boolean {
  const m = parseReferenceValue(baseUrl, value, undefined);
  return rows.some((row) =>
    'reference' in m ? row.reference === m.reference : row.targetId === m.id && (!m.type || row.targetType === m.type)
  );
}
