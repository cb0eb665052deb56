import type { WithId } from '@medplum/core';
import type { Bot, Bundle, Communication, Endpoint } from '@medplum/fhirtypes';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openServerParts, type ServerParts } from '../../test/server-parts.js';
import { startTestServer, type TestServer } from '../../test/test-server.js';
import { USSD_APOLOGY, USSD_TIME_UP } from './menu-answer.js';
import { USSD_SESSION_SYSTEM } from './session-record.js';
import { USSD_SESSION_LIMIT_MS, UssdSessionStore } from './session-store.js';
import { USSD_SERVICE_CODE_SYSTEM } from './ussd-channel.js';
import { ussdRoutes } from './ussd-routes.js';

const SERVICE_CODE = '*384*123#';
const KEY = 'test-ussd-callback-key-0123456789';
const URL = `/messaging/ussd/africastalking?key=${KEY}`;

/** Echoes what it was given, so a test can see any state crossing between sessions. */
const ECHO_MENU = `exports.handler = async (medplum, event) => {
  const { sessionId, text, input, state, patient } = event.input;
  const count = (state?.count ?? 0) + 1;
  if (input === '9') return { screen: 'END Bye ' + sessionId, state: null };
  if (input === '7') return { screen: 'CON ' + 'word '.repeat(40), state };
  if (input === '6') return { screen: { type: 'CON', text: 'Habari \\u{1F600}' }, state };
  if (input === '5') throw new Error('menu broke');
  if (input === '4') await new Promise((r) => setTimeout(r, 20000));
  const who = patient ? patient.name[0].given[0] : '-';
  return {
    screen: { type: 'CON', text: 'S' + sessionId + ' n' + count + ' t' + text + ' p' + who },
    state: { count, sessionId, text },
  };
};`;

let server: TestServer;
let parts: ServerParts;
let store: UssdSessionStore;
let channel: WithId<Endpoint>;
let bot: WithId<Bot>;

