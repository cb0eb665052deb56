import { type AccessPolicyInteraction, readInteractions } from '@medplum/core';

/**
 * One SMART resource scope (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 * `patient/Observation.read` (v1), `user/*.cruds` or `system/Observation.rs?category=laboratory` (v2).
 */
export interface ResourceScope {
  context: 'patient' | 'user' | 'system';
  /** A resource type or '*'. */
  resourceType: string;
  interactions: AccessPolicyInteraction[];
  /** v2 only: search parameters that further restrict the scope, e.g. `category=laboratory`. */
  query?: string;
}

export const ALL_INTERACTIONS: AccessPolicyInteraction[] = [
  'create',
  'read',
  'vread',
  'update',
  'delete',
  'history',
  'search',
];

const V1: Record<string, AccessPolicyInteraction[]> = {
  read: readInteractions,
  write: ['create', 'update', 'delete'],
  '*': ALL_INTERACTIONS,
};

const V2: Record<string, AccessPolicyInteraction[]> = {
  c: ['create'],
  r: ['read', 'vread', 'history'],
  u: ['update'],
  d: ['delete'],
  s: ['search'],
};

const SCOPE_PATTERN = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.([^?]+)(?:\?(.+))?$/;
const V2_PERMISSIONS = /^c?r?u?d?s?$/;

/**
 * The resource scopes in a space-separated scope string. Others (`openid`, `offline_access`,
 * `launch/patient`…) grant no data and are skipped; a malformed resource scope grants nothing.
 * Returns undefined when there is no resource scope at all: the policy alone then applies.
 */
export function parseResourceScopes(scope: string | undefined): ResourceScope[] | undefined {
  const scopes: ResourceScope[] = [];
  let sawResourceScope = false;
  for (const token of (scope ?? '').split(/\s+/)) {
    const match = SCOPE_PATTERN.exec(token);
    if (!match) {
      sawResourceScope ||= /^(patient|user|system)\//.test(token);
      continue;
    }
    sawResourceScope = true;
    const [, context, resourceType, permissions, query] = match;
    const interactions = V1[permissions] ?? parseV2(permissions);
    if (!interactions || (query && V1[permissions])) {
      continue;
    }
    scopes.push({ context: context as ResourceScope['context'], resourceType, interactions, query });
  }
  return sawResourceScope ? scopes : undefined;
}

function parseV2(permissions: string): AccessPolicyInteraction[] | undefined {
  if (!permissions || !V2_PERMISSIONS.test(permissions)) {
    return undefined;
  }
  return [...permissions].flatMap((letter) => V2[letter]);
}
