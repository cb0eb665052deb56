import type { Communication } from '@medplum/fhirtypes';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { claimAttempt } from './attempt-claim.js';
import { deliveryOf, messageSidOf } from './delivery-record.js';
import { ACCOUNT_SID, AUTH_TOKEN, newPhone, OutboundHarness, SMS_NUMBER } from './outbound.fixtures.js';
import { sendCommunicationRequest } from './send-request.js';
import { createTwilioRestClient } from './twilio-rest-client.js';

let h: OutboundHarness;
let delivered: Communication;
let phone: string;

beforeAll(async () => {
  h = await OutboundHarness.start();
  phone = newPhone();
  const patient = await h.createPatient(phone);
  const request = await h.createRequest(patient, 'For the callback tests.');
  delivered = await h.waitForMessage(request.id, (c) => c.status === 'completed');
});

afterAll(async () => {
  await h?.close();
});

function callbackParams(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const params: Record<string, string | undefined> = {
    AccountSid: ACCOUNT_SID,
    ApiVersion: '2010-04-01',
    From: SMS_NUMBER,
    To: phone,
    MessageSid: messageSidOf(delivered),
    SmsSid: messageSidOf(delivered),
    MessageStatus: 'undelivered',
    SmsStatus: 'undelivered',
    ErrorCode: '30003',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
}

async function post(
  params: Record<string, string>,
  options: { path?: string; signature?: string | null; contentType?: string; payload?: string } = {}
) {
  const path = options.path ?? 'messaging/twilio/status';
  const signature = twilio.getExpectedTwilioSignature(AUTH_TOKEN, `${h.server.config.baseUrl}${path}`, params);
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? 'application/x-www-form-urlencoded',
  };
  if (options.signature !== null) {
    headers['x-twilio-signature'] = options.signature ?? signature;
  }
  return h.server.app.inject({
    method: 'POST',
    url: `/${path}`,
    headers,
    payload: options.payload ?? new URLSearchParams(params).toString(),
  });
}

describe('POST /messaging/twilio/status: bad input is a 4xx and changes nothing', () => {
  test.each([
    ['no signature', () => post(callbackParams(), { signature: null }), 400],
    ['a wrong signature', () => post(callbackParams(), { signature: 'bm90IGl0' }), 403],
    [
      'a signature made with another token',
      () => {
        const params = callbackParams();
        const url = `${h.server.config.baseUrl}messaging/twilio/status`;
        return post(params, { signature: twilio.getExpectedTwilioSignature('other-token', url, params) });
      },
      403,
    ],
    [
      'JSON instead of a form',
      () => post(callbackParams(), { contentType: 'application/json', payload: '{"MessageSid":"x"}' }),
      415,
    ],
    ['a body over 64 KB', () => post(callbackParams({ Padding: 'x'.repeat(70_000) })), 413],
    ['no MessageSid', () => post(callbackParams({ MessageSid: undefined, SmsSid: undefined })), 400],
    [
      'a MessageStatus Twilio never sends',
      () => post(callbackParams({ MessageStatus: 'exploded', SmsStatus: undefined })),
      400,
    ],
    ['no From', () => post(callbackParams({ From: undefined })), 400],
    ['a From no channel has', () => post(callbackParams({ From: '+15005550099' })), 404],
    ['another account', () => post(callbackParams({ AccountSid: `AC${'0'.repeat(32)}` })), 403],
    [
      'an unknown MessageSid',
      () => post(callbackParams({ MessageSid: `SM${'0'.repeat(32)}`, SmsSid: undefined })),
      404,
    ],
    [
      'a malformed communication id',
      () => post(callbackParams(), { path: 'messaging/twilio/status?communication=a%20b' }),
      400,
    ],
  ])('%s → %i', async (_name, call, status) => {
    const res = await call();
    expect(res.statusCode, res.body).toBe(status);
    expect(res.json().resourceType).toBe('OperationOutcome');
    const after = await h.read<Communication>(`Communication/${delivered.id}`);
    expect(after.meta?.versionId).toBe(delivered.meta?.versionId);
    expect(after.status).toBe('completed');
  });

  test('a valid late undelivered after delivered is accepted (204) and changes nothing', async () => {
    const res = await post(callbackParams());
    expect(res.statusCode).toBe(204);
    const after = await h.read<Communication>(`Communication/${delivered.id}`);
    expect(after.meta?.versionId).toBe(delivered.meta?.versionId);
  });
});

