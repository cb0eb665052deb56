import twilio from 'twilio';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTwilioRestClient } from '../outbound/twilio-rest-client.js';
import { startTwilioStandIn, type TwilioStandIn } from './stand-in.js';

// The official `twilio` client, pointed at the stand-in the way TWILIO_API_BASE_URL points it.
const accountSid = `AC${'d'.repeat(32)}`;
const authToken = 'official-client-token';
const FROM = '+15005550006';
let standIn: TwilioStandIn;

beforeAll(async () => {
  standIn = await startTwilioStandIn({ accounts: [{ accountSid, authToken, numbers: [FROM] }], callbackDelayMs: 1 });
});

afterAll(async () => {
  await standIn?.settled();
  await standIn?.close();
});

const client = (token = authToken) => createTwilioRestClient({ accountSid, authToken: token, apiBaseUrl: standIn.url });

test('messages.create and fetch go to the stand-in and parse its answers', async () => {
  const message = await client().messages.create({ to: '+254712345678', from: FROM, body: 'Karibu' });
  expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/);
  expect(message.status).toBe('queued');
  expect(message.numSegments).toBe('1');
  expect(message.dateCreated).toBeInstanceOf(Date);
  expect(Number.isNaN(message.dateCreated.getTime())).toBe(false);
  await standIn.settled();
  const fetched = await client().messages(message.sid).fetch();
  expect(fetched.status).toBe('delivered');
  const listed = await client().messages.list({ to: '+254712345678', limit: 5 });
  expect(listed.map((m) => m.sid)).toContain(message.sid);
});

test('refusals arrive as RestException with Twilio code and HTTP status', async () => {
  const cases: [() => Promise<unknown>, number, number][] = [
    [() => client().messages.create({ to: '12', from: FROM, body: 'x' }), 21211, 400],
    [() => client().messages.create({ to: '+254712345678', from: FROM, body: 'x'.repeat(1601) }), 21617, 400],
    [() => client('wrong').messages.create({ to: '+254712345678', from: FROM, body: 'x' }), 20003, 401],
  ];
  for (const [call, code, status] of cases) {
    const err = await call().then(
      () => undefined,
      (e: unknown) => e
    );
    expect(err).toBeInstanceOf(twilio.RestException);
    expect(err).toMatchObject({ code, status, moreInfo: `https://www.twilio.com/docs/errors/${code}` });
  }
  standIn.faults.nextSendStatuses.push(503);
  const unavailable = await client()
    .messages.create({ to: '+254712345678', from: FROM, body: 'x' })
    .catch((e: unknown) => e);
  expect(unavailable).toMatchObject({ status: 503, code: 20503 });
});
