import type { Operation, SearchRequest, WithId } from '@medplum/core';
import {
  applyPatch,
  badRequest,
  fhirpathPatchTypedValue,
  generateId,
  gone,
  isResourceType,
  normalizeOperationOutcome,
  notFound,
  OperationOutcomeError,
  parseFhirPathPatchParameters,
  preconditionFailed,
  toTypedValue,
} from '@medplum/core';
import type {
  CreateResourceOptions,
  DeleteResourceOptions,
  ReadHistoryOptions,
  RepositoryMode,
  SearchOptions,
  TransactionOptions,
  UpdateResourceOptions,
} from '@medplum/fhir-router';
import { FhirRepository } from '@medplum/fhir-router';
import type { Bundle, Parameters, Reference, Resource } from '@medplum/fhirtypes';
import { isRetryableDatabaseError } from '../errors.js';
import type { Pool, PoolClient, Queryable } from '../infra/postgres.js';
import { type HistoryQuery, readHistoryBundle } from './history.js';
import { executeSearch, searchByReference } from './search/execute.js';
import { selectCurrent, type VersionToWrite, writeVersion } from './write-resource.js';

/** Everything a repository needs to know about who is asking and how to answer. */
export interface RepositoryContext {
  pool: Pool;
  baseUrl: string;
  /** The project new resources belong to (meta.project). */
  projectId?: string;
  /** Who writes (meta.author). */
  author?: Reference;
  /** Prefer: handling=lenient — unknown search parameters are ignored instead of rejected. */
  lenient?: boolean;
  maxAccurateTotal: number;
  /** Throws an OperationOutcomeError when a resource is not valid; runs on every write. */
  validate: (resource: Resource) => void | Promise<void>;
}

/** FHIR ids: https://hl7.org/fhir/R4/datatypes.html#id */
const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_TRANSACTION_ATTEMPTS = 5;

/**
 * The FhirRepository on PostgreSQL: current versions in `resource`, every version in
 * `resource_history`, search values in the search_* tables (see docs/architecture.md).
 * One instance serves one request; inside a transaction it is bound to one client.
 */
export class PostgresRepository extends FhirRepository {
  private readonly ctx: RepositoryContext;
  private readonly client: PoolClient | undefined;

  constructor(ctx: RepositoryContext, client?: PoolClient) {
    super();
    this.ctx = ctx;
    this.client = client;
  }

  /** The same caller acting inside another project (new resources get that meta.project). */
  inProject(projectId: string): PostgresRepository {
    return new PostgresRepository({ ...this.ctx, projectId }, this.client);
  }

  private get db(): Queryable {
    return this.client ?? this.ctx.pool;
  }

  setMode(_mode: RepositoryMode): void {
    // A single primary: readers and writers share it.
  }

  generateId(): string {
    return generateId();
  }

  async createResource<T extends Resource>(resource: T, options?: CreateResourceOptions): Promise<WithId<T>> {
    assertResourceType(resource.resourceType);
    const id = options?.assignedId && resource.id ? resource.id : generateId();
    return this.writeNew({ ...resource, id }, 'POST');
  }

  async readResource<T extends Resource>(resourceType: string, id: string): Promise<WithId<T>> {
    assertResourceType(resourceType);
    if (!ID_PATTERN.test(id)) {
      throw new OperationOutcomeError(notFound);
    }
    const row = await selectCurrent(this.db, resourceType, id, false);
    if (!row) {
      throw new OperationOutcomeError(notFound);
    }
    if (row.deleted || !row.content) {
      throw new OperationOutcomeError(gone);
    }
    return JSON.parse(row.content) as WithId<T>;
  }

  async readReference<T extends Resource>(reference: Reference<T>): Promise<WithId<T>> {
    const [resourceType, id] = reference.reference?.split('/') ?? [];
    if (!resourceType || !id) {
      throw new OperationOutcomeError(badRequest('Invalid reference'));
    }
    return this.readResource<T>(resourceType, id);
  }

  async readReferences<T extends Resource>(references: readonly Reference<T>[]): Promise<(T | Error)[]> {
    return Promise.all(
      references.map((r) =>
        this.readReference(r).catch((err) => new OperationOutcomeError(normalizeOperationOutcome(err)))
      )
    );
  }

  async readHistory<T extends Resource>(
    resourceType: string,
    id: string,
    options?: ReadHistoryOptions
  ): Promise<Bundle<WithId<T>>> {
    await this.assertExisted(resourceType, id);
    return this.history({ resourceType, id, count: options?.limit, offset: options?.offset });
  }

  /** Instance, type or system history, newest first: https://hl7.org/fhir/R4/http.html#history */
  async history<T extends Resource>(query: HistoryQuery): Promise<Bundle<WithId<T>>> {
    if (query.resourceType) {
      assertResourceType(query.resourceType);
    }
    return readHistoryBundle<T>(this.db, this.ctx.baseUrl, query);
  }

