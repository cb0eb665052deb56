import type { InternalTypeSchema, ValidatorOptions } from '@medplum/core';
import { getAllDataTypes, parseStructureDefinition, validateTypedValue } from '@medplum/core';
import type { ElementDefinition, OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';

/**
 * Validation against a profile, with the profile parsed once.
 *
 * `validateResource(resource, { profile })` parses the StructureDefinition on every call (about
 * 1.6 ms for a 50-element Observation profile, 30 times the validation itself). So each profile
 * is parsed once and its schema put in core's type table under a private key; validating the
 * resource *as that type* then reuses it. The schema's `kind` is changed so that the key is never
 * taken for a resource type (`getResourceTypes`, `isResourceType`). Only the root schema is
 * added: the profile's backbone types stay inside it (the crawler looks there first), so the
 * base types of the same name are never replaced.
 */

const schemaKeys = new Map<string, { profile: StructureDefinition; key: string }>();

/** Validates with `collect` like `validateTypedValue`; throws an OperationOutcomeError on errors. */
export function validateAgainstProfile(
  resource: Resource,
  profile: StructureDefinition,
  collect: ValidatorOptions['collect']
): OperationOutcomeIssue[] {
  return validateTypedValue({ type: getProfileTypeKey(profile), value: resource }, { collect });
}

function getProfileTypeKey(profile: StructureDefinition): string {
  const url = profile.url as string;
  const cached = schemaKeys.get(url);
  if (cached?.profile === profile) {
    return cached.key;
  }
  // Re-registering a profile under the same URL replaces its schema.
  const key = `tiba-profile:${url}`;
  const schema: InternalTypeSchema = { ...parseStructureDefinition(profile), kind: 'logical' };
  getAllDataTypes()[key] = schema;
  schemaKeys.set(url, { profile, key });
  return key;
}

/**
 * For a pattern/fixed mismatch: what the profile expected at that element, to say so in the issue.
 * The expression is the validator's own (`Observation.component[0].value[x]`), before resolution.
 */
export function describeExpectedValue(profile: StructureDefinition, expression: string): string | undefined {
  const path = expression.replace(/\[\d+\]/g, '');
  const element = profile.snapshot?.element?.find((e) => e.path === path && !e.sliceName);
  return element ? expectedValue(element) : undefined;
}

function expectedValue(element: ElementDefinition): string | undefined {
  for (const [key, value] of Object.entries(element)) {
    if (key.startsWith('pattern') || key.startsWith('fixed')) {
      return `${key} ${JSON.stringify(value)}`;
    }
  }
  return undefined;
}
