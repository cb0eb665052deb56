import { badRequest, conflict, forbidden, notFound, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { FastifyRequest } from 'fastify';
import twilio from 'twilio';
import { readFormFields } from '../../http/form-fields.js';
import type { PostgresRepository } from '../../repository/repository.js';
import { type Channel, findChannel, readCredentials, type TwilioCredentials } from '../channels.js';
import { type MessagingAddress, parseTwilioAddress } from '../phone.js';

/** Twilio's webhook bodies are a few kilobytes (1,600 characters of text, ten media URLs). */
export const TWILIO_WEBHOOK_BODY_LIMIT = 64 * 1024;

export interface VerifiedTwilioWebhook {
  params: Record<string, string>;
  channel: Channel;
  credentials: TwilioCredentials;
}

function withDiagnostics(outcome: OperationOutcome, diagnostics: string): OperationOutcomeError {
  return new OperationOutcomeError({ ...outcome, issue: [{ ...outcome.issue[0], diagnostics }] });
}

/**
 * A Twilio webhook whose signature is good: the form fields, the channel its `channelField`
 * number belongs to (`To` inbound, `From` on status callbacks) and that channel's credentials.
 * `X-Twilio-Signature` is checked with the official `twilio.validateRequest` against BASE_URL +
 * the path Twilio was given: missing → 400, wrong → 403, before anything is stored.
 * https://www.twilio.com/docs/usage/webhooks/webhooks-security
 */
export async function verifyTwilioWebhook(
  request: FastifyRequest,
  systemRepo: PostgresRepository,
  baseUrl: string,
  channelField: 'To' | 'From'
): Promise<VerifiedTwilioWebhook> {
  const params = readFormFields(request);
  const signature = request.headers['x-twilio-signature'];
  if (typeof signature !== 'string' || signature === '') {
    throw new OperationOutcomeError(badRequest('X-Twilio-Signature header is missing'));
  }
  const address = requireAddress(params, channelField);
  const channel = await findChannel(systemRepo, address);
  if (channel === 'ambiguous') {
    throw new OperationOutcomeError(conflict(`More than one active channel has the number ${address.phone}`));
  }
  if (!channel) {
    throw withDiagnostics(notFound, `No messaging channel has the number ${address.phone}`);
  }
  const credentials = await readCredentials(systemRepo, channel);
  if (!credentials) {
    throw withDiagnostics(forbidden, 'The channel has no auth token to verify the signature with');
  }
  // request.url is the path and query Twilio called; BASE_URL ends with a slash.
  const url = `${baseUrl}${request.url.replace(/^\//, '')}`;
  if (!twilio.validateRequest(credentials.authToken, signature, url, params)) {
    throw withDiagnostics(forbidden, 'X-Twilio-Signature does not match this request');
  }
  if (credentials.accountSid && params.AccountSid && params.AccountSid !== credentials.accountSid) {
    throw withDiagnostics(forbidden, 'AccountSid is not the account of this channel');
  }
  return { params, channel, credentials };
}

/** A Twilio address field (`+E164` or `whatsapp:+E164`), or 400. */
export function requireAddress(params: Record<string, string>, field: string): MessagingAddress {
  const raw = params[field];
  if (raw === undefined || raw === '') {
    throw new OperationOutcomeError(badRequest(`${field} is missing`, field));
  }
  const address = parseTwilioAddress(raw);
  if (!address) {
    throw new OperationOutcomeError(badRequest(`${field} must be +E.164 or whatsapp:+E.164`, field));
  }
  return address;
}

const MESSAGE_SID = /^(SM|MM)[0-9a-f]{32}$/;

/** MessageSid (`SM…` or `MM…` and 32 hex digits), or 400. */
export function requireMessageSid(params: Record<string, string>): string {
  const sid = params.MessageSid ?? params.SmsSid;
  if (!sid || !MESSAGE_SID.test(sid)) {
    throw new OperationOutcomeError(badRequest('MessageSid must be SM or MM and 32 hex digits', 'MessageSid'));
  }
  return sid;
}
