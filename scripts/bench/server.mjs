// The system under test: a throwaway database on the benchmark PostgreSQL, the built server as a
// child process on a free 127.0.0.1 port, and an access token for it.
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The URL of database `name` on the server of `serverUrl` (whose own path is ignored). */
export function databaseUrl(serverUrl, name) {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function adminQuery(serverUrl, sql) {
  const client = new pg.Client({ connectionString: databaseUrl(serverUrl, 'postgres'), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function createDatabase(serverUrl, name) {
  await adminQuery(serverUrl, `CREATE DATABASE "${name}"`);
}

export async function dropDatabase(serverUrl, name) {
  await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

export async function postgresVersion(serverUrl) {
  const { rows } = await adminQuery(serverUrl, 'SHOW server_version');
  return rows[0].server_version;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `node dist/main.js` of packages/server (as `npm run server` does), listening on
 * 127.0.0.1:`port`, with its output in `logFile`. `child.exited` resolves when it exits.
 */
export function spawnServer({ root, env, port, logFile }) {
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: path.join(root, 'packages', 'server'),
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return child;
}

/**
 * Resolves once GET /readyz answers 200 (PostgreSQL, Redis, definitions and the GraphQL schema
 * ready: no phase shares the machine with the schema build); rejects when the process exits or
 * time runs out.
 */
export async function waitReady(child, port, timeoutMs) {
  let gone = null;
  child.exited.then((how) => {
    gone = how;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) {
      throw new Error(`server exited (code ${gone.code}, signal ${gone.signal}) before it was ready`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) {
        return;
      }
    } catch {
      // not listening yet
    }
    await sleep(500);
  }
  throw new Error(`server not ready within ${timeoutMs / 1000} s`);
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopServer(child, graceMs = 15_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** The last `lines` lines of a file, for error messages. */
export function tail(file, lines = 30) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export async function getToken(baseUrl, clientId, clientSecret) {
  const res = await fetch(new URL('oauth2/token', baseUrl), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`POST /oauth2/token answered ${res.status}: ${text.slice(0, 300)}`);
  }
  return JSON.parse(text).access_token;
}
