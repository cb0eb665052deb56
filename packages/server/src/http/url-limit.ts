import { OperationOutcomeError } from '@medplum/core';
import type { FastifyInstance } from 'fastify';

/**
 * Refuses URLs (path and query) longer than `maxLength` bytes before routing: a search's cost
 * grows with its query, and Node's own limit (16 KB of headers) is far above what clients need.
 */
export function registerUrlLimit(app: FastifyInstance, maxLength: number): void {
  app.addHook('onRequest', async (request) => {
    const length = Buffer.byteLength(request.raw.url ?? '');
    if (length > maxLength) {
      throw new OperationOutcomeError({
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'error',
            code: 'too-long',
            details: { text: `URL of ${length} bytes is longer than ${maxLength} (MAX_URL_LENGTH); use POST _search` },
          },
        ],
      });
    }
  });
}
