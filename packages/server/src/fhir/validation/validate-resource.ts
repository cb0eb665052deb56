import { createOperationOutcomeIssue, OperationOutcomeError, validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { getRegisteredProfile } from '../definitions.js';
import { resolveChoicePath, valueAtPath } from './element-path.js';
import { elementShapeIssues } from './element-shape.js';
import { describeExpectedValue, validateAgainstProfile } from './profile-schemas.js';
import type { CollectedTokens } from './required-bindings.js';
import { checkRequiredBindings } from './required-bindings.js';

/** The core validator's default base64Binary limit. */
const MAX_BASE64_BYTES = 1024 * 1024;

export interface ValidateOptions {
  /** Also validate against every profile in `meta.profile` that the server holds. Default true. */
  profiles?: boolean;
  /** Extra profiles to validate against (e.g. the `profile` parameter of `$validate`). */
  extraProfiles?: StructureDefinition[];
}

/**
 * Validates a resource against the R4 base definition (structure, cardinality, primitive formats,
 * invariants: @medplum/core's validator), its required value-set bindings (which that validator
 * does not enforce) and the profiles it claims in `meta.profile` that the server holds.
 * Throws an OperationOutcomeError (400) listing every issue when any is an error.
 * @see https://hl7.org/fhir/R4/validation.html
 */
export function validateFhirResource(resource: Resource, options?: ValidateOptions): void {
  const issues = collectValidationIssues(resource, options);
  if (issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues });
  }
}

/** Every issue (errors and warnings) found by `validateFhirResource`, without throwing. */
export function collectValidationIssues(resource: Resource, options?: ValidateOptions): OperationOutcomeIssue[] {
  const shape = elementShapeIssues(resource);
  if (shape.length) {
    return shape;
  }
  const issues = runValidator(resource, undefined);
  if (issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) {
    // Structurally broken (meta.profile not a list of strings, say): profiles could not be read safely.
    return dedupe(issues).map((issue) => withElementPaths(resource, issue));
  }
  const profiles = [...(options?.extraProfiles ?? [])];
  if (options?.profiles !== false) {
    for (const url of resource.meta?.profile ?? []) {
      const profile = getRegisteredProfile(url.split('|')[0]);
      if (profile) {
        profiles.push(profile);
      } else {
        issues.push({
          severity: 'warning',
          code: 'not-supported',
          details: { text: `Profile ${url} is not known to this server; not validated against it` },
          expression: [`${resource.resourceType}.meta.profile`],
        });
      }
    }
  }
  for (const profile of profiles) {
    if (profile.type !== resource.resourceType) {
      const message = `Profile ${profile.url} constrains ${profile.type}, not ${resource.resourceType}`;
      issues.push(createOperationOutcomeIssue('error', 'structure', message, resource.resourceType));
      continue;
    }
    issues.push(...runValidator(resource, profile));
  }
  return dedupe(issues).map((issue) => withElementPaths(resource, issue));
}

/** One pass of the core validator (base definition or one profile) plus the binding check. */
function runValidator(resource: Resource, profile: StructureDefinition | undefined): OperationOutcomeIssue[] {
  const tokens: CollectedTokens = {};
  let issues: OperationOutcomeIssue[];
  try {
    issues = profile
      ? validateAgainstProfile(resource, profile, { tokens })
      : validateResource(resource, { collect: { tokens } });
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      issues = [...(err.outcome.issue ?? [])];
    } else if (err instanceof Error && !(err instanceof RangeError)) {
      // The core validator throws plain Errors on some malformed input ("Primitive extension must be an object").
      issues = [createOperationOutcomeIssue('error', 'structure', err.message, resource.resourceType)];
    } else {
      throw err;
    }
  }
  issues = acceptBase64Whitespace(resource, issues);
  // The tokens are collected while crawling, so they are complete even when the validator threw.
  issues.push(...checkRequiredBindings(tokens));
  return profile ? issues.map((issue) => attributeToProfile(issue, profile)) : issues;
}

/** Says which profile an issue comes from and, for a pattern mismatch, what it expected. */
function attributeToProfile(issue: OperationOutcomeIssue, profile: StructureDefinition): OperationOutcomeIssue {
  let text = `Profile ${profile.url}: ${issue.details?.text ?? issue.diagnostics ?? ''}`;
  if (issue.details?.text === 'Value did not match expected pattern' && issue.expression?.[0]) {
    const expected = describeExpectedValue(profile, issue.expression[0]);
    text += expected ? ` (expected ${expected})` : '';
  }
  return { ...issue, details: { ...issue.details, text } };
}

/** A profile's snapshot repeats the base rules, so the same problem can be reported twice. */
function dedupe(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const text = issue.details?.text?.replace(/^Profile \S+: /, '');
    const key = `${issue.severity}|${issue.code}|${issue.expression?.join(',')}|${text}`;
    if (seen.has(key)) {
      return false;
    }
    seen.add(key);
    return true;
  });
}

function withElementPaths(resource: Resource, issue: OperationOutcomeIssue): OperationOutcomeIssue {
  if (!issue.expression?.some((e) => e.includes('[x]'))) {
    return issue;
  }
  return { ...issue, expression: issue.expression.map((e) => resolveChoicePath(resource, e)) };
}

/**
 * R4 allows whitespace in base64Binary (its regex is `(\s*([0-9a-zA-Z\+\=]){4}\s*)+`, and several
 * official examples wrap their data); the core validator does not, so its complaint is dropped
 * when the value is valid base64 once whitespace is removed and within the core's 1 MiB limit.
 * @see https://hl7.org/fhir/R4/datatypes.html#base64Binary
 */
function acceptBase64Whitespace(resource: Resource, issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  return issues.filter((issue) => {
    if (issue.details?.text !== 'Invalid base64Binary format' || !issue.expression?.[0]) {
      return true;
    }
    const value = valueAtPath(resource, issue.expression[0]);
    const compact = typeof value === 'string' ? value.replace(/\s+/g, '') : '';
    const valid = compact.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(compact);
    return !valid || (compact.length * 3) / 4 > MAX_BASE64_BYTES;
  });
}
