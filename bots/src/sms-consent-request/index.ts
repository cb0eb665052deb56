import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { readCurrent } from '../shared/fhir-resources.js';
import {
  createSmsConsentRequest,
  findMobileNumber,
  findOpenSmsConsentRequest,
  searchSmsConsents,
} from '../shared/sms-consent.js';

/**
 * Asks a newly registered patient with a mobile number whether they agree to SMS follow-up:
 * creates an active `CommunicationRequest` (medium SMS, reason LOINC 89057-4) unless the patient
 * already has an SMS consent decision (a `Consent` with category 89057-4) or an open request.
 * The SMS gateway sends it; the reply becomes the `Consent`.
 *
 * Delivery is at-least-once, so the bot may run twice for one patient: it re-reads the patient,
 * checks for existing requests and creates its own with `If-None-Exist` on an identifier.
 * The request itself is made in `../shared/sms-consent.ts`, which programme bots share.
 */

export {
  COMMUNICATION_CATEGORY,
  CONSENT_REQUEST_TEXT,
  findMobileNumber,
  LOINC,
  PARTICIPATION_MODE,
  REQUEST_IDENTIFIER_SYSTEM,
  SMS_CONSENT_CODE,
  SMS_CONSENT_DISPLAY,
} from '../shared/sms-consent.js';

export type SmsConsentResult =
  | { outcome: 'created'; communicationRequest: string }
  | { outcome: 'skipped'; reason: string };

export async function handler(medplum: MedplumClient, event: BotEvent<Patient>): Promise<SmsConsentResult> {
  const input = event.input;
  if (input?.resourceType !== 'Patient' || !input.id) {
    return skipped('the input is not a stored Patient');
  }
  // The event may be late (retries) or repeated: decide on the current version.
  const patient = await readCurrent<Patient>(medplum, 'Patient', input.id);
  if (!patient?.id) {
    return skipped(`Patient/${input.id} no longer exists`);
  }
  if (patient.deceasedBoolean || patient.deceasedDateTime) {
    return skipped('the patient is deceased');
  }
  const mobile = findMobileNumber(patient);
  if (!mobile) {
    return skipped('the patient has no mobile number');
  }
  const patientRef = `Patient/${patient.id}`;

  if ((await searchSmsConsents(medplum, patientRef)).length > 0) {
    return skipped('the patient already has an SMS consent decision');
  }
  if (await findOpenSmsConsentRequest(medplum, patientRef)) {
    return skipped('an SMS consent request is already open');
  }

  const request = await createSmsConsentRequest(medplum, { ...patient, id: patient.id }, mobile);
  console.log(`Asked ${patientRef} for SMS consent: CommunicationRequest/${request.id}`);
  return { outcome: 'created', communicationRequest: `CommunicationRequest/${request.id}` };
}

function skipped(reason: string): SmsConsentResult {
  console.log(`Skipped: ${reason}`);
  return { outcome: 'skipped', reason };
}
