import type { WithId } from '@medplum/core';
import type { CodeableConcept, Communication, CommunicationRequest } from '@medplum/fhirtypes';
import type { FastifyBaseLogger } from 'fastify';
import type { PostgresRepository } from '../../repository/repository.js';
import { readCredentials } from '../channels.js';
import { latestDecision } from '../consent.js';
import { mediumOf } from '../medium.js';
import { formatTwilioAddress, type MessagingMedium } from '../phone.js';
import { checkSegmentLimit } from '../text/segments.js';
import { claimAttempt } from './attempt-claim.js';
import { deliveryOf } from './delivery-record.js';
import {
  findRecipient,
  messageText,
  messagingSettings,
  projectChannel,
  sendTime,
  templatedText,
} from './request-parts.js';
import { recordFailure, recordRefusal, recordSent } from './send-outcomes.js';
import { twilioRestClientFor } from './twilio-rest-client.js';

export interface OutboundContext {
  /** Reads requests, recipients, channels and secrets of any project; writes go through `inProject`. */
  systemRepo: PostgresRepository;
  /** BASE_URL: status callbacks go to `messaging/twilio/status` under it. */
  baseUrl: string;
  /** TWILIO_API_BASE_URL (the stand-in in tests and demos). */
  twilioApiBaseUrl?: string;
  /** Time is an input: quiet hours and leases are computed from it. */
  now: () => Date;
  logger: FastifyBaseLogger;
  /** A `sending` record older than this belongs to a dead process (ms; above the Twilio call timeout). */
  leaseMs?: number;
}

export interface SendInput {
  requestId: string;
  /** This try (1-based) and the last one the queue will make: the last transient failure is final. */
  attempt: number;
  maxAttempts: number;
}

export type SendOutcome =
  | { kind: 'skipped'; reason: string }
  | { kind: 'later'; at: Date }
  | { kind: 'sent'; communication: WithId<Communication>; messageSid: string }
  | { kind: 'refused'; communication: WithId<Communication>; reason: string }
  | { kind: 'retry'; reason: string };

const WHATSAPP_MAX_CHARACTERS = 1600;
const TWILIO_TIMEOUT_MS = 15_000;

/**
 * THE place an outbound SMS or WhatsApp message is sent from. For an active CommunicationRequest
 * it decides when (occurrence, quiet hours), takes the attempt record (at most one message per
 * request), checks consent right before sending, the recipient's number, the segment limit and
 * the channel, calls Twilio, and records every outcome on the Communication (and the request).
 */
