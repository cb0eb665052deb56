import type { CodeableConcept, Coding } from '@medplum/fhirtypes';
import type { MessagingMedium } from './phone.js';

/** HL7 v3 ParticipationMode: `SMSWRIT` is SMS; it has no code for WhatsApp. */
export const PARTICIPATION_MODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode';
/** Tiba's codes for media v3 does not name. */
export const TIBA_MEDIUM_SYSTEM = 'https://tiba.health/fhir/CodeSystem/messaging-medium';

/**
 * The `medium` coding of each channel kind, on `Communication` and `CommunicationRequest`.
 * WhatsApp is written in its own code and, for readers who know v3 only, as written text
 * (`WRITTEN`) too.
 */
export const MEDIUM_CODINGS: Record<MessagingMedium, Coding[]> = {
  sms: [{ system: PARTICIPATION_MODE_SYSTEM, code: 'SMSWRIT', display: 'SMS message' }],
  whatsapp: [
    { system: TIBA_MEDIUM_SYSTEM, code: 'whatsapp', display: 'WhatsApp message' },
    { system: PARTICIPATION_MODE_SYSTEM, code: 'WRITTEN', display: 'written' },
  ],
};

export function mediumConcept(medium: MessagingMedium): CodeableConcept {
  return { coding: MEDIUM_CODINGS[medium] };
}

/** The medium a `medium` list asks for (WhatsApp wins over the generic WRITTEN); undefined if neither. */
export function mediumOf(concepts: readonly CodeableConcept[] | undefined): MessagingMedium | undefined {
  const codings = concepts?.flatMap((c) => c.coding ?? []) ?? [];
  if (codings.some((c) => c.system === TIBA_MEDIUM_SYSTEM && c.code === 'whatsapp')) {
    return 'whatsapp';
  }
  if (codings.some((c) => c.system === PARTICIPATION_MODE_SYSTEM && c.code === 'SMSWRIT')) {
    return 'sms';
  }
  return undefined;
}
