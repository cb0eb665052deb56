import type { FastifyInstance, preHandlerHookHandler } from 'fastify';
import { redactSecrets } from '../access/policy.js';
import { createBot, parseBotRegistration } from '../bots/admin-bot.js';
import type { PostgresRepository } from '../repository/repository.js';
import { parseClientRegistration, registerClient } from './client.js';
import { inviteMember, parseInviteRequest } from './invite.js';
import { requireProjectAdmin } from './project-admin.js';
import { parseProjectSettings, replaceProjectSettings, type SettingList } from './project-settings.js';

export interface AdminRoutesOptions {
  /** Answers 401 unless the request carries a valid bearer token (sets `request.auth`). */
  authenticate: preHandlerHookHandler;
  /**
   * Privileged: project administration writes Users and memberships, which no project policy
   * grants. Every route first checks that the caller administers the project.
   */
  systemRepo: PostgresRepository;
}

/** Project administration, Medplum's `admin/projects/:projectId/*` routes. */
export async function adminRoutes(app: FastifyInstance, options: AdminRoutesOptions): Promise<void> {
  const { systemRepo } = options;
  app.addHook('preHandler', options.authenticate);

  app.post<{ Params: { projectId: string } }>('/admin/projects/:projectId/invite', async (request, reply) => {
    const { project, membership } = await requireProjectAdmin(systemRepo, request.auth, request.params.projectId);
    const invite = await parseInviteRequest(systemRepo, project.id, request.body);
    const result = await inviteMember(systemRepo, project, invite, membership.user);
    // Medplum answers with the membership; the new profile and user are what it references.
    return reply.code(200).type('application/fhir+json').send(result.membership);
  });

  app.post<{ Params: { projectId: string } }>('/admin/projects/:projectId/client', async (request, reply) => {
    const { project, membership } = await requireProjectAdmin(systemRepo, request.auth, request.params.projectId);
    const registration = await parseClientRegistration(systemRepo, project.id, request.body);
    const { client } = await registerClient(systemRepo, project, registration, membership.user);
    // Medplum answers with the ClientApplication, its generated secret included.
    return reply.code(201).type('application/fhir+json').send(client);
  });

  app.post<{ Params: { projectId: string } }>('/admin/projects/:projectId/bot', async (request, reply) => {
    const { project } = await requireProjectAdmin(systemRepo, request.auth, request.params.projectId);
    const registration = await parseBotRegistration(systemRepo, project.id, request.body);
    // Medplum answers with the Bot; its membership (the bot's own identity) is created with it.
    const bot = await createBot(systemRepo, project, registration);
    return reply.code(201).type('application/fhir+json').send(bot);
  });

  for (const [path, list] of [
    ['secrets', 'secret'],
    ['settings', 'setting'],
  ] as const satisfies readonly (readonly [string, SettingList])[]) {
    app.post<{ Params: { projectId: string } }>(`/admin/projects/:projectId/${path}`, async (request, reply) => {
      const { project } = await requireProjectAdmin(systemRepo, request.auth, request.params.projectId);
      const entries = parseProjectSettings(request.body, list);
      const updated = await replaceProjectSettings(systemRepo, project, list, entries);
      // Medplum answers with the Project; secret values are not sent back.
      return reply.code(200).type('application/fhir+json').send(redactSecrets(updated));
    });
  }
}