export async function sendCommunicationRequest(ctx: OutboundContext, input: SendInput): Promise<SendOutcome> {
  const request = await ctx.systemRepo
    .readResource<CommunicationRequest>('CommunicationRequest', input.requestId)
    .catch(() => undefined);
  const projectId = request?.meta?.project;
  if (!request || !projectId || request.status !== 'active' || request.doNotPerform) {
    return { kind: 'skipped', reason: 'not an active request' };
  }
  const medium = mediumOf(request.medium);
  if (!medium) {
    return { kind: 'skipped', reason: 'its medium is neither SMS nor WhatsApp' };
  }
  const now = ctx.now();
  const settings = await messagingSettings(ctx.systemRepo, projectId);
  const at = sendTime(request, settings, now);
  if (at > now) {
    return { kind: 'later', at };
  }
  const claim = await claimAttempt(ctx.systemRepo, request, projectId, medium, now, ctx.leaseMs ?? 60_000);
  if (!claim.owned) {
    return { kind: 'skipped', reason: claim.reason };
  }
  const repo = ctx.systemRepo.inProject(projectId);
  const refuse = (reason: CodeableConcept) => recordRefusal(repo, claim.communication, request, reason);
  const recipient = await findRecipient(ctx.systemRepo, request, projectId);
  if ('refused' in recipient) {
    return refuse({ text: recipient.refused });
  }
  const templated = templatedText(request, recipient, settings.templates);
  if (templated && !templated.ok) {
    return refuse({ text: templated.reason });
  }
  const body = templated?.text ?? messageText(request);
  const channel = await projectChannel(ctx.systemRepo, projectId, medium);
  const credentials = channel && (await readCredentials(ctx.systemRepo, channel));
  if (!channel || !credentials?.accountSid) {
    return refuse({
      text: `The project has no active ${medium === 'sms' ? 'SMS' : 'WhatsApp'} channel with Twilio credentials`,
    });
  }
  const client = twilioRestClientFor({
    accountSid: credentials.accountSid,
    authToken: credentials.authToken,
    apiBaseUrl: ctx.twilioApiBaseUrl,
    timeoutMs: TWILIO_TIMEOUT_MS,
  });
  const to = formatTwilioAddress({ medium, phone: recipient.phone });
  const from = formatTwilioAddress({ medium, phone: channel.phone });
  // Tries count per request, not per job: a request updated while failing gets no fresh budget.
  const tries = { ...input, attempt: Math.max(input.attempt, deliveryOf(claim.communication).attempts ?? 1) };
  if (claim.reconcileSince) {
    // A process died during its call: if Twilio took that message, it is this one.
    let earlier: Awaited<ReturnType<typeof findEarlierMessage>>;
    try {
      earlier = await findEarlierMessage(client, { to, from, body }, claim.reconcileSince);
    } catch (err) {
      return recordFailure(repo, claim.communication, request, tries, err, ctx.logger);
    }
    if (earlier) {
      return recordSent(repo, claim.communication, request, earlier, recipient, ctx.now());
    }
  }
  const refusal = await checkBeforeSending(ctx, projectId, recipient.phone, body, medium);
  if (refusal) {
    return refuse(refusal);
  }
  try {
    const message = await client.messages.create({
      to,
      from,
      body,
      // The Communication's id in the URL (signed with it) finds the record even before the
      // MessageSid is stored: Twilio's first callback can beat this process's next write.
      statusCallback: `${ctx.baseUrl}messaging/twilio/status?communication=${claim.communication.id}`,
    });
    return recordSent(repo, claim.communication, request, message, recipient, ctx.now());
  } catch (err) {
    return recordFailure(repo, claim.communication, request, tries, err, ctx.logger);
  }
}

/** Consent (the latest decision, asked right before sending) and length: the refusal, if any. */
async function checkBeforeSending(
  ctx: OutboundContext,
  projectId: string,
  phone: string,
  body: string,
  medium: MessagingMedium
): Promise<CodeableConcept | undefined> {
  const decision = await latestDecision(ctx.systemRepo, projectId, phone);
  if (decision?.decision === 'deny') {
    return {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT', display: 'opt-out' }],
      text: `Not sent: ${phone} opted out of messages (Consent/${decision.consent.id})`,
    };
  }
  const tooLong = checkLength(body, medium);
  return tooLong ? { text: tooLong } : undefined;
}

/**
 * A message with this text from this number to this handset that Twilio created since `since`
 * (a minute of clock skew allowed): what a dead attempt's call produced, if it reached Twilio.
 * https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources
 */
async function findEarlierMessage(
  client: ReturnType<typeof twilioRestClientFor>,
  message: { to: string; from: string; body: string },
  since: string
): Promise<{ sid: string; status: string } | undefined> {
  const after = Date.parse(since) - 60_000;
  const recent = await client.messages.list({ to: message.to, from: message.from, limit: 50 });
  return recent.find((m) => m.body === message.body && m.dateCreated.getTime() >= after);
}

/** Over 3 SMS segments (or WhatsApp's 1,600 characters): the reason it is refused. */
function checkLength(body: string, medium: MessagingMedium): string | undefined {
  if (body === '') {
    return 'The request has no text to send (payload.contentString)';
  }
  if (medium === 'whatsapp') {
    return [...body].length > WHATSAPP_MAX_CHARACTERS
      ? `WhatsApp text over ${WHATSAPP_MAX_CHARACTERS} characters`
      : undefined;
  }
  const check = checkSegmentLimit(body);
  return check.ok ? undefined : check.reason;
}
