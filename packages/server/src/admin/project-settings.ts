import { badRequest, OperationOutcomeError, type WithId } from '@medplum/core';
import type { Project, ProjectSetting } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repository/repository.js';

/** Enough for every channel's credentials, a project's bot secrets, its templates in each language. */
const MAX_ENTRIES = 500;
const VALUE_FIELDS = ['valueString', 'valueBoolean', 'valueDecimal', 'valueInteger'] as const;
/** Letters, digits and `_ . - :` (template settings are `messagingTemplate:<name>:<language>`). */
const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

/** `Project.secret` (credentials: never shown to API callers) or `Project.setting` (time zone, templates…). */
export type SettingList = 'secret' | 'setting';

/**
 * The body of Medplum's `POST /admin/projects/:projectId/secrets` and `…/settings`: the whole new
 * list, each entry a name and exactly one value of the right type. 400 otherwise.
 */
export function parseProjectSettings(body: unknown, list: SettingList): ProjectSetting[] {
  if (!Array.isArray(body)) {
    throw new OperationOutcomeError(badRequest('The body must be an array of { name, value[x] }'));
  }
  if (body.length > MAX_ENTRIES) {
    throw new OperationOutcomeError(badRequest(`At most ${MAX_ENTRIES} entries`));
  }
  const names = new Set<string>();
  return body.map((entry: unknown, i) => {
    const where = `${list}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new OperationOutcomeError(badRequest(`${where} must be an object`, where));
    }
    const { name, ...rest } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new OperationOutcomeError(badRequest(`${where}.name must be 1-128 letters, digits, _ . - :`, where));
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

/** Replaces one of the project's lists (a channel's credentials, the messaging time zone, templates…). */
export async function replaceProjectSettings(
  systemRepo: PostgresRepository,
  project: WithId<Project>,
  list: SettingList,
  entries: ProjectSetting[]
): Promise<WithId<Project>> {
  return systemRepo.updateResource<Project>({ ...project, [list]: entries });
}
