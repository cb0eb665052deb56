import { getStatus, normalizeOperationOutcome, type WithId } from '@medplum/core';
import type { CodeableConcept, Communication, Extension } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../../repository/repository.js';
import { MESSAGE_SID_SYSTEM } from '../twilio/inbound-message.js';

/**
 * An outbound message is one `Communication`, created BEFORE Twilio is called (the attempt
 * record) and updated as it goes: `preparation` while sending, `in-progress` once Twilio took it,
 * `completed` when delivered, `not-done` when refused or undelivered (a record a dead process
 * left `sending` is reconciled with Twilio by the next job, attempt-claim.ts). Its identifier under OUTBOUND_REQUEST_SYSTEM is the CommunicationRequest
 * id: the idempotency key that makes a request send at most one message.
 */
export const OUTBOUND_REQUEST_SYSTEM = 'https://tiba.health/fhir/sid/outbound-communication-request';
/** Complex extension: `state` (sending | retry | sent), `since`, `attempts`, `twilioStatus`. */
export const DELIVERY_EXTENSION = 'https://tiba.health/fhir/StructureDefinition/outbound-delivery';
/** statusReason coding of a Twilio error code (REST refusal or delivery failure). */
export const TWILIO_ERROR_SYSTEM = 'https://www.twilio.com/docs/api/errors';

export type DeliveryState = 'sending' | 'retry' | 'sent';

export interface Delivery {
  state?: DeliveryState;
  /** When `state` began (a `sending` older than the lease means its process died mid-call). */
  since?: string;
  attempts?: number;
  /** The latest Twilio MessageStatus applied (never moves backwards). */
  twilioStatus?: string;
}

export function deliveryOf(communication: Communication): Delivery {
  const parts = communication.extension?.find((e) => e.url === DELIVERY_EXTENSION)?.extension ?? [];
  const part = (url: string) => parts.find((e) => e.url === url);
  return {
    state: part('state')?.valueCode as DeliveryState | undefined,
    since: part('since')?.valueDateTime,
    attempts: part('attempts')?.valueInteger,
    twilioStatus: part('twilioStatus')?.valueCode,
  };
}

/** Writes `delivery` into the Communication's extension (in place). */
export function setDelivery(communication: Communication, delivery: Delivery): void {
  const parts: Extension[] = [];
  if (delivery.state) parts.push({ url: 'state', valueCode: delivery.state });
  if (delivery.since) parts.push({ url: 'since', valueDateTime: delivery.since });
  if (delivery.attempts !== undefined) parts.push({ url: 'attempts', valueInteger: delivery.attempts });
  if (delivery.twilioStatus) parts.push({ url: 'twilioStatus', valueCode: delivery.twilioStatus });
  const others = (communication.extension ?? []).filter((e) => e.url !== DELIVERY_EXTENSION);
  communication.extension = parts.length > 0 ? [...others, { url: DELIVERY_EXTENSION, extension: parts }] : others;
  if (communication.extension.length === 0) delete communication.extension;
}

export function messageSidOf(communication: Communication): string | undefined {
  return communication.identifier?.find((i) => i.system === MESSAGE_SID_SYSTEM)?.value;
}

/** A statusReason that keeps a Twilio error's code and message. */
export function twilioErrorReason(code: number | string | undefined, message: string): CodeableConcept {
  return code === undefined || code === ''
    ? { text: message }
    : {
        coding: [{ system: TWILIO_ERROR_SYSTEM, code: String(code), display: message.slice(0, 500) }],
        text: `Twilio error ${code}: ${message}`.slice(0, 1000),
      };
}

// Twilio's statuses by how far a message got. Callbacks can arrive out of order; a status
// only ever replaces one of lower rank, so `delivered` followed by a late `sent` stays delivered.
const RANK: Record<string, number> = {
  accepted: 0,
  scheduled: 0,
  queued: 0,
  sending: 1,
  sent: 2,
  delivered: 3,
  undelivered: 3,
  failed: 3,
  canceled: 3,
  read: 4,
};
const FAILED = new Set(['undelivered', 'failed', 'canceled']);

export function isTwilioStatus(status: string): boolean {
  return Object.hasOwn(RANK, status);
}

export interface TwilioStatusUpdate {
  status: string;
  errorCode?: string;
  errorMessage?: string;
  messageSid?: string;
  at: Date;
}

/**
 * Applies a Twilio status to an outbound Communication (in place). Returns false when it changes
 * nothing: a status of equal or lower rank than the one applied (duplicates, late arrivals), or
 * anything after a failure. https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
 */
export function applyTwilioStatus(communication: Communication, update: TwilioStatusUpdate): boolean {
  const delivery = deliveryOf(communication);
  const current = delivery.twilioStatus;
  if (current !== undefined && (RANK[update.status] <= RANK[current] || FAILED.has(current))) {
    return false;
  }
  if (communication.status === 'entered-in-error') {
    return false;
  }
  if (update.messageSid && !messageSidOf(communication)) {
    communication.identifier = [
      ...(communication.identifier ?? []),
      { system: MESSAGE_SID_SYSTEM, value: update.messageSid },
    ];
  }
  setDelivery(communication, { ...delivery, twilioStatus: update.status });
  if (FAILED.has(update.status)) {
    communication.status = 'not-done';
    communication.statusReason = twilioErrorReason(
      update.errorCode,
      update.errorMessage || `Twilio reported the message ${update.status}`
    );
  } else if (RANK[update.status] >= RANK.delivered) {
    communication.status = 'completed';
    communication.received ??= update.at.toISOString();
  } else if (communication.status === 'preparation' || communication.status === 'unknown') {
    // Twilio has it: whatever the sender recorded or not, the message is on its way.
    communication.status = 'in-progress';
  }
  return true;
}

const MAX_UPDATE_ATTEMPTS = 8;

/**
 * Read-modify-write of one Communication with `If-Match`, retried when another writer (the
 * sender, a concurrent status callback) got in between. `change` edits a copy and says whether
 * it changed anything; nothing is written when it did not. Undefined when the resource is gone.
 */
export async function updateCommunication(
  repo: PostgresRepository,
  id: string,
  change: (communication: WithId<Communication>) => boolean
): Promise<{ communication: WithId<Communication>; changed: boolean } | undefined> {
  for (let attempt = 1; ; attempt++) {
    let current: WithId<Communication>;
    try {
      current = await repo.readResource<Communication>('Communication', id);
    } catch (err) {
      const status = getStatus(normalizeOperationOutcome(err));
      if (status === 404 || status === 410) return undefined;
      throw err;
    }
    const copy = structuredClone(current);
    if (!change(copy)) {
      return { communication: current, changed: false };
    }
    try {
      const written = await repo.updateResource(copy, { ifMatch: current.meta?.versionId });
      return { communication: written, changed: true };
    } catch (err) {
      if (getStatus(normalizeOperationOutcome(err)) !== 412 || attempt >= MAX_UPDATE_ATTEMPTS) {
        throw err;
      }
    }
  }
}
