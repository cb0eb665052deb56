import { randomBytes } from 'node:crypto';
import { countSegments } from '../text/segments.js';

/** A Message resource as Twilio's REST API returns it (snake_case, numbers as strings, RFC 2822 dates). */
export interface TwilioMessage {
  sid: string;
  account_sid: string;
  messaging_service_sid: string | null;
  api_version: '2010-04-01';
  from: string;
  to: string;
  body: string;
  direction: 'outbound-api' | 'outbound-reply' | 'inbound';
  status: MessageStatus;
  num_segments: string;
  num_media: string;
  error_code: number | null;
  error_message: string | null;
  price: string | null;
  price_unit: string;
  date_created: string;
  date_updated: string;
  date_sent: string | null;
  uri: string;
  subresource_uris: { media: string; feedback: string };
}

export type MessageStatus =
  | 'accepted'
  | 'queued'
  | 'sending'
  | 'sent'
  | 'delivered'
  | 'undelivered'
  | 'failed'
  | 'received'
  | 'read';

export interface StandInAccount {
  accountSid: string;
  authToken: string;
  /** Numbers the account owns, as Twilio writes them: `+15005550006`, `whatsapp:+14155238886`. */
  numbers: string[];
  /** Messaging Services (`MG…`) and the numbers in their sender pools. */
  messagingServices?: { sid: string; numbers: string[] }[];
}

/** Faults a test asks for; each is used up or stays until changed. */
export interface StandInFaults {
  /** The next sends answer these HTTP statuses (500, 503 or 429), one per send, before any validation. */
  nextSendStatuses: number[];
  /** Handsets that are landlines: sends to them get 21614 (not a mobile number). */
  notMobile: Set<string>;
  /** Handsets whose messages end `undelivered` (or `failed`) with this ErrorCode (30003, 30005, 30006…). */
  undeliverable: Map<string, number>;
  /** Status callbacks in reverse order (delivered before sent). */
  callbacksReversed: boolean;
  /** Every status callback sent twice. */
  callbacksTwice: boolean;
}

/** The WhatsApp customer-service window: free-form messages only this long after the user's last message. */
export const WHATSAPP_WINDOW_MS = 24 * 3600 * 1000;

/** `SM` + 32 hex digits, like Twilio's message SIDs. */
export function newMessageSid(): string {
  return `SM${randomBytes(16).toString('hex')}`;
}

/** RFC 2822 in GMT, as Twilio writes `date_created` ("Thu, 03 Dec 2026 12:37:56 +0000"). */
export function rfc2822(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

/** What differs between the Messages the stand-in makes; the rest is Twilio's shape. */
export interface NewMessage {
  accountSid: string;
  from: string;
  to: string;
  body: string;
  direction: TwilioMessage['direction'];
  status: MessageStatus;
  messagingServiceSid?: string;
  /** Inbound messages were sent when they arrive; outbound ones when Twilio says so. */
  sentNow: boolean;
}

/** A new Message resource (new SM sid, its URIs, segments counted as Twilio bills them). */
export function newTwilioMessage(fields: NewMessage, at: Date): TwilioMessage {
  const now = rfc2822(at);
  const sid = newMessageSid();
  const uri = `/2010-04-01/Accounts/${fields.accountSid}/Messages/${sid}.json`;
  return {
    sid,
    account_sid: fields.accountSid,
    messaging_service_sid: fields.messagingServiceSid ?? null,
    api_version: '2010-04-01',
    from: fields.from,
    to: fields.to,
    body: fields.body,
    direction: fields.direction,
    status: fields.status,
    num_segments: fields.to.startsWith('whatsapp:') ? '1' : String(countSegments(fields.body).segments),
    num_media: '0',
    error_code: null,
    error_message: null,
    price: null,
    price_unit: 'USD',
    date_created: now,
    date_updated: now,
    date_sent: fields.sentNow ? now : null,
    uri,
    subresource_uris: {
      media: uri.replace(/\.json$/, '/Media.json'),
      feedback: uri.replace(/\.json$/, '/Feedback.json'),
    },
  };
}

/** The handset side of a message: `to` when we sent it, `from` when it came in. */
export function handsetOf(message: TwilioMessage): string {
  return message.direction === 'inbound' ? message.from : message.to;
}

/** Strips the `whatsapp:` prefix: a thread is per phone, whichever channel. */
export function phoneOf(address: string): string {
  return address.replace(/^whatsapp:/i, '');
}

/**
 * What the stand-in remembers: its accounts, every message in order, who opted out of which
 * sender (as Twilio's Advanced Opt-Out does, per sender number and handset), and when each
 * WhatsApp user last wrote (the 24-hour window).
 */
export class StandInState {
  readonly accounts = new Map<string, StandInAccount>();
  readonly messages = new Map<string, TwilioMessage>();
  readonly faults: StandInFaults = {
    nextSendStatuses: [],
    notMobile: new Set(),
    undeliverable: new Map(),
    callbacksReversed: false,
    callbacksTwice: false,
  };
  private readonly optOuts = new Set<string>();
  private readonly lastInbound = new Map<string, number>();

  constructor(
    accounts: StandInAccount[],
    /** The stand-in's clock (message dates, the WhatsApp window); tests may replace it. */
    public now: () => Date
  ) {
    for (const account of accounts) {
      this.accounts.set(account.accountSid, account);
    }
  }

  /** The account that owns `number` (exact Twilio address), if any. */
  ownerOf(number: string): StandInAccount | undefined {
    for (const account of this.accounts.values()) {
      if (account.numbers.includes(number)) {
        return account;
      }
    }
    return undefined;
  }

  add(message: TwilioMessage): void {
    this.messages.set(message.sid, message);
  }

  setStatus(sid: string, status: MessageStatus, error?: { code: number; message: string }): void {
    const message = this.messages.get(sid);
    if (!message) {
      return;
    }
    const now = rfc2822(this.now());
    message.status = status;
    message.date_updated = now;
    if (status === 'sent') {
      message.date_sent = now;
    }
    if (error) {
      message.error_code = error.code;
      message.error_message = error.message;
    }
  }

  /** Every message to or from `phone` (E.164, SMS and WhatsApp alike), oldest first. */
  thread(phone: string): TwilioMessage[] {
    return [...this.messages.values()].filter((m) => phoneOf(handsetOf(m)) === phone);
  }

  optOut(sender: string, handset: string): void {
    this.optOuts.add(`${sender} ${handset}`);
  }

  optIn(sender: string, handset: string): void {
    this.optOuts.delete(`${sender} ${handset}`);
  }

  hasOptedOut(sender: string, handset: string): boolean {
    return this.optOuts.has(`${sender} ${handset}`);
  }

  noteInbound(sender: string, handset: string): void {
    this.lastInbound.set(`${sender} ${handset}`, this.now().getTime());
  }

  /** True when `handset` wrote to `sender` within the last 24 hours (WhatsApp free-form messages allowed). */
  inWhatsAppWindow(sender: string, handset: string): boolean {
    const at = this.lastInbound.get(`${sender} ${handset}`);
    return at !== undefined && this.now().getTime() - at < WHATSAPP_WINDOW_MS;
  }
}
