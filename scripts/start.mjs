#!/usr/bin/env node
// `npm start`: installs what is missing, builds, finds (or starts) PostgreSQL and Redis, then runs
// the API server in the foreground until it exits or gets SIGINT/SIGTERM, and cleans up after it.
// Runs under Node 24 (scripts/node24.sh). See README.md for the environment it reads.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureDeps, ROOT } from './ensure-deps.mjs';
import {
  DEFAULT_DATABASE_URL,
  DEFAULT_REDIS_URL,
  log,
  probePostgres,
  probeRedis,
  REDIS_INSTALL_HELP,
  redact,
  which,
} from './lib/services.mjs';

const DATA_DIR = path.join(ROOT, '.data');
const SERVER_DIR = path.join(ROOT, 'packages', 'server');
const SERVER_MAIN = path.join(SERVER_DIR, 'dist', 'main.js');
const SIDECAR = path.join(ROOT, 'scripts', 'lib', 'sidecar.mjs');
const DEPLOY_BOTS = path.join(ROOT, 'bots', 'deploy.mjs');
/** The admin client npm start gives the server when ADMIN_CLIENT_ID/SECRET are unset (it deploys the bots with it). */
const ADMIN_CLIENT_FILE = path.join(DATA_DIR, 'admin-client.json');
/** The demo Twilio account the local stand-in plays (no real Twilio account needed). */
const STAND_IN_ACCOUNT_FILE = path.join(DATA_DIR, 'twilio-stand-in.json');
/** The demo clinic's USSD code, as Africa's Talking sandbox codes look. */
const DEMO_USSD_SERVICE_CODE = '*384*123#';
/** How long the server gets to drain after SIGINT/SIGTERM before it is killed. */
const SERVER_STOP_TIMEOUT_MS = 30_000;

/** Things to undo on the way out (stop embedded PostgreSQL, redis-server), newest first. */
const cleanups = [];
/** The child process in the foreground (npm ci, the build, then the server). */
let foreground = null;
let stopping = false;

class UserFacingError extends Error {}

// ---------------------------------------------------------------------------------------------
// Steps

/** Runs a command in the foreground with inherited stdio; rejects when it fails. */
function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], ...options });
    foreground = child;
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      foreground = null;
      if (code === 0) {
        resolve();
      } else {
        reject(
          new UserFacingError(`${path.basename(command)} ${args.join(' ')} failed (${signal ?? `exit code ${code}`})`)
        );
      }
    });
  });
}

/** Builds every workspace with turbo (cached); without a git checkout, with npm directly. */
async function build() {
  const started = performance.now();
  if (existsSync(path.join(ROOT, '.git'))) {
    const turbo = path.join(ROOT, 'node_modules', '.bin', 'turbo');
    await run(turbo, ['run', 'build', '--ui=stream', '--output-logs=errors-only']);
  } else {
    await run('npm', ['run', 'build', '--workspaces', '--if-present']);
  }
  log(`built in ${seconds(started)}`);
  if (!existsSync(SERVER_MAIN)) {
    throw new UserFacingError(`the build did not produce ${path.relative(ROOT, SERVER_MAIN)}`);
  }
}

/** DATABASE_URL (or the default) when it answers; otherwise an embedded PostgreSQL. */
async function choosePostgres(env) {
  const explicit = env.DATABASE_URL;
  const url = explicit || DEFAULT_DATABASE_URL;
  const probe = await probePostgres(url);
  if (probe.ok) {
    log(`PostgreSQL: using ${redact(url)}${probe.note ? ` (${probe.note})` : ''}`);
    return url;
  }
  if (explicit && probe.reachable) {
    // A server answered but refused us: starting another one would hide a configuration error.
    throw new UserFacingError(`DATABASE_URL=${redact(url)} answers but refuses the connection: ${probe.reason}`);
  }
  log(`PostgreSQL: ${redact(url)} does not answer (${probe.reason}); starting an embedded one`);
  const started = performance.now();
  const embedded = await startSidecar('postgres', { dataDir: path.join(DATA_DIR, 'postgres') });
  log(`PostgreSQL: ${embedded.description}, ready in ${seconds(started)}`);
  return embedded.url;
}

