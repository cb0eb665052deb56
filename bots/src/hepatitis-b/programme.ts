// The hepatitis B adherence programme's codes and the shape of its CarePlan, shared by its bots
// (enrolment now; check-ins, escalation and refills later). The CarePlan profile that enforces
// this shape on the server: fhir-profiles/tiba-hbv-adherence-careplan.json.
import type { CarePlan, Extension } from '@medplum/fhirtypes';

export const PROGRAMME_SYSTEM = 'https://tiba.health/fhir/CodeSystem/programme';
export const PROGRAMME_CODE = 'hepatitis-b-adherence';
export const PROGRAMME_DISPLAY = 'Hepatitis B adherence programme';
export const CAREPLAN_PROFILE = 'https://tiba.health/fhir/StructureDefinition/tiba-hbv-adherence-careplan';
/**
 * One enrolment per programme and patient: value `hepatitis-b-adherence/Patient/<id>`. Not `|` as
 * the separator: in a token search (`identifier=system|value`) a `|` in the value would have to
 * be escaped, and conditional creates search on it.
 */
export const ENROLMENT_IDENTIFIER_SYSTEM = 'https://tiba.health/fhir/sid/programme-enrolment';

const EXTENSION_BASE = 'https://tiba.health/fhir/StructureDefinition';
/** Complex: `dayOfWeek` (valueCode, FHIR days-of-week mon…sun) and `hourOfDay` (valueInteger 0–23, the project's time zone). */
export const CHECKIN_SCHEDULE_URL = `${EXTENSION_BASE}/programme-checkin-schedule`;
/** valueCode: BCP 47 language of the programme's messages (`en`, `sw`). */
export const LANGUAGE_URL = `${EXTENSION_BASE}/programme-language`;
/** valueCode: `sms`, `whatsapp` or `ussd`. */
export const CHANNEL_URL = `${EXTENSION_BASE}/programme-channel`;
/** valueCode: whether messages may be planned (see MessagingState). */
export const MESSAGING_STATE_URL = `${EXTENSION_BASE}/programme-messaging-state`;

export type DayOfWeek = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export type ProgrammeChannel = 'sms' | 'whatsapp' | 'ussd';
/**
 * `permitted`: the patient said yes to SMS, messages may be planned (CarePlan `active`);
 * `awaiting-consent`: asked, no answer yet (`draft`); `denied`: said no (`on-hold`);
 * `no-mobile-number`: cannot be asked (`on-hold`).
 */
export type MessagingState = 'permitted' | 'awaiting-consent' | 'denied' | 'no-mobile-number';

export interface ProgrammeSettings {
  schedule: { dayOfWeek: DayOfWeek; hourOfDay: number };
  language: string;
  channel: ProgrammeChannel;
}

/** Defaults on enrolment (README): Monday 09:00. */
export const DEFAULT_SCHEDULE: ProgrammeSettings['schedule'] = { dayOfWeek: 'mon', hourOfDay: 9 };
/** Languages the programme's texts exist in; the first is the fallback. */
export const PROGRAMME_LANGUAGES = ['en', 'sw'] as const;

export function isProgrammeCarePlan(plan: CarePlan): boolean {
  return (
    plan.category?.some((concept) =>
      concept.coding?.some((coding) => coding.system === PROGRAMME_SYSTEM && coding.code === PROGRAMME_CODE)
    ) === true
  );
}

export function enrolmentIdentifierValue(patientId: string): string {
  return `${PROGRAMME_CODE}/Patient/${patientId}`;
}

/** The settings a CarePlan carries (undefined when one of them is missing or malformed). */
export function readProgrammeSettings(plan: CarePlan): ProgrammeSettings | undefined {
  const find = (url: string) => plan.extension?.find((ext) => ext.url === url);
  const schedule = find(CHECKIN_SCHEDULE_URL)?.extension;
  const dayOfWeek = schedule?.find((ext) => ext.url === 'dayOfWeek')?.valueCode as DayOfWeek | undefined;
  const hourOfDay = schedule?.find((ext) => ext.url === 'hourOfDay')?.valueInteger;
  const language = find(LANGUAGE_URL)?.valueCode;
  const channel = find(CHANNEL_URL)?.valueCode as ProgrammeChannel | undefined;
  if (!dayOfWeek || hourOfDay === undefined || !language || !channel) {
    return undefined;
  }
  return { schedule: { dayOfWeek, hourOfDay }, language, channel };
}

export function readMessagingState(plan: CarePlan): MessagingState | undefined {
  return plan.extension?.find((ext) => ext.url === MESSAGING_STATE_URL)?.valueCode as MessagingState | undefined;
}

/** The programme's extensions for these settings and messaging state, in a fixed order. */
export function programmeExtensions(settings: ProgrammeSettings, messaging: MessagingState): Extension[] {
  return [
    {
      url: CHECKIN_SCHEDULE_URL,
      extension: [
        { url: 'dayOfWeek', valueCode: settings.schedule.dayOfWeek },
        { url: 'hourOfDay', valueInteger: settings.schedule.hourOfDay },
      ],
    },
    { url: LANGUAGE_URL, valueCode: settings.language },
    { url: CHANNEL_URL, valueCode: settings.channel },
    { url: MESSAGING_STATE_URL, valueCode: messaging },
  ];
}
