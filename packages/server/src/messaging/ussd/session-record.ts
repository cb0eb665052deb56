import type { Communication } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../../repository/repository.js';
import { CHANNEL_REFERENCE_EXTENSION } from '../channels.js';
import { TIBA_MEDIUM_SYSTEM } from '../medium.js';
import type { UssdSession } from './session-store.js';
import type { UssdChannel } from './ussd-channel.js';

/** Communication.identifier system: Africa's Talking's session id (unique per gateway session). */
export const USSD_SESSION_SYSTEM = 'https://tiba.health/fhir/sid/africastalking-ussd-session';

export interface FinishedSession {
  channel: UssdChannel;
  sessionId: string;
  session: UssdSession;
  /** The last screen sent (`END …`). */
  lastScreen: string;
  /** `completed` when the menu ended it; `stopped` at the time limit or when the bot failed. */
  status: 'completed' | 'stopped';
  statusReason?: string;
  endedAt: number;
}

/**
 * One Communication per finished session, for clinicians: who dialled (the Patient when the
 * number matched one), when, the inputs and the last screen. Only the request that removed the
 * session from Redis records it, so a repeated last request records nothing new (a plain create:
 * no serializable search-then-insert on every session).
 */
export async function recordUssdSession(projectRepo: PostgresRepository, finished: FinishedSession): Promise<void> {
  const { channel, session, sessionId } = finished;
  const patient = session.patientId ? { reference: `Patient/${session.patientId}` } : undefined;
  const communication: Communication = {
    resourceType: 'Communication',
    status: finished.status,
    identifier: [{ system: USSD_SESSION_SYSTEM, value: sessionId }],
    medium: [{ coding: [{ system: TIBA_MEDIUM_SYSTEM, code: 'ussd', display: 'USSD session' }] }],
    subject: patient,
    sender: { ...patient, display: session.phoneNumber },
    extension: [{ url: CHANNEL_REFERENCE_EXTENSION, valueReference: { reference: `Endpoint/${channel.endpoint.id}` } }],
    sent: new Date(session.startedAt).toISOString(),
    received: new Date(finished.endedAt).toISOString(),
    payload: [
      { contentString: `Inputs: ${session.inputs.length > 0 ? session.inputs.join(', ') : '(none)'}` },
      { contentString: finished.lastScreen },
    ],
    ...(finished.statusReason ? { statusReason: { text: finished.statusReason } } : {}),
  };
  await projectRepo.createResource<Communication>(communication);
}