  async readVersion<T extends Resource>(resourceType: string, id: string, vid: string): Promise<WithId<T>> {
    await this.assertExisted(resourceType, id);
    if (!UUID_PATTERN.test(vid)) {
      throw new OperationOutcomeError(notFound);
    }
    const result = await this.db.query<{ content: string | null }>(
      'SELECT content FROM resource_history WHERE version_id = $1 AND resource_type = $2 AND id = $3',
      [vid, resourceType, id]
    );
    const row = result.rows[0];
    if (!row) {
      throw new OperationOutcomeError(notFound);
    }
    if (!row.content) {
      throw new OperationOutcomeError(gone);
    }
    return JSON.parse(row.content) as WithId<T>;
  }

  async updateResource<T extends Resource>(resource: T, options?: UpdateResourceOptions): Promise<WithId<T>> {
    return (await this.upsertResource(resource, options)).resource;
  }

  /** Update, or create when the id is new (https://hl7.org/fhir/R4/http.html#upsert); says which. */
  async upsertResource<T extends Resource>(
    resource: T,
    options?: UpdateResourceOptions
  ): Promise<{ resource: WithId<T>; created: boolean }> {
    assertResourceType(resource.resourceType);
    if (!resource.id) {
      throw new OperationOutcomeError(badRequest('Missing id', `${resource.resourceType}.id`));
    }
    return this.inTransaction(async (repo) => repo.updateLocked(resource, 'PUT', options?.ifMatch));
  }

  async patchResource<T extends Resource>(
    resourceType: T['resourceType'],
    id: string,
    patch: Operation[] | Parameters,
    options?: UpdateResourceOptions
  ): Promise<WithId<T>> {
    return this.inTransaction(async (repo) => {
      const row = await repo.lockExisting(resourceType, id);
      const resource = JSON.parse(row.content as string) as WithId<T>;
      applyAnyPatch(resource, patch);
      if (resource.resourceType !== resourceType || resource.id !== id) {
        throw new OperationOutcomeError(badRequest('Patch must not change resourceType or id'));
      }
      return (await repo.updateLocked(resource, 'PATCH', options?.ifMatch, row.versionId)).resource;
    });
  }

  async deleteResource(resourceType: string, id: string, options?: DeleteResourceOptions): Promise<void> {
    assertResourceType(resourceType);
    await this.inTransaction(async (repo) => {
      const row = await selectCurrent(repo.db, resourceType, id, true);
      if (!row) {
        throw new OperationOutcomeError(notFound);
      }
      checkIfMatch(options?.ifMatch, row.versionId);
      if (row.deleted) {
        return; // deleting twice is not an error: https://hl7.org/fhir/R4/http.html#delete
      }
      await writeVersion(repo.db, repo.newVersion(resourceType, id, 'DELETE', undefined), true);
    });
  }

  async search<T extends Resource>(
    searchRequest: SearchRequest<T>,
    options?: SearchOptions
  ): Promise<Bundle<WithId<T>>> {
    return executeSearch(this.searchContext(), this, searchRequest, options);
  }

  async searchByReference<T extends Resource>(
    searchRequest: SearchRequest<T>,
    referenceField: string,
    references: string[]
  ): Promise<Record<string, WithId<T>[]>> {
    return searchByReference(this.searchContext(), this, searchRequest, referenceField, references);
  }

  async withTransaction<TResult>(
    callback: (txRepo: this) => Promise<TResult>,
    options?: TransactionOptions
  ): Promise<TResult> {
    return this.inTransaction(callback, options?.serializable);
  }

