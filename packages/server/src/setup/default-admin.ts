import { randomBytes } from 'node:crypto';
import type { WithId } from '@medplum/core';
import { generateId } from '@medplum/core';
import type { ClientApplication, Practitioner, Project, ProjectMembership, User } from '@medplum/fhirtypes';
import { hashPassword } from '../auth/password.js';
import { DEFAULT_ADMIN_PASSWORD, type TibaConfig } from '../config.js';
import type { PostgresRepository } from '../repository/repository.js';

export interface SetupLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const ADMIN_CLIENT_TAG = { system: 'https://tiba.health/fhir/CodeSystem/setup', code: 'admin-client' };

/**
 * On an empty database: the super admin, the default project and its ClientApplication.
 * On every start: the admin client named by ADMIN_CLIENT_ID/SECRET exists with that secret.
 * Returns the default project.
 */
export async function ensureDefaultAdmin(
  repo: PostgresRepository,
  config: Readonly<TibaConfig>,
  log: SetupLog
): Promise<WithId<Project>> {
  if (config.adminPassword === DEFAULT_ADMIN_PASSWORD) {
    log.warn({}, 'ADMIN_PASSWORD is the default; set it before exposing this server');
  }
  let project = await repo.searchOne<Project>({ resourceType: 'Project', count: 1 });
  if (!project) {
    project = await createAdminAndProject(repo, config);
    log.info({ email: config.adminEmail, project: project.id }, 'Created the super admin and the default project');
  }
  await ensureAdminClient(repo, config, project, log);
  return project;
}

async function createAdminAndProject(repo: PostgresRepository, config: Readonly<TibaConfig>): Promise<WithId<Project>> {
  const userId = generateId();
  const project = await repo.createResource<Project>({
    resourceType: 'Project',
    name: 'Default Project',
    owner: { reference: `User/${userId}` },
    superAdmin: true,
    strictMode: true,
  });
  const practitioner = await repo.inProject(project.id).createResource<Practitioner>({
    resourceType: 'Practitioner',
    name: [{ given: ['Admin'], family: 'User' }],
    telecom: [{ system: 'email', use: 'work', value: config.adminEmail }],
  });
  await repo.createResource<User>(
    {
      resourceType: 'User',
      id: userId,
      firstName: 'Admin',
      lastName: 'User',
      email: config.adminEmail,
      passwordHash: await hashPassword(config.adminPassword),
      admin: true,
    },
    { assignedId: true }
  );
  await repo.inProject(project.id).createResource<ProjectMembership>({
    resourceType: 'ProjectMembership',
    project: { reference: `Project/${project.id}` },
    user: { reference: `User/${userId}` },
    profile: { reference: `Practitioner/${practitioner.id}` },
    admin: true,
  });
  return project;
}

async function ensureAdminClient(
  repo: PostgresRepository,
  config: Readonly<TibaConfig>,
  project: WithId<Project>,
  log: SetupLog
): Promise<void> {
  if (!config.adminClientId) {
    const existing = await repo.searchOne<ClientApplication>({
      resourceType: 'ClientApplication',
      filters: [{ code: '_tag', operator: 'eq', value: `${ADMIN_CLIENT_TAG.system}|${ADMIN_CLIENT_TAG.code}` }],
    });
    if (existing) {
      return;
    }
  }
  const id = config.adminClientId ?? generateId();
  const current = await repo.readResource<ClientApplication>('ClientApplication', id).catch(() => undefined);
  const secret = config.adminClientSecret ?? current?.secret ?? randomBytes(32).toString('hex');
  if (current?.secret === secret) {
    return;
  }
  await repo.inProject(project.id).updateResource<ClientApplication>({
    resourceType: 'ClientApplication',
    id,
    meta: { tag: [ADMIN_CLIENT_TAG] },
    name: 'Tiba admin client',
    description: 'Created at first start for the default project (ADMIN_CLIENT_ID / ADMIN_CLIENT_SECRET)',
    secret,
  });
  if (!current) {
    await repo.inProject(project.id).createResource<ProjectMembership>({
      resourceType: 'ProjectMembership',
      project: { reference: `Project/${project.id}` },
      user: { reference: `ClientApplication/${id}` },
      profile: { reference: `ClientApplication/${id}` },
      admin: true,
    });
  }
  if (config.adminClientSecret) {
    log.info({ clientId: id }, 'Admin client ready (secret from ADMIN_CLIENT_SECRET)');
  } else {
    // Logged once, when generated: the operator copies it from here.
    log.info(
      { clientId: id, clientSecret: secret },
      'Generated the admin client; set ADMIN_CLIENT_ID/ADMIN_CLIENT_SECRET to keep your own'
    );
  }
}
