import { OperationOutcomeError, unauthorized } from '@medplum/core';
import type { Reference } from '@medplum/fhirtypes';
import type { FastifyRequest } from 'fastify';
import { AccessResolver } from '../access/access-context.js';
import { adminPolicy } from '../access/policy.js';
import type { TibaConfig } from '../config.js';
import { validateFhirResource } from '../fhir/validation/validate-resource.js';
import type { Pool } from '../infra/postgres.js';
import { resolveClaimedProfiles } from './profile-lookup.js';
import { PostgresRepository, type RepositoryContext } from './repository.js';

export interface RepositoryFactory {
  /**
   * The repository of an authenticated request: its project, its author, and its access
   * (membership policy narrowed by the token's scopes), which the repository enforces.
   */
  forRequest(request: FastifyRequest): Promise<PostgresRepository>;
  /**
   * A repository that acts for the server itself. Callers name why they need it, so that
   * every privileged use is visible where it happens.
   */
  system(reason: string): PostgresRepository;
  /**
   * The server acting inside one project with a project admin's access (e.g. a webhook filing a
   * patient's message): searches see that project only, writes belong to it, `author` signs them.
   */
  inProject(projectId: string, author: Reference, reason: string): PostgresRepository;
}

export function createRepositoryFactory(config: Readonly<TibaConfig>, pool: Pool): RepositoryFactory {
  const base: RepositoryContext = {
    pool,
    baseUrl: config.baseUrl,
    maxAccurateTotal: config.maxAccurateTotal,
    validate: async (resource) => {
      // Profiles are shared definitions: looking them up needs no caller's permission.
      await resolveClaimedProfiles(profileReader, resource.meta?.profile);
      validateFhirResource(resource);
    },
  };
  const profileReader = new PostgresRepository({ ...base, validate: () => undefined });
  const access = new AccessResolver(new PostgresRepository({ ...base, author: { reference: 'system' } }));
  return {
    async forRequest(request) {
      const auth = request.auth;
      if (!auth) {
        throw new OperationOutcomeError(unauthorized);
      }
      const prefer = String(request.headers.prefer ?? '');
      return new PostgresRepository({
        ...base,
        projectId: auth.project,
        author: { reference: auth.profile },
        lenient: /handling=lenient/.test(prefer),
        access: await access.resolve(auth),
      });
    },
    system(_reason) {
      return new PostgresRepository({ ...base, author: { reference: 'system' } });
    },
    inProject(projectId, author, _reason) {
      return new PostgresRepository({
        ...base,
        projectId,
        author,
        access: { projectId, profile: author.reference ?? 'system', admin: true, policy: adminPolicy() },
      });
    },
  };
}
