import type { WithId } from '@medplum/core';
import {
  allOk,
  badRequest,
  getStatus,
  isResourceType,
  multipleMatches,
  OperationOutcomeError,
  preconditionFailed,
} from '@medplum/core';
import type { FhirRepository } from '@medplum/fhir-router';
import type { BundleEntry, BundleEntryRequest, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { parseSearchQuery } from '../repository/search/execute.js';
import { mentionsAny } from './transaction-references.js';

/** What a conditional entry becomes once its search has run. */
export interface Resolution {
  /** The entry to process instead, no longer conditional; absent when nothing is left to do. */
  entry?: BundleEntry;
  /** The entry's response, when nothing is left to do. */
  response?: BundleEntry;
  /** The existing resource (`Type/id`) the entry's fullUrl now stands for. */
  target?: string;
}

/** FHIR ids: https://hl7.org/fhir/R4/datatypes.html#id */
const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

/** Conditional create, update or delete, resolved by a search: https://hl7.org/fhir/R4/http.html#trules */
export function isConditionalEntry(entry: BundleEntry | undefined): boolean {
  const request = entry?.request;
  if (!request || typeOf(request.url) === undefined) {
    return false;
  }
  if (request.method === 'POST') {
    return Boolean(request.ifNoneExist);
  }
  return (request.method === 'PUT' || request.method === 'DELETE') && request.url.includes('?');
}

/**
 * Indices of the conditional entries in the order to resolve them: an entry whose query names
 * another conditional entry's fullUrl (`subject=urn:uuid:…`) after that entry, so the query
 * can be rewritten to the resource found; a cycle falls back to bundle order.
 */
export function resolutionOrder(entries: readonly BundleEntry[]): number[] {
  let pending = entries.flatMap((entry, index) => (isConditionalEntry(entry) ? [index] : []));
  const order: number[] = [];
  while (pending.length > 0) {
    const ready = pending.filter((index) => {
      const others = pending.flatMap((j) => (j !== index && entries[j].fullUrl ? [entries[j].fullUrl as string] : []));
      return !mentionsAny(conditionalQuery(entries[index].request as BundleEntryRequest), others);
    });
    const next = ready.length > 0 ? ready : pending;
    order.push(...next);
    pending = pending.filter((index) => !next.includes(index));
  }
  return order;
}

/** Runs the entry's search and decides what the entry becomes; several matches fail the transaction (412). */
export async function resolveConditionalEntry(
  entry: BundleEntry,
  index: number,
  repo: FhirRepository
): Promise<Resolution> {
  const request = entry.request as BundleEntryRequest;
  const resourceType = typeOf(request.url) as string;
  const matches = await findMatches(repo, resourceType, conditionalQuery(request));
  if (matches.length > 1) {
    throw new OperationOutcomeError(
      failedAt(multipleMatches, `Conditional ${request.method} matched several resources`, index)
    );
  }
  const match = matches[0] as WithId<Resource> | undefined;
  if (request.method === 'POST') {
    return resolveCreate(entry, match);
  }
  if (request.method === 'PUT') {
    return resolveUpdate(entry, resourceType, match, index);
  }
  return resolveDelete(entry, match);
}

/** Conditional create: no match creates, one match answers 200 with it: https://hl7.org/fhir/R4/http.html#ccreate */
function resolveCreate(entry: BundleEntry, match: WithId<Resource> | undefined): Resolution {
  if (!match) {
    const { ifNoneExist: _, ...request } = entry.request as BundleEntryRequest;
    return { entry: { ...entry, request } };
  }
  const target = `${match.resourceType}/${match.id}`;
  return {
    target,
    response: { response: { status: String(getStatus(allOk)), location: target, outcome: allOk }, resource: match },
  };
}

/** Conditional update, by the R4 table of matches and ids: https://hl7.org/fhir/R4/http.html#cond-update */
function resolveUpdate(
  entry: BundleEntry,
  resourceType: string,
  match: WithId<Resource> | undefined,
  index: number
): Resolution {
  const request = entry.request as BundleEntryRequest;
  const id = entry.resource?.id;
  if (match) {
    if (id && id !== match.id) {
      throw new OperationOutcomeError(
        badRequest(
          `Resource id ${id} is not that of the resource found (${match.id})`,
          `Bundle.entry[${index}].resource.id`
        )
      );
    }
    const target = `${resourceType}/${match.id}`;
    const resource = entry.resource && { ...entry.resource, id: match.id };
    return { target, entry: { ...entry, resource, request: { ...request, url: target } } };
  }
  if (request.ifMatch) {
    throw new OperationOutcomeError(failedAt(preconditionFailed, 'If-Match, but no resource matched', index));
  }
  if (!id) {
    return { entry: { ...entry, request: { method: 'POST', url: resourceType } } };
  }
  if (!ID_PATTERN.test(id)) {
    throw new OperationOutcomeError(badRequest('Invalid id', `Bundle.entry[${index}].resource.id`));
  }
  // No match but an id: update as create (https://hl7.org/fhir/R4/http.html#upsert).
  const target = `${resourceType}/${id}`;
  return { target, entry: { ...entry, request: { ...request, url: target } } };
}

/** Conditional delete; no match leaves nothing to delete: https://hl7.org/fhir/R4/http.html#delete */
function resolveDelete(entry: BundleEntry, match: WithId<Resource> | undefined): Resolution {
  if (!match) {
    return { response: { response: { status: String(getStatus(allOk)), outcome: allOk } } };
  }
  const target = `${match.resourceType}/${match.id}`;
  return { target, entry: { ...entry, request: { ...(entry.request as BundleEntryRequest), url: target } } };
}

/** The first two matches of a conditional query: enough to tell none, one and several apart. */
async function findMatches(repo: FhirRepository, resourceType: string, query: string): Promise<WithId<Resource>[]> {
  if (!isResourceType(resourceType)) {
    throw new OperationOutcomeError(badRequest(`Unknown resource type: ${resourceType}`));
  }
  const params: Record<string, string[]> = {};
  for (const [key, value] of new URLSearchParams(query)) {
    params[key] = [...(params[key] ?? []), value];
  }
  // Only the criteria count: paging, sorting, _include or _elements must not change what matches.
  const { filters } = parseSearchQuery(resourceType, params);
  return repo.searchResources({ resourceType: resourceType as Resource['resourceType'], filters, count: 2, offset: 0 });
}

/** The search criteria: the URL's query for update and delete, `ifNoneExist` (with or without `Type?`) for create. */
function conditionalQuery(request: BundleEntryRequest): string {
  if (request.method !== 'POST') {
    return request.url.slice(request.url.indexOf('?') + 1);
  }
  const text = request.ifNoneExist ?? '';
  const typePrefix = /^[^=&]*\?/.exec(text)?.[0] ?? '';
  return text.slice(typePrefix.length);
}

/** The resource type of a type-level URL (`Patient`, `Patient?identifier=…`); undefined for any other. */
function typeOf(url: string | undefined): string | undefined {
  const path = (url ?? '').split('?')[0].split('/').filter(Boolean);
  return path.length === 1 ? path[0] : undefined;
}

function failedAt(outcome: OperationOutcome, diagnostics: string, index: number): OperationOutcome {
  const issue = { ...outcome.issue[0], diagnostics, expression: [`Bundle.entry[${index}].request`] };
  return { ...outcome, issue: [issue] };
}
