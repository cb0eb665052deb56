import { badRequest, OperationOutcomeError } from '@medplum/core';

/** Far above the web app's largest query (requestSchema, ~1 KB) and the CLI's. */
export const MAX_GRAPHQL_QUERY_BYTES = 64 * 1024;
/** Selection sets nested deeper than this are refused before the query is parsed at all. */
export const MAX_GRAPHQL_NESTING = 32;

/**
 * Checks a `$graphql` body's query before it is parsed and validated against the schema, which
 * costs seconds for a query of thousands of nested selections (FhirRouter checks its depth
 * limit only afterwards). Counts `{`, `[` and `(` outside strings.
 */
export function checkGraphqlQuery(body: unknown): void {
  const query = (body as { query?: unknown } | undefined)?.query;
  if (typeof query !== 'string' || query.trim() === '') {
    throw new OperationOutcomeError(badRequest('A $graphql body needs a query (a string)', 'query'));
  }
  if (Buffer.byteLength(query) > MAX_GRAPHQL_QUERY_BYTES) {
    throw new OperationOutcomeError(badRequest(`GraphQL query longer than ${MAX_GRAPHQL_QUERY_BYTES} bytes`, 'query'));
  }
  let depth = 0;
  let inString = false;
  for (let i = 0; i < query.length; i++) {
    const c = query[i];
    if (inString) {
      if (c === '\\') {
        i++;
      } else if (c === '"') {
        inString = false;
      }
    } else if (c === '"') {
      inString = true;
    } else if (c === '{' || c === '[' || c === '(') {
      depth++;
      if (depth > MAX_GRAPHQL_NESTING) {
        throw new OperationOutcomeError(
          badRequest(`GraphQL query nested deeper than ${MAX_GRAPHQL_NESTING} levels`, 'query')
        );
      }
    } else if (c === '}' || c === ']' || c === ')') {
      depth--;
    }
  }
}
