import type { AuditEvent, Reference } from '@medplum/fhirtypes';
import { RowCollector } from '../repository/search/index-convert.js';
import { computeSearchRows } from '../repository/search/index-values.js';
import { parseReferenceTarget } from '../repository/search/reference-string.js';
import type { SearchRows } from '../repository/search/rows.js';

/*
 * The elements of the AuditEvents Tiba builds (audit-event.ts), per level. An event holding
 * anything else (agent.name, entity.type, meta.tag, an observer reference, …) is indexed by
 * computeSearchRows, which evaluates every SearchParameter.
 */
const EVENT_KEYS = new Set([
  'resourceType',
  'id',
  'meta',
  'type',
  'subtype',
  'action',
  'recorded',
  'outcome',
  'outcomeDesc',
  'agent',
  'source',
  'entity',
]);
const META_KEYS = new Set(['versionId', 'lastUpdated', 'project', 'author']);
const AGENT_KEYS = new Set(['type', 'who', 'altId', 'requestor', 'network']);
const ENTITY_KEYS = new Set(['what', 'query', 'description']);
const REFERENCE_KEYS = new Set(['reference', 'display']);
const SOURCE_KEYS = new Set(['observer', 'type']);
// An observer with a reference, identifier or type would have `source` rows; a display has none.
const OBSERVER_KEYS = new Set(['display']);

/**
 * The search rows of an AuditEvent, equal to `computeSearchRows(event)` (a unit test compares
 * them for every kind of event Tiba records), without walking the type's 24 SearchParameters:
 * the values are read straight from the elements Tiba sets, in SearchParameter order, and
 * converted by the repository's own RowCollector. Indexing every event this way costs a fraction
 * of the generic path, which matters because every read and search writes one.
 */
export function auditEventSearchRows(event: AuditEvent): SearchRows {
  if (!hasBuiltShape(event)) {
    return computeSearchRows(event);
  }
  const rows = new RowCollector();
  const agents = event.agent ?? [];
  const entities = event.entity ?? [];
  // Token, string, date and reference rows land in separate arrays: only the order within one
  // kind matters, and within each kind the parameters come in computeSearchRows' (code) order.
  rows.add('_project', 'token', { type: 'string', value: event.meta?.project });
  rows.add('action', 'token', { type: 'code', value: event.action });
  for (const agent of agents) {
    rows.add('address', 'string', { type: 'string', value: agent.network?.address });
  }
  for (const agent of agents) {
    rows.add('agent', 'reference', { type: 'Reference', value: agent.who });
  }
  for (const agent of agents) {
    rows.add('altid', 'token', { type: 'string', value: agent.altId });
  }
  rows.add('date', 'date', { type: 'instant', value: event.recorded });
  for (const entity of entities) {
    rows.add('entity', 'reference', { type: 'Reference', value: entity.what });
  }
  rows.add('outcome', 'token', { type: 'code', value: event.outcome });
  for (const who of [...agents.map((a) => a.who), ...entities.map((e) => e.what)]) {
    if (who?.reference && parseReferenceTarget(who.reference)?.type === 'Patient') {
      rows.add('patient', 'reference', { type: 'Reference', value: who });
    }
  }
  for (const coding of event.subtype ?? []) {
    rows.add('subtype', 'token', { type: 'Coding', value: coding });
  }
  rows.add('type', 'token', { type: 'Coding', value: event.type });
  return rows.rows;
}

export function hasBuiltShape(event: AuditEvent): boolean {
  return (
    onlyKeys(event, EVENT_KEYS) &&
    (!event.meta || onlyKeys(event.meta, META_KEYS)) &&
    (event.agent ?? []).every((a) => onlyKeys(a, AGENT_KEYS) && isPlainReference(a.who)) &&
    (event.entity ?? []).every((e) => onlyKeys(e, ENTITY_KEYS) && isPlainReference(e.what)) &&
    onlyKeys(event.source ?? {}, SOURCE_KEYS) &&
    onlyKeys(event.source?.observer ?? {}, OBSERVER_KEYS)
  );
}

/** A reference without an identifier (which would add `:identifier` rows) or a type. */
function isPlainReference(reference: Reference | undefined): boolean {
  return !reference || onlyKeys(reference, REFERENCE_KEYS);
}

function onlyKeys(value: object, allowed: ReadonlySet<string>): boolean {
  for (const key in value) {
    if (!allowed.has(key)) {
      return false;
    }
  }
  return true;
}
