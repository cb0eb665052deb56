import { allOk, badRequest, created, OperationOutcomeError, unsupportedMediaType } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouter, HttpMethod } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PostgresRepository } from '../repository/repository.js';
import { checkRequestBody } from './request-body.js';
import { binaryFromBody, FHIR_JSON, sendFhirResponse, sendOutcome } from './response.js';

export const FHIR_PREFIX = '/fhir/R4';

export interface FhirRoutesOptions {
  baseUrl: string;
  router: FhirRouter;
  /** The caller's repository: who they are decides what they may see and write. */
  repositoryFor: (request: FastifyRequest) => Promise<PostgresRepository>;
  /** Runs before every FHIR route except `metadata` (authentication). */
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  capabilityStatement: () => Resource;
}

const METHODS: HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const WEAK_ETAG = /^(W\/)?"[^"]+"$/;

/** The FHIR REST API at /fhir/R4: a thin adapter from Fastify to FhirRouter. */
export async function fhirRoutes(app: FastifyInstance, options: FhirRoutesOptions): Promise<void> {
  const { baseUrl, router } = options;

  app.get(`${FHIR_PREFIX}/metadata`, async (_request, reply) =>
    reply.type(FHIR_JSON).send(options.capabilityStatement())
  );

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const ifMatch = request.headers['if-match'];
    if (ifMatch !== undefined && !WEAK_ETAG.test(String(ifMatch).trim())) {
      return sendOutcome(reply, 400, badRequest(`Invalid If-Match header: ${ifMatch}`));
    }
    const repo = await options.repositoryFor(request);
    const fhirRequest = toFhirRequest(request);
    const interaction = interactionOf(router, fhirRequest);
    request.metricsRoute = `${FHIR_PREFIX}/${interaction}`;
    checkRequestBody(fhirRequest, interaction);
    const rawBinary = rawBinaryWrite(request, fhirRequest);
    if (rawBinary) {
      return sendFhirResponse(request, reply, baseUrl, await rawBinary(repo));
    }
    const result = await router.handleRequest(fhirRequest, repo);
    return sendFhirResponse(request, reply, baseUrl, result);
  };

  for (const url of [FHIR_PREFIX, `${FHIR_PREFIX}/*`]) {
    app.route({ method: METHODS, url, preHandler: options.authenticate, handler });
  }
}

/** The FHIR interaction (read, search-type, ...) names the route in metrics, not the raw URL. */
function interactionOf(router: FhirRouter, request: FhirRequest): string {
  try {
    return router.find(request.method, request.url)?.data?.interaction ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function toFhirRequest(request: FastifyRequest): FhirRequest {
  const url = request.url.slice(FHIR_PREFIX.length).replace(/^\/+/, '');
  return {
    method: request.method as HttpMethod,
    url,
    pathname: '',
    body: request.body,
    params: {},
    query: {},
    headers: request.headers,
    config: { transactions: true, graphqlMaxDepth: 12, graphqlMaxSearches: 100 },
  };
}

/**
 * POST Binary and PUT Binary/:id with a non-FHIR content type carry the bytes themselves:
 * https://hl7.org/fhir/R4/binary.html#rest
 */
function rawBinaryWrite(request: FastifyRequest, fhirRequest: FhirRequest) {
  if (!Buffer.isBuffer(request.body)) {
    return undefined;
  }
  const body = request.body;
  const path = fhirRequest.url.split('?')[0].split('/');
  if (path[0] !== 'Binary' || path.length > 2 || (request.method !== 'POST' && request.method !== 'PUT')) {
    throw new OperationOutcomeError({
      ...unsupportedMediaType,
      issue: [
        {
          ...unsupportedMediaType.issue[0],
          diagnostics: `Unsupported content type: ${request.headers['content-type']}`,
        },
      ],
    });
  }
  const binary = binaryFromBody(body, request.headers['content-type'], path[1]);
  return async (repo: PostgresRepository) => {
    if (request.method === 'POST') {
      return [created, await repo.createResource(binary)] as FhirResponse;
    }
    return [allOk, await repo.updateResource(binary)] as FhirResponse;
  };
}
