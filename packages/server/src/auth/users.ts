import type { Filter, WithId } from '@medplum/core';
import { Operator } from '@medplum/core';
import type { ProjectMembership, User } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repository/repository.js';

/** Emails compare case-insensitively; stored as written, compared lower-cased. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * The User who signs in with this email. A User with `project` set belongs to that project only
 * (Medplum's project-scoped users); with a projectId, that project's user wins over a
 * server-wide one. Without one, a server-wide user, else the only project-scoped user.
 */
export async function findUserByEmail(
  systemRepo: PostgresRepository,
  email: string,
  projectId?: string
): Promise<WithId<User> | undefined> {
  const wanted = normalizeEmail(email);
  // The string search is a case-insensitive prefix match: keep exact matches only.
  const users = (
    await systemRepo.searchResources<User>({
      resourceType: 'User',
      filters: [{ code: 'email', operator: Operator.EQUALS, value: wanted }],
      count: 20,
    })
  ).filter((user) => user.email !== undefined && normalizeEmail(user.email) === wanted);
  const serverWide = users.find((user) => !user.project);
  if (projectId) {
    return users.find((user) => user.project?.reference === `Project/${projectId}`) ?? serverWide;
  }
  if (serverWide) {
    return serverWide;
  }
  return users.length === 1 ? users[0] : undefined;
}

/** The active memberships of a user, optionally in one project only. */
export async function findMemberships(
  systemRepo: PostgresRepository,
  userReference: string,
  projectId?: string
): Promise<WithId<ProjectMembership>[]> {
  const filters: Filter[] = [{ code: 'user', operator: Operator.EQUALS, value: userReference }];
  if (projectId) {
    filters.push({ code: 'project', operator: Operator.EQUALS, value: `Project/${projectId}` });
  }
  const memberships = await systemRepo.searchResources<ProjectMembership>({
    resourceType: 'ProjectMembership',
    filters,
    count: 100,
  });
  return memberships.filter((membership) => membership.active !== false);
}
