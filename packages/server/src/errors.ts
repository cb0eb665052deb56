import {
  badRequest,
  conflict,
  contentTooLarge,
  getStatus,
  isOperationOutcome,
  OperationOutcomeError,
  serverError,
  unsupportedMediaType,
} from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';

export { OperationOutcomeError };

/** PostgreSQL error codes that mean the caller sent something the database refused. */
const PG_CLIENT_ERRORS: Record<string, (message: string) => OperationOutcome> = {
  '23505': (m) => conflict(m), // unique_violation
  '22P02': (m) => badRequest(m), // invalid_text_representation
  '22007': (m) => badRequest(m), // invalid_datetime_format
  '22008': (m) => badRequest(m), // datetime_field_overflow
  '22003': (m) => badRequest(m), // numeric_value_out_of_range
  '22001': (m) => badRequest(m), // string_data_right_truncation
  '54001': (m) => badRequest(m), // statement_too_complex
  '22021': (m) => badRequest(m), // character_not_in_repertoire (U+0000 in text)
  '22P05': (m) => badRequest(m), // untranslatable_character
};

/** Serialization failures and deadlocks: the transaction may simply be retried. */
export function isRetryableDatabaseError(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === '40001' || code === '40P01';
}

/**
 * Turns anything thrown below the HTTP layer into an OperationOutcome and its status.
 * Database errors are translated here, once; anything unknown becomes a 500 with no detail.
 */
export function toOperationOutcome(err: unknown): { status: number; outcome: OperationOutcome } {
  if (err instanceof OperationOutcomeError) {
    return { status: getStatus(err.outcome), outcome: err.outcome };
  }
  if (isOperationOutcome(err)) {
    return { status: getStatus(err), outcome: err };
  }
  const code = (err as { code?: string })?.code;
  const httpStatus = (err as { statusCode?: number })?.statusCode;
  if (code?.startsWith('FST_') && httpStatus && httpStatus >= 400 && httpStatus < 500) {
    return { status: httpStatus, outcome: httpErrorOutcome(httpStatus, (err as Error).message) };
  }
  if (code && PG_CLIENT_ERRORS[code]) {
    const outcome = PG_CLIENT_ERRORS[code]((err as Error).message);
    return { status: getStatus(outcome), outcome };
  }
  if (code === '57014') {
    // statement_timeout: the query was too expensive
    const outcome = badRequest('Query took too long; narrow the search');
    return { status: 400, outcome };
  }
  return { status: 500, outcome: serverError(new Error('Internal server error')) };
}

/** Errors raised by the HTTP framework itself (body too large, bad media type, ...). */
function httpErrorOutcome(status: number, message: string): OperationOutcome {
  if (status === 413) {
    return contentTooLarge(message);
  }
  if (status === 415) {
    return { ...unsupportedMediaType, issue: [{ ...unsupportedMediaType.issue[0], diagnostics: message }] };
  }
  return badRequest(message);
}
