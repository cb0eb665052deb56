import type { Communication } from '@medplum/fhirtypes';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { claimAttempt } from './attempt-claim.js';
import { deliveryOf, messageSidOf } from './delivery-record.js';
import { ACCOUNT_SID, AUTH_TOKEN, newPhone, OutboundHarness, SMS_NUMBER } from './outbound.fixtures.js';
import { sendCommunicationRequest } from './send-request.js';

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
  test('its record becomes unknown and is never sent again; a callback that comes anyway moves it on', async () => {
    const handset = newPhone();
    const patient = await h.createPatient(handset);
    const request = await h.createRequest(patient, 'Maybe sent.', { occurrenceDateTime: '2031-07-01T10:00:00Z' });
    await h.waitForJobs(request.id);
    const start = new Date('2031-07-01T10:00:00Z');
    // What a process leaves behind when it dies right after the claim: a `sending` record.
    const claim = await claimAttempt(h.systemRepo, request, h.projectId, 'sms', start, 60_000);
    expect(claim.owned).toBe(true);
    const ctx = {
      systemRepo: h.systemRepo,
      baseUrl: h.server.config.baseUrl,
      twilioApiBaseUrl: h.standIn.url,
      logger: h.server.app.log,
    };
    const input = { requestId: request.id, attempt: 1, maxAttempts: 3 };
    const soon = await sendCommunicationRequest({ ...ctx, now: () => new Date(start.getTime() + 5_000) }, input);
    expect(soon).toEqual({ kind: 'skipped', reason: 'another job is sending it now' });
    const later = await sendCommunicationRequest({ ...ctx, now: () => new Date(start.getTime() + 120_000) }, input);
    expect(later).toEqual({ kind: 'skipped', reason: 'a previous attempt stopped mid-call' });
    const [unknown] = await h.messagesFor(request.id);
    expect(unknown.status).toBe('unknown');
    expect(unknown.statusReason?.text).toContain('not sent again');
    expect(h.sentTo(handset)).toHaveLength(0);

    // Twilio had taken it after all: its callback names the record in its URL.
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
      { path: `messaging/twilio/status?communication=${unknown.id}` }
    );
    expect(res.statusCode, res.body).toBe(204);
    const moved = await h.read<Communication>(`Communication/${unknown.id}`);
    expect(moved.status).toBe('in-progress');
    expect(messageSidOf(moved)).toBe(sid);
    expect(deliveryOf(moved).twilioStatus).toBe('sent');
  });
});
