import { badRequest, OperationOutcomeError, parseSearchRequest } from '@medplum/core';

/**
 * Checks the search of a conditional create (`If-None-Exist`, a batch entry's `ifNoneExist`)
 * before FhirRouter parses it: @medplum/core throws plain errors on some malformed parameters
 * (`_has:x`), which would otherwise reach the client as a 500.
 * https://hl7.org/fhir/R4/http.html#ccreate
 */
export function checkConditionalQuery(resourceType: string, query: string, where: string): void {
  try {
    parseSearchRequest(`${resourceType}?${query.replace(/^\?/, '')}`);
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      throw err;
    }
    throw new OperationOutcomeError(badRequest(`${where}: ${(err as Error).message}`, where));
  }
}
