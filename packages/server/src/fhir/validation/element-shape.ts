import { createOperationOutcomeIssue } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';

// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
const CONTROL_CHARACTER = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/** Enough to show a client what to fix without echoing a whole malformed resource back. */
const MAX_ISSUES = 20;

/**
 * Shape rules @medplum/core's validator misses, checked before it runs:
 * - every element has a value or children (invariant ele-1; in JSON, objects and arrays are
 *   never empty: https://hl7.org/fhir/R4/json.html). The core validator skips empty values, so
 *   `"gender": {}` or `"reference": []` would be stored and later read as strings;
 * - no element is named like a member of Object.prototype (`valueOf`, `constructor`,
 *   `__proto__`): the core validator finds those on its own tables and lets them through, and
 *   FHIRPath evaluation later calls them.
 * - no string holds a control character other than tab, CR and LF (https://hl7.org/fhir/R4/datatypes.html#string):
 *   the core validator checks only some types, and PostgreSQL cannot store U+0000 at all.
 * Walks iteratively: the body's depth is bounded, but the walk need not rely on it.
 */
export function elementShapeIssues(resource: Resource): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const stack: [unknown, string][] = [[resource, resource.resourceType]];
  while (stack.length && issues.length < MAX_ISSUES) {
    const [value, path] = stack.pop() as [unknown, string];
    if (typeof value === 'string' && CONTROL_CHARACTER.test(value)) {
      issues.push(
        createOperationOutcomeIssue(
          'error',
          'invariant',
          'Control characters (other than tab, CR, LF) are not allowed',
          path
        )
      );
    }
    if (typeof value !== 'object' || value === null) {
      continue;
    }
    const children: [string, unknown][] = Array.isArray(value)
      ? value.map((v, i) => [`${path}[${i}]`, v])
      : Object.entries(value).map(([k, v]) => [`${path}.${k}`, v]);
    if (children.length === 0) {
      issues.push(
        createOperationOutcomeIssue('error', 'structure', 'Empty element: give it a value or leave it out', path)
      );
    }
    if (!Array.isArray(value)) {
      for (const key of Object.keys(value)) {
        if (key in Object.prototype) {
          issues.push(
            createOperationOutcomeIssue('error', 'structure', `Invalid element name "${key}"`, `${path}.${key}`)
          );
        }
      }
    }
    for (const [childPath, child] of children) {
      stack.push([child, childPath]);
    }
  }
  return issues;
}
