import type { BotEvent, MedplumClient } from '@medplum/core';
import type { CommunicationRequest, ContactPoint, Patient, Reference } from '@medplum/fhirtypes';

/**
 * Asks a newly registered patient with a mobile number whether they agree to SMS follow-up:
 * creates an active `CommunicationRequest` (medium SMS, reason LOINC 89057-4) unless the patient
 * already has an SMS consent decision (a `Consent` with category 89057-4) or an open request.
 * The SMS gateway sends it; the reply becomes the `Consent`.
 *
 * Delivery is at-least-once, so the bot may run twice for one patient: it re-reads the patient,
 * checks for existing requests and creates its own with `If-None-Exist` on an identifier.
 */

export const LOINC = 'http://loinc.org';
/** LOINC 89057-4 "Permission to receive text messages" (brief §5). */
export const SMS_CONSENT_CODE = '89057-4';
export const SMS_CONSENT_DISPLAY = 'Permission to receive text messages';
export const COMMUNICATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/communication-category';
export const PARTICIPATION_MODE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode';
/** Identifies the request this bot made for a patient (value `Patient/<id>`), so a re-run finds it. */
export const REQUEST_IDENTIFIER_SYSTEM = 'https://tiba.health/bots/sms-consent-request';
/** Requests still waiting for an answer. */
const OPEN_REQUEST_STATUSES = ['draft', 'active', 'on-hold'];

export const CONSENT_REQUEST_TEXT =
  'Your clinic would like to send you text messages (SMS) about your care, such as reminders for ' +
  'appointments and medicines. Reply YES to agree or NO to say no. You can change your answer at any time.';

export type SmsConsentResult =
  | { outcome: 'created'; communicationRequest: string }
  | { outcome: 'skipped'; reason: string };

export async function handler(medplum: MedplumClient, event: BotEvent<Patient>): Promise<SmsConsentResult> {
  const input = event.input;
  if (input?.resourceType !== 'Patient' || !input.id) {
    return skipped('the input is not a stored Patient');
  }
  // The event may be late (retries) or repeated: decide on the current version.
  const patient = await readCurrentPatient(medplum, input.id);
  if (!patient) {
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

  const consents = await medplum.searchResources('Consent', {
    patient: patientRef,
    category: `${LOINC}|${SMS_CONSENT_CODE}`,
    _count: '20',
  });
  if (consents.some((consent) => consent.status !== 'entered-in-error')) {
    return skipped('the patient already has an SMS consent decision');
  }

  const openRequests = await medplum.searchResources('CommunicationRequest', {
    subject: patientRef,
    status: OPEN_REQUEST_STATUSES.join(','),
    _count: '100',
  });
  if (openRequests.some(isSmsConsentRequest)) {
    return skipped('an SMS consent request is already open');
  }

  const identifierValue = patientRef;
  const subject: Reference<Patient> = { reference: patientRef, display: displayName(patient) };
  const request = await medplum.createResourceIfNoneExist<CommunicationRequest>(
    {
      resourceType: 'CommunicationRequest',
      identifier: [{ system: REQUEST_IDENTIFIER_SYSTEM, value: identifierValue }],
      status: 'active',
      priority: 'routine',
      category: [
        {
          coding: [{ system: COMMUNICATION_CATEGORY, code: 'notification', display: 'Notification' }],
          text: 'SMS consent request',
        },
      ],
      medium: [{ coding: [{ system: PARTICIPATION_MODE, code: 'SMSWRIT', display: 'SMS message' }] }],
      subject,
      recipient: [subject],
      reasonCode: [
        { coding: [{ system: LOINC, code: SMS_CONSENT_CODE, display: SMS_CONSENT_DISPLAY }], text: 'SMS consent' },
      ],
      payload: [{ contentString: CONSENT_REQUEST_TEXT }],
      authoredOn: new Date().toISOString(),
      note: [{ text: `Send to the patient's mobile number ${mobile}.` }],
    },
    `identifier=${encodeURIComponent(`${REQUEST_IDENTIFIER_SYSTEM}|${identifierValue}`)}`
  );
  console.log(`Asked ${patientRef} for SMS consent: CommunicationRequest/${request.id}`);
  return { outcome: 'created', communicationRequest: `CommunicationRequest/${request.id}` };
}

/** The patient's current mobile number (system phone or sms, use mobile, not ended), if any. */
export function findMobileNumber(patient: Patient, now = new Date()): string | undefined {
  const isCurrent = (contact: ContactPoint) => !contact.period?.end || new Date(contact.period.end) > now;
  return patient.telecom?.find(
    (contact) =>
      (contact.system === 'phone' || contact.system === 'sms') &&
      contact.use === 'mobile' &&
      Boolean(contact.value?.trim()) &&
      isCurrent(contact)
  )?.value;
}

function isSmsConsentRequest(request: CommunicationRequest): boolean {
  return (
    request.identifier?.some((identifier) => identifier.system === REQUEST_IDENTIFIER_SYSTEM) === true ||
    request.reasonCode?.some((reason) =>
      reason.coding?.some((coding) => coding.system === LOINC && coding.code === SMS_CONSENT_CODE)
    ) === true
  );
}

/** The patient as stored now; undefined when it was deleted since the event. */
async function readCurrentPatient(medplum: MedplumClient, id: string): Promise<Patient | undefined> {
  try {
    return await medplum.readResource('Patient', id);
  } catch (err) {
    const code = (err as { outcome?: { issue?: { code?: string }[] } }).outcome?.issue?.[0]?.code;
    if (code === 'not-found' || code === 'deleted') {
      return undefined;
    }
    throw err;
  }
}

function displayName(patient: Patient): string | undefined {
  const name = patient.name?.[0];
  if (!name) {
    return undefined;
  }
  return name.text ?? ([...(name.given ?? []), name.family].filter(Boolean).join(' ') || undefined);
}

function skipped(reason: string): SmsConsentResult {
  console.log(`Skipped: ${reason}`);
  return { outcome: 'skipped', reason };
}
