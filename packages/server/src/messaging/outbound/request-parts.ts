import { Operator } from '@medplum/core';
import type {
  CommunicationRequest,
  ContactPoint,
  Endpoint,
  Patient,
  Project,
  Reference,
  RelatedPerson,
} from '@medplum/fhirtypes';
import type { PostgresRepository } from '../../repository/repository.js';
import { CHANNEL_NUMBER_SYSTEM, CHANNEL_TYPE_CODE, CHANNEL_TYPE_SYSTEM, type Channel } from '../channels.js';
import { type MessagingMedium, normalizePhone } from '../phone.js';
import { projectTemplatesOf } from '../text/project-templates.js';
import { DEFAULT_QUIET_HOURS, nextSendTime, parseQuietHours, type QuietHours } from '../text/quiet-hours.js';
import { type ProjectTemplates, renderPatientMessage } from '../text/templates.js';

/** Project.setting names read by the sender (valueString). */
export const TIME_ZONE_SETTING = 'messagingTimeZone';
/** `21:00-07:00` (local, the default), or `off`. */
export const QUIET_HOURS_SETTING = 'messagingQuietHours';
/** A project that names no zone: UTC, so the default is the same on every server. */
export const DEFAULT_TIME_ZONE = 'UTC';

export interface MessagingSettings {
  timeZone: string;
  quietHours: QuietHours;
  templates: ProjectTemplates;
}

