import { formatSearchQuery } from '@medplum/core';
import type { BundleLink } from '@medplum/fhirtypes';
import type { CompartmentSearchRequest } from './filters/compartment.js';

/**
 * Absolute URL of a search: `${base}fhir/R4/Type?...`, `${base}fhir/R4/?_type=...` for a system
 * search, `${base}fhir/R4/Patient/1/Type?...` (or `.../*?...`) for a compartment search.
 */
export function searchUrl(baseUrl: string, request: CompartmentSearchRequest): string {
  const { compartment } = request;
  let path = request.types?.length ? '' : request.resourceType;
  if (compartment) {
    path = `${compartment.resourceType}/${compartment.id}/${path || '*'}`;
  }
  // `Patient/1/*` means every member type: listing them all would only lengthen the link.
  let query = formatSearchQuery(compartment?.allTypes ? { ...request, types: undefined } : request);
  // formatSearchQuery has no _summary (other than count, which it writes as _count=0)
  if (request.summary) {
    query += `${query ? '&' : '?'}_summary=${request.summary}`;
  }
  return `${baseUrl}fhir/R4/${path}${query}`;
}

/** self, next (when more matches exist) and previous (when not on the first page). */
export function searchLinks(
  baseUrl: string,
  request: CompartmentSearchRequest,
  count: number,
  offset: number,
  hasMore: boolean
): BundleLink[] {
  // _count is repeated only when the client gave it; the default needs no mention.
  const page = (o: number): CompartmentSearchRequest => ({
    ...request,
    count: request.count === undefined ? undefined : count,
    offset: o,
  });
  const links: BundleLink[] = [{ relation: 'self', url: searchUrl(baseUrl, page(offset)) }];
  if (hasMore) {
    links.push({ relation: 'next', url: searchUrl(baseUrl, page(offset + count)) });
  }
  if (offset > 0) {
    links.push({ relation: 'previous', url: searchUrl(baseUrl, page(Math.max(0, offset - count))) });
  }
  return links;
}
