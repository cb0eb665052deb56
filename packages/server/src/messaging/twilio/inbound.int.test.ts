import { randomBytes } from 'node:crypto';
import type { Bundle, Communication, Consent, Patient, Resource, Task } from '@medplum/fhirtypes';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/test-server.js';
import { CONSENT_NUMBER_SYSTEM } from '../consent.js';
import { MEDIUM_CODINGS } from '../medium.js';
import { MATCH_SENDER_TASK_CODE, MESSAGE_SID_SYSTEM } from './inbound-message.js';

const ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
const AUTH_TOKEN = randomBytes(16).toString('hex');
const SMS_NUMBER = '+15005550006';
const WHATSAPP_NUMBER = '+14155238886';
const INBOUND_URL = 'http://localhost:8103/messaging/twilio/inbound';

const newSid = () => `SM${randomBytes(16).toString('hex')}`;
/** A phone number no other test uses. */
const newPhone = () => `+2547${String(randomBytes(4).readUInt32BE() % 100_000_000).padStart(8, '0')}`;

describe('POST /messaging/twilio/inbound', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_FROM: SMS_NUMBER,
      TWILIO_WHATSAPP_FROM: `whatsapp:${WHATSAPP_NUMBER}`,
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  function fields(overrides: Record<string, string>): Record<string, string> {
    return {
      AccountSid: ACCOUNT_SID,
      MessageSid: newSid(),
      From: newPhone(),
      To: SMS_NUMBER,
      Body: 'Hello',
      NumMedia: '0',
      NumSegments: '1',
      ...overrides,
    };
  }

  /** POSTs as Twilio does: form-encoded and signed (unless `signature` says otherwise). */
  async function deliver(params: Record<string, string>, signature?: string | null) {
    const computed = twilio.getExpectedTwilioSignature(AUTH_TOKEN, INBOUND_URL, params);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (signature !== null) {
      headers['x-twilio-signature'] = signature ?? computed;
    }
    return server.app.inject({
      method: 'POST',
      url: '/messaging/twilio/inbound',
      headers,
      payload: new URLSearchParams(params).toString(),
    });
  }

  async function search<T extends Resource>(query: string): Promise<T[]> {
    const res = await server.request({ method: 'GET', url: `/fhir/R4/${query}` });
    expect(res.statusCode).toBe(200);
    return ((res.json() as Bundle<T>).entry ?? []).map((e) => e.resource as T);
  }

  const bySid = (sid: string) => search<Communication>(`Communication?identifier=${MESSAGE_SID_SYSTEM}|${sid}`);

  async function createPatient(phone: string, language?: string): Promise<Patient> {
    const res = await server.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      payload: {
        resourceType: 'Patient',
        name: [{ given: ['Amina'], family: 'Otieno' }],
        telecom: [{ system: 'phone', use: 'mobile', value: phone }],
        ...(language
          ? { communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: language }] } }] }
          : {}),
      },
    });
    expect(res.statusCode).toBe(201);
    return res.json();
  }

  test('a missing signature is 400 and a wrong one 403; nothing is stored', async () => {
    const params = fields({});
    const missing = await deliver(params, null);
    expect(missing.statusCode).toBe(400);
    expect(missing.body).toContain('X-Twilio-Signature');
    const wrong = await deliver(params, twilio.getExpectedTwilioSignature('not-the-token', INBOUND_URL, params));
    expect(wrong.statusCode).toBe(403);
    // Signed over other fields than those sent.
    const tampered = await deliver(
      { ...params, Body: 'changed' },
      twilio.getExpectedTwilioSignature(AUTH_TOKEN, INBOUND_URL, params)
    );
    expect(tampered.statusCode).toBe(403);
    expect(await bySid(params.MessageSid)).toEqual([]);
  });

  test('bad input is a 4xx with a reason and stores nothing', async () => {
    const json = await server.app.inject({
      method: 'POST',
      url: '/messaging/twilio/inbound',
      headers: { 'content-type': 'application/json', 'x-twilio-signature': 'x' },
      payload: JSON.stringify(fields({})),
    });
    expect(json.statusCode).toBe(415);
    const noFrom = fields({});
    delete (noFrom as Record<string, string | undefined>).From;
    expect((await deliver(noFrom)).statusCode).toBe(400);
    const badSid = fields({ MessageSid: 'SM123' });
    expect((await deliver(badSid)).statusCode).toBe(400);
    const unknownChannel = await deliver(fields({ To: '+15005550001' }));
    expect(unknownChannel.statusCode).toBe(404);
    expect(unknownChannel.body).toContain('No messaging channel');
    const repeated = await server.app.inject({
      method: 'POST',
      url: '/messaging/twilio/inbound',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'x' },
      payload: `To=${encodeURIComponent(SMS_NUMBER)}&To=${encodeURIComponent(WHATSAPP_NUMBER)}`,
    });
    expect(repeated.statusCode).toBe(400);
    const huge = await deliver(fields({ Body: 'x'.repeat(70_000) }));
    expect(huge.statusCode).toBe(413);
    const mixed = fields({ From: `whatsapp:${newPhone()}` });
    expect((await deliver(mixed)).statusCode).toBe(400);
    for (const params of [noFrom, badSid, mixed]) {
      if (params.MessageSid) {
        expect(await bySid(params.MessageSid)).toEqual([]);
      }
    }
  });

  test("a patient's message becomes a Communication on their record; the reply is empty TwiML", async () => {
    const phone = newPhone();
    const patient = await createPatient(phone);
    const params = fields({ From: phone, Body: 'Nimechukua dawa leo' });
    const res = await deliver(params);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/xml/);
    expect(res.body).toMatch(/<Response\s*\/>|<Response><\/Response>/);
    const [communication] = await bySid(params.MessageSid);
    expect(communication).toMatchObject({
      status: 'completed',
      subject: { reference: `Patient/${patient.id}` },
      sender: { reference: `Patient/${patient.id}` },
      medium: [{ coding: MEDIUM_CODINGS.sms }],
      payload: [{ contentString: 'Nimechukua dawa leo' }],
    });
    expect(communication.received).toBeDefined();
    expect(communication.meta?.author?.reference).toMatch(/^Endpoint\//);
    expect(await search<Task>(`Task?focus=Communication/${communication.id}`)).toEqual([]);
  });

  test('a redelivered MessageSid creates nothing new, also when the copies arrive at once', async () => {
    const params = fields({});
    const answers = await Promise.all(Array.from({ length: 6 }, () => deliver(params)));
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(await bySid(params.MessageSid)).toHaveLength(1);
    expect((await deliver(params)).statusCode).toBe(200);
    expect(await bySid(params.MessageSid)).toHaveLength(1);
  });

  test('a number that matches no patient is queued for staff as a Task', async () => {
    const params = fields({ Body: 'Who is this?' });
    expect((await deliver(params)).statusCode).toBe(200);
    const [communication] = await bySid(params.MessageSid);
    expect(communication.subject).toBeUndefined();
    const [task] = await search<Task>(`Task?focus=Communication/${communication.id}`);
    expect(task).toMatchObject({
      status: 'requested',
      code: { coding: [MATCH_SENDER_TASK_CODE] },
      input: [{ valueString: params.From }],
    });
  });

  test('STOP records a deny Consent and is confirmed once, in the patient language; START permits again', async () => {
    const phone = newPhone();
    const patient = await createPatient(phone, 'sw');
    const stop = await deliver(fields({ From: phone, Body: 'Stop' }));
    expect(stop.statusCode).toBe(200);
    expect(stop.body).toContain('<Message>Umejiondoa.');
    const again = await deliver(fields({ From: phone, Body: 'STOP' }));
    expect(again.body).not.toContain('<Message>');
    const [consent] = await search<Consent>(`Consent?identifier=${CONSENT_NUMBER_SYSTEM}|${encodeURIComponent(phone)}`);
    expect(consent).toMatchObject({
      status: 'active',
      patient: { reference: `Patient/${patient.id}` },
      category: [{ coding: [{ system: 'http://loinc.org', code: '89057-4' }] }],
      provision: { type: 'deny' },
    });
    const start = await deliver(fields({ From: phone, Body: 'start' }));
    expect(start.body).toContain('<Message>Umejiunga tena.');
    const [permitted] = await search<Consent>(
      `Consent?identifier=${CONSENT_NUMBER_SYSTEM}|${encodeURIComponent(phone)}`
    );
    expect(permitted.provision?.type).toBe('permit');
    // The confirmations are on the record too.
    const replies = await search<Communication>(`Communication?recipient=Patient/${patient.id}`);
    expect(replies.map((r) => r.payload?.[0]?.contentString?.slice(0, 12)).sort()).toEqual([
      'Umejiondoa. ',
      'Umejiunga te',
    ]);
  });

  test("the project's own wording (Project.setting messagingTemplate:<name>:<language>) is used", async () => {
    const me = await server.request({ method: 'GET', url: '/auth/me' });
    const projectId = me.json().project.id as string;
    const set = await server.request({
      method: 'POST',
      url: `/admin/projects/${projectId}/settings`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify([
        { name: 'messagingTemplate:stop-confirmation:sw', valueString: 'Sawa. Hutapata ujumbe wa {{clinic}} tena.' },
      ]),
    });
    expect(set.statusCode).toBe(200);
    const phone = newPhone();
    await createPatient(phone, 'sw');
    const stop = await deliver(fields({ From: phone, Body: 'STOP' }));
    expect(stop.body).toContain('<Message>Sawa. Hutapata ujumbe wa');
    // English speakers keep Tiba's text.
    const other = newPhone();
    await createPatient(other, 'en');
    expect((await deliver(fields({ From: other, Body: 'STOP' }))).body).toContain('<Message>You have unsubscribed');
  });

  test('two different STOPs at the same moment are confirmed once', async () => {
    const phone = newPhone();
    const answers = await Promise.all([
      deliver(fields({ From: phone, Body: 'STOP' })),
      deliver(fields({ From: phone, Body: 'unsubscribe' })),
      deliver(fields({ From: phone, Body: 'QUIT' })),
    ]);
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
    expect(answers.filter((a) => a.body.includes('<Message>'))).toHaveLength(1);
  });

  test('HELP answers with the clinic and its number; WhatsApp messages arrive on the WhatsApp channel', async () => {
    const help = await deliver(fields({ Body: 'help' }));
    expect(help.body).toContain(SMS_NUMBER);
    expect(help.body).toContain('STOP');
    const params = fields({
      From: `whatsapp:${newPhone()}`,
      To: `whatsapp:${WHATSAPP_NUMBER}`,
      Body: '',
      NumMedia: '1',
      MediaUrl0: 'https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1',
      MediaContentType0: 'image/jpeg',
      ProfileName: 'Amina',
      WaId: '254700000000',
    });
    expect((await deliver(params)).statusCode).toBe(200);
    const [communication] = await bySid(params.MessageSid);
    expect(communication.medium).toEqual([{ coding: MEDIUM_CODINGS.whatsapp }]);
    expect(communication.payload).toEqual([
      { contentAttachment: { url: params.MediaUrl0, contentType: 'image/jpeg' } },
    ]);
  });
});
