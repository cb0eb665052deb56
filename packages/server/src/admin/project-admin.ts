import type { WithId } from '@medplum/core';
import { badRequest, forbidden, notFound, OperationOutcomeError } from '@medplum/core';
import type { AccessPolicy, Project, ProjectMembership, Reference } from '@medplum/fhirtypes';
import { ALL_INTERACTIONS, parseResourceScopes } from '../access/scopes.js';
import type { VerifiedToken } from '../auth/access-token.js';
import type { PostgresRepository } from '../repository/repository.js';

export interface ProjectAdmin {
  project: WithId<Project>;
  /** The caller's own membership (in their project, which is a super admin project when it differs). */
  membership: WithId<ProjectMembership>;
}

/**
 * The project an admin route acts on, when the caller may administer it: their membership is
 * active, has `admin: true`, and is in that project (or in a super admin project). 403 otherwise.
 */
export async function requireProjectAdmin(
  systemRepo: PostgresRepository,
  auth: VerifiedToken | undefined,
  projectId: string
): Promise<ProjectAdmin> {
  // A token narrowed by SMART scopes (e.g. an app granted patient/Observation.read) must not
  // administer the project, whatever its user may do.
  if (!auth || !grantsEverything(auth.scope)) {
    throw new OperationOutcomeError(forbidden);
  }
  const membership = await systemRepo
    .readResource<ProjectMembership>('ProjectMembership', auth.membership)
    .catch(() => undefined);
  if (
    !membership?.admin ||
    membership.active === false ||
    membership.project?.reference !== `Project/${auth.project}`
  ) {
    throw new OperationOutcomeError(forbidden);
  }
  if (auth.project !== projectId) {
    const own = await systemRepo.readResource<Project>('Project', auth.project).catch(() => undefined);
    if (!own?.superAdmin) {
      throw new OperationOutcomeError(forbidden);
    }
  }
  const project = await systemRepo.readResource<Project>('Project', projectId).catch(() => undefined);
  if (!project) {
    throw new OperationOutcomeError(notFound);
  }
  return { project, membership };
}

/** No SMART resource scope at all (the policy alone applies), or one granting every interaction on every type. */
function grantsEverything(scope: string | undefined): boolean {
  const scopes = parseResourceScopes(scope);
  return (
    scopes === undefined ||
    scopes.some(
      (s) =>
        s.context !== 'patient' &&
        s.resourceType === '*' &&
        !s.query &&
        s.interactions.length === ALL_INTERACTIONS.length
    )
  );
}

/** A 400 OperationOutcome naming the offending field, as Medplum's forms expect. */
export function invalidField(field: string, message: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message, field));
}

/** The request body as an object, or 400. */
export function bodyObject(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new OperationOutcomeError(badRequest('Request body must be a JSON object'));
  }
  return body as Record<string, unknown>;
}

/** A trimmed string field; undefined when absent, 400 when not a usable string. */
export function optionalString(
  body: Record<string, unknown>,
  field: string,
  options: { max?: number; pattern?: RegExp; message?: string } = {}
): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw invalidField(field, `${field} must be a string`);
  }
  const trimmed = value.trim();
  if (!trimmed) {
    return undefined;
  }
  if (trimmed.length > (options.max ?? 200) || (options.pattern && !options.pattern.test(trimmed))) {
    throw invalidField(field, options.message ?? `Invalid ${field}`);
  }
  return trimmed;
}

export function requiredString(
  body: Record<string, unknown>,
  field: string,
  label: string,
  options: { max?: number } = {}
): string {
  const value = optionalString(body, field, { ...options, message: `${label} is too long` });
  if (!value) {
    throw invalidField(field, `${label} is required`);
  }
  return value;
}

export function optionalBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'boolean') {
    throw invalidField(field, `${field} must be true or false`);
  }
  return value;
}

/**
 * An AccessPolicy named by the request (`"id"`, `"AccessPolicy/id"` or `{reference}`), which
 * must belong to the project: a policy of another project could grant nothing sensible here.
 */
export async function projectAccessPolicy(
  systemRepo: PostgresRepository,
  projectId: string,
  value: unknown
): Promise<Reference<AccessPolicy> | undefined> {
  if (value === undefined || value === null || value === '') {
    return undefined;
  }
  const text = typeof value === 'string' ? value : (value as Reference | undefined)?.reference;
  const id = typeof text === 'string' ? text.replace(/^AccessPolicy\//, '') : undefined;
  if (!id || id.includes('/')) {
    throw invalidField('accessPolicy', 'accessPolicy must be an AccessPolicy id or reference');
  }
  const policy = await systemRepo.readResource<AccessPolicy>('AccessPolicy', id).catch(() => undefined);
  if (!policy || policy.meta?.project !== projectId) {
    throw invalidField('accessPolicy', 'accessPolicy is not an AccessPolicy of this project');
  }
  return { reference: `AccessPolicy/${policy.id}` };
}
