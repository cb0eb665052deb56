import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/test-server.js';

const SERVICE_CODE = '*384*55#';
const KEY = 'hostile-test-key-0123456789';

let server: TestServer;

beforeAll(async () => {
  // No menu Bot exists: a well-formed first screen ends in the apology, never a 5xx.
  server = await startTestServer({ USSD_SERVICE_CODE: SERVICE_CODE, USSD_CALLBACK_SECRET: KEY, USSD_BOT: 'none' });
});

afterAll(async () => {
  await server?.close();
});

/** Field values a gateway, a proxy or an attacker might send: real ones, junk, huge, repeated. */
const value = fc.oneof(
  fc.constantFrom('', SERVICE_CODE, '+254712000001', '254712000001', '1*2*98', 'ATUid_x', '\u0000', '%', '&', '='),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.nat().map((n) => 'x'.repeat(n % 6000))
);
/** Each field usually well-formed, sometimes junk, sometimes missing. */
const slot = (...good: string[]) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...good) },
    { weight: 2, arbitrary: value },
    { weight: 1, arbitrary: fc.constant(undefined) }
  );
const request = fc.record({
  sessionId: slot('ATUid_hostile_1', 'ATUid_hostile_2'),
  serviceCode: slot(SERVICE_CODE, SERVICE_CODE, '*384*999#'),
  phoneNumber: slot('+254712000009', '+254712000010'),
  text: slot('', '', '1', '1*2'),
  // Unknown and repeated fields.
  extras: fc.oneof(
    { weight: 3, arbitrary: fc.constant([] as [string, string][]) },
    {
      weight: 1,
      arbitrary: fc.array(
        fc.tuple(fc.constantFrom('sessionId', 'text', 'networkCode', '__proto__', 'constructor', 'x'), value),
        { minLength: 1, maxLength: 2 }
      ),
    }
  ),
  key: fc.constantFrom(KEY, KEY, KEY, undefined, '', 'wrong', `${KEY}x`),
  contentType: fc.constantFrom(
    'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset=utf-8',
    'application/json',
    'text/plain',
    'multipart/form-data; boundary=x',
    undefined
  ),
  raw: fc.option(fc.string({ unit: 'binary', maxLength: 200 }), { nil: undefined, freq: 10 }),
});

test('a well-formed first screen on a channel whose Bot is missing gets the apology', async () => {
  const res = await server.app.inject({
    method: 'POST',
    url: `/messaging/ussd/africastalking?key=${KEY}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      sessionId: 'ATUid_nobot',
      serviceCode: SERVICE_CODE,
      phoneNumber: '+254712000009',
      text: '',
    }).toString(),
  });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.body).toMatch(/^END Sorry/);
});

test('hostile USSD callbacks get a 2xx or a 4xx, never a 5xx', async () => {
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const params = new URLSearchParams();
      for (const name of ['sessionId', 'serviceCode', 'phoneNumber', 'text'] as const) {
        if (r[name] !== undefined) {
          params.append(name, r[name]);
        }
      }
      for (const [name, v] of r.extras) {
        params.append(name, v);
      }
      const res = await server.app.inject({
        method: 'POST',
        url: `/messaging/ussd/africastalking${r.key === undefined ? '' : `?key=${encodeURIComponent(r.key)}`}`,
        headers: r.contentType ? { 'content-type': r.contentType } : {},
        payload: r.raw ?? params.toString(),
      });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      expect(res.statusCode, res.body).toBeLessThan(500);
      if (res.statusCode === 200) {
        expect(res.body).toMatch(/^(CON|END) /);
      } else {
        expect(res.json().resourceType).toBe('OperationOutcome');
      }
    }),
    { numRuns: 1000, seed: 20261203 }
  );
  // The generator reaches every answer: screens, bad fields, wrong media types, keys, sizes, codes.
  expect([...statuses.keys()].sort()).toEqual(expect.arrayContaining([200, 400, 401, 403, 404, 413, 415]));
}, 120_000);
