import type { WithId } from '@medplum/core';
import { getStatus, Operator } from '@medplum/core';
import type { FhirRouteHandler, FhirRouter } from '@medplum/fhir-router';
import type { AccessPolicy, Bot, ProjectMembership, Reference } from '@medplum/fhirtypes';
import { ensureRolePolicy } from '../access/roles.js';
import { projectAccessPolicy } from '../admin/project-admin.js';
import type { PostgresRepository } from '../repository/repository.js';

/**
 * Names the AccessPolicy a Bot created through the FHIR API runs under (valueReference to an
 * AccessPolicy of the project); without it the bot gets the project's shipped `bot` policy.
 */
export const BOT_ACCESS_POLICY_EXTENSION = 'https://tiba.health/fhir/StructureDefinition/bot-access-policy';

/** The bot's own membership in its project (profile `Bot/<id>`), if it has one. */
export async function findBotMembership(
  repo: PostgresRepository,
  projectId: string,
  botId: string
): Promise<WithId<ProjectMembership> | undefined> {
  const bundle = await repo.search<ProjectMembership>({
    resourceType: 'ProjectMembership',
    filters: [{ code: 'profile', operator: Operator.EQUALS, value: `Bot/${botId}` }],
    count: 10,
  });
  return bundle.entry
    ?.map((e) => e.resource)
    .find((m): m is WithId<ProjectMembership> => m?.project?.reference === `Project/${projectId}`);
}

/**
 * Gives the Bot its membership unless it has one. `writer` is the repository (and transaction)
 * the Bot was written with, so the two commit together; `systemRepo` only reads (the policy).
 */
export async function ensureBotMembership(
  writer: PostgresRepository,
  systemRepo: PostgresRepository,
  projectId: string,
  bot: WithId<Bot>,
  accessPolicy?: Reference<AccessPolicy>
): Promise<WithId<ProjectMembership>> {
  const existing = await findBotMembership(writer, projectId, bot.id);
  if (existing) {
    return existing;
  }
  const policy =
    accessPolicy ??
    (await projectAccessPolicy(systemRepo, projectId, botPolicyExtension(bot))) ??
    (await ensureRolePolicy(systemRepo, projectId, 'bot').then(
      (p): Reference<AccessPolicy> => ({ reference: `AccessPolicy/${p.id}` })
    ));
  return writer.inProject(projectId).createResource<ProjectMembership>({
    resourceType: 'ProjectMembership',
    project: { reference: `Project/${projectId}` },
    user: { reference: `Bot/${bot.id}`, display: bot.name },
    profile: { reference: `Bot/${bot.id}`, display: bot.name },
    accessPolicy: policy,
  });
}

function botPolicyExtension(bot: Bot): Reference | undefined {
  return bot.extension?.find((e) => e.url === BOT_ACCESS_POLICY_EXTENSION)?.valueReference;
}

/**
 * Every Bot written through the FHIR API (create, update-as-create, conditional update, patch,
 * transaction entries) leaves with a membership: the write and the membership run in one
 * transaction of the caller's repository, so either both commit or neither does. Creating the
 * membership needs the caller to be allowed to write ProjectMemberships (project admins are).
 */
export function withBotMemberships(router: FhirRouter, systemRepo: PostgresRepository): void {
  const writes = new Set(['create', 'update', 'patch']);
  for (const route of router.router.routes) {
    if (!writes.has(route.data?.interaction ?? '')) {
      continue;
    }
    const inner = route.handler;
    const handler: FhirRouteHandler = async (req, repo, ...rest) => {
      const resourceType = req.params.resourceType ?? (req.body as Bot | undefined)?.resourceType;
      if (resourceType !== 'Bot') {
        return inner(req, repo, ...rest);
      }
      return (repo as PostgresRepository).withTransaction(async (tx) => {
        const response = await inner(req, tx, ...rest);
        const [outcome, bot] = response;
        if (getStatus(outcome) < 300 && bot?.resourceType === 'Bot' && bot.id && bot.meta?.project) {
          await ensureBotMembership(tx, systemRepo, bot.meta.project, bot as WithId<Bot>);
        }
        return response;
      });
    };
    route.handler = handler;
  }
}
