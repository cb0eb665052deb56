import { createHash } from 'node:crypto';
import { getStatus, normalizeOperationOutcome, type WithId } from '@medplum/core';
import type { Communication, CommunicationRequest } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../../repository/repository.js';
import { mediumConcept } from '../medium.js';
import type { MessagingMedium } from '../phone.js';
import { deliveryOf, OUTBOUND_REQUEST_SYSTEM, setDelivery } from './delivery-record.js';

export type Claim =
  | {
      owned: true;
      communication: WithId<Communication>;
      /** Taken over from a process that died mid-call at this time: ask Twilio before sending. */
      reconcileSince?: string;
    }
  | { owned: false; reason: string; communication: WithId<Communication> };

/**
 * Takes the right to call Twilio for a request, recorded BEFORE the call. The attempt record is
 * a Communication whose id is derived from the request's (its identifier names the request too):
 * of two jobs for one request (a job run twice, two updates of the request), exactly one creates
 * it and sends; the other's insert fails on the primary key. A later job may take it over only from `retry`
 * (a transient failure was recorded) and only with If-Match on the version it read.
 *
 * If the process dies during the call to Twilio, the record stays `sending`, and Twilio may or
 * may not have taken the message (it has no idempotency key for a new one). After `leaseMs`
 * (longer than the call's timeout, so that call is over) the next job takes the record over and
 * is told to reconcile: the sender first lists Twilio's messages to that number and adopts one
 * with the same text created since the dead attempt began, and sends only when there is none.
 */
export async function claimAttempt(
  systemRepo: PostgresRepository,
  request: WithId<CommunicationRequest>,
  projectId: string,
  medium: MessagingMedium,
  now: Date,
  leaseMs: number
): Promise<Claim> {
  const repo = systemRepo.inProject(projectId);
  const draft: Communication = {
    resourceType: 'Communication',
    status: 'preparation',
    identifier: [{ system: OUTBOUND_REQUEST_SYSTEM, value: request.id }],
    basedOn: [{ reference: `CommunicationRequest/${request.id}` }],
    medium: [mediumConcept(medium)],
    ...(request.category ? { category: request.category } : undefined),
    ...(request.priority ? { priority: request.priority } : undefined),
    ...(request.subject?.reference?.startsWith('Patient/') ? { subject: request.subject } : undefined),
    ...(request.recipient ? { recipient: request.recipient } : undefined),
    ...(request.payload ? { payload: request.payload } : undefined),
  };
  setDelivery(draft, { state: 'sending', since: now.toISOString(), attempts: 1 });
  const id = attemptRecordId(request.id);
  try {
    return {
      owned: true,
      communication: await repo.createResource<Communication>({ ...draft, id }, { assignedId: true }),
    };
  } catch (err) {
    // The primary key is the lock: a second create of the same id fails in the database.
    if ((err as { code?: string }).code !== UNIQUE_VIOLATION) {
      throw err;
    }
  }
  const existing = await repo.readResource<Communication>('Communication', id).catch(() => undefined);
  if (!existing) {
    return { owned: false, reason: 'its message record was deleted', communication: { ...draft, id } };
  }
  return takeOver(repo, existing, now, leaseMs);
}

const UNIQUE_VIOLATION = '23505';

/**
 * The attempt record's id, derived from the request's: the database's primary key makes its
 * creation the claim, with no search and no serializable transaction (those conflicted under
 * load and slowed every send). A deleted record keeps its id, so deleting it never re-opens sending.
 */
export function attemptRecordId(requestId: string): string {
  return `outbound-${createHash('sha256').update(requestId).digest('hex').slice(0, 40)}`;
}

async function takeOver(
  repo: PostgresRepository,
  existing: WithId<Communication>,
  now: Date,
  leaseMs: number
): Promise<Claim> {
  const delivery = deliveryOf(existing);
  if (existing.status !== 'preparation') {
    return { owned: false, reason: `its message is already ${existing.status}`, communication: existing };
  }
  if (delivery.state === 'sending') {
    const since = delivery.since ? Date.parse(delivery.since) : 0;
    if (now.getTime() - since < leaseMs) {
      return { owned: false, reason: 'another job is sending it now', communication: existing };
    }
    return takeWithIfMatch(repo, existing, now, delivery.since ?? new Date(0).toISOString());
  }
  return takeWithIfMatch(repo, existing, now, undefined);
}

/** Of several jobs taking over one record (a retry, a dead attempt), If-Match lets one win. */
async function takeWithIfMatch(
  repo: PostgresRepository,
  existing: WithId<Communication>,
  now: Date,
  reconcileSince: string | undefined
): Promise<Claim> {
  const delivery = deliveryOf(existing);
  try {
    const copy = structuredClone(existing);
    setDelivery(copy, {
      ...delivery,
      state: 'sending',
      since: now.toISOString(),
      attempts: (delivery.attempts ?? 1) + 1,
    });
    const taken = await repo.updateResource(copy, { ifMatch: existing.meta?.versionId });
    return { owned: true, communication: taken, ...(reconcileSince ? { reconcileSince } : undefined) };
  } catch (err) {
    if (getStatus(normalizeOperationOutcome(err)) !== 412) {
      throw err;
    }
    return { owned: false, reason: 'another job took it over', communication: existing };
  }
}
