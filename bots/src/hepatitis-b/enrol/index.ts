import type { BotEvent, MedplumClient } from '@medplum/core';
import type { CarePlan, Coding, Consent, MedicationRequest, Patient } from '@medplum/fhirtypes';
import { patientIdOf, readCurrent } from '../../shared/fhir-resources.js';
import {
  createSmsConsentRequest,
  findMobileNumber,
  findOpenSmsConsentRequest,
  latestSmsConsentDecision,
  searchSmsConsents,
} from '../../shared/sms-consent.js';
import { ENROLMENT_IDENTIFIER_SYSTEM, enrolmentIdentifierValue, type MessagingState } from '../programme.js';
import { endedCarePlan, messagingStateFor, openCarePlan } from './care-plan.js';
import { matchMedication, medicationConceptOf, PROJECT_CODES_SECRET, parseProjectCodes } from './medication.js';

/**
 * Enrolment in the hepatitis B adherence programme (bots/src/hepatitis-b/README.md). Runs on every
 * MedicationRequest write and on SMS consent decisions, and makes the patient's one enrolment
 * CarePlan match the current data: an active TDF/TAF/entecavir prescription → an open CarePlan
 * (`active` when SMS is permitted, `draft` while the consent question is open, `on-hold` when
 * denied or without a mobile number); none left → `completed` (`revoked` if entered in error).
 *
 * It decides on what is stored now, not on the event (delivery is at-least-once and may be late),
 * finds its CarePlan by identifier and creates it with If-None-Exist, so any number of runs make
 * one CarePlan and one consent request.
 */

export type EnrolmentResult =
  | {
      outcome: 'enrolled' | 'updated' | 'unchanged';
      carePlan: string;
      status: CarePlan['status'];
      messaging: MessagingState;
      /** The SMS consent request the patient has open, when still waiting for an answer. */
      consentRequest?: string;
    }
  | { outcome: 'ended'; carePlan: string; status: 'completed' | 'revoked' }
  | { outcome: 'skipped'; reason: string };

/** Intents that are only ideas, not prescriptions: they enrol nobody. */
const NOT_PRESCRIBED_INTENTS = new Set(['proposal', 'option']);
/** Paused, not ended: the enrolment stays as it is. */
const PAUSED_STATUSES = new Set(['on-hold', 'draft', 'unknown']);

export async function handler(
  medplum: MedplumClient,
  event: BotEvent<MedicationRequest | Consent>
): Promise<EnrolmentResult> {
  const input = event.input;
  const projectCodes = parseProjectCodes(secretString(event.secrets, PROJECT_CODES_SECRET));
  if (input?.resourceType === 'Consent') {
    // A consent decision changes what an existing enrolment may do; it enrols nobody by itself.
    const patientId = patientIdOf(input.patient);
    return patientId ? enrolPatient(medplum, patientId, projectCodes) : skipped('the consent names no patient');
  }
  if (input?.resourceType !== 'MedicationRequest' || !input.id) {
    return skipped('the input is not a stored MedicationRequest or Consent');
  }
  const current = await readCurrent<MedicationRequest>(medplum, 'MedicationRequest', input.id);
  // Either version being a programme medicine matters: a prescription changed to another medicine may end a plan.
  const versions = current ? [input, current] : [input];
  const matches = await Promise.all(versions.map((v) => isProgrammePrescription(medplum, v, projectCodes)));
  if (!matches.some(Boolean)) {
    return skipped('not a prescription of a hepatitis B programme medicine');
  }
  const patientId = patientIdOf((current ?? input).subject);
  if (!patientId) {
    return skipped('the prescription is not for a Patient');
  }
  return enrolPatient(medplum, patientId, projectCodes);
}

