#!/usr/bin/env node
// `npm run bench`: starts the built server on a throwaway database, measures it at concurrency 16,
// measures the raw PostgreSQL ceiling with pgbench, prints the figures and adds them to
// docs/benchmarks.md. See docs/benchmarks.md for what each phase does.
//
// Environment: BENCH_DATABASE_SERVER (postgres://postgres@127.0.0.1:5432), REDIS_URL
// (redis://127.0.0.1:6379), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_CONNECTIONS (16),
// BENCH_START_TIMEOUT (180 s to become ready), BENCH_TIMEOUT (1200 s for the whole run),
// BENCH_WAIT_IDLE (0: seconds to wait for a busy machine to calm down before starting),
// BENCH_NO_DOC=1 to leave docs/benchmarks.md alone, BENCH_AUDIT_COMPARE=0 to skip the audit-off
// server (audit.mjs), BENCH_SUBSCRIPTIONS=0 to skip the subscriptions and bots (subscriptions.mjs),
// BENCH_RESTARTS (3 starts for restart-to-ready, restart.mjs), BENCH_ONLY=restart for that phase alone,
// BENCH_USSD=0 to skip the USSD screens (ussd.mjs), BENCH_ONLY=ussd for that phase alone,
// BENCH_OUTBOUND=0 to skip outbound messages (outbound.mjs), BENCH_ONLY=outbound for that phase alone.
import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ACCESS_COMPARED, accessCostMarkdown, setupPatientMember } from './access.mjs';
import {
  AUDIT_COMPARED,
  auditCostMarkdown,
  auditLatencyMarkdown,
  describePhase,
  FIXED_READ_RATE,
  waitAuditDrained,
} from './audit.mjs';
import { loadBundles } from './bundles.mjs';
import { busyCores, formatCpu } from './cpu.mjs';
import { openStats } from './dbstats.mjs';
import {
  countMatches,
  createRequests,
  httpPhase,
  ingestPhase,
  nameSearchPath,
  nameSearchRequests,
  readRequests,
  tokenSearchPath,
  tokenSearchRequests,
} from './load.mjs';
import { OUTBOUND_ENABLED, outboundBench, outboundMarkdown, startOutboundStandIn } from './outbound.mjs';
import { makePatient } from './patients.mjs';
import { pgbenchCeilings } from './pgbench.mjs';
import {
  appendToDoc,
  gitCommit,
  machineInfo,
  outboundRunMarkdown,
  restartRunMarkdown,
  resultsTable,
  runMarkdown,
  ussdRunMarkdown,
} from './report.mjs';
import { RESTARTS, restartBench, restartMarkdown } from './restart.mjs';
import {
  createDatabase,
  databaseUrl,
  dropDatabase,
  freePort,
  getToken,
  postgresVersion,
  spawnServer,
  stopServer,
  tail,
  waitReady,
} from './server.mjs';
import { SUBSCRIPTIONS_ENABLED, subscriptionsBench, subscriptionsMarkdown } from './subscriptions.mjs';
import { USSD_ENABLED, ussdBench, ussdMarkdown, ussdServerEnv } from './ussd.mjs';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const env = process.env;
const num = (name, fallback) => (env[name] ? Number(env[name]) : fallback);
const SECONDS = num('BENCH_SECONDS', 10);
const WARMUP = num('BENCH_WARMUP_SECONDS', 2);
const CONNECTIONS = num('BENCH_CONNECTIONS', 16);
const DB_SERVER = env.BENCH_DATABASE_SERVER || 'postgres://postgres@127.0.0.1:5432';
const REDIS_URL = env.REDIS_URL || 'redis://127.0.0.1:6379';

const runTag = randomBytes(4).toString('hex');
const dbName = `tiba_bench_${runTag}`;
const logFile = path.join(os.tmpdir(), `tiba-bench-${runTag}.log`);
const restartLog = logFile.replace(/\.log$/, '-restart.log');
const say = (message) => console.error(`bench: ${message}`);

let server = null;
let unauditedServer = null;
let dbCreated = false;
let stats = null;
let outbound = null;
let cleaning = null;