beforeAll(async () => {
  server = await startTestServer({
    USSD_SERVICE_CODE: SERVICE_CODE,
    USSD_CALLBACK_SECRET: KEY,
    USSD_BOT: 'test-ussd-menu',
  });
  parts = await openServerParts(server.config);
  store = new UssdSessionStore(parts.redis, server.config.redisKeyPrefix);
  const created = await server.request({
    method: 'POST',
    url: '/fhir/R4/Bot',
    payload: {
      resourceType: 'Bot',
      name: 'test USSD menu',
      identifier: [{ system: 'https://tiba.health/bots', value: 'test-ussd-menu' }],
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  bot = created.json();
  const deployed = await server.request({
    method: 'POST',
    url: `/fhir/R4/Bot/${bot.id}/$deploy`,
    payload: { code: ECHO_MENU, filename: 'menu.js' },
  });
  expect(deployed.statusCode, deployed.body).toBe(200);
  await server.request({
    method: 'POST',
    url: '/fhir/R4/Patient',
    payload: {
      resourceType: 'Patient',
      name: [{ given: ['Zawadi'], family: 'Njeri' }],
      telecom: [{ system: 'phone', use: 'mobile', value: '+254712000001' }],
    },
  });
  const found = await server.request({
    method: 'GET',
    url: `/fhir/R4/Endpoint?identifier=${encodeURIComponent(`${USSD_SERVICE_CODE_SYSTEM}|${SERVICE_CODE}`)}`,
  });
  channel = (found.json() as Bundle<WithId<Endpoint>>).entry?.[0]?.resource as WithId<Endpoint>;
});

afterAll(async () => {
  await parts?.close();
  await server?.close();
});

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

function screen(
  fields: Record<string, string>,
  options: { app?: FastifyInstance; url?: string; headers?: InjectOptions['headers'] } = {}
) {
  return (options.app ?? server.app).inject({
    method: 'POST',
    url: options.url ?? URL,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...options.headers },
    payload: form({ serviceCode: SERVICE_CODE, networkCode: '63902', ...fields }),
  });
}

async function sessionRecord(sessionId: string): Promise<Communication | undefined> {
  const res = await server.request({
    method: 'GET',
    url: `/fhir/R4/Communication?identifier=${encodeURIComponent(`${USSD_SESSION_SYSTEM}|${sessionId}`)}`,
  });
  return (res.json() as Bundle<Communication>).entry?.[0]?.resource;
}

describe('USSD (Africa’s Talking)', () => {
  test('USSD_* seed the channel as an Endpoint of the default project, editable as FHIR', () => {
    expect(channel).toMatchObject({
      status: 'active',
      connectionType: { code: 'africastalking-ussd' },
      identifier: [{ system: USSD_SERVICE_CODE_SYSTEM, value: SERVICE_CODE }],
    });
  });

  test('a session walked to END: state kept between screens, the patient matched, one Communication', async () => {
    const call = { sessionId: 'ATUid_walk', phoneNumber: '+254712000001' };
    const first = await screen({ ...call, text: '' });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.headers['content-type']).toMatch(/^text\/plain/);
    expect(first.body).toBe('CON SATUid_walk n1 t pZawadi');
    expect((await screen({ ...call, text: '1' })).body).toBe('CON SATUid_walk n2 t1 pZawadi');
    // The gateway asking again for the same screen gets the same answer; the bot does not run twice.
    expect((await screen({ ...call, text: '1' })).body).toBe('CON SATUid_walk n2 t1 pZawadi');
    expect((await screen({ ...call, text: '1*2' })).body).toBe('CON SATUid_walk n3 t1*2 pZawadi');
    const end = await screen({ ...call, text: '1*2*9' });
    expect(end.body).toBe('END Bye ATUid_walk');
    expect(await store.read(channel.id, 'ATUid_walk')).toBeUndefined();
    await expect.poll(() => sessionRecord('ATUid_walk'), { timeout: 10_000 }).toBeDefined();
    const communication = (await sessionRecord('ATUid_walk')) as Communication;
    expect(communication).toMatchObject({
      status: 'completed',
      medium: [{ coding: [{ code: 'ussd' }] }],
      payload: [{ contentString: 'Inputs: 1, 2, 9' }, { contentString: 'END Bye ATUid_walk' }],
      sender: { display: '+254712000001' },
    });
    expect(communication.subject?.reference).toMatch(/^Patient\//);
    // A screen after END (the session is gone) ends at once; the gateway repeating END records nothing new.
    expect((await screen({ ...call, text: '1*2*9*1' })).body).toBe(USSD_TIME_UP);
    expect((await screen({ ...call, text: '1*2*9' })).body).toBe(USSD_TIME_UP);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const all = await server.request({
      method: 'GET',
      url: `/fhir/R4/Communication?identifier=${encodeURIComponent(`${USSD_SESSION_SYSTEM}|ATUid_walk`)}`,
    });
    expect((all.json() as Bundle).entry).toHaveLength(1);
  });

  test('past 180 s from the first screen the session ends with a clear message and its state is dropped', async () => {
    let clock = Date.now();
    const app = parts.bareApp();
    await app.register(ussdRoutes, { ...parts, logger: app.log, now: () => clock });
    const call = { sessionId: 'ATUid_late', phoneNumber: '+254712000002' };
    expect((await screen({ ...call, text: '' }, { app })).body).toBe('CON SATUid_late n1 t p-');
    clock += USSD_SESSION_LIMIT_MS - 1000;
    expect((await screen({ ...call, text: '1' }, { app })).body).toBe('CON SATUid_late n2 t1 p-');
    clock += 2000;
    expect((await screen({ ...call, text: '1*1' }, { app })).body).toBe(USSD_TIME_UP);
    expect(await store.read(channel.id, 'ATUid_late')).toBeUndefined();
    await expect.poll(() => sessionRecord('ATUid_late'), { timeout: 10_000 }).toMatchObject({ status: 'stopped' });
  });

  test('1,000 concurrent sessions: each sees only its own inputs and state', async () => {
    const sessions = Array.from({ length: 1000 }, (_, i) => ({
      sessionId: `ATUid_many_${i}`,
      phoneNumber: `+2547330${String(i).padStart(5, '0')}`,
      // Inputs the echo menu answers with its echo screen (not 4-7 or 9).
      inputs: [String(i % 4), ['0', '1', '2', '3', '8'][i % 5]],
    }));
    const answers = await Promise.all(
      sessions.map(async (s) => {
        const bodies: string[] = [];
        const call = { sessionId: s.sessionId, phoneNumber: s.phoneNumber };
        let text = '';
        bodies.push((await screen({ ...call, text })).body);
        for (const input of s.inputs) {
          text = text === '' ? input : `${text}*${input}`;
          bodies.push((await screen({ ...call, text })).body);
        }
        return bodies;
      })
    );
    for (const [i, s] of sessions.entries()) {
      const [a, b] = s.inputs;
      expect(answers[i]).toEqual([
        `CON S${s.sessionId} n1 t p-`,
        `CON S${s.sessionId} n2 t${a} p-`,
        `CON S${s.sessionId} n3 t${a}*${b} p-`,
      ]);
      expect(await store.read(channel.id, s.sessionId)).toMatchObject({
        state: { count: 3, sessionId: s.sessionId, text: `${a}*${b}` },
      });
    }
  }, 120_000);

  test('a screen too long or not GSM-7, a failing bot and a slow one end with an apology', async () => {
    for (const [i, input] of ['7', '6', '5', '4'].entries()) {
      const call = { sessionId: `ATUid_bad_screen_${i}`, phoneNumber: '+254712000003' };
      await screen({ ...call, text: '' });
      const res = await screen({ ...call, text: input });
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe(USSD_APOLOGY);
      expect(await store.read(channel.id, call.sessionId)).toBeUndefined();
    }
    // After the slow run was killed, the next session gets a fresh process.
    expect((await screen({ sessionId: 'ATUid_after', phoneNumber: '+254712000003', text: '' })).body).toBe(
      'CON SATUid_after n1 t p-'
    );
  }, 30_000);

  test('bad input gets a 4xx with a reason and stores nothing', async () => {
    const ok = { sessionId: 'ATUid_bad', phoneNumber: '+254712000004', text: '' };
    const cases: [string, Promise<LightMyRequestResponse>, number][] = [
      ['JSON', server.app.inject({ method: 'POST', url: URL, payload: { ...ok, serviceCode: SERVICE_CODE } }), 415],
      ['oversized', screen({ ...ok, text: '1'.repeat(5000) }), 413],
      ['no sessionId', screen({ phoneNumber: ok.phoneNumber, text: '' }), 400],
      ['no phoneNumber', screen({ sessionId: ok.sessionId, text: '' }), 400],
      ['no serviceCode', screen({ ...ok, serviceCode: '' }), 400],
      ['local number', screen({ ...ok, phoneNumber: '0712000004' }), 400],
      ['control character', screen({ ...ok, text: '1\u0000' }), 400],
      ['no key', screen(ok, { url: '/messaging/ussd/africastalking' }), 401],
      ['wrong key', screen(ok, { url: '/messaging/ussd/africastalking?key=guess' }), 403],
      ['unknown code', screen({ ...ok, serviceCode: '*384*999#' }), 404],
    ];
    for (const [name, response, status] of cases) {
      const res = await response;
      expect(res.statusCode, `${name}: ${res.body}`).toBe(status);
      expect(res.json().resourceType, name).toBe('OperationOutcome');
    }
    const repeated = await server.app.inject({
      method: 'POST',
      url: URL,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `${form({ ...ok, serviceCode: SERVICE_CODE })}&sessionId=other`,
    });
    expect(repeated.statusCode).toBe(400);
    expect(await store.read(channel.id, ok.sessionId)).toBeUndefined();
    // The same number without its `+` is the same phone.
    await screen({ sessionId: 'ATUid_plus', phoneNumber: '+254712000007', text: '' });
    expect((await screen({ sessionId: 'ATUid_plus', phoneNumber: '254712000007', text: '1' })).body).toBe(
      'CON SATUid_plus n2 t1 p-'
    );
    // Another phone in a live session is refused, and the session is left as it was.
    await screen({ sessionId: 'ATUid_phone', phoneNumber: '+254712000005', text: '' });
    const spoofed = await screen({ sessionId: 'ATUid_phone', phoneNumber: '+254712000006', text: '1' });
    expect(spoofed.statusCode).toBe(400);
    expect(await store.read(channel.id, 'ATUid_phone')).toMatchObject({ text: '', phoneNumber: '+254712000005' });
  });
});
