import { badRequest, OperationOutcomeError, type WithId } from '@medplum/core';
import type { Project, ProjectSetting } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repository/repository.js';

/** Enough for every channel's credentials and a project's bot secrets. */
const MAX_SECRETS = 100;
const VALUE_FIELDS = ['valueString', 'valueBoolean', 'valueDecimal', 'valueInteger'] as const;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The body of `POST /admin/projects/:projectId/secrets` (Medplum's): the whole new list of
 * `Project.secret`, each a name and exactly one value of the right type. 400 otherwise.
 */
export function parseProjectSecrets(body: unknown): ProjectSetting[] {
  if (!Array.isArray(body)) {
    throw new OperationOutcomeError(badRequest('The body must be an array of { name, value[x] }'));
  }
  if (body.length > MAX_SECRETS) {
    throw new OperationOutcomeError(badRequest(`At most ${MAX_SECRETS} secrets`));
  }
  const names = new Set<string>();
  return body.map((entry: unknown, i) => {
    const where = `secret[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new OperationOutcomeError(badRequest(`${where} must be an object`, where));
    }
    const { name, ...rest } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new OperationOutcomeError(badRequest(`${where}.name must be 1-64 letters, digits, _ . -`, where));
    }
    if (names.has(name)) {
      throw new OperationOutcomeError(badRequest(`${where}: ${name} appears twice`, where));
    }
    names.add(name);
    const fields = Object.keys(rest);
    const field = fields[0] as (typeof VALUE_FIELDS)[number];
    if (fields.length !== 1 || !VALUE_FIELDS.includes(field) || !hasType(field, rest[field])) {
      throw new OperationOutcomeError(
        badRequest(`${where} must have exactly one of ${VALUE_FIELDS.join(', ')}, of its type`, where)
      );
    }
    return { name, [field]: rest[field] } as ProjectSetting;
  });
}

function hasType(field: (typeof VALUE_FIELDS)[number], value: unknown): boolean {
  switch (field) {
    case 'valueString':
      return typeof value === 'string' && value !== '';
    case 'valueBoolean':
      return typeof value === 'boolean';
    case 'valueDecimal':
      return typeof value === 'number' && Number.isFinite(value);
    case 'valueInteger':
      return Number.isSafeInteger(value);
  }
}

/** Replaces the project's secrets (what an admin edits a channel's credentials with). */
export async function replaceProjectSecrets(
  systemRepo: PostgresRepository,
  project: WithId<Project>,
  secret: ProjectSetting[]
): Promise<WithId<Project>> {
  return systemRepo.updateResource<Project>({ ...project, secret });
}
