import { Operator, type WithId } from '@medplum/core';
import type {
  Attachment,
  Communication,
  CommunicationPayload,
  Extension,
  Patient,
  Reference,
  Task,
} from '@medplum/fhirtypes';
import type { PostgresRepository } from '../../repository/repository.js';
import { CHANNEL_REFERENCE_EXTENSION, type Channel } from '../channels.js';
import { type Decision, recordDecision } from '../consent.js';
import { type Keyword, keywordOf } from '../keywords.js';
import { mediumConcept } from '../medium.js';
import { matchPatientByPhone, type PatientMatch } from '../patient-match.js';
import { formatTwilioAddress, type MessagingAddress } from '../phone.js';
import { type ProjectTemplates, renderPatientMessage } from '../text/templates.js';

/** Twilio's id of a message (`SM…`, `MM…`): the identifier that makes a redelivery a no-op. */
export const MESSAGE_SID_SYSTEM = 'https://tiba.health/fhir/sid/twilio-message-sid';
/** valueString: the other party's address as the gateway wrote it (`+2547…`, `whatsapp:+2547…`). */
export const MESSAGE_ADDRESS_EXTENSION = 'https://tiba.health/fhir/StructureDefinition/messaging-address';
/** Task.code of the staff work item "who sent this message?". */
export const MATCH_SENDER_TASK_CODE = {
  system: 'https://tiba.health/fhir/CodeSystem/messaging-task',
  code: 'match-sender',
  display: 'Match the sender of a message to a patient',
};

export interface InboundMessage {
  channel: Channel;
  from: MessagingAddress;
  messageSid: string;
  body: string;
  media: Attachment[];
}

/** Who the clinic is and how it words things, for the texts it answers with. */
export interface ClinicIdentity {
  name: string;
  phone: string;
  templates: ProjectTemplates;
}

export interface InboundOutcome {
  communication: WithId<Communication>;
  /** The same MessageSid was stored before: nothing was written now. */
  duplicate: boolean;
  /** The one answer to send at once (a keyword's confirmation, HELP), already recorded. */
  reply?: string;
}

/**
 * Files an inbound message in the channel's project, in one serializable transaction so that a
 * webhook delivered twice at the same moment stores it once and confirms a STOP once:
 * the `Communication`, the consent decision its keyword carries, the recorded reply, and a
 * `Task` for staff when the number matches no single patient.
 */
export async function receiveInboundMessage(
  projectRepo: PostgresRepository,
  message: InboundMessage,
  clinic: ClinicIdentity,
  now: Date
): Promise<InboundOutcome> {
  return projectRepo.withTransaction(
    async (tx) => {
      const stored = await findBySid(tx, message.messageSid);
      if (stored) {
        return { communication: stored, duplicate: true };
      }
      const match = await matchPatientByPhone(tx, message.from.phone);
      const patient = match.kind === 'one' ? match.patient : undefined;
      const communication = await tx.createResource<Communication>(inboundCommunication(message, patient, now));
      const keyword = keywordOf(message.body);
      const replyText = await answerKeyword(tx, keyword, { message, patient, communication, clinic });
      if (replyText) {
        await tx.createResource<Communication>(replyCommunication(message, patient, communication, replyText, now));
      } else if (match.kind !== 'one') {
        await tx.createResource<Task>(matchSenderTask(message, match, communication, now));
      }
      return { communication, duplicate: false, reply: replyText };
    },
    { serializable: true, resourceTypes: ['Communication', 'Consent', 'Patient', 'Task'] }
  );
}

async function findBySid(repo: PostgresRepository, sid: string): Promise<WithId<Communication> | undefined> {
  const [found] = await repo.searchResources<Communication>({
    resourceType: 'Communication',
    filters: [{ code: 'identifier', operator: Operator.EQUALS, value: `${MESSAGE_SID_SYSTEM}|${sid}` }],
    count: 1,
  });
  return found;
}

interface KeywordContext {
  message: InboundMessage;
  patient: WithId<Patient> | undefined;
  communication: WithId<Communication>;
  clinic: ClinicIdentity;
}

const DECISIONS: Partial<Record<Keyword, { decision: Decision; template: string }>> = {
  stop: { decision: 'deny', template: 'stop-confirmation' },
  start: { decision: 'permit', template: 'start-confirmation' },
};

