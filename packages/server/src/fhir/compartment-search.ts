import { allOk, badRequest, isResourceType, notFound, validationRegexes } from '@medplum/core';
import type { FhirRepository, FhirRequest, FhirResponse, FhirRouteHandler, FhirRouter } from '@medplum/fhir-router';
import type { OperationOutcome, ResourceType } from '@medplum/fhirtypes';
import { COMPARTMENT_TYPES, getCompartmentParams, getCompartmentTypes } from '../repository/compartments.js';
import type { CompartmentSearchRequest } from '../repository/search/filters/compartment.js';
import { parseSearchQuery } from '../repository/search/parse.js';

/**
 * Compartment search: `GET [base]/Patient/123/Observation?code=…`, `GET [base]/Patient/123/*`
 * (every member type; `_type` narrows) and their `POST …/_search` forms, for the five R4
 * compartments. A resource is in `Patient/123` when it is that Patient or one of its type's
 * compartment parameters references it (search/filters/compartment.ts).
 *
 * The owner is not read first: FHIR does not require it to exist or be readable, and the search
 * runs through the caller's repository, so an unknown or hidden owner gives an empty Bundle,
 * exactly like `Observation?subject=Patient/123` would; nothing is revealed either way.
 * @see https://hl7.org/fhir/R4/http.html#search
 */
export function registerCompartmentSearch(router: FhirRouter, limits?: SearchLimits): void {
  // Only parameters in the path: any route with a literal segment (`_history`, `$everything`) wins.
  router.add('GET', ':compartmentType/:id/:resourceType', searchCompartment(false, limits), 'search-type');
  router.add('POST', ':compartmentType/:id/:resourceType/_search', searchCompartment(true, limits), 'search-type');
}

/** The cost limits of client searches (config.ts), as the other search routes apply them. */
type SearchLimits = Parameters<typeof parseSearchQuery>[2];

function searchCompartment(fromBody: boolean, limits: SearchLimits): FhirRouteHandler {
  return async (req: FhirRequest, repo: FhirRepository): Promise<FhirResponse> => {
    const { compartmentType, id } = req.params;
    // `*` arrives percent-encoded from clients that encode every path segment.
    const resourceType = req.params.resourceType.replace(/^%2A$/i, '*');
    if (resourceType.startsWith('$')) {
      return [notFound]; // an operation no route serves, as before compartments existed
    }
    if (!getCompartmentParams(compartmentType)) {
      return [notFoundBecause(`Not a compartment: ${compartmentType} (one of ${COMPARTMENT_TYPES.join(', ')})`)];
    }
    if (!validationRegexes.id.test(id)) {
      return [badRequest(`Invalid ${compartmentType} id: ${id}`)];
    }
    const allTypes = resourceType === '*';
    if (!allTypes && !isResourceType(resourceType)) {
      return [notFoundBecause(`Unknown resource type: ${resourceType}`)];
    }
    const query = (fromBody ? req.body : req.query) as Record<string, string | string[]>;
    const request: CompartmentSearchRequest = parseSearchQuery(
      allTypes ? 'MultipleTypes' : resourceType,
      query ?? {},
      limits
    );
    if (!allTypes && request.types?.length) {
      return [badRequest(`_type is only allowed in a search of every type: ${compartmentType}/${id}/*`)];
    }
    const members = getCompartmentTypes(compartmentType);
    const everyType = allTypes && !request.types?.length;
    const types = everyType ? members : (request.types ?? [resourceType]);
    const outside = types.filter((t) => !members.includes(t));
    if (outside.length) {
      return [badRequest(`Not in the ${compartmentType} compartment: ${outside.join(', ')}`)];
    }
    request.types = allTypes ? (types as ResourceType[]) : undefined;
    request.compartment = { resourceType: compartmentType, id, allTypes: everyType };
    return [allOk, await repo.search(request)];
  };
}

function notFoundBecause(text: string): OperationOutcome {
  return { ...notFound, issue: [{ ...notFound.issue[0], details: { text } }] };
}
