import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type InboundResult, type InboundText, sendInbound } from './inbound.js';
import { type AcceptedMessage, type ApiAnswer, createMessage, fetchMessage, listMessages } from './messages-api.js';
import { type StandInAccount, type StandInFaults, StandInState, type TwilioMessage } from './stand-in-state.js';
import { type CallbackRecord, deliverMessage } from './status-callbacks.js';
import { REST_ERRORS } from './twilio-errors.js';

export interface TwilioStandInOptions {
  accounts: StandInAccount[];
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Tiba's inbound webhook (`BASE_URL` + `messaging/twilio/inbound`), for `sendInbound`. */
  inboundUrl?: string;
  /** Pause before each status change and its callback (ms). */
  callbackDelayMs?: number;
  now?: () => Date;
}

export interface TwilioStandIn {
  /** `http://127.0.0.1:<port>`: TWILIO_API_BASE_URL for the official client. */
  url: string;
  state: StandInState;
  faults: StandInFaults;
  /** Every status callback POSTed so far, in order. */
  callbacks: CallbackRecord[];
  /** Messages to or from a handset (E.164), oldest first. */
  thread(phone: string): TwilioMessage[];
  sendInbound(text: InboundText): Promise<InboundResult>;
  /** Resolves once every accepted message has played out its status callbacks. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024;
const API_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages(?:\/([^/]+))?\.json$/;

/**
 * A local HTTP server that plays Twilio's side of messaging, so tests, demos and the phone
 * simulator work without a Twilio account: the Messages REST API with HTTP Basic auth and
 * Twilio's refusals, signed status callbacks, opt-outs from inbound STOPs, threads per handset,
 * signed inbound webhooks, and faults on request. See docs/messaging.md.
 *
 * Besides Twilio's paths it answers a small JSON control API for the simulator (no auth: it
 * listens on 127.0.0.1 by default): `GET /_stand-in/threads/{phone}`, `POST /_stand-in/inbound`.
 */
export async function startTwilioStandIn(options: TwilioStandInOptions): Promise<TwilioStandIn> {
  const state = new StandInState(options.accounts, options.now ?? (() => new Date()));
  const callbacks: CallbackRecord[] = [];
  const playing = new Set<Promise<void>>();
  const play = (accepted: AcceptedMessage, authToken: string) => {
    const run = deliverMessage(state, accepted, authToken, callbacks, options.callbackDelayMs ?? 10).finally(() =>
      playing.delete(run)
    );
    playing.add(run);
  };
  const inbound = (text: InboundText) => {
    if (!options.inboundUrl) {
      throw new Error('The stand-in has no inboundUrl to send inbound messages to');
    }
    return sendInbound(state, options.inboundUrl, text);
  };
  const server = createServer((req, res) => {
    handle(req, res, state, play, inbound).catch(() => send(res, 500, REST_ERRORS.internal().body));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    state,
    faults: state.faults,
    callbacks,
    thread: (phone) => state.thread(phone),
    sendInbound: inbound,
    async settled() {
      while (playing.size > 0) {
        await Promise.all([...playing]);
      }
    },
    close: () => closeServer(server),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  state: StandInState,
  play: (accepted: AcceptedMessage, authToken: string) => void,
  inbound: (text: InboundText) => Promise<InboundResult>
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://stand-in');
  const body = await readBody(req);
  if (body === undefined) {
    return send(res, 413, { code: 413, message: 'Request body too large', status: 413 });
  }
  if (url.pathname.startsWith('/_stand-in/')) {
    return control(res, state, url, req.method ?? 'GET', body, inbound);
  }
  const match = API_PATH.exec(url.pathname);
  if (!match) {
    return send(res, 404, REST_ERRORS.notFound(url.pathname).body);
  }
  const account = authenticate(state, req.headers.authorization);
  if (!account) {
    return send(res, 401, REST_ERRORS.authenticate().body, { 'www-authenticate': 'Basic realm="Twilio API"' });
  }
  const [, accountSid, messageSid] = match;
  if (accountSid !== account.accountSid) {
    return send(res, 404, REST_ERRORS.notFound(url.pathname).body);
  }
  let answer: ApiAnswer;
  if (req.method === 'POST' && !messageSid) {
    const created = createMessage(state, account, formFields(req, body));
    answer = created.answer;
    if (created.accepted) {
      play(created.accepted, account.authToken);
    }
  } else if (req.method === 'GET') {
    answer = messageSid
      ? fetchMessage(state, account, messageSid, url.pathname)
      : listMessages(state, account, url.searchParams, url.pathname);
  } else {
    answer = { status: 405, body: { code: 20004, message: 'Method not allowed', status: 405 } };
  }
  send(res, answer.status, answer.body);
}

/** The account whose SID and auth token are the request's Basic credentials. */
function authenticate(state: StandInState, header: string | undefined): StandInAccount | undefined {
  const encoded = /^Basic\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!encoded) {
    return undefined;
  }
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const account = colon > 0 ? state.accounts.get(decoded.slice(0, colon)) : undefined;
  if (!account) {
    return undefined;
  }
  const given = Buffer.from(decoded.slice(colon + 1));
  const expected = Buffer.from(account.authToken);
  return given.length === expected.length && timingSafeEqual(given, expected) ? account : undefined;
}

/** Form fields of the body (the last value of a repeated field, as Twilio reads them). */
function formFields(req: IncomingMessage, body: string): Record<string, string> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0];
  return type.trim() === 'application/x-www-form-urlencoded' ? Object.fromEntries(new URLSearchParams(body)) : {};
}

async function control(
  res: ServerResponse,
  state: StandInState,
  url: URL,
  method: string,
  body: string,
  inbound: (text: InboundText) => Promise<InboundResult>
): Promise<void> {
  const thread = /^\/_stand-in\/threads\/([^/]+)$/.exec(url.pathname);
  if (method === 'GET' && thread) {
    return send(res, 200, { messages: state.thread(decodeURIComponent(thread[1])) });
  }
  if (method === 'POST' && url.pathname === '/_stand-in/inbound') {
    let text: InboundText;
    try {
      text = JSON.parse(body) as InboundText;
    } catch {
      return send(res, 400, { message: 'Body must be JSON {from, to, body}' });
    }
    if (typeof text?.from !== 'string' || typeof text.to !== 'string' || typeof text.body !== 'string') {
      return send(res, 400, { message: 'Body must be JSON {from, to, body}' });
    }
    try {
      return send(res, 200, await inbound(text));
    } catch (err) {
      return send(res, 400, { message: (err as Error).message });
    }
  }
  send(res, 404, { message: `No route: ${method} ${url.pathname}` });
}

/** The body as text, or undefined when it is over the limit. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even when too large, so the client gets the 413 instead of a reset.
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) {
      chunks.push(chunk as Buffer);
    }
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
