import type { WithId } from '@medplum/core';
import type { AccessPolicy, Bot, Project, Reference } from '@medplum/fhirtypes';
import { bodyObject, optionalString, projectAccessPolicy, requiredString } from '../admin/project-admin.js';
import type { PostgresRepository } from '../repository/repository.js';
import { ensureBotMembership } from './bot-membership.js';

/** `POST /admin/projects/:projectId/bot`, Medplum's shape: a name, and optionally a description and policy. */
export interface BotRegistration {
  name: string;
  description?: string;
  accessPolicy?: Reference<AccessPolicy>;
}

export async function parseBotRegistration(
  systemRepo: PostgresRepository,
  projectId: string,
  rawBody: unknown
): Promise<BotRegistration> {
  const body = bodyObject(rawBody);
  return {
    name: requiredString(body, 'name', 'Name'),
    description: optionalString(body, 'description', { max: 2000 }),
    accessPolicy: await projectAccessPolicy(systemRepo, projectId, body.accessPolicy),
  };
}

/**
 * Creates the Bot and its ProjectMembership (the chosen policy, else the project's shipped bot
 * policy) in one transaction. The caller has been checked to administer the project.
 */
export async function createBot(
  systemRepo: PostgresRepository,
  project: WithId<Project>,
  registration: BotRegistration
): Promise<WithId<Bot>> {
  return systemRepo.withTransaction(async (tx) => {
    const repo = tx.inProject(project.id);
    const bot = await repo.createResource<Bot>({
      resourceType: 'Bot',
      name: registration.name,
      ...(registration.description ? { description: registration.description } : undefined),
      runtimeVersion: 'vmcontext',
    });
    await ensureBotMembership(repo, systemRepo, project.id, bot, registration.accessPolicy);
    return bot;
  });
}
