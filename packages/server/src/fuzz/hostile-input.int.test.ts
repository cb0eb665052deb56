import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { freePort } from '../test/free-port.js';
import { startTestServer, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type TestServer } from '../test/test-server.js';
import { type Answer, answerProblems, describeRequest } from './answer-check.js';
import { createFuzzTargets, type FuzzTargets, type HostileRequest, hostileRequests } from './hostile-requests.js';
import { sendOverHttp } from './http-sender.js';

/** Fixed, so a failure here fails the same way on every machine; `npm run fuzz` varies it. */
const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
const CASES = Number(process.env.FUZZ_CASES ?? 4000);
const HTTP_CASES = Math.ceil(CASES / 5);

let t: TestServer;
let db: pg.Pool;
let targets: FuzzTargets;
/** The admin token the cases carry; a generated POST /oauth2/logout ends it, so it is renewed. */
let token: string;
/** Answers 401 so far: most cases must reach the code behind authentication. */
let unauthorized = 0;

beforeAll(async () => {
  // Rate limits off: they would answer most sign-in requests with 429 before their bodies are read.
  t = await startTestServer({
    MAX_BODY_BYTES: String(1024 * 1024),
    RATE_LIMIT_AUTH_PER_MINUTE: '0',
    RATE_LIMIT_API_PER_MINUTE: '0',
  });
  db = new pg.Pool({ connectionString: t.config.databaseUrl, max: 1 });
  const create = async (resource: object) =>
    (
      await t.request({
        method: 'POST',
        url: `/fhir/R4/${(resource as { resourceType: string }).resourceType}`,
        payload: resource,
      })
    ).json().id as string;
  targets = await createFuzzTargets(create);
  token = t.token;
});

async function newToken(): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `grant_type=client_credentials&client_id=${TEST_CLIENT_ID}&client_secret=${TEST_CLIENT_SECRET}`,
  });
  return res.json().access_token as string;
}

/** After a case that may have signed the run out, a fresh token; counts the 401s. */
async function afterCase(request: HostileRequest, status: number): Promise<void> {
  if (status === 401) {
    unauthorized++;
  }
  if (request.url.startsWith('/oauth2/logout')) {
    token = await newToken();
  }
}

afterAll(async () => {
  await db?.end();
  await t?.close();
});

/** Versions written so far, audit trail aside: a rejected request must not change it. */
async function countWrites(): Promise<number> {
  const { rows } = await db.query(
    "SELECT count(*)::int AS n FROM resource_history WHERE resource_type <> 'AuditEvent'"
  );
  return rows[0].n;
}

async function send(request: HostileRequest): Promise<Answer> {
  const res = await t.app.inject({
    method: request.method,
    url: request.url,
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...request.headers },
    payload: request.body,
  });
  return { status: res.statusCode, contentType: res.headers['content-type']?.toString(), body: res.body };
}

test(`${CASES} hostile requests: no 5xx, no leaks, OperationOutcomes, nothing written on rejection`, async () => {
  await fc.assert(
    fc.asyncProperty(hostileRequests(targets), async (request) => {
      const before = await countWrites();
      const answer = await send(request);
      const problems = answerProblems(request, answer);
      if (answer.status >= 400 && (await countWrites()) !== before) {
        problems.push(`rejected with ${answer.status} but wrote`);
      }
      // After the write check: a new token is a write (its Login).
      await afterCase(request, answer.status);
      if (problems.length) {
        throw new Error(`${problems.join('; ')}: ${describeRequest(request)} → ${answer.body.slice(0, 300)}`);
      }
    }),
    { seed: SEED, numRuns: CASES }
  );
  const health = await t.app.inject({ method: 'GET', url: '/healthcheck' });
  expect(health.statusCode).toBe(200);
  // fast-check shrinks nothing here (no failure), so every case ran once: most carried a live token.
  expect(unauthorized / CASES).toBeLessThan(0.25);
}, 120_000);

test(`${HTTP_CASES} hostile requests over keep-alive HTTP: no reset, no timeout, no 5xx`, async () => {
  const port = await freePort();
  await t.app.listen({ port, host: '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${port}/`;
  await fc.assert(
    fc.asyncProperty(hostileRequests(targets), async (request) => {
      const outcome = await sendOverHttp(baseUrl, request, token, 10_000);
      await afterCase(request, 'answer' in outcome ? outcome.answer.status : 0);
      if ('failure' in outcome) {
        throw new Error(`transport ${outcome.failure}: ${describeRequest(request)}`);
      }
      const problems = 'answer' in outcome ? answerProblems(request, outcome.answer) : [];
      if (problems.length) {
        throw new Error(`${problems.join('; ')}: ${describeRequest(request)}`);
      }
    }),
    { seed: SEED + 1, numRuns: HTTP_CASES }
  );
}, 120_000);
