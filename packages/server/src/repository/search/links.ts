import { formatSearchQuery, type SearchRequest } from '@medplum/core';
import type { BundleLink } from '@medplum/fhirtypes';

/** Absolute URL of a search: `${base}fhir/R4/Type?...`, or `${base}fhir/R4/?_type=...` for a system search. */
export function searchUrl(baseUrl: string, request: SearchRequest): string {
  const path = request.types?.length ? '' : request.resourceType;
  let query = formatSearchQuery(request);
  // formatSearchQuery has no _summary (other than count, which it writes as _count=0)
  if (request.summary) {
    query += `${query ? '&' : '?'}_summary=${request.summary}`;
  }
  return `${baseUrl}fhir/R4/${path}${query}`;
}

/** self, next (when more matches exist) and previous (when not on the first page). */
export function searchLinks(
  baseUrl: string,
  request: SearchRequest,
  count: number,
  offset: number,
  hasMore: boolean
): BundleLink[] {
  // _count is repeated only when the client gave it; the default needs no mention.
  const page = (o: number): SearchRequest => ({
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
