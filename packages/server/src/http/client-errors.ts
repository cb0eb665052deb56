import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { badRequest } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { FastifyBaseLogger } from 'fastify';
import { answerAndClose } from './lingering-close.js';

/**
 * Answers requests Node's HTTP parser refused before Fastify saw them (headers too large, bytes
 * that are not HTTP, a broken request line, a timeout) with an OperationOutcome and
 * `Connection: close`, then closes without resetting the client. Fastify's default answers
 * plain JSON and destroys the socket at once.
 */
export function createClientErrorHandler(log: FastifyBaseLogger) {
  return function handleClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || socket.destroyed) {
      return;
    }
    const [status, message] = describeClientError(err);
    log.debug({ code: err.code, status }, 'client error');
    const outcome: OperationOutcome = badRequest(message);
    outcome.issue[0].code = status === 408 ? 'timeout' : status === 431 ? 'too-long' : 'structure';
    const body = JSON.stringify(outcome);
    answerAndClose(
      socket,
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/fhir+json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
    );
  };
}

function describeClientError(err: NodeJS.ErrnoException): [number, string] {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'Request headers (URL included) are too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'The request took too long to arrive'];
    case 'HPE_INVALID_URL':
    case 'HPE_INVALID_CONSTANT':
      return [400, 'Malformed request line or URL (it must be ASCII, with other bytes %-encoded)'];
    default:
      return [400, 'Malformed HTTP request'];
  }
}