  /**
   * Runs the callback in one database transaction, retried from scratch on serialization
   * failures and deadlocks. Nested calls join the outer transaction.
   */
  private async inTransaction<TResult>(
    callback: (txRepo: this) => Promise<TResult>,
    serializable = false
  ): Promise<TResult> {
    if (this.client) {
      return callback(this);
    }
    for (let attempt = 1; ; attempt++) {
      const client = await this.ctx.pool.connect();
      try {
        await client.query(serializable ? 'BEGIN ISOLATION LEVEL SERIALIZABLE' : 'BEGIN');
        const result = await callback(new PostgresRepository(this.ctx, client) as this);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        // A concurrent update-as-create of the same id loses the insert race: retrying turns it into an update.
        const lostInsertRace = (err as { constraint?: string }).constraint === 'resource_pkey';
        if (!(isRetryableDatabaseError(err) || lostInsertRace) || attempt >= MAX_TRANSACTION_ATTEMPTS) {
          throw err;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
      } finally {
        client.release();
      }
    }
  }

  private searchContext() {
    return {
      db: this.db,
      baseUrl: this.ctx.baseUrl,
      lenient: Boolean(this.ctx.lenient),
      maxAccurateTotal: this.ctx.maxAccurateTotal,
    };
  }

  /** Update (or update-as-create) with the row already locked by this transaction. */
  private async updateLocked<T extends Resource>(
    resource: T,
    method: 'PUT' | 'PATCH',
    ifMatch: string | undefined,
    lockedVersion?: string
  ): Promise<{ resource: WithId<T>; created: boolean }> {
    const { resourceType, id } = resource as WithId<T>;
    let currentVersion = lockedVersion;
    let exists = lockedVersion !== undefined;
    if (!exists) {
      const row = await selectCurrent(this.db, resourceType, id, true);
      exists = row !== undefined;
      currentVersion = row?.deleted ? undefined : row?.versionId;
    }
    if (ifMatch !== undefined) {
      checkIfMatch(ifMatch, currentVersion);
    }
    if (!exists) {
      // Update as create: https://hl7.org/fhir/R4/http.html#upsert
      if (!ID_PATTERN.test(id)) {
        throw new OperationOutcomeError(badRequest('Invalid id', `${resourceType}.id`));
      }
      return { resource: await this.writeNew(resource as WithId<T>, method), created: true };
    }
    const version = await this.prepare(resource as WithId<T>, method);
    await writeVersion(this.db, version.write, true);
    return { resource: version.resource, created: false };
  }

  private async writeNew<T extends Resource>(
    resource: WithId<T>,
    method: 'POST' | 'PUT' | 'PATCH'
  ): Promise<WithId<T>> {
    if (!ID_PATTERN.test(resource.id)) {
      throw new OperationOutcomeError(badRequest('Invalid id', `${resource.resourceType}.id`));
    }
    const version = await this.prepare(resource, method);
    await writeVersion(this.db, version.write, false);
    return version.resource;
  }

  /** Validates and stamps server-managed meta on a resource about to become a new version. */
  private async prepare<T extends Resource>(input: WithId<T>, method: VersionToWrite['method']) {
    const {
      versionId: _v,
      lastUpdated: _l,
      project: _p,
      author: _a,
      ...clientMeta
    } = (input.meta ?? {}) as Record<string, unknown>;
    const candidate = { ...input, meta: Object.keys(clientMeta).length ? clientMeta : undefined } as WithId<T>;
    if (!candidate.meta) {
      delete candidate.meta;
    }
    await this.ctx.validate(candidate);
    const write = this.newVersion(input.resourceType, input.id, method, candidate);
    const resource = {
      ...candidate,
      meta: {
        ...candidate.meta,
        versionId: write.versionId,
        lastUpdated: write.lastUpdated,
        ...(this.ctx.projectId ? { project: this.ctx.projectId } : undefined),
        ...(this.ctx.author ? { author: this.ctx.author } : undefined),
      },
    } as WithId<T>;
    write.resource = resource;
    return { write, resource };
  }

  private newVersion(
    resourceType: string,
    id: string,
    method: VersionToWrite['method'],
    resource: Resource | undefined
  ): VersionToWrite {
    return {
      resourceType,
      id,
      versionId: generateId(),
      lastUpdated: new Date().toISOString(),
      projectId: this.ctx.projectId,
      method,
      resource,
    };
  }

  private async lockExisting(resourceType: string, id: string) {
    assertResourceType(resourceType);
    const row = await selectCurrent(this.db, resourceType, id, true);
    if (!row) {
      throw new OperationOutcomeError(notFound);
    }
    if (row.deleted) {
      throw new OperationOutcomeError(gone);
    }
    return row;
  }

  /** History and vread of a deleted resource still work; of a never-created one, 404. */
  private async assertExisted(resourceType: string, id: string): Promise<void> {
    assertResourceType(resourceType);
    const row = ID_PATTERN.test(id) ? await selectCurrent(this.db, resourceType, id, false) : undefined;
    if (!row) {
      throw new OperationOutcomeError(notFound);
    }
  }
}

function assertResourceType(resourceType: string | undefined): void {
  if (!resourceType || !isResourceType(resourceType)) {
    throw new OperationOutcomeError(badRequest(`Unknown resource type: ${resourceType}`));
  }
}

/**
 * If-Match names a version, as the weak ETag W/"<versionId>" or (from FhirRouter, which has
 * already unwrapped it) the bare versionId: https://hl7.org/fhir/R4/http.html#concurrency
 */
function checkIfMatch(ifMatch: string | undefined, currentVersion: string | undefined): void {
  if (ifMatch === undefined) {
    return;
  }
  const version = /^(?:W\/)?"([^"]+)"$/.exec(ifMatch.trim())?.[1] ?? ifMatch.trim();
  if (version !== currentVersion) {
    throw new OperationOutcomeError(preconditionFailed);
  }
}

function applyAnyPatch(resource: Resource, patch: Operation[] | Parameters): void {
  try {
    if (Array.isArray(patch)) {
      const errors = applyPatch(resource, patch).filter(Boolean);
      if (errors.length > 0) {
        throw new OperationOutcomeError(badRequest(errors.map((e) => (e as Error).message).join('\n')));
      }
    } else if (patch?.resourceType === 'Parameters') {
      fhirpathPatchTypedValue(toTypedValue(resource), parseFhirPathPatchParameters(patch));
    } else {
      throw new OperationOutcomeError(
        badRequest('Patch body must be a JSON Patch array or a FHIRPath Patch Parameters')
      );
    }
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      throw err;
    }
    throw new OperationOutcomeError(badRequest(err instanceof Error ? err.message : 'Invalid patch'));
  }
}
