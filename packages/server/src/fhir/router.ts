import { allOk, badRequest, created, OperationOutcomeError } from '@medplum/core';
import type { FhirRepository, FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import { FhirRouter } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';
import { withBotMemberships } from '../bots/bot-membership.js';
import { registerDeployOperation } from '../bots/deploy.js';
import type { SearchLimits } from '../config.js';
import { isRetryableDatabaseError, toOperationOutcome } from '../errors.js';
import type { PostgresRepository } from '../repository/repository.js';
import { parseSearchQuery } from '../repository/search/execute.js';
import { registerCompartmentSearch } from './compartment-search.js';
import { type GraphqlThread, graphqlInThread } from './graphql/graphql-thread.js';
import { registerExpandOperation } from './operations/expand.js';
import { registerExportPlaceholder } from './operations/export.js';
import { registerValidateOperation } from './operations/validate.js';
import { withResolvedConditionals } from './transaction-conditionals.js';

/**
 * The table of FHIR interactions: FhirRouter's own routes plus what Tiba adds (type and
 * system history, compartment search, $validate, ValueSet/$expand) and its own search parsing.
 */
export function createFhirRouter(
  onServerError: (err: unknown) => void,
  options: { systemRepo?: PostgresRepository; searchLimits?: Readonly<SearchLimits>; graphql?: GraphqlThread } = {}
): FhirRouter {
  const router = new FhirRouter();
  useTibaSearchParsing(router, options.searchLimits);
  answerCreatingUpdatesWith201(router);
  router.add('GET', '_history', historyHandler, 'history-system');
  router.add('GET', ':resourceType/_history', historyHandler, 'history-type');
  registerValidateOperation(router);
  registerExpandOperation(router);
  registerExportPlaceholder(router);
  registerCompartmentSearch(router, options.searchLimits);
  registerDeployOperation(router);
  if (options.systemRepo) {
    // Bots written through the API get their own membership (bots/bot-membership.ts).
    withBotMemberships(router, options.systemRepo);
  }
  if (options.graphql) {
    runGraphqlInThread(router, options.graphql, onServerError);
  }
  resolveTransactionConditionals(router);
  translateErrors(router, onServerError);
  return router;
}

/**
 * FhirRouter builds its GraphQL schema on the first $graphql request: seconds of synchronous
 * work during which the event loop answers nothing. The query runs in the GraphQL worker thread
 * instead (graphql/graphql-thread.ts), which builds the schema there.
 */
function runGraphqlInThread(router: FhirRouter, thread: GraphqlThread, onServerError: (err: unknown) => void): void {
  for (const route of router.router.routes) {
    if (route.method === 'POST' && route.path.length === 1 && route.path[0].value === '$graphql') {
      route.handler = graphqlInThread(thread, onServerError);
    }
  }
}

/**
 * FhirRouter reports anything a handler throws as 400 with the error's message. Tiba translates
 * errors in one place instead (errors.ts): database refusals become 4xx, faults a 500 without
 * detail. Retryable database errors pass through so the enclosing transaction is retried.
 */
function translateErrors(router: FhirRouter, onServerError: (err: unknown) => void): void {
  for (const route of router.router.routes) {
    const inner = route.handler;
    route.handler = async (...args) => {
      try {
        return await inner(...args);
      } catch (err) {
        if (isRetryableDatabaseError(err) || (err as { constraint?: string }).constraint === 'resource_pkey') {
          throw err;
        }
        const { status, outcome } = toOperationOutcome(err);
        if (status >= 500) {
          onServerError(err);
        }
        return [outcome];
      }
    };
  }
}

/**
 * FhirRouter's batch processor refuses transactions with conditional entries past 8 entries
 * (it would run them SERIALIZABLE). Tiba resolves those entries first, in one serializable
 * transaction the processor joins (transaction-conditionals.ts).
 */
function resolveTransactionConditionals(router: FhirRouter): void {
  for (const route of router.router.routes) {
    if (route.data?.interaction === 'batch') {
      route.handler = withResolvedConditionals(route.handler);
    }
  }
}

/**
 * FhirRouter's search handlers call @medplum/core's parseSearchRequest, which throws a plain
 * Error on composite parameters (e.g. `code-value-quantity`). The routes keep their place in
 * the table (so batch entries reach them too) but parse with Tiba's parser, which handles
 * composites and reports bad input as 400.
 */
function useTibaSearchParsing(router: FhirRouter, limits: Readonly<SearchLimits> | undefined): void {
  for (const route of router.router.routes) {
    if (route.data?.interaction !== 'search-type' && route.data?.interaction !== 'search-system') {
      continue;
    }
    const fromBody = route.method === 'POST';
    const handler: FhirRouteHandler = async (req, repo) => {
      const query = fromBody ? searchParamsOf(req.body) : req.query;
      const resourceType = req.params.resourceType ?? 'MultipleTypes';
      const searchRequest = parseSearchQuery(resourceType, query ?? {}, limits);
      if (resourceType === 'MultipleTypes' && !searchRequest.types?.length) {
        return [badRequest('System search needs _type')];
      }
      return [allOk, await repo.search(searchRequest)];
    };
    route.handler = handler;
  }
}

/** The body of `POST [type]/_search`: parameters as form fields, each a string or a list of strings. */
function searchParamsOf(body: unknown): Record<string, string | string[]> {
  if (body === undefined) {
    return {};
  }
  const isText = (v: unknown) => typeof v === 'string';
  if (
    typeof body !== 'object' ||
    body === null ||
    Array.isArray(body) ||
    !Object.values(body).every((v) => isText(v) || (Array.isArray(v) && v.every(isText)))
  ) {
    throw new OperationOutcomeError(
      badRequest('A _search body must be form fields (application/x-www-form-urlencoded)')
    );
  }
  return body as Record<string, string | string[]>;
}

/**
 * FhirRouter answers every `PUT Type/id` with 200; an update that creates the resource must
 * answer 201 Created (https://hl7.org/fhir/R4/http.html#update).
 */
function answerCreatingUpdatesWith201(router: FhirRouter): void {
  for (const route of router.router.routes) {
    if (route.data?.interaction !== 'update' || route.path.length !== 2) {
      continue;
    }
    route.handler = async (req, repo) => {
      const { resourceType, id } = req.params;
      const resource = req.body as Resource | undefined;
      if (resource?.resourceType !== resourceType) {
        return [badRequest('Incorrect resource type')];
      }
      if (resource.id !== id) {
        return [badRequest('Incorrect resource ID')];
      }
      const ifMatch = req.headers?.['if-match'];
      const result = await (repo as PostgresRepository).upsertResource(resource, {
        ifMatch: Array.isArray(ifMatch) ? ifMatch[0] : ifMatch,
      });
      return [result.created ? created : allOk, result.resource];
    };
  }
}

async function historyHandler(req: FhirRequest, repo: FhirRepository): Promise<FhirResponse> {
  const since = single(req.query._since);
  const count = single(req.query._count);
  const offset = single(req.query._offset);
  const bundle = await (repo as PostgresRepository).history<Resource>({
    resourceType: req.params.resourceType,
    since,
    count: count === undefined ? undefined : toInt(count, '_count'),
    offset: offset === undefined ? undefined : toInt(offset, '_offset'),
  });
  return [allOk, bundle];
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function toInt(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new OperationOutcomeError(badRequest(`${name} must be a non-negative integer`, name));
  }
  return n;
}
