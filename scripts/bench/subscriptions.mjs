// Subscriptions and bots: how long a write takes to reach a rest-hook endpoint, how many
// deliveries/s the server's workers sustain when one write fans out to many Subscriptions, and
// what a bot run costs. The endpoint is a real HTTP server in this process that answers 200 at
// once. Each phase's Subscriptions match only its own Patients (an identifier of their own), and
// everything the phases create for themselves (Subscriptions, Bots) is deleted at the end.
//
// Environment: BENCH_SUBSCRIPTIONS=0 skips it; BENCH_HOOK_WRITES (300) Patients at
// BENCH_HOOK_RATE (40)/s for the latency; BENCH_FANOUT_SUBSCRIPTIONS (20) ×
// BENCH_FANOUT_WRITES (200) for the fan-out; BENCH_BOT_RUNS (50) sequential runs per bot.
import http from 'node:http';
import { startCpu } from './cpu.mjs';
import { percentile } from './load.mjs';
import { makePatient } from './patients.mjs';

const env = process.env;
const num = (name, fallback) => (env[name] ? Number(env[name]) : fallback);
export const SUBSCRIPTIONS_ENABLED = env.BENCH_SUBSCRIPTIONS !== '0';
const HOOK_WRITES = num('BENCH_HOOK_WRITES', 300);
const HOOK_RATE = num('BENCH_HOOK_RATE', 40);
const FANOUT_SUBSCRIPTIONS = num('BENCH_FANOUT_SUBSCRIPTIONS', 20);
const FANOUT_WRITES = num('BENCH_FANOUT_WRITES', 200);
const BOT_RUNS = num('BENCH_BOT_RUNS', 50);
/** How long deliveries may take to arrive after the last write before they count as missing. */
const DELIVERY_GRACE_MS = 60_000;