describe('a process that died during its call to Twilio', () => {
  const ctx = () => ({
    systemRepo: h.systemRepo,
    baseUrl: h.server.config.baseUrl,
    twilioApiBaseUrl: h.standIn.url,
    logger: h.server.app.log,
  });

  /** A scheduled request (the server's own job waits) and the `sending` record a dead process left at `start`. */
  async function deadAttempt(text: string, start: Date) {
    const handset = newPhone();
    const patient = await h.createPatient(handset);
    const request = await h.createRequest(patient, text, { occurrenceDateTime: start.toISOString() });
    await h.waitForJobs(request.id);
    const claim = await claimAttempt(h.systemRepo, request, h.projectId, 'sms', start, 60_000);
    expect(claim.owned).toBe(true);
    return { handset, request, claim };
  }

  test('the call never reached Twilio: after the lease the next job finds nothing there and sends once', async () => {
    const start = new Date('2031-07-01T10:00:00Z');
    const { handset, request } = await deadAttempt('Never reached Twilio.', start);
    const input = { requestId: request.id, attempt: 1, maxAttempts: 3 };
    const soon = await sendCommunicationRequest({ ...ctx(), now: () => new Date(start.getTime() + 5_000) }, input);
    expect(soon).toEqual({ kind: 'skipped', reason: 'another job is sending it now' });
    expect(h.sentTo(handset)).toHaveLength(0);
    const later = await sendCommunicationRequest({ ...ctx(), now: () => new Date(start.getTime() + 120_000) }, input);
    expect(later).toMatchObject({ kind: 'sent' });
    expect(h.sentTo(handset)).toHaveLength(1);
    expect(
      await sendCommunicationRequest({ ...ctx(), now: () => new Date(start.getTime() + 600_000) }, input)
    ).toMatchObject({
      kind: 'skipped',
    });
    await h.waitForMessage(request.id, (c) => c.status === 'completed');
  });

  test('Twilio took it before the process died (and no callback came): the next job adopts it, sends nothing', async () => {
    const start = new Date('2031-08-01T10:00:00Z');
    const { handset, request, claim } = await deadAttempt('Reached Twilio.', start);
    const standInClock = h.standIn.state.now;
    h.standIn.state.now = () => new Date(start.getTime() + 1_000);
    try {
      // What the dead process's call did, without a StatusCallback (a lost callback).
      const twilioClient = createTwilioRestClient({
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        apiBaseUrl: h.standIn.url,
      });
      const earlier = await twilioClient.messages.create({ to: handset, from: SMS_NUMBER, body: 'Reached Twilio.' });
      const input = { requestId: request.id, attempt: 1, maxAttempts: 3 };
      const later = await sendCommunicationRequest({ ...ctx(), now: () => new Date(start.getTime() + 120_000) }, input);
      expect(later).toMatchObject({ kind: 'sent', messageSid: earlier.sid });
      expect(h.sentTo(handset).map((m) => m.sid)).toEqual([earlier.sid]);
      const adopted = await h.read<Communication>(`Communication/${claim.communication.id}`);
      expect(adopted.status).toBe('in-progress');
      expect(messageSidOf(adopted)).toBe(earlier.sid);
    } finally {
      h.standIn.state.now = standInClock;
    }
  });

  test('a status callback that names the record moves it on even before the sender stored the MessageSid', async () => {
    const start = new Date('2031-09-01T10:00:00Z');
    const { handset, claim } = await deadAttempt('Callback first.', start);
    const sid = `SM${'7'.repeat(32)}`;
    const res = await post(
      callbackParams({
        To: handset,
        MessageSid: sid,
        SmsSid: sid,
        MessageStatus: 'sent',
        SmsStatus: 'sent',
        ErrorCode: undefined,
      }),
      { path: `messaging/twilio/status?communication=${claim.communication.id}` }
    );
    expect(res.statusCode, res.body).toBe(204);
    const moved = await h.read<Communication>(`Communication/${claim.communication.id}`);
    expect(moved.status).toBe('in-progress');
    expect(messageSidOf(moved)).toBe(sid);
    expect(deliveryOf(moved).twilioStatus).toBe('sent');
  });
});