/** Makes the patient's enrolment match their current prescriptions and SMS consent. */
export async function enrolPatient(
  medplum: MedplumClient,
  patientId: string,
  projectCodes: readonly Coding[],
  now = new Date()
): Promise<EnrolmentResult> {
  const stored = await readCurrent<Patient>(medplum, 'Patient', patientId);
  if (!stored?.id) {
    return skipped(`Patient/${patientId} no longer exists`);
  }
  const patient = { ...stored, id: stored.id };
  const patientRef = `Patient/${patient.id}`;
  const identifier = `${ENROLMENT_IDENTIFIER_SYSTEM}|${enrolmentIdentifierValue(patient.id)}`;
  const existing = await medplum.searchOne('CarePlan', { identifier }, { cache: 'no-cache' });
  const prescriptions = await programmePrescriptions(medplum, patientRef, projectCodes);
  const active = prescriptions.filter((request) => request.status === 'active');

  if (active.length === 0) {
    if (prescriptions.some((request) => PAUSED_STATUSES.has(request.status))) {
      return skipped('the programme prescription is paused; the enrolment stays as it is');
    }
    if (!existing?.id || existing.status === 'completed' || existing.status === 'revoked') {
      return skipped('no active programme prescription and no open enrolment');
    }
    const status = prescriptions.every((request) => request.status === 'entered-in-error') ? 'revoked' : 'completed';
    await medplum.updateResource(endedCarePlan(existing, status, now));
    console.log(`Ended CarePlan/${existing.id} for ${patientRef}: ${status}`);
    return { outcome: 'ended', carePlan: `CarePlan/${existing.id}`, status };
  }
  if (patient.deceasedBoolean || patient.deceasedDateTime) {
    return skipped('the patient is deceased');
  }

  const mobile = findMobileNumber(patient);
  const decision = latestSmsConsentDecision(await searchSmsConsents(medplum, patientRef, mobile));
  const messaging = messagingStateFor(patient, decision);
  const wanted = openCarePlan({
    patient,
    prescriptionRefs: active.map((request) => `MedicationRequest/${request.id}`),
    messaging,
    existing,
    now,
  });
  const { plan, outcome } = await saveCarePlan(medplum, wanted, existing, identifier);
  // Nothing else is sent before the patient has answered the consent question, so make sure it is asked.
  const consentRequest =
    messaging === 'awaiting-consent' && mobile ? await askForConsent(medplum, patient, mobile) : undefined;
  console.log(`${outcome} CarePlan/${plan.id} for ${patientRef}: ${plan.status}, messaging ${messaging}`);
  return {
    outcome,
    carePlan: `CarePlan/${plan.id}`,
    status: plan.status,
    messaging,
    ...(consentRequest ? { consentRequest } : {}),
  };
}

async function saveCarePlan(
  medplum: MedplumClient,
  wanted: CarePlan,
  existing: CarePlan | undefined,
  identifier: string
): Promise<{ plan: CarePlan & { id: string }; outcome: 'enrolled' | 'updated' | 'unchanged' }> {
  if (!existing?.id) {
    const plan = await medplum.createResourceIfNoneExist(wanted, `identifier=${encodeURIComponent(identifier)}`);
    // A run at the same moment (the Consent and the prescription written together) made it first: bring it up to date.
    if (!sameContent(plan, { ...wanted, id: plan.id })) {
      return { plan: await medplum.updateResource({ ...wanted, id: plan.id }), outcome: 'updated' };
    }
    return { plan, outcome: 'enrolled' };
  }
  if (sameContent(existing, wanted)) {
    return { plan: { ...existing, id: existing.id }, outcome: 'unchanged' };
  }
  return { plan: await medplum.updateResource({ ...wanted, id: existing.id }), outcome: 'updated' };
}

/** The patient's open consent request, or a new one made the way sms-consent-request makes it. */
async function askForConsent(medplum: MedplumClient, patient: Patient & { id: string }, mobile: string) {
  const open = await findOpenSmsConsentRequest(medplum, `Patient/${patient.id}`);
  const request = open?.id ? open : await createSmsConsentRequest(medplum, patient, mobile);
  return `CommunicationRequest/${request.id}`;
}

/** The patient's prescriptions of programme medicines (any status), as stored now. */
async function programmePrescriptions(
  medplum: MedplumClient,
  patientRef: string,
  projectCodes: readonly Coding[]
): Promise<MedicationRequest[]> {
  const all = await medplum.searchResources(
    'MedicationRequest',
    { subject: patientRef, _count: '200' },
    { cache: 'no-cache' }
  );
  const matches = await Promise.all(all.map((request) => isProgrammePrescription(medplum, request, projectCodes)));
  return all.filter((_, index) => matches[index]);
}

async function isProgrammePrescription(
  medplum: MedplumClient,
  request: MedicationRequest,
  projectCodes: readonly Coding[]
): Promise<boolean> {
  if (NOT_PRESCRIBED_INTENTS.has(request.intent)) {
    return false;
  }
  return matchMedication(await medicationConceptOf(medplum, request), projectCodes).matches;
}

function secretString(secrets: BotEvent['secrets'], name: string): string | undefined {
  return (secrets?.[name] as { valueString?: string } | undefined)?.valueString;
}

/** Equal apart from `meta` bookkeeping (versionId, lastUpdated, author…). */
function sameContent(stored: CarePlan, wanted: CarePlan): boolean {
  const strip = ({ meta, ...rest }: CarePlan) => JSON.stringify(sortKeys({ ...rest, profile: meta?.profile ?? [] }));
  return strip(stored) === strip(wanted);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(sortKeys);
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, sortKeys(v)])
    );
  }
  return value;
}

function skipped(reason: string): EnrolmentResult {
  console.log(`Skipped: ${reason}`);
  return { outcome: 'skipped', reason };
}
