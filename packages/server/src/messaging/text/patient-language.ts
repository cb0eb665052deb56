// Choosing the language of a message from FHIR Patient.communication.
// https://hl7.org/fhir/R4/patient-definitions.html#Patient.communication
import type { CodeableConcept, Patient } from '@medplum/fhirtypes';

const BCP47 = 'urn:ietf:bcp:47';

/** The BCP 47 tag of a language concept: a `urn:ietf:bcp:47` coding, else a coding without a system. */
function languageTag(concept: CodeableConcept | undefined): string | undefined {
  const codings = concept?.coding ?? [];
  const coding = codings.find((c) => c.system === BCP47 && c.code) ?? codings.find((c) => !c.system && c.code);
  return coding?.code?.trim() || undefined;
}

/** The patient's language tags in the order to try: those marked preferred, then the first listed. https://hl7.org/fhir/R4/patient-definitions.html#Patient.communication.preferred */
export function patientLanguageTags(patient: Pick<Patient, 'communication'> | undefined): string[] {
  const communication = patient?.communication ?? [];
  const ordered = [...communication.filter((c) => c.preferred === true), ...communication.slice(0, 1)];
  const tags = ordered.map((c) => languageTag(c.language)).filter((t): t is string => t !== undefined);
  return [...new Set(tags)];
}

/** The available language matching a tag exactly (`sw-KE`) or by its primary subtag (`sw`), case-insensitively. https://www.rfc-editor.org/rfc/rfc4647#section-3.4 */
export function matchLanguage(tag: string, available: readonly string[]): string | undefined {
  const wanted = tag.toLowerCase();
  const primary = wanted.split('-')[0];
  return (
    available.find((a) => a.toLowerCase() === wanted) ??
    available.find((a) => a.toLowerCase() === primary) ??
    available.find((a) => a.toLowerCase().split('-')[0] === primary)
  );
}

/** The language to write in: the patient's (preferred, then first), else the project default, else `en`; undefined if none is available. */
export function chooseLanguage(
  patient: Pick<Patient, 'communication'> | undefined,
  available: readonly string[],
  projectDefault?: string
): string | undefined {
  const candidates = [...patientLanguageTags(patient), ...(projectDefault ? [projectDefault] : []), 'en'];
  for (const tag of candidates) {
    const match = matchLanguage(tag, available);
    if (match !== undefined) return match;
  }
  return undefined;
}
