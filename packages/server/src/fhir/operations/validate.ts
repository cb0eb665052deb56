import { allOk, badRequest, isResourceType } from '@medplum/core';
import type { FhirRequest, FhirRouteHandler, FhirRouter } from '@medplum/fhir-router';
import type {
  OperationOutcome,
  OperationOutcomeIssue,
  Parameters,
  Resource,
  StructureDefinition,
} from '@medplum/fhirtypes';
import { getRegisteredProfile } from '../definitions.js';
import { collectValidationIssues } from '../validation/validate-resource.js';

/** What a `$validate` call asks for, from a bare resource body or a Parameters body, and the query. */
interface ValidateInput {
  resource?: Resource;
  profile?: string;
  mode?: string;
}

/**
 * `POST [type]/$validate` and `POST [type]/[id]/$validate`: validates the resource in the body
 * (or a Parameters `resource` part; at instance level without one, the stored resource) exactly as
 * a write would, without writing. Answers 200 with the issues, or one "All OK" information issue.
 * @see https://hl7.org/fhir/R4/resource-operation-validate.html
 */
export const validateOperation: FhirRouteHandler = async (req, repo) => {
  const { resourceType, id } = req.params;
  if (!isResourceType(resourceType)) {
    return [badRequest(`Unknown resource type: ${resourceType}`)];
  }
  const input = readValidateInput(req, resourceType);
  if (input.mode === 'delete') {
    if (!id) {
      return [badRequest('mode=delete needs a resource id')];
    }
    await repo.readResource(resourceType, id); // 404 if absent; Tiba has no other delete rules
    return [allOk, allOk];
  }
  const resource = input.resource ?? (id ? await repo.readResource(resourceType, id) : undefined);
  if (!resource) {
    return [badRequest('No resource to validate: send it as the body or as the "resource" parameter')];
  }
  if (resource.resourceType !== resourceType) {
    return [badRequest(`Expected a ${resourceType}, got a ${resource.resourceType}`, 'resourceType')];
  }
  if (id && resource.id && resource.id !== id) {
    return [badRequest(`The resource id ${resource.id} does not match the URL id ${id}`, 'id')];
  }
  const issues: OperationOutcomeIssue[] = [];
  const extraProfiles = resolveProfile(input.profile, issues);
  issues.push(...collectValidationIssues(resource, { extraProfiles }));
  return [allOk, toOutcome(issues)];
};

/** Adds `$validate` at type and instance level to a FhirRouter. */
export function registerValidateOperation(router: FhirRouter): void {
  router.add('POST', ':resourceType/$validate', validateOperation);
  router.add('POST', ':resourceType/:id/$validate', validateOperation);
}

function readValidateInput(req: FhirRequest, resourceType: string): ValidateInput {
  const body = req.body as Resource | undefined;
  const input: ValidateInput = {};
  // A Parameters body wraps the resource, except when a Parameters resource is itself validated.
  if (body?.resourceType === 'Parameters' && resourceType !== 'Parameters') {
    const parameters = (body as Parameters).parameter ?? [];
    const find = (name: string) => parameters.find((p) => p.name === name);
    input.resource = find('resource')?.resource;
    input.profile = find('profile')?.valueUri ?? find('profile')?.valueCanonical;
    input.mode = find('mode')?.valueCode ?? find('mode')?.valueString;
  } else if (typeof body?.resourceType === 'string') {
    input.resource = body;
  }
  input.profile ??= firstQueryValue(req, 'profile');
  input.mode ??= firstQueryValue(req, 'mode');
  return input;
}

function firstQueryValue(req: FhirRequest, name: string): string | undefined {
  const value = req.query?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The `profile` parameter must name a profile the server holds; otherwise that is an error issue. */
function resolveProfile(url: string | undefined, issues: OperationOutcomeIssue[]): StructureDefinition[] {
  if (!url) {
    return [];
  }
  const profile = getRegisteredProfile(url.split('|')[0]);
  if (!profile) {
    issues.push({
      severity: 'error',
      code: 'not-supported',
      details: { text: `Profile ${url} is not known to this server` },
      expression: ['profile'],
    });
    return [];
  }
  return [profile];
}

function toOutcome(issues: OperationOutcomeIssue[]): OperationOutcome {
  if (issues.length === 0) {
    return {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'information', code: 'informational', details: { text: 'All OK' } }],
    };
  }
  return { resourceType: 'OperationOutcome', issue: issues };
}
