import {
  type AccessPolicyInteraction,
  matchesSearchRequest,
  parseSearchRequest,
  projectAdminResourceTypes,
  protectedResourceTypes,
  readInteractions,
} from '@medplum/core';
import type { AccessPolicy, AccessPolicyResource, Resource } from '@medplum/fhirtypes';
import { rolePolicyEntries } from './roles.js';
import { ALL_INTERACTIONS, type ResourceScope } from './scopes.js';

/**
 * What one caller may do, resolved once per token: the project it acts in and the policy that
 * applies there, with parameters substituted and narrowed by the token's SMART scopes. The
 * repository enforces it on every read, search and write (see docs/architecture.md).
 */
export interface AccessContext {
  projectId: string;
  /** 'Practitioner/1', 'Patient/2', 'ClientApplication/3'. */
  profile: string;
  admin: boolean;
  policy: AccessPolicy;
}

/**
 * Definitional resources shared by every project (loaded without a project at setup). Every
 * signed-in caller reads them, whatever its policy: clients need the schema to render forms.
 */
export const SHARED_DEFINITION_TYPES: ReadonlySet<string> = new Set([
  'CodeSystem',
  'CompartmentDefinition',
  'ConceptMap',
  'ImplementationGuide',
  'NamingSystem',
  'OperationDefinition',
  'SearchParameter',
  'StructureDefinition',
  'ValueSet',
]);

/** Written only by the server itself, never through the API, whatever the policy says. */
const SERVER_WRITTEN_TYPES: ReadonlySet<string> = new Set([
  ...protectedResourceTypes,
  'AuditEvent',
  'Project',
  'User',
  'UserSecurityRequest',
]);

/** Resource types in the parameters of a policy: `%patient` → `Patient/123`, `%patient.id` → `123`. */
export function parameterizePolicy(policy: AccessPolicy, parameters: Record<string, string>): AccessPolicy {
  const names = Object.keys(parameters).sort((a, b) => b.length - a.length);
  if (names.length === 0) {
    return policy;
  }
  const substitute = (text: string | undefined): string | undefined =>
    text?.replace(/%([A-Za-z][\w-]*)(\.id)?/g, (whole, name: string, idSuffix: string | undefined) => {
      const value = parameters[name];
      if (value === undefined) {
        return whole;
      }
      return idSuffix ? (value.split('/').pop() ?? value) : value;
    });
  return {
    ...policy,
    resource: policy.resource?.map((entry) => ({
      ...entry,
      ...(entry.criteria ? { criteria: substitute(entry.criteria) } : undefined),
      ...(entry.compartment?.reference
        ? { compartment: { reference: substitute(entry.compartment.reference) } }
        : undefined),
    })),
  };
}

/** The full project access of an admin member whose membership names no policy. */
export function adminPolicy(): AccessPolicy {
  return { resourceType: 'AccessPolicy', name: 'Project admin', resource: rolePolicyEntries('admin') };
}

/** The interactions an entry grants. */
export function entryInteractions(entry: AccessPolicyResource): AccessPolicyInteraction[] {
  if (entry.interaction?.length) {
    return entry.interaction as AccessPolicyInteraction[];
  }
  return entry.readonly ? readInteractions : ALL_INTERACTIONS;
}

/** Whether an entry speaks about a type: '*' covers every type except project administration and server records. */
export function entryCoversType(entry: AccessPolicyResource, resourceType: string): boolean {
  return (
    entry.resourceType === resourceType ||
    (entry.resourceType === '*' &&
      !projectAdminResourceTypes.includes(resourceType) &&
      !protectedResourceTypes.includes(resourceType))
  );
}

/** The entries of a policy that grant `interaction` on (some) resources of `resourceType`. */
export function entriesFor(
  policy: AccessPolicy,
  resourceType: string,
  interaction: AccessPolicyInteraction
): AccessPolicyResource[] {
  return (policy.resource ?? []).filter(
    (entry) => entryCoversType(entry, resourceType) && entryInteractions(entry).includes(interaction)
  );
}

/**
 * Narrows a policy by SMART scopes: an entry survives where a scope names its type, with the
 * interactions both grant. `patient/` scopes add the patient's compartment, v2 scope queries
 * add criteria. Where the two cannot be expressed as one entry, access is dropped, not widened.
 */
