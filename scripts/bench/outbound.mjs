// Outbound messaging phase of `npm run bench`: CommunicationRequests written through the API at
// concurrency 16, sent by the server's outbox reaction and job to a Twilio stand-in running in
// this process (the server's TWILIO_API_BASE_URL), whose signed status callbacks come back to
// the server. Measures messages accepted by "Twilio" per second, write-to-Twilio latency, and the
// time until every message is `completed` by its callbacks; any message missing or sent twice
// flags the run. BENCH_OUTBOUND=0 skips it; BENCH_OUTBOUND_MESSAGES (500) sets how many.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const env = process.env;
export const OUTBOUND_ENABLED = env.BENCH_OUTBOUND !== '0';
const MESSAGES = Number(env.BENCH_OUTBOUND_MESSAGES || 500);
const FROM = '+15005550006';

/** Starts the stand-in (from the built server) and returns it with the server settings that use it. */
export async function startOutboundStandIn(root) {
  const module = pathToFileURL(
    path.join(root, 'packages', 'server', 'dist', 'messaging', 'twilio-stand-in', 'stand-in.js')
  ).href;
  const { startTwilioStandIn } = await import(module);
  const accountSid = `AC${randomBytes(16).toString('hex')}`;
  const authToken = randomBytes(16).toString('hex');
  const standIn = await startTwilioStandIn({
    accounts: [{ accountSid, authToken, numbers: [FROM] }],
    callbackDelayMs: 1,
  });
  // When each message reached the stand-in, by its body (each request's text is its own).
  const acceptedAt = new Map();
  const add = standIn.state.add.bind(standIn.state);
  standIn.state.add = (message) => {
    acceptedAt.set(message.body, performance.now());
    add(message);
  };
  return {
    standIn,
    acceptedAt,
    serverEnv: {
      TWILIO_ACCOUNT_SID: accountSid,
      TWILIO_AUTH_TOKEN: authToken,
      TWILIO_FROM: FROM,
      TWILIO_API_BASE_URL: standIn.url,
    },
  };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

async function fhir(origin, token, method, url, body) {
  const res = await fetch(`${origin}/fhir/R4/${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const json = await res.json().catch(() => undefined);
  return { status: res.status, json };
}

/** Runs `count` tasks, `concurrency` at a time. */
async function pool(count, concurrency, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        await task(next++);
      }
    })
  );
}

export async function outboundBench({ origin, token, outbound, runTag, connections, say }) {
  const { standIn, acceptedAt } = outbound;
  say(
    `Outbound messages: ${MESSAGES} CommunicationRequests at ${connections} connections, Twilio stand-in on ${standIn.url}`
  );
  const patients = [];
  let errors = 0;
  let firstError;
  const fail = (what) => {
    errors++;
    firstError ??= what;
  };
  await pool(Math.min(100, MESSAGES), connections, async (i) => {
    const phone = `+2547${String(10_000_000 + i).padStart(8, '0')}`;
    const res = await fhir(origin, token, 'POST', 'Patient', {
      resourceType: 'Patient',
      name: [{ family: `Outbound${runTag}`, given: [`p${i}`] }],
      telecom: [{ system: 'phone', use: 'mobile', value: phone }],
    });
    if (res.status === 201) patients.push({ id: res.json.id, phone });
    else fail(`Patient ${res.status}`);
  });
  const writtenAt = new Map();
  const started = performance.now();
  await pool(MESSAGES, connections, async (i) => {
    const patient = patients[i % patients.length];
    const text = `Bench ${runTag} message ${i}: kumbuka dawa yako leo.`;
    const res = await fhir(origin, token, 'POST', 'CommunicationRequest', {
      resourceType: 'CommunicationRequest',
      status: 'active',
      // Urgent: the run must not depend on the hour (quiet hours would hold routine ones).
      priority: 'urgent',
      subject: { reference: `Patient/${patient.id}` },
      recipient: [{ reference: `Patient/${patient.id}` }],
      medium: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode', code: 'SMSWRIT' }] }],
      payload: [{ contentString: text }],
    });
    if (res.status === 201) writtenAt.set(text, performance.now());
    else fail(`CommunicationRequest ${res.status}`);
  });
  const writeSeconds = (performance.now() - started) / 1000;
  const deadline = Date.now() + 120_000;
  const callbacksExpected = writtenAt.size * 2;
  while (Date.now() < deadline && (acceptedAt.size < writtenAt.size || standIn.callbacks.length < callbacksExpected)) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await standIn.settled();
  const lastAccepted = Math.max(...acceptedAt.values());
  const acceptSeconds = (lastAccepted - started) / 1000;
  const callbacksDone = (performance.now() - started) / 1000;
  const latencies = [...writtenAt]
    .map(([text, at]) => (acceptedAt.get(text) ?? Number.NaN) - at)
    .filter(Number.isFinite);
  latencies.sort((a, b) => a - b);
  const sent = [...standIn.state.messages.values()].filter((m) => m.direction === 'outbound-api');
  const duplicates = sent.length - new Set(sent.map((m) => m.body)).size;
  const missing = writtenAt.size - acceptedAt.size;
  const badCallbacks = standIn.callbacks.filter((c) => c.answer !== 204).length;
  const completed = await fhir(origin, token, 'GET', `Communication?status=completed&_count=1&_total=accurate`);
  const result = {
    messages: writtenAt.size,
    writeRate: writtenAt.size / writeSeconds,
    acceptRate: acceptedAt.size / acceptSeconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    callbacks: standIn.callbacks.length,
    callbacksDone,
    completed: completed.json?.total ?? 0,
    duplicates,
    missing,
    badCallbacks,
    errors,
    firstError,
  };
  if (duplicates > 0) fail(`${duplicates} messages sent twice`);
  if (missing > 0) fail(`${missing} requests never reached Twilio`);
  if (badCallbacks > 0) fail(`${badCallbacks} status callbacks not answered 204`);
  if (result.completed < writtenAt.size) fail(`only ${result.completed} of ${writtenAt.size} messages completed`);
  result.errors = errors;
  result.firstError = firstError;
  say(
    `  ${Math.round(result.acceptRate)} messages/s to Twilio, write -> Twilio p50 ${Math.round(result.p50)} ms, p99 ${Math.round(result.p99)} ms; all completed after ${result.callbacksDone.toFixed(1)} s; errors ${errors}`
  );
  return result;
}

export function outboundMarkdown(r) {
  if (!r) return '';
  const ms = (v) => `${Math.round(v)} ms`;
  return [
    '#### Outbound messages',
    '',
    `${r.messages} CommunicationRequests (urgent SMS, 100 patients) POSTed at 16 connections; the server's outbox reaction and job send each through the official \`twilio\` client to the Twilio stand-in in the bench process, whose signed status callbacks (sent, delivered) come back to the server.`,
    '',
    '| Requests written/s | Messages to Twilio/s | Write → Twilio p50 | p99 | All completed by callbacks after | Callbacks | Sent twice | Missing | Errors |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    `| ${Math.round(r.writeRate)} | ${Math.round(r.acceptRate)} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.callbacksDone.toFixed(1)} s | ${r.callbacks} | ${r.duplicates} | ${r.missing} | ${r.errors}${r.firstError ? ` (${r.firstError})` : ''} |`,
    '',
  ].join('\n');
}
