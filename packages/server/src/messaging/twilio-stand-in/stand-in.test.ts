import twilio from 'twilio';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startTwilioStandIn, type TwilioStandIn } from './stand-in.js';
import { FormReceiver } from './test-receiver.fixtures.js';

const ACCOUNT = { accountSid: `AC${'a'.repeat(32)}`, authToken: 'stand-in-token-1' };
const OTHER = { accountSid: `AC${'b'.repeat(32)}`, authToken: 'stand-in-token-2' };
const SMS_FROM = '+15005550006';
const WA_FROM = 'whatsapp:+14155238886';
const HANDSET = '+254712345678';

let standIn: TwilioStandIn;
let receiver: FormReceiver;

beforeAll(async () => {
  receiver = await FormReceiver.start();
  standIn = await startTwilioStandIn({
    accounts: [
      { ...ACCOUNT, numbers: [SMS_FROM, WA_FROM] },
      { ...OTHER, numbers: ['+15005550007'] },
    ],
    inboundUrl: receiver.url('/messaging/twilio/inbound'),
    callbackDelayMs: 1,
  });
});

afterAll(async () => {
  await standIn?.close();
  await receiver?.stop();
});

afterEach(async () => {
  await standIn.settled();
  receiver.received.length = 0;
  receiver.reply = { status: 204, body: '' };
  standIn.faults.nextSendStatuses.length = 0;
  standIn.faults.undeliverable.clear();
  standIn.faults.notMobile.clear();
  standIn.faults.callbacksReversed = false;
  standIn.faults.callbacksTwice = false;
});

function messagesUrl(accountSid = ACCOUNT.accountSid, sid?: string): string {
  return `${standIn.url}/2010-04-01/Accounts/${accountSid}/Messages${sid ? `/${sid}` : ''}.json`;
}

function basic(accountSid: string, token: string): string {
  return `Basic ${Buffer.from(`${accountSid}:${token}`).toString('base64')}`;
}

async function send(fields: Record<string, string>, auth = basic(ACCOUNT.accountSid, ACCOUNT.authToken)) {
  const res = await fetch(messagesUrl(), {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const callbackUrl = () => receiver.url('/messaging/twilio/status');

describe('Messages REST API', () => {
  test('credentials: missing or wrong answer 401 with code 20003; another account is not found', async () => {
    const fields = { To: HANDSET, From: SMS_FROM, Body: 'Hi' };
    for (const auth of ['', basic(ACCOUNT.accountSid, 'wrong-token'), basic(`AC${'c'.repeat(32)}`, 'x')]) {
      const res = await send(fields, auth);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({
        code: 20003,
        message: 'Authenticate',
        more_info: 'https://www.twilio.com/docs/errors/20003',
        status: 401,
      });
    }
    const res = await fetch(messagesUrl(OTHER.accountSid), {
      method: 'POST',
      headers: { authorization: basic(ACCOUNT.accountSid, ACCOUNT.authToken) },
    });
    expect(res.status).toBe(404);
  });

  test.each([
    [{ From: SMS_FROM, Body: 'Hi' }, 21604],
    [{ To: '0712345678', From: SMS_FROM, Body: 'Hi' }, 21211],
    [{ To: '+12', From: SMS_FROM, Body: 'Hi' }, 21211],
    [{ To: HANDSET, Body: 'Hi' }, 21603],
    [{ To: HANDSET, From: SMS_FROM }, 21602],
    [{ To: HANDSET, From: SMS_FROM, Body: 'x'.repeat(1601) }, 21617],
    [{ To: HANDSET, From: '+15005550007', Body: 'Hi' }, 21606],
    [{ To: HANDSET, From: WA_FROM, Body: 'Hi' }, 21910],
    [{ To: HANDSET, From: SMS_FROM, Body: 'Hi', StatusCallback: 'not a url' }, 21609],
    [{ To: HANDSET, MessagingServiceSid: `MG${'0'.repeat(32)}`, Body: 'Hi' }, 21701],
  ])('refuses %o with Twilio error %i', async (fields, code) => {
    const res = await send(fields);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code, status: 400, more_info: `https://www.twilio.com/docs/errors/${code}` });
    expect(typeof res.body.message).toBe('string');
  });

  test('201 with a queued Message, readable by its SID', async () => {
    const body = 'Habari! '.repeat(25); // 200 GSM-7 characters: 2 segments
    const res = await send({ To: HANDSET, From: SMS_FROM, Body: body });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      account_sid: ACCOUNT.accountSid,
      to: HANDSET,
      from: SMS_FROM,
      body,
      status: 'queued',
      direction: 'outbound-api',
      num_segments: '2',
      api_version: '2010-04-01',
    });
    const sid = res.body.sid as string;
    expect(sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(res.body.date_created).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    const auth = basic(ACCOUNT.accountSid, ACCOUNT.authToken);
    const read = await fetch(messagesUrl(ACCOUNT.accountSid, sid), { headers: { authorization: auth } });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { sid: string }).sid).toBe(sid);
    const missing = await fetch(messagesUrl(ACCOUNT.accountSid, `SM${'0'.repeat(32)}`), {
      headers: { authorization: auth },
    });
    expect(missing.status).toBe(404);
  });

  test('a landline gets 21614', async () => {
    standIn.faults.notMobile.add('+254202222222');
    const res = await send({ To: '+254202222222', From: SMS_FROM, Body: 'Hi' });
    expect(res.body).toMatchObject({ code: 21614, status: 400 });
    expect((await send({ To: HANDSET, From: SMS_FROM, Body: 'Hi' })).status).toBe(201);
  });

  test('the next sends fail with the injected statuses, then sending works again', async () => {
    standIn.faults.nextSendStatuses.push(503, 429, 500);
    const fields = { To: HANDSET, From: SMS_FROM, Body: 'Hi' };
    expect((await send(fields)).body).toMatchObject({ status: 503, code: 20503 });
    expect((await send(fields)).body).toMatchObject({ status: 429, code: 20429 });
    expect((await send(fields)).body).toMatchObject({ status: 500, code: 20500 });
    expect((await send(fields)).status).toBe(201);
  });
});

