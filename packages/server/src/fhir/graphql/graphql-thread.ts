import { Worker } from 'node:worker_threads';
import type { FhirRepository, FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import { toOperationOutcome } from '../../errors.js';
import { DEFINITION_FILES } from '../definitions.js';
import type { FromWorker, GraphqlWorkerData, RemoteError, RemoteMethod, ToWorker } from './protocol.js';
import { checkGraphqlQuery } from './query-bounds.js';

/** Compiled next to this file in dist/; in tests Node runs the TypeScript source. */
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './graphql-worker.ts' : './graphql-worker.js',
  import.meta.url
);

/** What the worker may ask the caller's repository to do (every method Medplum's resolvers use). */
const REMOTE_METHODS: Readonly<Record<RemoteMethod, true>> = {
  setMode: true,
  readResource: true,
  readReference: true,
  readReferences: true,
  search: true,
  searchByReference: true,
  createResource: true,
  updateResource: true,
  patchResource: true,
  deleteResource: true,
};

export type GraphqlState = 'not started' | 'building' | 'ready' | 'failed';

type OnServerError = (err: unknown) => void;

interface PendingQuery {
  repo: FhirRepository;
  onServerError: OnServerError;
  resolve: (response: FhirResponse) => void;
  reject: (err: Error) => void;
}

/**
 * The main thread's side of the GraphQL worker (graphql-worker.ts): starts it, sends it $graphql
 * requests and runs the repository calls their resolvers make on each request's own repository.
 * A worker that dies fails its pending queries; the next query starts a new one.
 */
export class GraphqlThread {
  state: GraphqlState = 'not started';
  private worker?: Worker;
  private ready?: Promise<number>;
  private readonly queries = new Map<number, PendingQuery>();
  private nextId = 1;
  private users = 0;

  /** Starts the worker, which builds the schema; resolves with the build time (ms) once it answers queries. */
  start(): Promise<number> {
    if (!this.ready) {
      this.ready = this.spawn();
      this.ready.catch(() => undefined);
    }
    return this.ready;
  }

  /** Runs a $graphql request in the worker; its reads and writes go through `repo`. */
  async execute(
    req: FhirRequest,
    repo: FhirRepository,
    batch: boolean,
    onServerError: OnServerError
  ): Promise<FhirResponse> {
    await this.start();
    const worker = this.worker;
    if (!worker) {
      throw new Error('The GraphQL worker stopped');
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.queries.set(id, { repo, onServerError, resolve, reject });
      try {
        this.send(worker, { type: 'query', id, body: req.body, config: req.config, batch });
      } catch (err) {
        this.queries.delete(id);
        reject(err);
      }
    });
  }

  /** Each app using the thread holds it (the returned function lets go); the worker stops with the last. */
  hold(): () => Promise<void> {
    this.users++;
    let held = true;
    return async () => {
      if (held) {
        held = false;
        this.users--;
        if (this.users === 0) {
          await this.stop();
        }
      }
    };
  }

  private async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    this.state = 'not started';
    this.failQueries(new Error('The GraphQL worker stopped'));
    await worker?.terminate();
  }

  private spawn(): Promise<number> {
    this.state = 'building';
    const workerData: GraphqlWorkerData = DEFINITION_FILES;
    const worker = new Worker(WORKER_URL, { workerData });
    // Never the reason a process stays up; an app that holds it stops it on close.
    worker.unref();
    this.worker = worker;
    return new Promise((resolve, reject) => {
      let failure: Error | undefined;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          this.state = 'ready';
          resolve(message.buildMs);
        } else {
          this.receive(worker, message);
        }
      });
      worker.on('error', (err) => {
        failure = err;
      });
      worker.on('exit', (code) => {
        const err = new Error(`The GraphQL worker exited (code ${code})${failure ? `: ${failure.message}` : ''}`);
        reject(err);
        if (this.worker === worker) {
          this.worker = undefined;
          this.ready = undefined;
          this.state = 'failed';
          this.failQueries(err);
        }
      });
    });
  }

  private receive(worker: Worker, message: FromWorker): void {
    if (message.type === 'call') {
      void this.serveCall(worker, message);
      return;
    }
    if (message.type !== 'answer' && message.type !== 'fault') {
      return;
    }
    const query = this.queries.get(message.id);
    this.queries.delete(message.id);
    if (message.type === 'answer') {
      query?.resolve(message.response);
    } else {
      query?.reject(new Error(`GraphQL worker: ${message.message}`));
    }
  }

  /** Runs one repository call of a query on that query's repository and sends back the answer. */
  private async serveCall(worker: Worker, message: FromWorker & { type: 'call' }): Promise<void> {
    const query = this.queries.get(message.id);
    try {
      if (!query || REMOTE_METHODS[message.method] !== true) {
        throw new Error(`The GraphQL worker called ${message.method} outside a query`);
      }
      const method = query.repo[message.method] as unknown as (...args: unknown[]) => unknown;
      const value = await method.apply(query.repo, message.args);
      this.send(worker, {
        type: 'result',
        callId: message.callId,
        value: message.method === 'readReferences' ? (value as unknown[]).map(withRemoteErrors) : value,
      });
    } catch (err) {
      const { status, outcome } = toOperationOutcome(err);
      if (status >= 500) {
        (query?.onServerError ?? (() => undefined))(err);
      }
      this.send(worker, { type: 'failure', callId: message.callId, outcome });
    }
  }

  private send(worker: Worker, message: ToWorker): void {
    worker.postMessage(message);
  }

  private failQueries(err: Error): void {
    for (const query of this.queries.values()) {
      query.reject(err);
    }
    this.queries.clear();
  }
}

function withRemoteErrors(value: unknown): unknown {
  return value instanceof Error ? ({ remoteError: toOperationOutcome(value).outcome } satisfies RemoteError) : value;
}

let shared: GraphqlThread | undefined;

/** The process's GraphQL thread: apps in one process share it (the schema takes ~0.5 GB). */
export function sharedGraphqlThread(): GraphqlThread {
  shared ??= new GraphqlThread();
  return shared;
}

/** FhirRouter's $graphql route handler, running the query in `thread`. */
export function graphqlInThread(thread: GraphqlThread, onServerError: OnServerError): FhirRouteHandler {
  return async (req, repo, _router, options) => {
    checkGraphqlQuery(req.body);
    return thread.execute(req, repo, Boolean(options?.batch), onServerError);
  };
}
