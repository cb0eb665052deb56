import { ContentType, getStatus, serverError } from '@medplum/core';
import type { FhirResponse } from '@medplum/fhir-router';
import type { Binary, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const FHIR_JSON = `${ContentType.FHIR_JSON}; charset=utf-8`;

/** Sends an OperationOutcome error; 5xx details stay in the log, never reach the client. */
export function sendOutcome(reply: FastifyReply, status: number, outcome: OperationOutcome): FastifyReply {
  if (status >= 500) {
    reply.log.error({ outcome }, 'FHIR request failed');
    return reply
      .code(500)
      .type(FHIR_JSON)
      .send(serverError(new Error('Internal server error')));
  }
  return reply.code(status).type(FHIR_JSON).send(outcome);
}

/**
 * Turns a FhirRouter result into HTTP: status from the outcome, ETag / Last-Modified /
 * Location from the resource, `Prefer: return=` honoured for writes.
 * https://hl7.org/fhir/R4/http.html
 */
export function sendFhirResponse(
  request: FastifyRequest,
  reply: FastifyReply,
  baseUrl: string,
  [outcome, resource, options]: FhirResponse
): FastifyReply {
  const status = getStatus(outcome);
  if (status >= 400 || !resource) {
    return sendOutcome(reply, status, outcome);
  }
  const versionId = resource.meta?.versionId;
  if (versionId) {
    reply.header('ETag', `W/"${versionId}"`);
  }
  if (resource.meta?.lastUpdated) {
    reply.header('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
  }
  if (status === 201 && resource.id) {
    reply.header('Location', `${baseUrl}fhir/R4/${resource.resourceType}/${resource.id}/_history/${versionId}`);
  }
  if (resource.resourceType === 'Binary' && (options?.forceRawBinaryResponse || wantsRawBinary(request))) {
    return sendRawBinary(reply, status, resource as Binary);
  }
  if (options?.contentType && options.contentType !== ContentType.FHIR_JSON) {
    return reply.code(status).type(options.contentType).send(resource);
  }
  const isWrite = request.method !== 'GET' && resource.resourceType !== 'Bundle';
  const prefer = isWrite ? preferredReturn(request) : undefined;
  if (prefer === 'minimal') {
    return reply.code(status).send();
  }
  if (prefer === 'OperationOutcome') {
    return reply.code(status).type(FHIR_JSON).send(outcome);
  }
  return reply.code(status).type(FHIR_JSON).send(resource);
}

function preferredReturn(request: FastifyRequest): string | undefined {
  const prefer = request.headers.prefer;
  return prefer ? /return=(minimal|representation|OperationOutcome)/.exec(String(prefer))?.[1] : undefined;
}

/** GET Binary/:id answers the bytes unless the client asks for FHIR JSON. */
function wantsRawBinary(request: FastifyRequest): boolean {
  if (request.method !== 'GET') {
    return false;
  }
  const accept = request.headers.accept ?? '';
  return !/application\/(fhir\+)?json/.test(accept);
}

function sendRawBinary(reply: FastifyReply, status: number, binary: Binary): FastifyReply {
  const bytes = Buffer.from(binary.data ?? '', 'base64');
  return reply
    .code(status)
    .type(binary.contentType ?? 'application/octet-stream')
    .send(bytes);
}

/** Builds a Binary resource from a raw (non-FHIR) request body. */
export function binaryFromBody(body: Buffer, contentType: string | undefined, id?: string): Resource {
  return {
    resourceType: 'Binary',
    ...(id ? { id } : undefined),
    contentType: contentType?.split(';')[0].trim() || 'application/octet-stream',
    data: body.toString('base64'),
  };
}
