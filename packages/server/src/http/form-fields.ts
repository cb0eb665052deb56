import { badRequest, OperationOutcomeError, unsupportedMediaType } from '@medplum/core';
import type { FastifyRequest } from 'fastify';

const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * The fields of a form-encoded request body, each a single string. A request that is not
 * form-encoded gets 415; a repeated field gets 400 (gateways send each field once, and a
 * signature computed over one value must not be checked against another).
 */
export function readFormFields(request: FastifyRequest): Record<string, string> {
  const type = String(request.headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  if (type !== FORM_TYPE) {
    throw new OperationOutcomeError({
      ...unsupportedMediaType,
      issue: [{ ...unsupportedMediaType.issue[0], diagnostics: `Content-Type must be ${FORM_TYPE}` }],
    });
  }
  const fields: Record<string, string> = {};
  const body = request.body;
  if (typeof body !== 'object' || body === null) {
    return fields;
  }
  for (const [name, value] of Object.entries(body)) {
    if (typeof value !== 'string') {
      throw new OperationOutcomeError(badRequest(`Field ${name} must be sent once`, name));
    }
    fields[name] = value;
  }
  return fields;
}
