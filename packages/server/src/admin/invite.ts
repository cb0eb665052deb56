import type { WithId } from '@medplum/core';
import { conflict, OperationOutcomeError, Operator } from '@medplum/core';
import type {
  AccessPolicy,
  ContactPoint,
  Patient,
  Practitioner,
  Project,
  ProjectMembership,
  Reference,
  User,
} from '@medplum/fhirtypes';
import { ensureRolePolicy, type Role } from '../access/roles.js';
import { hashPassword } from '../auth/password.js';
import { normalizeEmail } from '../auth/users.js';
import type { PostgresRepository } from '../repository/repository.js';
import {
  bodyObject,
  invalidField,
  optionalBoolean,
  optionalString,
  projectAccessPolicy,
  requiredString,
} from './project-admin.js';

/** `POST /admin/projects/:projectId/invite` (Medplum's shape, minus email sending). */
export interface InviteRequest {
  resourceType: 'Practitioner' | 'Patient';
  firstName: string;
  lastName: string;
  email?: string;
  phone?: string;
  password?: string;
  /** Validated: an AccessPolicy of the project. */
  accessPolicy?: Reference<AccessPolicy>;
  admin?: boolean;
}

export interface InviteResult {
  user: WithId<User>;
  profile: WithId<Practitioner | Patient>;
  membership: WithId<ProjectMembership>;
}

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PHONE_PATTERN = /^\+?[0-9][0-9 ()./-]{2,30}$/;
export const MIN_PASSWORD_LENGTH = 8;
const MAX_PASSWORD_LENGTH = 256;

/** Checks an invite body; each problem is a 400 OperationOutcome whose `expression` names the field. */
export async function parseInviteRequest(
  systemRepo: PostgresRepository,
  projectId: string,
  rawBody: unknown
): Promise<InviteRequest> {
  const body = bodyObject(rawBody);
  const resourceType = body.resourceType;
  if (resourceType !== 'Practitioner' && resourceType !== 'Patient') {
    throw invalidField('resourceType', 'resourceType must be "Practitioner" or "Patient"');
  }
  const password = body.password;
  if (password !== undefined && password !== null && password !== '') {
    if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH) {
      throw invalidField('password', `Password must be at least ${MIN_PASSWORD_LENGTH} characters`);
    }
    if (password.length > MAX_PASSWORD_LENGTH) {
      throw invalidField('password', `Password must be at most ${MAX_PASSWORD_LENGTH} characters`);
    }
  }
  const email = optionalString(body, 'email', {
    max: 254,
    pattern: EMAIL_PATTERN,
    message: 'Valid email address is required',
  });
  return {
    resourceType,
    firstName: requiredString(body, 'firstName', 'First name'),
    lastName: requiredString(body, 'lastName', 'Last name'),
    email: email === undefined ? undefined : normalizeEmail(email),
    phone: optionalString(body, 'phone', {
      max: 32,
      pattern: PHONE_PATTERN,
      message: 'Valid phone number is required',
    }),
    password: typeof password === 'string' && password !== '' ? password : undefined,
    accessPolicy: await projectAccessPolicy(systemRepo, projectId, body.accessPolicy),
    admin: optionalBoolean(body, 'admin'),
  };
}

/**
 * Creates the profile (Practitioner or Patient), a User scoped to the project, and the
 * ProjectMembership tying them, in one transaction: any failure leaves none of them behind.
 * The membership gets the requested AccessPolicy, else the shipped policy of its role.
 * The transaction is serializable so that two invites of one email cannot both pass the check.
 */
export async function inviteMember(
  systemRepo: PostgresRepository,
  project: WithId<Project>,
  request: InviteRequest,
  invitedBy?: ProjectMembership['invitedBy']
): Promise<InviteResult> {
  // Hashed once, outside the transaction: scrypt is slow and a retry must not repeat it.
  const passwordHash = request.password ? await hashPassword(request.password) : undefined;
  return systemRepo.withTransaction(
    async (tx) => {
      if (request.email) {
        await assertEmailFree(tx, project.id, request.email);
      }
      const repo = tx.inProject(project.id);
      const accessPolicy = request.accessPolicy ?? (await defaultPolicy(repo, project.id, request));
      const telecom: ContactPoint[] = [];
      if (request.email) {
        telecom.push({ system: 'email', value: request.email });
      }
      if (request.phone) {
        telecom.push({ system: 'phone', value: request.phone });
      }
      const profile = await repo.createResource<Practitioner | Patient>({
        resourceType: request.resourceType,
        name: [{ given: [request.firstName], family: request.lastName }],
        ...(telecom.length > 0 ? { telecom } : undefined),
      });
      const user = await repo.createResource<User>({
        resourceType: 'User',
        firstName: request.firstName,
        lastName: request.lastName,
        ...(request.email ? { email: request.email } : undefined),
        ...(passwordHash ? { passwordHash } : undefined),
        project: { reference: `Project/${project.id}` },
      });
      const membership = await repo.createResource<ProjectMembership>({
        resourceType: 'ProjectMembership',
        project: { reference: `Project/${project.id}` },
        user: { reference: `User/${user.id}` },
        profile: { reference: `${profile.resourceType}/${profile.id}` },
        accessPolicy,
        ...(request.admin ? { admin: true } : undefined),
        ...(invitedBy ? { invitedBy } : undefined),
      });
      return { user, profile, membership };
    },
    { serializable: true, resourceTypes: [] }
  );
}

function defaultRole(request: InviteRequest): Role {
  if (request.admin) {
    return 'admin';
  }
  return request.resourceType === 'Patient' ? 'patient' : 'clinician';
}

async function defaultPolicy(
  repo: PostgresRepository,
  projectId: string,
  request: InviteRequest
): Promise<Reference<AccessPolicy>> {
  const policy = await ensureRolePolicy(repo, projectId, defaultRole(request));
  return { reference: `AccessPolicy/${policy.id}` };
}

/**
 * An email names one person per project: 409 when a User of this project has it, or when a
 * server-wide User with it is already a member.
 */
export async function assertEmailFree(repo: PostgresRepository, projectId: string, email: string): Promise<void> {
  const wanted = normalizeEmail(email);
  // The string search is a case-insensitive prefix match: keep exact matches only.
  const users = (
    await repo.searchResources<User>({
      resourceType: 'User',
      filters: [{ code: 'email', operator: Operator.EQUALS, value: wanted }],
      count: 100,
    })
  ).filter((user) => user.email !== undefined && normalizeEmail(user.email) === wanted);
  for (const user of users) {
    if (user.project?.reference === `Project/${projectId}`) {
      throw duplicateEmail();
    }
    if (!user.project) {
      const membership = await repo.searchOne<ProjectMembership>({
        resourceType: 'ProjectMembership',
        filters: [
          { code: 'user', operator: Operator.EQUALS, value: `User/${user.id}` },
          { code: 'project', operator: Operator.EQUALS, value: `Project/${projectId}` },
        ],
      });
      if (membership) {
        throw duplicateEmail();
      }
    }
  }
}

function duplicateEmail(): OperationOutcomeError {
  const outcome = conflict('A user with this email already exists in this project');
  outcome.issue[0].expression = ['email'];
  return new OperationOutcomeError(outcome);
}
