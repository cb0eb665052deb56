import twilio from 'twilio';
import type { AcceptedMessage } from './messages-api.js';
import type { MessageStatus, StandInState, TwilioMessage } from './stand-in-state.js';
import { DELIVERY_ERRORS } from './twilio-errors.js';

/** One status callback the stand-in POSTed, with the answer it got (for tests and the simulator). */
export interface CallbackRecord {
  url: string;
  params: Record<string, string>;
  /** HTTP status of the answer, or 0 when the request failed. */
  answer: number;
  at: Date;
}

/** The statuses a message goes through after `queued`, and the error of a failing one. */
export function plannedStatuses(
  state: StandInState,
  message: TwilioMessage
): { status: MessageStatus; error?: { code: number; message: string } }[] {
  const handset = message.to.replace(/^whatsapp:/i, '');
  const whatsapp = message.to.startsWith('whatsapp:');
  // WhatsApp refuses free-form text outside the 24 h window; Twilio reports it as `failed`, 63016.
  if (whatsapp && !state.inWhatsAppWindow(message.from, message.to)) {
    return [{ status: 'failed', error: { code: 63016, message: DELIVERY_ERRORS[63016] } }];
  }
  const code = state.faults.undeliverable.get(handset);
  if (code !== undefined) {
    const message = DELIVERY_ERRORS[code] ?? 'Unknown error';
    return [{ status: 'sent' }, { status: 'undelivered', error: { code, message } }];
  }
  return [{ status: 'sent' }, { status: 'delivered' }];
}

/** The form fields of a status callback, as Twilio sends them. https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks */
export function callbackParams(
  message: TwilioMessage,
  status: MessageStatus,
  error?: { code: number; message: string }
): Record<string, string> {
  return {
    AccountSid: message.account_sid,
    ApiVersion: message.api_version,
    From: message.from,
    To: message.to,
    MessageSid: message.sid,
    SmsSid: message.sid,
    MessageStatus: status,
    SmsStatus: status,
    ...(message.messaging_service_sid ? { MessagingServiceSid: message.messaging_service_sid } : undefined),
    ...(error ? { ErrorCode: String(error.code), ErrorMessage: error.message } : undefined),
  };
}

/** POSTs form fields to `url` signed with X-Twilio-Signature (HMAC-SHA1 of URL + sorted fields, keyed by the auth token). */
export async function postSigned(
  url: string,
  params: Record<string, string>,
  authToken: string
): Promise<{ status: number; body: string }> {
  const signature = twilio.getExpectedTwilioSignature(authToken, url, params);
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': signature,
      'user-agent': 'TwilioProxy/1.1',
    },
    body: new URLSearchParams(params).toString(),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: await response.text() };
}

/**
 * Plays a message's life after the REST answer: each status change after a short delay, and
 * when the sender gave a StatusCallback, a signed POST of it there (in order unless a fault
 * reverses or repeats them). Twilio sends no callback for the initial `queued`.
 */
export async function deliverMessage(
  state: StandInState,
  accepted: AcceptedMessage,
  authToken: string,
  log: CallbackRecord[],
  delayMs: number
): Promise<void> {
  const { message, statusCallback } = accepted;
  const { callbacksReversed, callbacksTwice } = state.faults;
  const post = async (params: Record<string, string>) => {
    if (!statusCallback) {
      return;
    }
    for (let i = 0; i < (callbacksTwice ? 2 : 1); i++) {
      const record: CallbackRecord = { url: statusCallback, params, answer: 0, at: state.now() };
      try {
        record.answer = (await postSigned(statusCallback, params, authToken)).status;
      } catch {
        // Twilio does not retry a failed status callback either.
      }
      log.push(record);
    }
  };
  const held: Record<string, string>[] = [];
  for (const step of plannedStatuses(state, message)) {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    state.setStatus(message.sid, step.status, step.error);
    const params = callbackParams(message, step.status, step.error);
    if (callbacksReversed) {
      held.unshift(params);
    } else {
      await post(params);
    }
  }
  for (const params of held) {
    await post(params);
  }
}