/** REDIS_URL (or the default) when it answers PING; otherwise a local redis-server. */
async function chooseRedis(env) {
  const url = env.REDIS_URL || DEFAULT_REDIS_URL;
  const probe = await probeRedis(url);
  if (probe.ok) {
    log(`Redis: using ${redact(url)}`);
    return url;
  }
  const executable = which('redis-server');
  if (!executable) {
    throw new UserFacingError(`Redis at ${redact(url)} does not answer (${probe.reason}).\n${REDIS_INSTALL_HELP}`);
  }
  log(`Redis: ${redact(url)} does not answer (${probe.reason}); starting ${executable}`);
  const redis = await startSidecar('redis', { executable, dir: path.join(DATA_DIR, 'redis') });
  log(`Redis: ${redis.description}`);
  return redis.url;
}

/**
 * Starts a local PostgreSQL or Redis through scripts/lib/sidecar.mjs, in its own process group
 * (see there), and registers its stop. Resolves to { url, description }.
 */
async function startSidecar(kind, options) {
  const child = spawn(process.execPath, [SIDECAR, kind, JSON.stringify(options)], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
  });
  const reply = await Promise.race([
    new Promise((resolve) => child.once('message', resolve)),
    exited.then((code) => ({ error: `the ${kind} helper exited (code ${code}) before it was ready` })),
  ]);
  if (reply.error) {
    throw new UserFacingError(reply.error);
  }
  return reply;
}

/**
 * Runs the built server with stdio inherited. It gets its own process group, so a Ctrl-C reaches
 * it once, through us, and we can stop PostgreSQL and Redis only after it has drained.
 */
function startServer(env) {
  const child = spawn(process.execPath, [SERVER_MAIN], { cwd: SERVER_DIR, env, stdio: 'inherit', detached: true });
  foreground = child;
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      foreground = null;
      process.removeListener('exit', killOnExit);
      resolve(code ?? 128 + (signalNumber(signal) ?? 1));
    });
  });
  return { child, exited };
}

/** Prints one line once /readyz answers 200 (everything built), so the user knows where to go; resolves to whether it did. */
async function announceWhenReady(port, baseUrl, serverChild) {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline && serverChild.exitCode === null && !stopping) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) {
        log(`ready: ${baseUrl} (FHIR API at ${new URL('fhir/R4', baseUrl)}); Ctrl-C stops it`);
        return true;
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return false;
}

/**
 * ADMIN_CLIENT_ID/SECRET from the environment; when both are unset, a client of our own, generated
 * once and kept in .data/ (the server creates it at start), so we can deploy the bots with it.
 */
function adminClientCredentials(env) {
  if (env.ADMIN_CLIENT_ID || env.ADMIN_CLIENT_SECRET) {
    return env.ADMIN_CLIENT_ID && env.ADMIN_CLIENT_SECRET
      ? { clientId: env.ADMIN_CLIENT_ID, clientSecret: env.ADMIN_CLIENT_SECRET }
      : undefined;
  }
  if (!existsSync(ADMIN_CLIENT_FILE)) {
    mkdirSync(DATA_DIR, { recursive: true });
    const generated = { clientId: randomUUID(), clientSecret: randomBytes(32).toString('hex') };
    writeFileSync(ADMIN_CLIENT_FILE, `${JSON.stringify(generated, null, 2)}\n`, { mode: 0o600 });
    log(`generated an admin client for this checkout: ${path.relative(ROOT, ADMIN_CLIENT_FILE)}`);
  }
  return JSON.parse(readFileSync(ADMIN_CLIENT_FILE, 'utf8'));
}

/**
 * The phone simulator's Twilio stand-in is on unless real Twilio credentials are given (or
 * TWILIO_STAND_IN=false): a demo account generated once and kept in .data/, and a USSD code.
 */
function demoMessaging(env) {
  if (env.TWILIO_STAND_IN === undefined && !env.TWILIO_AUTH_TOKEN) {
    env.TWILIO_STAND_IN = 'true';
  }
  if (env.TWILIO_STAND_IN !== 'true') {
    return;
  }
  if (!env.TWILIO_ACCOUNT_SID || !env.TWILIO_AUTH_TOKEN) {
    if (!existsSync(STAND_IN_ACCOUNT_FILE)) {
      mkdirSync(DATA_DIR, { recursive: true });
      const generated = {
        accountSid: `AC${randomBytes(16).toString('hex')}`,
        authToken: randomBytes(16).toString('hex'),
      };
      writeFileSync(STAND_IN_ACCOUNT_FILE, `${JSON.stringify(generated, null, 2)}\n`, { mode: 0o600 });
    }
    const account = JSON.parse(readFileSync(STAND_IN_ACCOUNT_FILE, 'utf8'));
    env.TWILIO_ACCOUNT_SID = account.accountSid;
    env.TWILIO_AUTH_TOKEN = account.authToken;
  }
  env.USSD_SERVICE_CODE ??= DEMO_USSD_SERVICE_CODE;
  log('messaging: the local Twilio stand-in plays Twilio; open the Phone simulator in the app');
}

