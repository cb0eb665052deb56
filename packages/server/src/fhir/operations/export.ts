import { notFound, OperationOutcomeError } from '@medplum/core';
import type { FhirRouter } from '@medplum/fhir-router';

/**
 * Bulk Data `$export` (https://hl7.org/fhir/uv/bulkdata/export.html) is not built yet. Its
 * kick-off URLs answer 404 (no such operation here) with an OperationOutcome instead of
 * falling through to other routes (`GET $export` used to be read as a system search).
 */
export function registerExportPlaceholder(router: FhirRouter): void {
  const notYet = async () => {
    throw new OperationOutcomeError({
      ...notFound,
      issue: [{ ...notFound.issue[0], details: { text: 'Bulk Data $export is not available on this server yet' } }],
    });
  };
  for (const method of ['GET', 'POST'] as const) {
    router.add(method, '$export', notYet, 'operation');
    router.add(method, ':resourceType/$export', notYet, 'operation');
    router.add(method, ':resourceType/:id/$export', notYet, 'operation');
  }
}