/** The project's messaging zone and quiet hours; a setting that does not parse falls back to the default. */
export async function messagingSettings(systemRepo: PostgresRepository, projectId: string): Promise<MessagingSettings> {
  const project = await systemRepo.readResource<Project>('Project', projectId);
  const setting = (name: string) => project.setting?.find((s) => s.name === name)?.valueString?.trim();
  const zone = setting(TIME_ZONE_SETTING);
  const hours = setting(QUIET_HOURS_SETTING);
  const [start, end] = (hours ?? '').split('-');
  return {
    templates: projectTemplatesOf(project),
    timeZone: zone && isTimeZone(zone) ? zone : DEFAULT_TIME_ZONE,
    quietHours:
      hours?.toLowerCase() === 'off'
        ? { start: 0, end: 0 }
        : ((start && end ? parseQuietHours(start, end) : undefined) ?? DEFAULT_QUIET_HOURS),
  };
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** `stat`, `asap` and `urgent` go at any hour; `routine` (or none) waits for the end of quiet hours. */
export function isUrgent(request: CommunicationRequest): boolean {
  return request.priority === 'stat' || request.priority === 'asap' || request.priority === 'urgent';
}

/**
 * When the request may be sent: its `occurrenceDateTime` (or now), moved past the project's
 * quiet hours unless urgent. A time in the past means now.
 */
export function sendTime(
  request: CommunicationRequest,
  settings: Pick<MessagingSettings, 'timeZone' | 'quietHours'>,
  now: Date
): Date {
  const occurrence = request.occurrenceDateTime ? new Date(request.occurrenceDateTime) : undefined;
  const earliest = occurrence && !Number.isNaN(occurrence.getTime()) && occurrence > now ? occurrence : now;
  return nextSendTime(earliest, settings.quietHours, settings.timeZone, isUrgent(request));
}

/**
 * Complex extension on a CommunicationRequest: `name` (valueCode, a template) and any number of
 * `variable` (`name` and `value`, valueStrings). The text is then the template in the recipient's
 * language (the project's wording over Tiba's), instead of the payload.
 */
export const MESSAGE_TEMPLATE_EXTENSION = 'https://tiba.health/fhir/StructureDefinition/messaging-template';

/** The templated text of the request, or why it cannot be written; undefined when it names no template. */
export function templatedText(
  request: CommunicationRequest,
  recipient: Pick<Recipient, 'communication'>,
  templates: ProjectTemplates
): { ok: true; text: string } | { ok: false; reason: string } | undefined {
  const extension = request.extension?.find((e) => e.url === MESSAGE_TEMPLATE_EXTENSION);
  if (!extension) {
    return undefined;
  }
  const name = extension.extension?.find((e) => e.url === 'name')?.valueCode;
  if (!name) {
    return { ok: false, reason: 'The messaging-template extension names no template' };
  }
  const vars: Record<string, string> = {};
  for (const variable of extension.extension?.filter((e) => e.url === 'variable') ?? []) {
    const key = variable.extension?.find((e) => e.url === 'name')?.valueString;
    const value = variable.extension?.find((e) => e.url === 'value')?.valueString;
    if (key && value !== undefined) {
      vars[key] = value;
    }
  }
  const rendered = renderPatientMessage(name, { communication: recipient.communication }, vars, templates);
  return rendered.ok ? { ok: true, text: rendered.text } : rendered;
}

/** The text to send: the request's string payloads, joined by a blank line. */
export function messageText(request: CommunicationRequest): string {
  return (request.payload ?? [])
    .map((p) => p.contentString)
    .filter((text): text is string => typeof text === 'string' && text.trim() !== '')
    .join('\n\n');
}

export interface Recipient {
  reference: Reference<Patient | RelatedPerson>;
  /** The languages the recipient reads (Patient.communication, RelatedPerson.communication). */
  communication?: Patient['communication'];
  /** The Patient the message is about (the recipient, or a RelatedPerson's patient). */
  subject?: Reference<Patient>;
  phone: string;
}

/**
 * The first recipient that is a Patient or RelatedPerson of the project with a mobile number:
 * a `telecom` with system `sms`, or `phone` with use `mobile`, in E.164. Else the reason there is none.
 */
export async function findRecipient(
  systemRepo: PostgresRepository,
  request: CommunicationRequest,
  projectId: string
): Promise<Recipient | { refused: string }> {
  for (const ref of request.recipient ?? []) {
    const [type, id] = ref.reference?.split('/') ?? [];
    if ((type !== 'Patient' && type !== 'RelatedPerson') || !id) {
      continue;
    }
    const person = await systemRepo.readResource<Patient | RelatedPerson>(type, id).catch(() => undefined);
    if (!person || person.meta?.project !== projectId || person.active === false) {
      continue;
    }
    const phone = mobileNumber(person.telecom);
    if (!phone) {
      continue;
    }
    const subject =
      person.resourceType === 'Patient'
        ? { reference: `Patient/${person.id}` }
        : (person.patient as Reference<Patient> | undefined);
    return { reference: { reference: `${type}/${id}` }, subject, phone, communication: person.communication };
  }
  return { refused: 'The request has no Patient or RelatedPerson recipient with a mobile number in E.164 form' };
}

function mobileNumber(telecom: ContactPoint[] | undefined): string | undefined {
  const usable = (telecom ?? []).filter((t) => t.value && !t.period?.end);
  const mobile =
    usable.find((t) => t.system === 'sms') ?? usable.find((t) => t.system === 'phone' && t.use === 'mobile');
  return mobile?.value ? normalizePhone(mobile.value) : undefined;
}

/** The project's active channel for the medium (the oldest, when it has several). */
export async function projectChannel(
  systemRepo: PostgresRepository,
  projectId: string,
  medium: MessagingMedium
): Promise<Channel | undefined> {
  const endpoints = await systemRepo.searchResources<Endpoint>({
    resourceType: 'Endpoint',
    filters: [
      {
        code: 'connection-type',
        operator: Operator.EQUALS,
        value: `${CHANNEL_TYPE_SYSTEM}|${CHANNEL_TYPE_CODE[medium]}`,
      },
      { code: 'status', operator: Operator.EQUALS, value: 'active' },
    ],
    count: 100,
  });
  const endpoint = endpoints
    .filter((e) => e.meta?.project === projectId)
    .sort((a, b) => (a.meta?.lastUpdated ?? '').localeCompare(b.meta?.lastUpdated ?? ''))[0];
  const phone = endpoint?.identifier?.find((i) => i.system === CHANNEL_NUMBER_SYSTEM[medium])?.value;
  return endpoint && phone ? { endpoint, projectId, medium, phone } : undefined;
}
