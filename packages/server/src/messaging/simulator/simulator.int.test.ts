import { randomBytes } from 'node:crypto';
import type { Bundle, Communication } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../../test/free-port.js';
import { TestMembers } from '../../test/members.js';
import { startTestServer, type TestServer } from '../../test/test-server.js';
import { STAND_IN_SMS_NUMBER, STAND_IN_WHATSAPP_SENDER } from './configured-stand-in.js';

interface Channel {
  id: string;
  medium: string;
  address: string;
}

/** The simulator with the stand-in on: it texts the real webhook over HTTP, so the server listens. */
describe('phone simulator API', () => {
  let server: TestServer;
  let channels: Channel[];
  const phone = `+2547${String(randomBytes(4).readUInt32BE() % 100_000_000).padStart(8, '0')}`;

  beforeAll(async () => {
    const port = await freePort();
    server = await startTestServer({
      TWILIO_STAND_IN: 'true',
      TWILIO_ACCOUNT_SID: `AC${randomBytes(16).toString('hex')}`,
      TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
      BASE_URL: `http://127.0.0.1:${port}/`,
      PORT: String(port),
      HOST: '127.0.0.1',
      USSD_SERVICE_CODE: '*384*7#',
    });
    await server.server.listen();
  });

  afterAll(async () => {
    await server?.close();
  });

  test('lists the project channels the stand-in owns; only with a token', async () => {
    const res = await server.request({ method: 'GET', url: '/messaging/simulator' });
    expect(res.statusCode).toBe(200);
    channels = res.json().channels;
    expect(channels.map((c) => c.address).sort()).toEqual([STAND_IN_SMS_NUMBER, STAND_IN_WHATSAPP_SENDER].sort());
    const anonymous = await server.app.inject({ method: 'GET', url: '/messaging/simulator' });
    expect(anonymous.statusCode).toBe(401);
  });

  test('a text from the handset reaches the signed webhook; STOP is answered and the thread shows both', async () => {
    const sms = channels.find((c) => c.medium === 'sms') as Channel;
    const sent = await server.request({
      method: 'POST',
      url: '/messaging/simulator/messages',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ from: phone, channel: sms.id, body: 'STOP' }),
    });
    expect(sent.statusCode).toBe(201);
    expect(sent.json().webhookStatus).toBe(200);
    expect(sent.json().replies[0].body).toMatch(/^You have unsubscribed/);
    const thread = await server.request({
      method: 'GET',
      url: `/messaging/simulator/thread?phone=${encodeURIComponent(phone)}`,
    });
    expect(thread.statusCode).toBe(200);
    expect(
      thread.json().messages.map((m: { direction: string; body: string }) => [m.direction, m.body.slice(0, 8)])
    ).toEqual([
      ['in', 'STOP'],
      ['out', 'You have'],
    ]);
    // The webhook filed it as FHIR, like any real message.
    const stored = await server.request({ method: 'GET', url: '/fhir/R4/Communication?_count=50' });
    const bodies = ((stored.json() as Bundle<Communication>).entry ?? []).map(
      (e) => e.resource?.payload?.[0]?.contentString
    );
    expect(bodies).toContain('STOP');
  });

  test('dials the USSD code through the real callback (its key from the project secrets)', async () => {
    const listed = await server.request({ method: 'GET', url: '/messaging/simulator' });
    const [ussd] = listed.json().ussd as { id: string; serviceCode: string }[];
    expect(ussd.serviceCode).toBe('*384*7#');
    const dial = (payload: unknown) =>
      server.request({
        method: 'POST',
        url: '/messaging/simulator/ussd',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });
    // No menu bot is deployed in this project: the callback's own apology, as a phone would show it.
    const screen = await dial({ channel: ussd.id, phone, sessionId: 'sim-1', text: '' });
    expect(screen.statusCode).toBe(200);
    expect(screen.json()).toMatchObject({ kind: 'END' });
    expect(screen.json().text).toMatch(/^Sorry/);
    expect((await dial({ channel: ussd.id, phone, sessionId: 'bad id!', text: '' })).statusCode).toBe(400);
    expect((await dial({ channel: ussd.id, phone, sessionId: 'sim-2', text: 'x'.repeat(183) })).statusCode).toBe(400);
    expect((await dial({ channel: 'nope', phone, sessionId: 'sim-3', text: '' })).statusCode).toBe(404);
  });

  test('clinicians may use it; a patient may not', async () => {
    const members = await TestMembers.open(server);
    try {
      const practitioner = await members.create({ resourceType: 'Practitioner', name: [{ family: 'Achieng' }] });
      const clinician = await members.add(practitioner, { role: 'clinician' });
      expect((await clinician.request({ method: 'GET', url: '/messaging/simulator' })).statusCode).toBe(200);
      const patient = await members.create({ resourceType: 'Patient', name: [{ family: 'Kamau' }] });
      const patientMember = await members.add(patient, { role: 'patient' });
      const refused = await patientMember.request({ method: 'GET', url: '/messaging/simulator' });
      expect(refused.statusCode).toBe(403);
      expect(refused.body).toContain('clinic staff');
    } finally {
      await members.close();
    }
  });

  test('bad input is 400 and an unknown channel 404', async () => {
    const post = (payload: unknown) =>
      server.request({
        method: 'POST',
        url: '/messaging/simulator/messages',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });
    expect((await post({ from: '0712345678', channel: channels[0].id, body: 'hi' })).statusCode).toBe(400);
    expect((await post({ from: phone, channel: channels[0].id, body: '' })).statusCode).toBe(400);
    expect((await post({ from: phone, channel: channels[0].id, body: 'x'.repeat(1601) })).statusCode).toBe(400);
    expect((await post({ from: phone, channel: 'nope', body: 'hi' })).statusCode).toBe(404);
    expect((await server.request({ method: 'GET', url: '/messaging/simulator/thread?phone=abc' })).statusCode).toBe(
      400
    );
  });
});

describe('phone simulator without the stand-in', () => {
  test('is not there', async () => {
    const server = await startTestServer();
    try {
      expect((await server.request({ method: 'GET', url: '/messaging/simulator' })).statusCode).toBe(404);
    } finally {
      await server.close();
    }
  });
});