/** The reply a keyword earns: a STOP or START confirms only a change of decision; HELP always answers. */
async function answerKeyword(
  tx: PostgresRepository,
  keyword: Keyword | undefined,
  ctx: KeywordContext
): Promise<string | undefined> {
  if (!keyword) {
    return undefined;
  }
  const vars = { clinic: ctx.clinic.name, phone: ctx.clinic.phone };
  if (keyword === 'help') {
    return ctx.message.channel.helpText ?? rendered('help', ctx.patient, vars, ctx.clinic.templates);
  }
  const { decision, template } = DECISIONS[keyword] as { decision: Decision; template: string };
  const changed = await recordDecision(tx, {
    channel: ctx.message.channel,
    phone: ctx.message.from.phone,
    patient: ctx.patient ? { reference: `Patient/${ctx.patient.id}` } : undefined,
    decision,
    message: ctx.communication,
  });
  return changed ? rendered(template, ctx.patient, vars, ctx.clinic.templates) : undefined;
}

function rendered(
  template: string,
  patient: Patient | undefined,
  vars: Record<string, string>,
  templates: ProjectTemplates
): string {
  const result = renderPatientMessage(template, patient, vars, templates);
  if (result.ok) {
    return result.text;
  }
  // A project's own text may name a variable there is none of: Tiba's text then, never silence.
  const fallback = renderPatientMessage(template, patient, vars);
  if (!fallback.ok) {
    throw new Error(fallback.reason);
  }
  return fallback.text;
}

function channelExtensions(message: InboundMessage): Extension[] {
  return [
    { url: CHANNEL_REFERENCE_EXTENSION, valueReference: { reference: `Endpoint/${message.channel.endpoint.id}` } },
    { url: MESSAGE_ADDRESS_EXTENSION, valueString: formatTwilioAddress(message.from) },
  ];
}

function inboundCommunication(message: InboundMessage, patient: WithId<Patient> | undefined, now: Date): Communication {
  const payload: CommunicationPayload[] = [
    ...(message.body ? [{ contentString: message.body }] : []),
    ...message.media.map((attachment) => ({ contentAttachment: attachment })),
  ];
  const patientRef: Reference<Patient> | undefined = patient ? { reference: `Patient/${patient.id}` } : undefined;
  const organization = message.channel.endpoint.managingOrganization;
  return {
    resourceType: 'Communication',
    status: 'completed',
    identifier: [{ system: MESSAGE_SID_SYSTEM, value: message.messageSid }],
    medium: [mediumConcept(message.from.medium)],
    received: now.toISOString(),
    ...(patientRef ? { subject: patientRef, sender: patientRef } : undefined),
    ...(organization ? { recipient: [organization] } : undefined),
    ...(payload.length > 0 ? { payload } : undefined),
    extension: channelExtensions(message),
  };
}

/** The answer given in the webhook's reply (TwiML): Twilio sends it, so it has no MessageSid of its own. */
function replyCommunication(
  message: InboundMessage,
  patient: WithId<Patient> | undefined,
  inbound: WithId<Communication>,
  text: string,
  now: Date
): Communication {
  const patientRef: Reference<Patient> | undefined = patient ? { reference: `Patient/${patient.id}` } : undefined;
  return {
    resourceType: 'Communication',
    status: 'completed',
    inResponseTo: [{ reference: `Communication/${inbound.id}` }],
    medium: [mediumConcept(message.from.medium)],
    sent: now.toISOString(),
    ...(patientRef ? { subject: patientRef, recipient: [patientRef] } : undefined),
    payload: [{ contentString: text }],
    extension: channelExtensions(message),
  };
}

function matchSenderTask(
  message: InboundMessage,
  match: Exclude<PatientMatch, { kind: 'one' }>,
  communication: WithId<Communication>,
  now: Date
): Task {
  const phone = message.from.phone;
  const description =
    match.kind === 'none'
      ? `A message from ${phone} matches no patient: find who sent it, or register them.`
      : `A message from ${phone} matches ${match.patients.length} patients who share the number: say who sent it.`;
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    priority: 'routine',
    code: { coding: [MATCH_SENDER_TASK_CODE], text: 'Match the sender of a message' },
    description,
    focus: { reference: `Communication/${communication.id}` },
    authoredOn: now.toISOString(),
    input: [{ type: { text: 'Phone number' }, valueString: phone }],
    ...(match.kind === 'several'
      ? {
          extension: match.patients.map((p) => ({
            url: CANDIDATE_EXTENSION,
            valueReference: { reference: `Patient/${p.id}` },
          })),
        }
      : undefined),
  };
}

/** valueReference on a match-sender Task: a patient who has this number. */
export const CANDIDATE_EXTENSION = 'https://tiba.health/fhir/StructureDefinition/messaging-sender-candidate';