/** `npm run deploy:bots` against the running server; a failure is reported, the server keeps running. */
async function deployBots(port, credentials) {
  if (!credentials) {
    log('bots not deployed: set both ADMIN_CLIENT_ID and ADMIN_CLIENT_SECRET, then run npm run deploy:bots');
    return;
  }
  const child = spawn(process.execPath, [DEPLOY_BOTS, '--no-build'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      BASE_URL: `http://127.0.0.1:${port}/`,
      ADMIN_CLIENT_ID: credentials.clientId,
      ADMIN_CLIENT_SECRET: credentials.clientSecret,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const code = await new Promise((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  if (code !== 0 && !stopping) {
    log('deploying the bots failed (see above); the server keeps running, retry with npm run deploy:bots');
  }
}

// ---------------------------------------------------------------------------------------------
// Shutdown

async function runCleanups() {
  while (cleanups.length > 0) {
    const cleanup = cleanups.pop();
    try {
      await cleanup();
    } catch (err) {
      log(`cleanup failed: ${err.message}`);
    }
  }
}

function signalNumber(signal) {
  return { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[signal];
}

/**
 * First SIGINT/SIGTERM/SIGHUP: send SIGTERM to the foreground child (the server drains and exits;
 * the main flow then cleans up), or, between steps, clean up and exit. Later signals are ignored:
 * under `npm start` a Ctrl-C arrives twice (from the terminal and forwarded by npm).
 */
function onSignal(signal) {
  if (stopping) {
    return;
  }
  stopping = true;
  log(`${signal} received, stopping`);
  if (foreground && foreground.exitCode === null) {
    // SIGTERM is the server's contract for "finish in-flight requests, then exit".
    foreground.kill('SIGTERM');
    setTimeout(() => {
      if (foreground) {
        log(`still running after ${SERVER_STOP_TIMEOUT_MS / 1000} s; killing it`);
        foreground.kill('SIGKILL');
      }
    }, SERVER_STOP_TIMEOUT_MS).unref();
  } else {
    runCleanups().finally(() => process.exit(128 + (signalNumber(signal) ?? 15)));
  }
}

/**
 * Stops like on SIGTERM when our parent goes away. `kill <pid of npm>` ends npm and its `sh -c`
 * without passing the signal on, which would otherwise leave us (and the server) running.
 */
function stopWhenOrphaned() {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) {
      onSignal('SIGTERM (parent process exited)');
    }
  }, 1000).unref();
}

function seconds(startedAt) {
  return `${((performance.now() - startedAt) / 1000).toFixed(1)} s`;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, onSignal);
  }
  stopWhenOrphaned();
  await ensureDeps();
  await build();
  const env = { ...process.env };
  // Redis first: when none can be had we stop before initialising a database.
  env.REDIS_URL = await chooseRedis(env);
  env.DATABASE_URL = await choosePostgres(env);
  if (!env.FHIR_PROFILES_DIR && existsSync(path.join(ROOT, 'fhir-profiles'))) {
    env.FHIR_PROFILES_DIR = path.join(ROOT, 'fhir-profiles');
  }
  if (stopping) {
    return 0;
  }

  const adminClient = adminClientCredentials(env);
  if (adminClient) {
    env.ADMIN_CLIENT_ID = adminClient.clientId;
    env.ADMIN_CLIENT_SECRET = adminClient.clientSecret;
  }

  demoMessaging(env);

  const port = Number(env.PORT || 8103);
  const baseUrl = env.BASE_URL || `http://localhost:${port}/`;
  log(`starting the server: node ${path.relative(ROOT, SERVER_MAIN)}`);
  const server = startServer(env);
  void announceWhenReady(port, baseUrl, server.child).then((healthy) => healthy && deployBots(port, adminClient));
  const code = await server.exited;
  if (!stopping) {
    log(`the server exited with code ${code}`);
  }
  // Stopped on request: a clean exit, or death by the signal we passed on, is a success.
  return stopping && (code === 0 || code > 128) ? 0 : code;
}

main()
  .catch((err) => {
    if (!stopping) {
      log(err instanceof UserFacingError ? err.message : (err?.stack ?? String(err)));
    }
    return stopping ? 130 : 1;
  })
  .then(async (code) => {
    await runCleanups();
    process.exit(code);
  });
