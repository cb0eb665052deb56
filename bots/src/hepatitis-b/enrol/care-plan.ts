// The enrolment CarePlan this bot wants for a patient, from the current prescriptions and consent.
import type { CarePlan, Patient } from '@medplum/fhirtypes';
import { displayName } from '../../shared/fhir-resources.js';
import { findMobileNumber } from '../../shared/sms-consent.js';
import {
  CAREPLAN_PROFILE,
  DEFAULT_SCHEDULE,
  ENROLMENT_IDENTIFIER_SYSTEM,
  enrolmentIdentifierValue,
  type MessagingState,
  PROGRAMME_CODE,
  PROGRAMME_DISPLAY,
  PROGRAMME_LANGUAGES,
  PROGRAMME_SYSTEM,
  type ProgrammeSettings,
  programmeExtensions,
  readProgrammeSettings,
} from '../programme.js';

const BCP47 = 'urn:ietf:bcp:47';

/** The CarePlan status for a messaging state: only `active` plans get check-ins. */
export const STATUS_BY_MESSAGING_STATE: Readonly<Record<MessagingState, CarePlan['status']>> = {
  permitted: 'active',
  'awaiting-consent': 'draft',
  denied: 'on-hold',
  'no-mobile-number': 'on-hold',
};

/**
 * Defaults on enrolment: Monday 09:00; the patient's language (preferred `communication`, then the
 * first listed) when the programme has texts in it, else English; SMS (the only channel the
 * consent question travels on; a clinician may change it on the CarePlan afterwards).
 */
export function defaultSettings(patient: Patient): ProgrammeSettings {
  return { schedule: { ...DEFAULT_SCHEDULE }, language: programmeLanguage(patient), channel: 'sms' };
}

export function programmeLanguage(patient: Patient): string {
  const communication = patient.communication ?? [];
  const ordered = [...communication.filter((c) => c.preferred === true), ...communication.slice(0, 1)];
  for (const entry of ordered) {
    const codings = entry.language?.coding ?? [];
    const tag = (codings.find((c) => c.system === BCP47) ?? codings.find((c) => !c.system))?.code;
    const primary = tag?.trim().toLowerCase().split('-')[0];
    const match = PROGRAMME_LANGUAGES.find((language) => language === primary);
    if (match) {
      return match;
    }
  }
  return PROGRAMME_LANGUAGES[0];
}

/** What the messaging state is, from the patient's number and latest SMS consent decision. */
export function messagingStateFor(patient: Patient, decision: 'permit' | 'deny' | undefined): MessagingState {
  if (decision === 'permit') {
    return 'permitted';
  }
  if (decision === 'deny') {
    return 'denied';
  }
  return findMobileNumber(patient) ? 'awaiting-consent' : 'no-mobile-number';
}

export interface OpenPlanInput {
  patient: Patient & { id: string };
  /** The active prescriptions the plan follows (`activity.reference`). */
  prescriptionRefs: string[];
  messaging: MessagingState;
  /** The CarePlan made earlier, if any: its settings (a clinician may have changed them) are kept. */
  existing?: CarePlan;
  now: Date;
}

/** The open enrolment: status by messaging state, settings kept from `existing` or defaulted. */
export function openCarePlan({ patient, prescriptionRefs, messaging, existing, now }: OpenPlanInput): CarePlan {
  const settings = (existing && readProgrammeSettings(existing)) ?? defaultSettings(patient);
  const reopened = existing?.status === 'completed' || existing?.status === 'revoked';
  const period: CarePlan['period'] = reopened
    ? { start: now.toISOString() }
    : { start: existing?.period?.start ?? now.toISOString() };
  return {
    ...existing,
    resourceType: 'CarePlan',
    meta: { ...existing?.meta, profile: [CAREPLAN_PROFILE] },
    identifier: [{ system: ENROLMENT_IDENTIFIER_SYSTEM, value: enrolmentIdentifierValue(patient.id) }],
    status: STATUS_BY_MESSAGING_STATE[messaging],
    intent: 'plan',
    category: [{ coding: [{ system: PROGRAMME_SYSTEM, code: PROGRAMME_CODE, display: PROGRAMME_DISPLAY }] }],
    title: PROGRAMME_DISPLAY,
    subject: { reference: `Patient/${patient.id}`, display: displayName(patient) },
    period,
    extension: [
      ...(existing?.extension ?? []).filter((ext) => !isProgrammeExtension(ext.url)),
      ...programmeExtensions(settings, messaging),
    ],
    activity: prescriptionRefs.map((reference) => ({ reference: { reference } })),
  };
}

/** The enrolment ended: `completed`, or `revoked` when the prescriptions were entered in error. */
export function endedCarePlan(existing: CarePlan, status: 'completed' | 'revoked', now: Date): CarePlan {
  return { ...existing, status, period: { ...existing.period, end: existing.period?.end ?? now.toISOString() } };
}

function isProgrammeExtension(url: string): boolean {
  return url.startsWith('https://tiba.health/fhir/StructureDefinition/programme-');
}
