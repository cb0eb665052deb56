// SMS consent, as every bot that may message a patient sees it: the decision is a `Consent` with
// category LOINC 89057-4 and `provision.type` permit/deny (written by the messaging gateway on
// YES/STOP, per phone number, with `patient` when known; see docs/messaging.md); the question
// is one `CommunicationRequest` per patient, made here, so two bots asking make one request.
import type { MedplumClient } from '@medplum/core';
import type { CommunicationRequest, Consent, ContactPoint, Patient, Reference } from '@medplum/fhirtypes';
import { displayName } from './fhir-resources.js';

export const LOINC = 'http://loinc.org';
/** LOINC 89057-4 "Permission to receive text messages" (brief §5). */
export const SMS_CONSENT_CODE = '89057-4';
export const SMS_CONSENT_DISPLAY = 'Permission to receive text messages';
export const COMMUNICATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/communication-category';
export const PARTICIPATION_MODE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode';
/** Identifies the consent request made for a patient (value `Patient/<id>`), so a re-run finds it. */
export const REQUEST_IDENTIFIER_SYSTEM = 'https://tiba.health/bots/sms-consent-request';
/** The gateway's Consent identifier: one Consent per project and phone number (E.164). */
export const CONSENT_NUMBER_SYSTEM = 'https://tiba.health/fhir/sid/messaging-consent-number';
/** Requests still waiting for an answer. */
const OPEN_REQUEST_STATUSES = ['draft', 'active', 'on-hold'];

export const CONSENT_REQUEST_TEXT =
  'Your clinic would like to send you text messages (SMS) about your care, such as reminders for ' +
  'appointments and medicines. Reply YES to agree or NO to say no. You can change your answer at any time.';

export type SmsConsentDecision = 'permit' | 'deny';

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

/**
 * The SMS consents about a patient, entered-in-error ones left out: those naming the patient and,
 * when `mobile` is given, those the gateway keeps for that number (they name no patient when the
 * number matched none at the time).
 */
export async function searchSmsConsents(
  medplum: MedplumClient,
  patientRef: string,
  mobile?: string
): Promise<Consent[]> {
  const category = `${LOINC}|${SMS_CONSENT_CODE}`;
  const byPatient = await medplum.searchResources(
    'Consent',
    { patient: patientRef, category, _count: '20' },
    { cache: 'no-cache' }
  );
  const byNumber = mobile
    ? await medplum.searchResources(
        'Consent',
        { identifier: `${CONSENT_NUMBER_SYSTEM}|${mobile}`, category, _count: '20' },
        { cache: 'no-cache' }
      )
    : [];
  const unique = new Map([...byPatient, ...byNumber].map((consent) => [consent.id, consent]));
  return [...unique.values()].filter((consent) => consent.status !== 'entered-in-error');
}

/** The latest decision (most recently updated active Consent); undefined while none was made. */
export function latestSmsConsentDecision(consents: readonly Consent[]): SmsConsentDecision | undefined {
  const latest = consents
    .filter((consent) => consent.status === 'active' && consent.provision?.type)
    .sort((a, b) => (b.meta?.lastUpdated ?? '').localeCompare(a.meta?.lastUpdated ?? ''))[0];
  return latest?.provision?.type;
}

export function isSmsConsentRequest(request: CommunicationRequest): boolean {
  return (
    request.identifier?.some((identifier) => identifier.system === REQUEST_IDENTIFIER_SYSTEM) === true ||
    request.reasonCode?.some((reason) =>
      reason.coding?.some((coding) => coding.system === LOINC && coding.code === SMS_CONSENT_CODE)
    ) === true
  );
}

/** An open (not yet answered) SMS consent request for the patient, made by any bot or person. */
export async function findOpenSmsConsentRequest(
  medplum: MedplumClient,
  patientRef: string
): Promise<CommunicationRequest | undefined> {
  const open = await medplum.searchResources(
    'CommunicationRequest',
    { subject: patientRef, status: OPEN_REQUEST_STATUSES.join(','), _count: '100' },
    { cache: 'no-cache' }
  );
  return open.find(isSmsConsentRequest);
}

/**
 * Creates the consent request (medium SMS, reason LOINC 89057-4) for the patient. `If-None-Exist`
 * on the identifier `Patient/<id>`: however many runs or bots ask, a patient gets one request.
 */
export async function createSmsConsentRequest(
  medplum: MedplumClient,
  patient: Patient & { id: string },
  mobile: string
): Promise<CommunicationRequest & { id: string }> {
  const patientRef = `Patient/${patient.id}`;
  const subject: Reference<Patient> = { reference: patientRef, display: displayName(patient) };
  return medplum.createResourceIfNoneExist<CommunicationRequest>(
    {
      resourceType: 'CommunicationRequest',
      identifier: [{ system: REQUEST_IDENTIFIER_SYSTEM, value: patientRef }],
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
    `identifier=${encodeURIComponent(`${REQUEST_IDENTIFIER_SYSTEM}|${patientRef}`)}`
  ) as Promise<CommunicationRequest & { id: string }>;
}
