import { parseTwilioAddress } from '../phone.js';
import { newTwilioMessage, type StandInAccount, type StandInState, type TwilioMessage } from './stand-in-state.js';
import { REST_ERRORS, type TwilioErrorAnswer } from './twilio-errors.js';

export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** A message Twilio accepted, with where its status callbacks go. */
export interface AcceptedMessage {
  message: TwilioMessage;
  statusCallback?: string;
}

const MAX_BODY_CHARACTERS = 1600;

/**
 * `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: checks what Twilio checks, in the order
 * it does, and answers 201 with the Message (status `queued`, or `accepted` through a Messaging
 * Service). https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
 */
export function createMessage(
  state: StandInState,
  account: StandInAccount,
  form: Record<string, string>
): { answer: ApiAnswer; accepted?: AcceptedMessage } {
  const fault = state.faults.nextSendStatuses.shift();
  if (fault !== undefined) {
    return { answer: faultAnswer(fault) };
  }
  const checked = checkMessage(state, account, form);
  if ('status' in checked) {
    return { answer: checked };
  }
  const { from, to, body, serviceSid } = checked;
  const message = newTwilioMessage(
    {
      accountSid: account.accountSid,
      from,
      to,
      body,
      direction: 'outbound-api',
      status: serviceSid ? 'accepted' : 'queued',
      messagingServiceSid: serviceSid,
      sentNow: false,
    },
    state.now()
  );
  state.add(message);
  return { answer: { status: 201, body: message }, accepted: { message, statusCallback: form.StatusCallback } };
}

interface CheckedMessage {
  from: string;
  to: string;
  body: string;
  serviceSid?: string;
}

function checkMessage(
  state: StandInState,
  account: StandInAccount,
  form: Record<string, string>
): CheckedMessage | TwilioErrorAnswer {
  const { To: to, Body: body, MessagingServiceSid: serviceSid, StatusCallback: callback } = form;
  if (!to) {
    return REST_ERRORS.toRequired();
  }
  const service = serviceSid ? account.messagingServices?.find((s) => s.sid === serviceSid) : undefined;
  if (serviceSid && !service) {
    return REST_ERRORS.invalidService(serviceSid);
  }
  const toAddress = parseTwilioAddress(to);
  // Twilio takes E.164 only: a local "0712…" or a short junk string is not a number.
  if (!toAddress || toAddress.phone !== to.replace(/^whatsapp:/i, '')) {
    return REST_ERRORS.invalidTo(to);
  }
  const from = form.From || service?.numbers.find((n) => n.startsWith('whatsapp:') === to.startsWith('whatsapp:'));
  if (!from) {
    return REST_ERRORS.fromRequired();
  }
  if (!body) {
    return REST_ERRORS.bodyRequired();
  }
  if ([...body].length > MAX_BODY_CHARACTERS) {
    return REST_ERRORS.bodyTooLong();
  }
  if (!account.numbers.includes(from)) {
    return REST_ERRORS.fromNotOwned(from);
  }
  if (from.startsWith('whatsapp:') !== to.startsWith('whatsapp:')) {
    return REST_ERRORS.channelMismatch();
  }
  if (callback !== undefined && !isHttpUrl(callback)) {
    return REST_ERRORS.invalidCallback();
  }
  if (!to.startsWith('whatsapp:') && state.faults.notMobile.has(to)) {
    return REST_ERRORS.notMobile(to);
  }
  if (state.hasOptedOut(from, to)) {
    return REST_ERRORS.unsubscribed();
  }
  return { from, to, body, serviceSid: service?.sid };
}

function faultAnswer(status: number): TwilioErrorAnswer {
  if (status === 429) {
    return REST_ERRORS.tooManyRequests();
  }
  return status === 503 ? REST_ERRORS.unavailable() : REST_ERRORS.internal();
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** `GET …/Messages/{Sid}.json`: the account's own message, else 20404. */
export function fetchMessage(state: StandInState, account: StandInAccount, sid: string, path: string): ApiAnswer {
  const message = state.messages.get(sid);
  return message && message.account_sid === account.accountSid
    ? { status: 200, body: message }
    : REST_ERRORS.notFound(path);
}

/**
 * `GET …/Messages.json` with optional `To`, `From` and `PageSize`: newest first, one page (the
 * shape the official client's `messages.list()` reads).
 */
export function listMessages(
  state: StandInState,
  account: StandInAccount,
  query: URLSearchParams,
  path: string
): ApiAnswer {
  const to = query.get('To');
  const from = query.get('From');
  const pageSize = Math.min(1000, Math.max(1, Number(query.get('PageSize')) || 50));
  const messages = [...state.messages.values()]
    .filter((m) => m.account_sid === account.accountSid && (!to || m.to === to) && (!from || m.from === from))
    .reverse()
    .slice(0, pageSize);
  return {
    status: 200,
    body: {
      messages,
      uri: `${path}?PageSize=${pageSize}&Page=0`,
      first_page_uri: `${path}?PageSize=${pageSize}&Page=0`,
      next_page_uri: null,
      previous_page_uri: null,
      page: 0,
      page_size: pageSize,
      start: 0,
      end: Math.max(0, messages.length - 1),
    },
  };
}
