import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';

/** The clinical resource types Tiba stores most; every official R4 example of them must validate. */
// biome-ignore format: a table reads better than one type per line
export const CLINICAL_TYPES = new Set([
  'Patient', 'Observation', 'Condition', 'Encounter', 'MedicationRequest', 'Medication', 'AllergyIntolerance',
  'Procedure', 'DiagnosticReport', 'Immunization', 'CarePlan', 'Appointment', 'Practitioner', 'Organization',
  'Communication', 'CommunicationRequest', 'Consent', 'Questionnaire', 'QuestionnaireResponse', 'RiskAssessment',
  'Invoice', 'ChargeItem', 'Task', 'Schedule', 'Slot', 'Location', 'PractitionerRole', 'ServiceRequest', 'Specimen',
  'Goal', 'CareTeam', 'Coverage', 'Account', 'Claim', 'DocumentReference', 'MedicationStatement',
  'MedicationAdministration', 'FamilyMemberHistory', 'Device', 'Flag',
]);

/**
 * Official examples that are themselves invalid R4, so the validator is right to reject them,
 * with the element paths that make them invalid:
 * - Questionnaire-qs1.json: 32 nested items have no `linkId`, which R4 makes 1..1
 *   (Questionnaire.item.linkId); the example predates that rule.
 *
 * Not excluded, because there the validator was wrong and has been fixed:
 * - DiagnosticReport-gingival-mass.json: its PDF in presentedForm.data is base64 wrapped with
 *   spaces. R4's base64Binary regex allows whitespace; @medplum/core's check does not, so
 *   validate-resource.ts drops that complaint when the value is valid base64 once unwrapped.
 */
export const INVALID_EXAMPLES: Record<string, RegExp> = {
  'Questionnaire-qs1.json': /^Questionnaire(\.item\[\d+\])+\.linkId$/,
};

export const EXAMPLES_DIR = path.dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));

/** Reads the official R4 examples (npm package hl7.fhir.r4.examples) of the clinical types. */
export function readClinicalExamples(): [string, Resource][] {
  const result: [string, Resource][] = [];
  for (const name of readdirSync(EXAMPLES_DIR).sort()) {
    if (name.endsWith('.json') && CLINICAL_TYPES.has(name.split('-')[0])) {
      const resource = JSON.parse(readFileSync(path.join(EXAMPLES_DIR, name), 'utf8')) as Resource;
      if (CLINICAL_TYPES.has(resource.resourceType)) {
        result.push([name, resource]);
      }
    }
  }
  return result;
}
