import { keywordOf } from '../keywords.js';
import { newTwilioMessage, type StandInState, type TwilioMessage } from './stand-in-state.js';
import { postSigned } from './status-callbacks.js';

export interface InboundText {
  /** The handset: `+254712345678`, or `whatsapp:+254712345678`. */
  from: string;
  /** One of the stand-in's numbers (the same channel as `from`). */
  to: string;
  body: string;
  /** WhatsApp only: the name the user gave WhatsApp. */
  profileName?: string;
}

export interface InboundResult {
  message: TwilioMessage;
  /** Tiba's answer to the webhook. */
  webhook: { status: number; body: string };
  /** Messages the TwiML answer asked Twilio to send back (recorded in the thread as replies). */
  replies: TwilioMessage[];
}

/**
 * A text from a handset: recorded in its thread, read for STOP/START as Twilio's Advanced
 * Opt-Out does (an opted-out handset then gets 21610 on sends from that number), and POSTed to
 * the inbound webhook with Twilio's fields and a valid X-Twilio-Signature. A TwiML `<Message>`
 * in the answer becomes a reply in the thread, as Twilio sends it.
 * https://www.twilio.com/docs/messaging/guides/webhook-request
 */
export async function sendInbound(state: StandInState, inboundUrl: string, text: InboundText): Promise<InboundResult> {
  const account = state.ownerOf(text.to);
  if (!account) {
    throw new Error(`${text.to} is not a number of the stand-in`);
  }
  if (text.from.startsWith('whatsapp:') !== text.to.startsWith('whatsapp:')) {
    throw new Error('From and To must be on the same channel');
  }
  const message = inboundMessage(state, account.accountSid, text);
  state.add(message);
  state.noteInbound(text.to, text.from);
  const keyword = keywordOf(text.body);
  if (keyword === 'stop') {
    state.optOut(text.to, text.from);
  } else if (keyword === 'start') {
    state.optIn(text.to, text.from);
  }
  const webhook = await postSigned(inboundUrl, inboundParams(message, text), account.authToken);
  const replies = twimlMessages(webhook.status < 300 ? webhook.body : '').map((body) => {
    const reply: TwilioMessage = {
      ...inboundMessage(state, account.accountSid, { from: text.to, to: text.from, body }),
      direction: 'outbound-reply',
      status: 'delivered',
    };
    state.add(reply);
    return reply;
  });
  return { message, webhook, replies };
}

function inboundMessage(state: StandInState, accountSid: string, text: InboundText): TwilioMessage {
  return newTwilioMessage(
    {
      accountSid,
      from: text.from,
      to: text.to,
      body: text.body,
      direction: 'inbound',
      status: 'received',
      sentNow: true,
    },
    state.now()
  );
}

/** The webhook's form fields. WhatsApp adds ProfileName and WaId (the number without `+`). */
function inboundParams(message: TwilioMessage, text: InboundText): Record<string, string> {
  const whatsapp = text.from.startsWith('whatsapp:');
  return {
    ToCountry: '',
    ToState: '',
    SmsMessageSid: message.sid,
    NumMedia: '0',
    ToCity: '',
    FromZip: '',
    SmsSid: message.sid,
    FromState: '',
    SmsStatus: 'received',
    FromCity: '',
    Body: text.body,
    FromCountry: '',
    To: text.to,
    ToZip: '',
    NumSegments: message.num_segments,
    MessageSid: message.sid,
    AccountSid: message.account_sid,
    From: text.from,
    ApiVersion: '2010-04-01',
    ...(whatsapp
      ? { ProfileName: text.profileName ?? '', WaId: text.from.replace(/^whatsapp:\+/, ''), MessageType: 'text' }
      : undefined),
  };
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The texts of `<Message>` elements in a TwiML answer (with or without a `<Body>`), entities decoded. */
export function twimlMessages(twiml: string): string[] {
  const texts: string[] = [];
  for (const match of twiml.matchAll(/<Message(?:\s[^>]*)?>([\s\S]*?)<\/Message>/g)) {
    const inner = /<Body(?:\s[^>]*)?>([\s\S]*?)<\/Body>/.exec(match[1])?.[1] ?? match[1].replace(/<[^>]*>/g, '');
    texts.push(
      inner.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (entity, name: string) => {
        if (name.startsWith('#x') || name.startsWith('#X'))
          return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
        if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)));
        return XML_ENTITIES[name] ?? entity;
      })
    );
  }
  return texts;
}
