import type { AccessPolicyInteraction, Operation, SearchRequest, WithId } from '@medplum/core';
import {
  applyPatch,
  badRequest,
  fhirpathPatchTypedValue,
  forbidden,
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
import type { Bundle, Parameters, ProjectMembership, Reference, Resource } from '@medplum/fhirtypes';
import {
  type AccessContext,
  entriesFor,
  permits,
  permitsType,
  redactSecrets,
  SHARED_DEFINITION_TYPES,
} from '../access/policy.js';
import { isRetryableDatabaseError } from '../errors.js';
import type { Pool, PoolClient, Queryable } from '../infra/postgres.js';
import { withSubscriptionSecret } from '../subscriptions/secret.js';
import { computePatientCompartments } from './compartments.js';
import { type HistoryQuery, readHistoryBundle } from './history.js';
import { type AccessCondition, accessCondition } from './search/access-filter.js';
import { executeSearch, searchByReference } from './search/execute.js';
import { type CurrentRow, selectCurrent, type VersionToWrite, writeVersion } from './write-resource.js';

/** Everything a repository needs to know about who is asking and how to answer. */
export interface RepositoryContext {
  pool: Pool;
  baseUrl: string;
  /** The project new resources belong to (meta.project). */
  projectId?: string;
  /** Who writes (meta.author). */
  author?: Reference;
  /**
   * What the caller may do: its project and effective AccessPolicy, enforced on every read,
   * search, history and write. Undefined only for the server's own (system) repository.
   */
  access?: AccessContext;
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
  private searchAccess: AccessCondition | undefined;

  constructor(ctx: RepositoryContext, client?: PoolClient) {
    super();
    this.ctx = ctx;
    this.client = client;
    this.searchAccess = ctx.access ? accessCondition(ctx.access) : undefined;
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
    const resource = row.content ? (JSON.parse(row.content) as WithId<T>) : undefined;
    this.checkAccess(resourceType, row, resource, 'read');
    if (row.deleted || !resource) {
      throw new OperationOutcomeError(gone);
    }
    return this.ctx.access ? redactSecrets(resource) : resource;
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
    return this.history({ resourceType, id, count: options?.limit, offset: options?.offset });
  }

  /**
   * Instance, type or system history, newest first: https://hl7.org/fhir/R4/http.html#history
   * A caller sees the versions of its project that its policy lets it read; a version it may not
   * read is left out of the page (so a page can hold fewer than `_count` entries).
   */
  async history<T extends Resource>(query: HistoryQuery): Promise<Bundle<WithId<T>>> {
    if (query.resourceType) {
      assertResourceType(query.resourceType);
    }
    if (query.id) {
      await this.assertExisted(query.resourceType as string, query.id, 'history');
    }
    const access = this.ctx.access;
    if (!access) {
      return readHistoryBundle<T>(this.db, this.ctx.baseUrl, query);
    }
    if (query.resourceType && !permitsType(access, query.resourceType, 'history')) {
      throw new OperationOutcomeError(forbidden);
    }
    const bundle = await readHistoryBundle<T>(this.db, this.ctx.baseUrl, { ...query, projectId: access.projectId });
    bundle.entry = bundle.entry?.filter((entry) => {
      if (entry.resource) {
        return permits(access, entry.resource, 'history');
      }
      // A deletion shows only an id: visible where the policy grants the whole type.
      const type = entry.fullUrl?.split('/').at(-2) ?? '';
      return (
        query.id !== undefined || entriesFor(access.policy, type, 'history').some((e) => !e.criteria && !e.compartment)
      );
    });
    for (const entry of bundle.entry ?? []) {
      entry.resource = entry.resource && redactSecrets(entry.resource);
    }
    return bundle;
  }

  async readVersion<T extends Resource>(resourceType: string, id: string, vid: string): Promise<WithId<T>> {
    await this.assertExisted(resourceType, id, 'vread');
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
    const version = JSON.parse(row.content) as WithId<T>;
    if (this.ctx.access && !permits(this.ctx.access, version, 'vread')) {
      throw new OperationOutcomeError(notFound);
    }
    return this.ctx.access ? redactSecrets(version) : version;
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
      repo.checkAccess(resourceType, row, resource, 'update');
      applyAnyPatch(resource, patch);
      if (resource.resourceType !== resourceType || resource.id !== id) {
        throw new OperationOutcomeError(badRequest('Patch must not change resourceType or id'));
      }
      return (await repo.updateLocked(resource, 'PATCH', options?.ifMatch, row)).resource;
    });
  }

  async deleteResource(resourceType: string, id: string, options?: DeleteResourceOptions): Promise<void> {
    assertResourceType(resourceType);
    await this.inTransaction(async (repo) => {
      const row = await selectCurrent(repo.db, resourceType, id, true);
      if (!row) {
        throw new OperationOutcomeError(notFound);
      }
      repo.checkAccess(resourceType, row, row.content ? JSON.parse(row.content) : undefined, 'delete');
      checkIfMatch(options?.ifMatch, row.versionId);
      if (row.deleted) {
        return; // deleting twice is not an error: https://hl7.org/fhir/R4/http.html#delete
      }
      const deletion = repo.newVersion(resourceType, id, 'DELETE', undefined);
      deletion.projectId = row.projectId ?? undefined;
      await writeVersion(repo.db, deletion, row);
    });
  }

  async search<T extends Resource>(
    searchRequest: SearchRequest<T>,
    options?: SearchOptions
  ): Promise<Bundle<WithId<T>>> {
    this.checkSearchable(searchRequest);
    const bundle = await executeSearch(this.searchContext(), this, searchRequest, options);
    if (this.ctx.access) {
      for (const entry of bundle.entry ?? []) {
        entry.resource = entry.resource && redactSecrets(entry.resource);
      }
    }
    return bundle;
  }

  async searchByReference<T extends Resource>(
    searchRequest: SearchRequest<T>,
    referenceField: string,
    references: string[]
  ): Promise<Record<string, WithId<T>[]>> {
    this.checkSearchable(searchRequest);
    const matches = await searchByReference(this.searchContext(), this, searchRequest, referenceField, references);
    if (this.ctx.access) {
      for (const list of Object.values(matches)) {
        list.forEach((resource, i) => {
          list[i] = redactSecrets(resource);
        });
      }
    }
    return matches;
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
      access: this.searchAccess,
    };
  }

  /** A search of types the caller may not search at all is refused (403), not answered empty. */
  private checkSearchable(searchRequest: SearchRequest): void {
    const access = this.ctx.access;
    if (!access) {
      return;
    }
    const types = searchRequest.types?.length ? searchRequest.types : [searchRequest.resourceType];
    if (!types.some((t) => permitsType(access, t, 'search') || SHARED_DEFINITION_TYPES.has(t))) {
      throw new OperationOutcomeError(forbidden);
    }
  }

  /**
   * Refuses an interaction with an existing resource the caller may not perform: 404 when the
   * resource is in another project or outside its policy (its existence is not revealed), 403
   * when its policy grants the type but not this interaction on it.
   */
  private checkAccess(
    resourceType: string,
    row: CurrentRow,
    resource: Resource | undefined,
    interaction: AccessPolicyInteraction
  ): void {
    const access = this.ctx.access;
    if (!access) {
      return;
    }
    const reading = interaction === 'read' || interaction === 'vread' || interaction === 'history';
    if (row.projectId === null && SHARED_DEFINITION_TYPES.has(resourceType)) {
      if (reading) {
        return;
      }
      throw new OperationOutcomeError(forbidden);
    }
    // A Project belongs to itself (it is created by the server, outside any project).
    const ownProject = resourceType === 'Project' && resource?.id === access.projectId;
    if (row.projectId !== access.projectId && !ownProject) {
      throw new OperationOutcomeError(notFound);
    }
    // What the caller cannot read does not exist for it; what it reads but may not change is 403.
    const readable = resource ? permits(access, resource, 'read') : permitsType(access, resourceType, 'read');
    if (!readable) {
      throw new OperationOutcomeError(notFound);
    }
    const allowed = resource ? permits(access, resource, interaction) : permitsType(access, resourceType, interaction);
    if (interaction !== 'read' && !allowed) {
      throw new OperationOutcomeError(forbidden);
    }
  }

  /** Refuses a new version the caller may not write (`create` or `update` of this content). */
  private async checkWrite(resource: Resource, interaction: 'create' | 'update'): Promise<void> {
    const access = this.ctx.access;
    if (!access) {
      return;
    }
    if (!permits(access, resource, interaction)) {
      throw new OperationOutcomeError(forbidden);
    }
    if (resource.resourceType === 'ProjectMembership') {
      await this.checkMembershipTargets(resource as ProjectMembership, access.projectId);
    }
  }

  /**
   * A membership made through the API belongs to the caller's project and names a user and a
   * profile of that project: naming another project's client or user would let its tokens act here.
   */
  private async checkMembershipTargets(membership: ProjectMembership, projectId: string): Promise<void> {
    if (membership.project?.reference !== `Project/${projectId}`) {
      throw new OperationOutcomeError(
        badRequest('A membership must belong to your project', 'ProjectMembership.project')
      );
    }
    for (const [field, reference] of [
      ['user', membership.user?.reference],
      ['profile', membership.profile?.reference],
    ] as const) {
      const [type, id] = reference?.split('/') ?? [];
      const row = type && id && isResourceType(type) ? await selectCurrent(this.db, type, id, false) : undefined;
      if (!row || row.deleted || row.projectId !== projectId) {
        throw new OperationOutcomeError(
          badRequest(`ProjectMembership.${field} must name a resource of your project`, `ProjectMembership.${field}`)
        );
      }
    }
  }

  /** Update (or update-as-create) with the row already locked by this transaction. */
  private async updateLocked<T extends Resource>(
    resource: T,
    method: 'PUT' | 'PATCH',
    ifMatch: string | undefined,
    lockedRow?: CurrentRow
  ): Promise<{ resource: WithId<T>; created: boolean }> {
    const { resourceType, id } = resource as WithId<T>;
    const row = lockedRow ?? (await selectCurrent(this.db, resourceType, id, true));
    // The version being replaced; a PATCH's locked row was parsed (and patched) by its caller.
    let previous: Resource | undefined;
    if (row && !lockedRow) {
      previous = row.content ? JSON.parse(row.content) : undefined;
      this.checkAccess(resourceType, row, previous, 'update');
    }
    if (ifMatch !== undefined) {
      checkIfMatch(ifMatch, row?.deleted ? undefined : row?.versionId);
    }
    if (!row) {
      // Update as create: https://hl7.org/fhir/R4/http.html#upsert
      if (!ID_PATTERN.test(id)) {
        throw new OperationOutcomeError(badRequest('Invalid id', `${resourceType}.id`));
      }
      return { resource: await this.writeNew(resource as WithId<T>, method), created: true };
    }
    const version = await this.prepare(
      withSubscriptionSecret(
        resource as WithId<T>,
        () => previous ?? (row.content ? JSON.parse(row.content) : undefined)
      ),
      method,
      row.projectId ?? undefined
    );
    await this.checkWrite(version.resource, 'update');
    await writeVersion(this.db, version.write, row);
    return { resource: version.resource, created: false };
  }

  private async writeNew<T extends Resource>(
    resource: WithId<T>,
    method: 'POST' | 'PUT' | 'PATCH'
  ): Promise<WithId<T>> {
    if (!ID_PATTERN.test(resource.id)) {
      throw new OperationOutcomeError(badRequest('Invalid id', `${resource.resourceType}.id`));
    }
    const version = await this.prepare(withSubscriptionSecret(resource), method);
    await this.checkWrite(version.resource, 'create');
    await writeVersion(this.db, version.write, undefined);
    return version.resource;
  }

  /**
   * Validates and stamps server-managed meta on a resource about to become a new version:
   * version, time, project (the caller's, else the resource's own), author, compartments.
   */
  private async prepare<T extends Resource>(
    input: WithId<T>,
    method: VersionToWrite['method'],
    currentProjectId?: string
  ) {
    const {
      versionId: _v,
      lastUpdated: _l,
      project: _p,
      author: _a,
      compartment: _c,
      ...clientMeta
    } = (input.meta ?? {}) as Record<string, unknown>;
    const candidate = { ...input, meta: Object.keys(clientMeta).length ? clientMeta : undefined } as WithId<T>;
    if (!candidate.meta) {
      delete candidate.meta;
    }
    await this.ctx.validate(candidate);
    const write = this.newVersion(input.resourceType, input.id, method, candidate);
    write.projectId ??= currentProjectId;
    const compartment = computePatientCompartments(candidate);
    const resource = {
      ...candidate,
      meta: {
        ...candidate.meta,
        versionId: write.versionId,
        lastUpdated: write.lastUpdated,
        ...(write.projectId ? { project: write.projectId } : undefined),
        ...(this.ctx.author ? { author: this.ctx.author } : undefined),
        ...(compartment ? { compartment } : undefined),
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

  /** History and vread of a deleted resource still work; of a never-created one (or an unreadable one), 404. */
  private async assertExisted(resourceType: string, id: string, interaction: 'history' | 'vread'): Promise<void> {
    assertResourceType(resourceType);
    const row = ID_PATTERN.test(id) ? await selectCurrent(this.db, resourceType, id, false) : undefined;
    if (!row) {
      throw new OperationOutcomeError(notFound);
    }
    this.checkAccess(resourceType, row, row.content ? JSON.parse(row.content) : undefined, interaction);
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