describe('status callbacks', () => {
  const validSignature = (params: Record<string, string>, signature: string | undefined) =>
    twilio.validateRequest(ACCOUNT.authToken, signature ?? '', callbackUrl(), params);

  test('sent then delivered, signed as Twilio signs them', async () => {
    const res = await send({ To: HANDSET, From: SMS_FROM, Body: 'Hi', StatusCallback: callbackUrl() });
    await standIn.settled();
    expect(receiver.received.map((r) => r.params.MessageStatus)).toEqual(['sent', 'delivered']);
    for (const { params, signature } of receiver.received) {
      expect(validSignature(params, signature)).toBe(true);
      expect(twilio.validateRequest('another-token', signature ?? '', callbackUrl(), params)).toBe(false);
      expect(params).toMatchObject({
        MessageSid: res.body.sid,
        SmsSid: res.body.sid,
        AccountSid: ACCOUNT.accountSid,
        From: SMS_FROM,
        To: HANDSET,
        ApiVersion: '2010-04-01',
      });
      expect(params.SmsStatus).toBe(params.MessageStatus);
    }
    expect(standIn.state.messages.get(res.body.sid as string)?.status).toBe('delivered');
  });

  test('an undeliverable handset ends undelivered with ErrorCode 30003; faults reverse and repeat callbacks', async () => {
    standIn.faults.undeliverable.set(HANDSET, 30003);
    standIn.faults.callbacksReversed = true;
    standIn.faults.callbacksTwice = true;
    await send({ To: HANDSET, From: SMS_FROM, Body: 'Hi', StatusCallback: callbackUrl() });
    await standIn.settled();
    const statuses = receiver.received.map((r) => r.params.MessageStatus);
    expect(statuses).toEqual(['undelivered', 'undelivered', 'sent', 'sent']);
    expect(receiver.received[0].params).toMatchObject({
      ErrorCode: '30003',
      ErrorMessage: 'Unreachable destination handset',
    });
    expect(receiver.received.every((r) => validSignature(r.params, r.signature))).toBe(true);
  });

  test('no StatusCallback, no callback', async () => {
    await send({ To: HANDSET, From: SMS_FROM, Body: 'Hi' });
    await standIn.settled();
    expect(receiver.received).toHaveLength(0);
  });
});

