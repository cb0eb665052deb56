import { OperationOutcomeError, unauthorized, type WithId } from '@medplum/core';
import type { AccessPolicy, ProjectMembership, Reference } from '@medplum/fhirtypes';
import type { VerifiedToken } from '../auth/access-token.js';
import type { PostgresRepository } from '../repository/repository.js';
import { type AccessContext, adminPolicy, narrowByScopes, parameterizePolicy } from './policy.js';
import { ensureRolePolicy } from './roles.js';
import { parseResourceScopes } from './scopes.js';

/**
 * The effective policy of a membership: its `access` policies (each with its parameters) or its
 * `accessPolicy`, with `%patient` / `%profile` substituted. Undefined means full project access
 * (an admin member with no policy). A non-admin member without a policy gets the role its
 * profile implies (patient or clinician): no member is ever unrestricted by omission.
 */
export async function resolveMembershipPolicy(
  systemRepo: PostgresRepository,
  membership: WithId<ProjectMembership>
): Promise<AccessPolicy | undefined> {
  const profile = membership.profile?.reference ?? '';
  const base: Record<string, string> = { profile };
  if (profile.startsWith('Patient/')) {
    base.patient = profile;
  }
  const grants: { policy: Reference<AccessPolicy>; parameters: Record<string, string> }[] = [];
  for (const access of membership.access ?? []) {
    const parameters = { ...base };
    for (const p of access.parameter ?? []) {
      const value = p.valueReference?.reference ?? p.valueString;
      if (p.name && value !== undefined) {
        parameters[p.name] = value;
      }
    }
    grants.push({ policy: access.policy, parameters });
  }
  if (membership.accessPolicy) {
    grants.push({ policy: membership.accessPolicy, parameters: base });
  }
  if (grants.length === 0) {
    if (membership.admin) {
      return undefined;
    }
    const projectId = membership.project?.reference?.split('/')[1] ?? '';
    const role = profile.startsWith('Patient/') ? 'patient' : 'clinician';
    return parameterizePolicy(await ensureRolePolicy(systemRepo, projectId, role), base);
  }
  const projectId = membership.project?.reference?.split('/')[1];
  const policies = await Promise.all(
    grants.map(async ({ policy, parameters }) => {
      const read = await systemRepo.readReference<AccessPolicy>(policy).catch(() => undefined);
      // Only the project's own policies apply: a reference to another project's grants nothing.
      return read && read.meta?.project === projectId ? parameterizePolicy(read, parameters) : NO_ACCESS;
    })
  );
  if (policies.length === 1) {
    return policies[0];
  }
  return {
    resourceType: 'AccessPolicy',
    name: policies.map((p) => p.name).join(' + '),
    resource: policies.flatMap((p) => p.resource ?? []),
  };
}

const NO_ACCESS: AccessPolicy = { resourceType: 'AccessPolicy', name: 'No access', resource: [] };

const CACHE_MS = 10_000;
const CACHE_LIMIT = 10_000;

/**
 * Resolves what a token may do. Remembered for a few seconds per membership and scope, so a
 * policy or membership change takes effect within CACHE_MS without a lookup on every request.
 */
export class AccessResolver {
  private readonly cache = new Map<string, { expires: number; access: Promise<AccessContext> }>();

  constructor(private readonly systemRepo: PostgresRepository) {}

  resolve(token: VerifiedToken): Promise<AccessContext> {
    const key = `${token.membership}\n${token.scope}\n${token.patient ?? ''}`;
    const now = Date.now();
    const cached = this.cache.get(key);
    if (cached && cached.expires > now) {
      return cached.access;
    }
    if (this.cache.size >= CACHE_LIMIT) {
      this.cache.clear();
    }
    const access = this.load(token);
    this.cache.set(key, { expires: now + CACHE_MS, access });
    access.catch(() => this.cache.delete(key));
    return access;
  }

  /** A token whose membership is gone, inactive or of another project grants nothing: 401. */
  private async load(token: VerifiedToken): Promise<AccessContext> {
    const membership = await this.systemRepo
      .readResource<ProjectMembership>('ProjectMembership', token.membership)
      .catch(() => undefined);
    if (!membership || membership.active === false || membership.project?.reference !== `Project/${token.project}`) {
      throw new OperationOutcomeError(unauthorized);
    }
    const policy = (await resolveMembershipPolicy(this.systemRepo, membership)) ?? adminPolicy();
    const scopes = parseResourceScopes(token.scope);
    const profile = membership.profile?.reference ?? token.profile;
    const scopePatient = token.patient ?? (profile.startsWith('Patient/') ? profile : undefined);
    return {
      projectId: token.project,
      profile,
      admin: Boolean(membership.admin),
      policy: scopes ? narrowByScopes(policy, scopes, scopePatient) : policy,
    };
  }
}
