// Which prescriptions enrol a patient: hepatitis B antivirals of the programme, single-ingredient.
import type { MedplumClient } from '@medplum/core';
import type { CodeableConcept, Coding, Medication, MedicationRequest } from '@medplum/fhirtypes';
import { readCurrent } from '../../shared/fhir-resources.js';

export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

/**
 * RxNorm ingredient (IN) and precise-ingredient (PIN) concepts of the programme's medicines.
 * Prescriptions usually carry a clinical drug (SCD, e.g. "tenofovir disoproxil fumarate 300 MG
 * Oral Tablet") instead: those are recognised by their display or text (below), or listed by the
 * project in the secret HBV_MEDICATION_CODES.
 */
export const RXNORM_INGREDIENTS: Readonly<Record<string, string>> = {
  '322248': 'tenofovir disoproxil',
  '300195': 'tenofovir disoproxil fumarate',
  '1721603': 'tenofovir alafenamide',
  '306266': 'entecavir',
};

/** Project secret: more codes that enrol, `system|code` separated by commas or new lines. */
export const PROJECT_CODES_SECRET = 'HBV_MEDICATION_CODES';

/** Generic and brand names (TDF, TAF, entecavir), matched as whole words in a display or text. */
const NAME_PATTERN = /\b(tenofovir\s+(disoproxil|alafenamide)|entecavir|viread|vemlidy|baraclude)\b/i;
/**
 * Combination products (e.g. emtricitabine/tenofovir for HIV prevention) are not this programme's:
 * a name that lists another medicine, or several, does not enrol by name.
 */
const COMBINATION_PATTERN =
  /[/+]|\band\b|\b(emtricitabine|lamivudine|efavirenz|dolutegravir|bictegravir|rilpivirine|elvitegravir|cobicistat|doravirine|darunavir)\b/i;

export type MedicationMatch =
  | { matches: true; by: 'rxnorm' | 'project-code' | 'name'; name: string }
  | { matches: false };

/** Parses the project secret's `system|code` list; malformed entries are ignored. */
export function parseProjectCodes(value: string | undefined): Coding[] {
  return (value ?? '')
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .map((entry): Coding | undefined => {
      const bar = entry.lastIndexOf('|');
      return bar > 0 && bar < entry.length - 1
        ? { system: entry.slice(0, bar), code: entry.slice(bar + 1) }
        : undefined;
    })
    .filter((coding): coding is Coding => coding !== undefined);
}

/** Whether a medication concept is one of the programme's medicines, and how that was decided. */
export function matchMedication(
  concept: CodeableConcept | undefined,
  projectCodes: readonly Coding[]
): MedicationMatch {
  const codings = concept?.coding ?? [];
  for (const coding of codings) {
    if (coding.system === RXNORM && coding.code && RXNORM_INGREDIENTS[coding.code]) {
      return { matches: true, by: 'rxnorm', name: RXNORM_INGREDIENTS[coding.code] };
    }
    if (projectCodes.some((code) => code.system === coding.system && code.code === coding.code)) {
      return { matches: true, by: 'project-code', name: coding.display ?? concept?.text ?? coding.code ?? '' };
    }
  }
  for (const name of [concept?.text, ...codings.map((coding) => coding.display)]) {
    if (name && NAME_PATTERN.test(name) && !COMBINATION_PATTERN.test(name)) {
      return { matches: true, by: 'name', name };
    }
  }
  return { matches: false };
}

/** The prescription's medication concept: inline, or that of the referenced Medication (read now). */
export async function medicationConceptOf(
  medplum: MedplumClient,
  request: MedicationRequest
): Promise<CodeableConcept | undefined> {
  if (request.medicationCodeableConcept) {
    return request.medicationCodeableConcept;
  }
  const reference = request.medicationReference?.reference;
  if (!reference?.startsWith('Medication/')) {
    return undefined;
  }
  // A Medication deleted since names no medicine: the prescription does not enrol.
  return (await readCurrent<Medication>(medplum, 'Medication', reference.slice('Medication/'.length)))?.code;
}