/** Stops the server and drops the database; safe to call more than once. */
function cleanup() {
  cleaning ??= (async () => {
    await stats?.close().catch(() => {});
    await stopServer(unauditedServer).catch((err) => say(`could not stop the audit-off server: ${err.message}`));
    await stopServer(server).catch((err) => say(`could not stop the server: ${err.message}`));
    await outbound?.standIn.close().catch(() => {});
    if (dbCreated) {
      await dropDatabase(DB_SERVER, dbName).then(
        () => say(`dropped database ${dbName}`),
        (err) => say(`could not drop database ${dbName}: ${err.message}`)
      );
    }
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    say(`${signal}: cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}
const watchdog = setTimeout(() => {
  say('run took longer than BENCH_TIMEOUT: stopping');
  cleanup().finally(() => process.exit(1));
}, num('BENCH_TIMEOUT', 1200) * 1000);
watchdog.unref();

function shuffle(list) {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
}

async function main() {
  const { source: bundleSource, bundles } = loadBundles(ROOT);
  let background = await busyCores();
  say(`background load: ${background.toFixed(2)} cores busy before the run`);
  for (let waited = 0; background > 0.25 && waited < num('BENCH_WAIT_IDLE', 0); waited += 10) {
    say('waiting for the machine to become idle (BENCH_WAIT_IDLE)');
    await new Promise((resolve) => setTimeout(resolve, 7000));
    background = await busyCores();
  }
  if (background > 0.25) {
    say('warning: the machine is not idle; other work will lower the figures');
  }
  const postgres = await postgresVersion(DB_SERVER);
  await createDatabase(DB_SERVER, dbName);
  dbCreated = true;
  say(`database ${dbName} created on PostgreSQL ${postgres}; server log in ${logFile}`);

  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const clientId = randomUUID();
  const clientSecret = randomBytes(24).toString('hex');
  const ussdKey = randomBytes(24).toString('hex');
  // The Twilio stand-in of the outbound phase: its URL is part of the server's settings.
  if (OUTBOUND_ENABLED || env.BENCH_ONLY === 'outbound') {
    outbound = await startOutboundStandIn(ROOT);
  }
  const started = performance.now();
  const serverEnv = {
    DATABASE_URL: databaseUrl(DB_SERVER, dbName),
    REDIS_URL,
    BASE_URL: `${origin}/`,
    ADMIN_CLIENT_ID: clientId,
    ADMIN_CLIENT_SECRET: clientSecret,
    FHIR_PROFILES_DIR: path.join(ROOT, 'fhir-profiles'),
    LOG_LEVEL: 'warn',
    // Thousands of requests/s from one IP: the limiter runs (its Redis round trip is part of
    // every figure) but never refuses. Its own keys, so that a run never meets another's counts.
    RATE_LIMIT_API_PER_MINUTE: '1000000000',
    // The rest-hook receiver of the subscription phase runs in this process, on loopback, which
    // the server refuses by default (private addresses).
    REST_HOOK_ALLOWED_HOSTS: '*',
    REDIS_KEY_PREFIX: `tiba-bench-${runTag}:`,
    // The USSD phase's channel (ussd.mjs), named by this callback key.
    ...ussdServerEnv(ussdKey),
    ...outbound?.serverEnv,
  };
  server = spawnServer({ root: ROOT, port, logFile, env: serverEnv });
  try {
    await waitReady(server, port, num('BENCH_START_TIMEOUT', 180) * 1000);
  } catch (err) {
    throw new Error(`${err.message}; last lines of ${logFile}:\n${tail(logFile)}`);
  }
  const startSeconds = (performance.now() - started) / 1000;
  say(`server ready on ${origin} after ${startSeconds.toFixed(1)} s`);
  if (env.BENCH_ONLY === 'restart') {
    await stopServer(server);
    await restartOnly({ serverEnv, postgres, background, startSeconds });
    return;
  }
  const token = await getToken(`${origin}/`, clientId, clientSecret);
  const ussdContext = { origin, clientId, clientSecret, key: ussdKey, serverPid: server.pid, runTag, say };
  if (env.BENCH_ONLY === 'ussd') {
    const ussd = await ussdBench(ussdContext);
    await ussdOnly({ ussd, postgres, background, startSeconds });
    return;
  }
  const outboundContext = { origin, token, outbound, runTag, connections: CONNECTIONS, say };
  if (env.BENCH_ONLY === 'outbound') {
    const result = await outboundBench(outboundContext);
    await outboundOnly({ result, postgres, background, startSeconds });
    return;
  }

  // One create by hand first, so a broken server fails here with its answer, not after 10 s of 4xx.
  const probe = await fetch(`${origin}/fhir/R4/Patient`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(makePatient(`${runTag}probe`, 0)),
    signal: AbortSignal.timeout(30_000),
  });
  if (probe.status !== 201) {
    throw new Error(`POST /fhir/R4/Patient answered ${probe.status}: ${(await probe.text()).slice(0, 500)}`);
  }
  await probe.arrayBuffer();

  // The audit-off twin, on the same database (started once the first has seeded it).
  let unaudited = null;
  if (env.BENCH_AUDIT_COMPARE !== '0') {
    const twinPort = await freePort();
    const twinOrigin = `http://127.0.0.1:${twinPort}`;
    const twinLog = logFile.replace(/\.log$/, '-audit-off.log');
    unauditedServer = spawnServer({
      root: ROOT,
      port: twinPort,
      logFile: twinLog,
      env: { ...serverEnv, BASE_URL: `${twinOrigin}/`, AUDIT_ENABLED: 'false' },
    });
    try {
      await waitReady(unauditedServer, twinPort, num('BENCH_START_TIMEOUT', 180) * 1000);
    } catch (err) {
      throw new Error(`audit-off server: ${err.message}; last lines of ${twinLog}:\n${tail(twinLog)}`);
    }
    unaudited = {
      origin: twinOrigin,
      token: await getToken(`${twinOrigin}/`, clientId, clientSecret),
      serverPid: unauditedServer.pid,
      results: {},
      drains: {},
      created: [],
      log: twinLog,
    };
    say(`audit-off server ready on ${twinOrigin}`);
  }

  stats = await openStats(databaseUrl(DB_SERVER, dbName));
  const common = {
    origin,
    token,
    connections: CONNECTIONS,
    seconds: SECONDS,
    warmup: WARMUP,
    serverPid: server.pid,
    stats,
  };
  const created = [];
  const results = {};
  const phase = async (key, name, requests) => {
    say(`${name}: ${WARMUP} s warm-up + ${SECONDS} s at ${CONNECTIONS} connections`);
    results[key] = await httpPhase(name, common, requests);
    const r = results[key];
    say(`  ${Math.round(r.rate)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, errors ${r.errors}; CPU ${formatCpu(r.cpu)}`);
    if (unaudited && AUDIT_COMPARED.some(([compared]) => compared === key)) {
      const drain = await waitAuditDrained(origin);
      unaudited.drains[key] = drain;
      say(`  audit queue ${drain.backlog} at the end, drained in ${(drain.drainMs / 1000).toFixed(1)} s`);
      say(`${name}, audit off: ${WARMUP} s warm-up + ${SECONDS} s at ${CONNECTIONS} connections`);
      const twinRequests = key === 'create' ? createRequests(`${runTag}x`, unaudited.created) : requests;
      unaudited.results[key] = await httpPhase(name, { ...common, ...unaudited }, twinRequests);
      say(`  ${describePhase(unaudited.results[key])}`);
    }
  };
  await phase('create', 'Create Patient', createRequests(runTag, created));
  if (created.length === 0) {
    throw new Error('no patient was created; nothing to read or search');
  }
  shuffle(created);
  const sample = created[0];
  const tokenHits = await countMatches(origin, token, tokenSearchPath(runTag, sample));
  const nameHits = await countMatches(origin, token, nameSearchPath(sample));
  const matches = `${tokenHits} entries for an identifier, ${nameHits} for a name prefix (first page)`;
  const notes = [];
  if (tokenHits !== 1 || nameHits === 0) {
    notes.push(`searches do not find the created patients (${matches}): their figures measure misses`);
  }
  say(`searches return ${matches}`);
  await phase('read', 'Read Patient by id', readRequests(created));
  let fixedLoad = null;
  if (unaudited) {
    say(`Read Patient by id at a fixed ${FIXED_READ_RATE}/s, audited then not`);
    const fixed = { ...common, overallRate: FIXED_READ_RATE };
    const audited = await httpPhase('Read at a fixed rate (audited)', fixed, readRequests(created));
    await waitAuditDrained(origin);
    const plain = await httpPhase(
      'Read at a fixed rate (not audited)',
      { ...fixed, ...unaudited },
      readRequests(created)
    );
    say(`  audited: ${describePhase(audited)}`);
    say(`  not audited: ${describePhase(plain)}`);
    fixedLoad = { audited, plain };
  }
  await phase('token', 'Search identifier (token)', tokenSearchRequests(runTag, created));
  await phase('name', 'Search name prefix (string)', nameSearchRequests(created));

  say('Access control: a patient signs in; admin and patient read and search the same Observations');
  const member = await setupPatientMember(origin, token, runTag);
  const patientResults = {};
  for (const [key, label] of ACCESS_COMPARED) {
    const requests = key === 'obsRead' ? member.reads : member.searches;
    await phase(key, `${label} (admin)`, requests);
    patientResults[key] = await httpPhase(`${label} (patient)`, { ...common, token: member.token }, requests);
    say(`  as the patient: ${describePhase(patientResults[key])}`);
  }

  const workers = CONNECTIONS;
  say(`Transaction ingest: ${bundles.length} bundles (${bundleSource}), ${workers} workers`);
  results.ingest = await ingestPhase({ ...common, workers }, bundles);
  const ing = results.ingest;
  say(`  ${Math.round(ing.rate)} resources/s, per bundle p50 ${Math.round(ing.p50)} ms, p99 ${Math.round(ing.p99)} ms`);
  say(`  errors ${ing.errors}; CPU ${formatCpu(ing.cpu)}`);

  if (unaudited) {
    await stopServer(unauditedServer);
  }
  // Last on the server, so that its Subscriptions (deleted again at the end) slow no other phase.
  let subscriptions = null;
  if (SUBSCRIPTIONS_ENABLED) {
    if (unaudited) {
      await waitAuditDrained(origin);
    }
    subscriptions = await subscriptionsBench({
      origin,
      token,
      serverPid: server.pid,
      runTag,
      connections: CONNECTIONS,
      say,
    });
    if (subscriptions.failures > 0) {
      notes.push(`${subscriptions.failures} subscription writes, deliveries or bot runs failed or never arrived`);
    }
  }
  const ussd = USSD_ENABLED ? await ussdBench(ussdContext) : null;
  if (ussd?.errors > 0) {
    notes.push(`${ussd.errors} USSD screens failed or apologised (first: ${ussd.firstError})`);
  }
  const outboundResult = OUTBOUND_ENABLED ? await outboundBench(outboundContext) : null;
  if (outboundResult?.errors > 0) {
    notes.push(
      `${outboundResult.errors} outbound messages failed, went missing or were sent twice (first: ${outboundResult.firstError})`
    );
  }
  await stats.close();
  stats = null;
  say('stopping the server for the raw PostgreSQL ceiling');
  await stopServer(server);
  say(`Restart to ready: ${RESTARTS} starts on this database`);
  const restarts = await restartBench({ root: ROOT, env: serverEnv, logFile: restartLog, say });
  say(`pgbench: insert then select, ${SECONDS} s each, ${CONNECTIONS} clients, prepared`);
  const raw = await pgbenchCeilings({
    dbUrl: databaseUrl(DB_SERVER, dbName),
    clients: CONNECTIONS,
    threads: 2,
    seconds: SECONDS,
  });

  const errors = [
    ...Object.values(results),
    ...Object.values(unaudited?.results ?? {}),
    ...Object.values(patientResults),
    ...Object.values(fixedLoad ?? {}),
  ].reduce((sum, r) => sum + r.errors, 0);
  const auditMarkdown = unaudited
    ? auditCostMarkdown(results, unaudited.results, unaudited.drains) +
      auditLatencyMarkdown(fixedLoad?.audited, fixedLoad?.plain)
    : '';
  const info = {
    date: new Date(),
    commit: gitCommit(ROOT),
    machine: machineInfo(),
    postgres,
    background,
    command: 'npm run bench',
    options: `${CONNECTIONS} connections, pipelining 1, ${SECONDS} s per phase after ${WARMUP} s warm-up`,
    startSeconds,
    created: created.length,
    matches,
    notes,
    bundleSource,
    workers,
    results,
    raw,
    errors,
    auditMarkdown,
    accessMarkdown: accessCostMarkdown(results, patientResults),
    subscriptionsMarkdown: subscriptionsMarkdown(subscriptions),
    ussdMarkdown: ussdMarkdown(ussd),
    outboundMarkdown: outboundMarkdown(outboundResult),
    restartMarkdown: restartMarkdown(restarts),
  };
  console.log(`\n${resultsTable(results, raw)}\n`);
  if (auditMarkdown) {
    console.log(`${auditMarkdown}\n`);
  }
  console.log(`${info.accessMarkdown}\n`);
  if (info.subscriptionsMarkdown) {
    console.log(`${info.subscriptionsMarkdown}\n`);
  }
  if (info.ussdMarkdown) {
    console.log(`${info.ussdMarkdown}\n`);
  }
  if (info.outboundMarkdown) {
    console.log(`${info.outboundMarkdown}\n`);
  }
  console.log(`${info.restartMarkdown}\n`);
  if (env.BENCH_NO_DOC !== '1') {
    appendToDoc(path.join(ROOT, 'docs', 'benchmarks.md'), runMarkdown(info));
    say('added this run to docs/benchmarks.md');
  }
  for (const note of notes) {
    say(`FLAGGED: ${note}`);
  }
  if (errors > 0) {
    say(`FLAGGED: ${errors} failed requests; see the Errors column`);
    process.exitCode = 1;
  }
  if (subscriptions?.failures > 0) {
    process.exitCode = 1;
  }
}

/** BENCH_ONLY=restart: the restart-to-ready phase alone, on the database the first server prepared. */
async function restartOnly({ serverEnv, postgres, background, startSeconds }) {
  say(`Restart to ready: ${RESTARTS} starts on this database`);
  const restarts = await restartBench({ root: ROOT, env: serverEnv, logFile: restartLog, say });
  const info = {
    date: new Date(),
    commit: gitCommit(ROOT),
    machine: machineInfo(),
    postgres,
    background,
    command: 'BENCH_ONLY=restart npm run bench',
    startSeconds,
    restartMarkdown: restartMarkdown(restarts),
  };
  console.log(`\n${info.restartMarkdown}`);
  if (env.BENCH_NO_DOC !== '1') {
    appendToDoc(path.join(ROOT, 'docs', 'benchmarks.md'), restartRunMarkdown(info));
    say('added this run to docs/benchmarks.md');
  }
}

/** BENCH_ONLY=ussd: the USSD screens alone, on a fresh server. */
async function ussdOnly({ ussd, postgres, background, startSeconds }) {
  const info = {
    date: new Date(),
    commit: gitCommit(ROOT),
    machine: machineInfo(),
    postgres,
    background,
    command: 'BENCH_ONLY=ussd npm run bench',
    startSeconds,
    ussdMarkdown: ussdMarkdown(ussd),
  };
  console.log(`\n${info.ussdMarkdown}`);
  if (env.BENCH_NO_DOC !== '1') {
    appendToDoc(path.join(ROOT, 'docs', 'benchmarks.md'), ussdRunMarkdown(info));
    say('added this run to docs/benchmarks.md');
  }
  if (ussd.errors > 0) {
    say(`FLAGGED: ${ussd.errors} USSD screens failed (first: ${ussd.firstError})`);
    process.exitCode = 1;
  }
}

/** BENCH_ONLY=outbound: outbound messages alone, on a fresh server. */
async function outboundOnly({ result, postgres, background, startSeconds }) {
  const info = {
    date: new Date(),
    commit: gitCommit(ROOT),
    machine: machineInfo(),
    postgres,
    background,
    command: 'BENCH_ONLY=outbound npm run bench',
    startSeconds,
    outboundMarkdown: outboundMarkdown(result),
  };
  console.log(`\n${info.outboundMarkdown}`);
  if (env.BENCH_NO_DOC !== '1') {
    appendToDoc(path.join(ROOT, 'docs', 'benchmarks.md'), outboundRunMarkdown(info));
    say('added this run to docs/benchmarks.md');
  }
  if (result.errors > 0) {
    say(`FLAGGED: ${result.errors} outbound messages failed (first: ${result.firstError})`);
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (err) {
  say(`failed: ${err.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
  if (!process.exitCode) {
    rmSync(logFile, { force: true });
    rmSync(logFile.replace(/\.log$/, '-audit-off.log'), { force: true });
    rmSync(restartLog, { force: true });
  }
  clearTimeout(watchdog);
}