export function narrowByScopes(
  policy: AccessPolicy,
  scopes: ResourceScope[],
  scopePatient: string | undefined
): AccessPolicy {
  const narrowed: AccessPolicyResource[] = [];
  for (const scope of scopes) {
    for (const entry of policy.resource ?? []) {
      const combined = combine(entry, scope, scopePatient);
      if (combined) {
        narrowed.push(combined);
      }
    }
  }
  return { ...policy, resource: narrowed };
}

function combine(
  entry: AccessPolicyResource,
  scope: ResourceScope,
  scopePatient: string | undefined
): AccessPolicyResource | undefined {
  let resourceType: string;
  if (scope.resourceType === '*') {
    resourceType = entry.resourceType;
  } else if (entryCoversType(entry, scope.resourceType)) {
    resourceType = scope.resourceType;
  } else {
    return undefined;
  }
  const interactions = entryInteractions(entry).filter((i) => scope.interactions.includes(i));
  if (interactions.length === 0) {
    return undefined;
  }
  let compartment = entry.compartment;
  let criteria = entry.criteria;
  if (scope.context === 'patient') {
    if (!scopePatient) {
      return undefined;
    }
    if (!compartment) {
      compartment = { reference: scopePatient };
    } else if (compartment.reference !== scopePatient) {
      return undefined;
    }
  }
  if (scope.query) {
    if (resourceType === '*') {
      return undefined;
    }
    const existing = criteria ? criteria.slice(criteria.indexOf('?') + 1) : '';
    criteria = `${resourceType}?${[existing, scope.query].filter(Boolean).join('&')}`;
  }
  return {
    resourceType,
    interaction: interactions,
    ...(compartment ? { compartment } : undefined),
    ...(criteria ? { criteria } : undefined),
  };
}

/**
 * Whether the caller may perform `interaction` on this resource (its project is checked apart):
 * some entry granting it covers the type and matches the resource's compartment and criteria.
 * The same rules as the SQL in repository/search/access-filter.ts.
 */
export function permits(access: AccessContext, resource: Resource, interaction: AccessPolicyInteraction): boolean {
  if (!permitsType(access, resource.resourceType, interaction)) {
    return false;
  }
  const writing = interaction === 'create' || interaction === 'update';
  return entriesFor(access.policy, resource.resourceType, interaction).some((entry) =>
    entryMatches(entry, resource, writing)
  );
}

function entryMatches(entry: AccessPolicyResource, resource: Resource, writing: boolean): boolean {
  if (resource.resourceType === 'Binary') {
    return true; // as in Medplum: a Binary entry grants the type (Binary has no search parameters)
  }
  const compartment = entry.compartment?.reference;
  const compartments = resource.meta?.compartment ?? [];
  if (compartment && !compartments.some((c) => c.reference === compartment)) {
    return false;
  }
  // What a compartment-bound caller writes stays in that compartment alone: a patient must not
  // place a resource in (or speak for) another patient's record.
  if (compartment && writing && compartments.some((c) => c.reference !== compartment)) {
    return false;
  }
  if (entry.criteria) {
    try {
      const request = parseSearchRequest(entry.criteria);
      return request.resourceType === resource.resourceType && matchesSearchRequest(resource, request);
    } catch {
      return false;
    }
  }
  return true;
}

/** Whether the caller may perform `interaction` on at least some resources of the type. */
export function permitsType(
  access: AccessContext,
  resourceType: string,
  interaction: AccessPolicyInteraction
): boolean {
  if (interaction !== 'read' && interaction !== 'vread' && interaction !== 'history' && interaction !== 'search') {
    if (SERVER_WRITTEN_TYPES.has(resourceType)) {
      return false;
    }
  }
  return entriesFor(access.policy, resourceType, interaction).length > 0;
}

/** Fields no API caller ever reads back: credentials the server keeps for itself. */
const SECRET_FIELDS: Record<string, readonly string[]> = {
  User: ['passwordHash', 'mfaSecret'],
  Login: ['code', 'codeChallenge', 'refreshSecret', 'nonce', 'mfaVerified'],
  // Channel credentials and bot secrets: the server reads them, no API caller does.
  Project: ['secret', 'systemSecret'],
};

/** The resource without its server-only secrets (a copy when something is removed). */
export function redactSecrets<T extends Resource>(resource: T): T {
  const fields = SECRET_FIELDS[resource.resourceType];
  if (!fields?.some((f) => f in resource)) {
    return resource;
  }
  const copy = { ...resource } as Record<string, unknown>;
  for (const field of fields) {
    delete copy[field];
  }
  return copy as T;
}