describe('inbound messages, opt-out and threads', () => {
  test('STOP is relayed signed, then sends to that handset get 21610 until START', async () => {
    const handset = '+254700000001';
    receiver.reply = {
      status: 200,
      body: '<?xml version="1.0"?><Response><Message>You will get no more messages &amp; reminders.</Message></Response>',
    };
    const stop = await standIn.sendInbound({ from: handset, to: SMS_FROM, body: 'Stop' });
    const webhook = receiver.received[0];
    expect(webhook.params).toMatchObject({
      From: handset,
      To: SMS_FROM,
      Body: 'Stop',
      NumSegments: '1',
      NumMedia: '0',
    });
    expect(webhook.params.MessageSid).toMatch(/^SM[0-9a-f]{32}$/);
    const inboundUrl = receiver.url('/messaging/twilio/inbound');
    expect(twilio.validateRequest(ACCOUNT.authToken, webhook.signature ?? '', inboundUrl, webhook.params)).toBe(true);
    expect(stop.replies.map((r) => r.body)).toEqual(['You will get no more messages & reminders.']);

    expect((await send({ To: handset, From: SMS_FROM, Body: 'Reminder' })).body).toMatchObject({ code: 21610 });
    receiver.reply = { status: 204, body: '' };
    await standIn.sendInbound({ from: handset, to: SMS_FROM, body: 'START' });
    expect((await send({ To: handset, From: SMS_FROM, Body: 'Reminder' })).status).toBe(201);

    expect(standIn.thread(handset).map((m) => [m.direction, m.body])).toEqual([
      ['inbound', 'Stop'],
      ['outbound-reply', 'You will get no more messages & reminders.'],
      ['inbound', 'START'],
      ['outbound-api', 'Reminder'],
    ]);
  });

  test('WhatsApp: free-form text fails with 63016 outside the 24 h window, is delivered inside it', async () => {
    const handset = 'whatsapp:+254700000002';
    const fields = { To: handset, From: WA_FROM, Body: 'Hi', StatusCallback: callbackUrl() };
    expect((await send(fields)).status).toBe(201);
    await standIn.settled();
    expect(receiver.received.map((r) => [r.params.MessageStatus, r.params.ErrorCode])).toEqual([['failed', '63016']]);
    receiver.received.length = 0;

    await standIn.sendInbound({ from: handset, to: WA_FROM, body: 'Hello', profileName: 'Amina' });
    expect(receiver.received[0].params).toMatchObject({ ProfileName: 'Amina', WaId: '254700000002' });
    receiver.received.length = 0;
    await send(fields);
    await standIn.settled();
    expect(receiver.received.map((r) => r.params.MessageStatus)).toEqual(['sent', 'delivered']);
  });

  test('the control API shows a thread and relays an inbound message', async () => {
    const handset = '+254700000003';
    const res = await fetch(`${standIn.url}/_stand-in/inbound`, {
      method: 'POST',
      body: JSON.stringify({ from: handset, to: SMS_FROM, body: 'Habari' }),
    });
    expect(res.status).toBe(200);
    const thread = (await (await fetch(`${standIn.url}/_stand-in/threads/${encodeURIComponent(handset)}`)).json()) as {
      messages: { body: string }[];
    };
    expect(thread.messages.map((m) => m.body)).toEqual(['Habari']);
    const bad = await fetch(`${standIn.url}/_stand-in/inbound`, { method: 'POST', body: '{"from": 1}' });
    expect(bad.status).toBe(400);
    const notOurs = await fetch(`${standIn.url}/_stand-in/inbound`, {
      method: 'POST',
      body: JSON.stringify({ from: handset, to: '+19999999999', body: 'x' }),
    });
    expect(notOurs.status).toBe(400);
  });
});
