import { getStatus, normalizeOperationOutcome, type WithId } from '@medplum/core';
import type { CodeableConcept, Communication, CommunicationRequest } from '@medplum/fhirtypes';
import type { FastifyBaseLogger } from 'fastify';
import twilio from 'twilio';
import type { PostgresRepository } from '../../repository/repository.js';
import { MESSAGE_SID_SYSTEM } from '../twilio/inbound-message.js';
import { deliveryOf, setDelivery, twilioErrorReason, updateCommunication } from './delivery-record.js';
import type { Recipient } from './request-parts.js';
import type { SendInput, SendOutcome } from './send-request.js';

/** Twilio took the message: the Communication is in progress with its MessageSid; the request is completed. */
export async function recordSent(
  repo: PostgresRepository,
  communication: WithId<Communication>,
  request: WithId<CommunicationRequest>,
  message: { sid: string; status: string },
  recipient: Recipient,
  now: Date
): Promise<SendOutcome> {
  const updated = await updateCommunication(repo, communication.id, (c) => {
    const delivery = deliveryOf(c);
    if (!c.identifier?.some((i) => i.system === MESSAGE_SID_SYSTEM)) {
      c.identifier = [...(c.identifier ?? []), { system: MESSAGE_SID_SYSTEM, value: message.sid }];
    }
    if (c.status === 'preparation' || c.status === 'unknown') {
      c.status = 'in-progress';
      delete c.statusReason;
    }
    c.sent = now.toISOString();
    c.recipient = [recipient.reference];
    if (recipient.subject) {
      c.subject = recipient.subject;
    }
    // A status callback may have come first: keep the furthest status.
    setDelivery(c, {
      ...delivery,
      state: 'sent',
      since: now.toISOString(),
      twilioStatus: delivery.twilioStatus ?? message.status,
    });
    return true;
  });
  await setRequestStatus(repo, request, 'completed');
  return { kind: 'sent', communication: updated?.communication ?? communication, messageSid: message.sid };
}

/** Nothing is (or will be) sent: the Communication is not-done with the reason; the request is revoked with it. */
export async function recordRefusal(
  repo: PostgresRepository,
  communication: WithId<Communication>,
  request: WithId<CommunicationRequest>,
  reason: CodeableConcept
): Promise<SendOutcome> {
  const updated = await updateCommunication(repo, communication.id, (c) => {
    c.status = 'not-done';
    c.statusReason = reason;
    setDelivery(c, { ...deliveryOf(c), state: undefined, since: undefined });
    return true;
  });
  await setRequestStatus(repo, request, 'revoked', reason);
  return {
    kind: 'refused',
    communication: updated?.communication ?? communication,
    reason: reason.text ?? 'refused',
  };
}

interface FailureKind {
  transient: boolean;
  reason: CodeableConcept;
}

/**
 * Twilio's answer to a failed call: 5xx, 429 and network errors are transient (retried with
 * backoff), other 4xx (21211 invalid number, 21610 unsubscribed, 21614 not a mobile, 20003
 * credentials…) are final. https://www.twilio.com/docs/usage/requests-to-twilio
 */
export function classifyFailure(err: unknown): FailureKind {
  if (err instanceof twilio.RestException) {
    const transient = err.status >= 500 || err.status === 429;
    return { transient, reason: twilioErrorReason(err.code, err.message || `HTTP ${err.status}`) };
  }
  const code = (err as { code?: string }).code;
  return {
    transient: true,
    reason: { text: `Could not reach Twilio: ${code ?? (err as Error).message ?? String(err)}` },
  };
}

/** A transient failure waits for the next try (recorded as `retry`), unless it was the last; a final one refuses. */
export async function recordFailure(
  repo: PostgresRepository,
  communication: WithId<Communication>,
  request: WithId<CommunicationRequest>,
  input: SendInput,
  err: unknown,
  logger: FastifyBaseLogger
): Promise<SendOutcome> {
  const failure = classifyFailure(err);
  logger.warn({ request: request.id, attempt: input.attempt, reason: failure.reason.text }, 'Outbound message failed');
  if (!failure.transient) {
    return recordRefusal(repo, communication, request, failure.reason);
  }
  if (input.attempt >= input.maxAttempts) {
    return recordRefusal(repo, communication, request, {
      ...failure.reason,
      text: `Gave up after ${input.attempt} attempt(s): ${failure.reason.text}`,
    });
  }
  // Twilio said no (or could not be reached): the next job may take the record back.
  await updateCommunication(repo, communication.id, (c) => {
    c.statusReason = failure.reason;
    setDelivery(c, { ...deliveryOf(c), state: 'retry', since: new Date().toISOString() });
    return true;
  });
  return { kind: 'retry', reason: failure.reason.text ?? 'transient failure' };
}

async function setRequestStatus(
  repo: PostgresRepository,
  request: WithId<CommunicationRequest>,
  status: 'completed' | 'revoked',
  reason?: CodeableConcept
): Promise<void> {
  try {
    const current = await repo.readResource<CommunicationRequest>('CommunicationRequest', request.id);
    if (current.status !== 'active') {
      return;
    }
    await repo.updateResource<CommunicationRequest>(
      { ...current, status, ...(reason ? { statusReason: reason } : undefined) },
      { ifMatch: current.meta?.versionId }
    );
  } catch (err) {
    // Someone changed the request meanwhile: the message record stands, the request is theirs.
    if (getStatus(normalizeOperationOutcome(err)) !== 412) {
      throw err;
    }
  }
}