/** The identifier system that ties a phase's Patients to its Subscriptions. */
const PHASE_SYSTEM = 'https://tiba.example.org/fhir/sid/bench-subscription-phase';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function fhir(origin, token, method, path, body) {
  const headers = { authorization: `Bearer ${token}`, accept: 'application/fhir+json' };
  if (body !== undefined) {
    // A string is a bot's input (plain JSON); anything else is a FHIR resource.
    headers['content-type'] = typeof body === 'string' ? 'application/json' : 'application/fhir+json';
  }
  const res = await fetch(`${origin}/fhir/R4/${path}`, {
    method,
    headers,
    body: body === undefined || typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

async function fhirOk(origin, token, method, path, body) {
  const res = await fhir(origin, token, method, path, body);
  if (res.status >= 300) {
    throw new Error(`${method} ${path} answered ${res.status}: ${res.text.slice(0, 300)}`);
  }
  return res.text ? res.json() : undefined;
}

/**
 * The rest-hook endpoint: records when each (Subscription, resource id) delivery arrived
 * (performance.now() of this process, so it compares with the send times) and answers 200.
 */
async function startReceiver() {
  const arrivals = new Map();
  const stats = { requests: 0, duplicates: 0, unsigned: 0 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const at = performance.now();
      res.writeHead(200).end();
      stats.requests++;
      if (!req.headers['x-signature']) {
        stats.unsigned++;
      }
      let id;
      try {
        id = JSON.parse(Buffer.concat(chunks).toString('utf8')).id;
      } catch {
        return;
      }
      const key = `${req.headers['x-medplum-subscription']} ${id}`;
      if (arrivals.has(key)) {
        stats.duplicates++;
      } else {
        arrivals.set(key, at);
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    arrivals,
    stats,
    arrival: (subscriptionId, resourceId) => arrivals.get(`${subscriptionId} ${resourceId}`),
    /** Resolves true once every key has arrived, false at the deadline. */
    async waitAll(keys, deadline) {
      while (performance.now() < deadline) {
        if (keys.every((key) => arrivals.has(key))) {
          return true;
        }
        await sleep(20);
      }
      return keys.every((key) => arrivals.has(key));
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function phasePatient(runTag, phase, n) {
  const patient = makePatient(`${runTag}${phase}`, n);
  patient.identifier.push({ system: PHASE_SYSTEM, value: `${runTag}-${phase}` });
  return patient;
}

/**
 * Creates `count` Subscriptions on the phase's Patients, then writes one probe Patient and waits
 * until every Subscription delivered it: the relay knows them all before anything is measured.
 */
async function subscribe(ctx, receiver, phase, count) {
  const ids = [];
  for (let i = 0; i < count; i++) {
    const subscription = await fhirOk(ctx.origin, ctx.token, 'POST', 'Subscription', {
      resourceType: 'Subscription',
      status: 'active',
      reason: `bench ${phase} ${i}`,
      criteria: `Patient?identifier=${PHASE_SYSTEM}|${ctx.runTag}-${phase}`,
      channel: { type: 'rest-hook', endpoint: receiver.url },
    });
    ids.push(subscription.id);
    ctx.created.push(`Subscription/${subscription.id}`);
  }
  const deadline = performance.now() + 30_000;
  for (let attempt = 0; ; attempt++) {
    const patient = phasePatient(ctx.runTag, phase, 1_000_000 + attempt); // numbers the phase never writes
    const probe = await fhirOk(ctx.origin, ctx.token, 'POST', 'Patient', patient);
    if (
      await receiver.waitAll(
        ids.map((id) => `${id} ${probe.id}`),
        Math.min(deadline, performance.now() + 5000)
      )
    ) {
      return ids;
    }
    if (performance.now() > deadline) {
      throw new Error(
        `${phase}: the Subscriptions never delivered a probe write (${receiver.stats.requests} requests)`
      );
    }
  }
}

/** POSTs a phase Patient; resolves { id, sent } or { error }. */
async function writePatient(ctx, phase, n) {
  const sent = performance.now();
  try {
    const res = await fhir(ctx.origin, ctx.token, 'POST', 'Patient', phasePatient(ctx.runTag, phase, n));
    return res.status === 201 ? { id: res.json().id, sent } : { error: String(res.status) };
  } catch (err) {
    return { error: err.name === 'TimeoutError' ? 'timeout' : 'socket' };
  }
}

function delivered(receiver, subscriptionIds, writes) {
  const latencies = [];
  let last = 0;
  for (const write of writes) {
    for (const sub of subscriptionIds) {
      const at = receiver.arrival(sub, write.id);
      if (at !== undefined) {
        latencies.push(at - write.sent);
        last = Math.max(last, at);
      }
    }
  }
  return { latencies, last };
}

/** One Subscription; Patients written at a fixed rate (open loop); send-to-delivery latency. */
async function latencyPhase(ctx, receiver) {
  const [subscription] = await subscribe(ctx, receiver, 'latency', 1);
  const cpu = startCpu(ctx.serverPid);
  const started = performance.now();
  const pending = [];
  for (let n = 0; n < HOOK_WRITES; n++) {
    const due = started + (n * 1000) / HOOK_RATE;
    await sleep(Math.max(0, due - performance.now()));
    pending.push(writePatient(ctx, 'latency', n));
  }
  const results = await Promise.all(pending);
  const writes = results.filter((r) => r.id);
  await receiver.waitAll(
    writes.map((w) => `${subscription} ${w.id}`),
    performance.now() + DELIVERY_GRACE_MS
  );
  const { latencies } = delivered(receiver, [subscription], writes);
  return {
    writes: HOOK_WRITES,
    writeErrors: results.length - writes.length,
    rate: HOOK_RATE,
    expected: writes.length,
    delivered: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: Math.max(0, ...latencies),
    cpu: cpu(),
  };
}

/** K Subscriptions; W Patients as fast as `connections` allow; deliveries/s until the last arrives. */
async function fanoutPhase(ctx, receiver) {
  const subscriptions = await subscribe(ctx, receiver, 'fanout', FANOUT_SUBSCRIPTIONS);
  const cpu = startCpu(ctx.serverPid);
  const started = performance.now();
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < FANOUT_WRITES) {
      results.push(await writePatient(ctx, 'fanout', next++));
    }
  };
  await Promise.all(Array.from({ length: ctx.connections }, worker));
  const writeSeconds = (performance.now() - started) / 1000;
  const writes = results.filter((r) => r.id);
  const keys = writes.flatMap((w) => subscriptions.map((sub) => `${sub} ${w.id}`));
  await receiver.waitAll(keys, performance.now() + DELIVERY_GRACE_MS);
  const { latencies, last } = delivered(receiver, subscriptions, writes);
  const seconds = ((last || performance.now()) - started) / 1000;
  return {
    subscriptions: FANOUT_SUBSCRIPTIONS,
    writes: FANOUT_WRITES,
    writeErrors: results.length - writes.length,
    writeRate: writes.length / writeSeconds,
    expected: keys.length,
    delivered: latencies.length,
    seconds,
    rate: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpu: cpu(),
  };
}

/** Creates and deploys a Bot, runs it a few times unmeasured, then BOT_RUNS times in a row. */
async function botPhase(ctx, name, code, input, check) {
  const bot = await fhirOk(ctx.origin, ctx.token, 'POST', 'Bot', { resourceType: 'Bot', name });
  ctx.created.push(`Bot/${bot.id}`);
  await fhirOk(ctx.origin, ctx.token, 'POST', `Bot/${bot.id}/$deploy`, { code, filename: 'index.js' });
  const run = async () => {
    const t0 = performance.now();
    try {
      const res = await fhir(ctx.origin, ctx.token, 'POST', `Bot/${bot.id}/$execute`, JSON.stringify(input));
      const ms = performance.now() - t0;
      return res.status === 200 && check(res.json())
        ? { ms }
        : { ms, error: `${res.status} ${res.text.slice(0, 200)}` };
    } catch (err) {
      return { ms: performance.now() - t0, error: err.message };
    }
  };
  for (let i = 0; i < 3; i++) {
    await run();
  }
  const cpu = startCpu(ctx.serverPid);
  const started = performance.now();
  const runs = [];
  for (let i = 0; i < BOT_RUNS; i++) {
    runs.push(await run());
  }
  const seconds = (performance.now() - started) / 1000;
  const failed = runs.filter((r) => r.error);
  if (failed.length > 0) {
    console.error(`bench: bot "${name}" failed ${failed.length} runs, e.g. ${failed[0].error}`);
  }
  const times = runs.map((r) => r.ms);
  return {
    name,
    runs: BOT_RUNS,
    errors: failed.length,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    rate: BOT_RUNS / seconds,
    cpu: cpu(),
  };
}

/**
 * Runs the three measurements against the server at `origin` (its pid `serverPid`); `say` logs.
 * Returns the figures and `failures`: writes or runs that failed plus deliveries that never came.
 */
export async function subscriptionsBench({ origin, token, serverPid, runTag, connections, say }) {
  const ctx = { origin, token, serverPid, runTag, connections, created: [] };
  const receiver = await startReceiver();
  try {
    say(`Write-to-rest-hook latency: 1 Subscription, ${HOOK_WRITES} Patients at ${HOOK_RATE}/s`);
    const latency = await latencyPhase(ctx, receiver);
    say(
      `  ${latency.delivered} of ${latency.expected} delivered; p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms, max ${latency.max.toFixed(1)} ms`
    );
    say(`Fan-out: ${FANOUT_SUBSCRIPTIONS} Subscriptions × ${FANOUT_WRITES} Patients at ${connections} connections`);
    const fanout = await fanoutPhase(ctx, receiver);
    say(
      `  ${Math.round(fanout.rate)} deliveries/s (${fanout.delivered} of ${fanout.expected} in ${fanout.seconds.toFixed(1)} s; writes ${Math.round(fanout.writeRate)}/s), write-to-delivery p50 ${Math.round(fanout.p50)} ms, p99 ${Math.round(fanout.p99)} ms`
    );
    const probe = await fhirOk(origin, token, 'POST', 'Patient', makePatient(`${runTag}bot`, 0));
    say(`Bot $execute: ${BOT_RUNS} sequential runs of a trivial bot, then of a bot that reads a Patient`);
    const trivial = await botPhase(
      ctx,
      'bench trivial bot',
      'exports.handler = async (medplum, event) => event.input;',
      { n: 1 },
      (answer) => answer.n === 1
    );
    const reader = await botPhase(
      ctx,
      'bench read bot',
      `exports.handler = async (medplum, event) => {
        const patient = await medplum.readResource('Patient', event.input.id);
        return { id: patient.id };
      };`,
      { id: probe.id },
      (answer) => answer.id === probe.id
    );
    for (const bot of [trivial, reader]) {
      say(`  ${bot.name}: p50 ${bot.p50.toFixed(1)} ms, p99 ${bot.p99.toFixed(1)} ms, errors ${bot.errors}`);
    }
    const failures =
      latency.writeErrors +
      (latency.expected - latency.delivered) +
      fanout.writeErrors +
      (fanout.expected - fanout.delivered) +
      trivial.errors +
      reader.errors;
    return { latency, fanout, bots: [trivial, reader], connections, receiver: { ...receiver.stats }, failures };
  } finally {
    for (const reference of ctx.created.reverse()) {
      const res = await fhir(origin, token, 'DELETE', reference).catch((err) => ({ status: err.message }));
      if (!(res.status < 300)) {
        say(`could not delete ${reference}: ${res.status}`);
      }
    }
    await receiver.close();
  }
}

const f1 = (x) => (x < 10 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US'));
const cores = (c) => (c ? `${c.server.toFixed(2)} / ${c.postgres.toFixed(2)} / ${c.other.toFixed(2)}` : 'n/a');

/** The "Subscriptions and bots" section of a run. */
export function subscriptionsMarkdown(s) {
  if (!s) {
    return '';
  }
  const { latency: l, fanout: o } = s;
  const rows = [
    `| Write-to-rest-hook latency (1 Subscription, ${l.writes} Patients at ${l.rate}/s) | p50 ${f1(l.p50)} ms, p99 ${f1(l.p99)} ms, max ${f1(l.max)} ms | ${l.delivered} of ${l.expected} delivered, ${l.writeErrors} failed writes | ${cores(l.cpu)} |`,
    `| Fan-out (${o.subscriptions} Subscriptions × ${o.writes} Patients, ${s.connections} connections) | ${f1(o.rate)} deliveries/s | ${o.delivered} of ${o.expected} delivered in ${o.seconds.toFixed(1)} s (writes ${f1(o.writeRate)}/s, ${o.writeErrors} failed); write-to-delivery p50 ${f1(o.p50)} ms, p99 ${f1(o.p99)} ms | ${cores(o.cpu)} |`,
    ...s.bots.map(
      (b) =>
        `| Bot \`$execute\`, ${b.name.replace(/^bench /, '')} (${b.runs} sequential runs) | p50 ${f1(b.p50)} ms, p99 ${f1(b.p99)} ms | ${b.errors} failed runs | ${cores(b.cpu)} |`
    ),
  ];
  const notes = [];
  if (s.receiver.duplicates > 0) {
    notes.push(`${s.receiver.duplicates} deliveries arrived twice.`);
  }
  if (s.receiver.unsigned > 0) {
    notes.push(`${s.receiver.unsigned} deliveries had no X-Signature.`);
  }
  return [
    'Subscriptions and bots: rest-hook deliveries to an HTTP endpoint in the load generator that answers 200 at once (latency from just before the write is sent until its delivery arrives), and bot runs through `POST Bot/:id/$execute` (the read bot does one `readResource` through its client). CPU in cores during each measure: server / PostgreSQL / other (bot processes count as other):',
    '',
    '| Measure | Figure | Detail | CPU server / PostgreSQL / other |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    ...(notes.length ? [notes.join(' '), ''] : []),
  ].join('\n');
}
