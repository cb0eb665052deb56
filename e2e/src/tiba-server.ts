import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createDatabase, dropDatabase, randomDatabaseName } from '../../packages/server/src/test/test-database.js';

const SERVER_MAIN = fileURLToPath(new URL('../../packages/server/dist/main.js', import.meta.url));
export const APP_DIST_DIR = fileURLToPath(new URL('../../packages/app/dist', import.meta.url));
/** Long enough for migrations and the R4 definitions on a fresh database on a busy machine. */
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;
/** Starts tried when the chosen port is taken by someone else meanwhile. */
const START_ATTEMPTS = 3;
/** Server output kept to explain a failure. */
const LOG_TAIL_LINES = 200;

export interface TibaProcess {
  /** http://127.0.0.1:<port>/ */
  baseUrl: string;
  adminEmail: string;
  adminPassword: string;
  /** The default project's admin client (client_credentials), e.g. for deploying bots. */
  adminClientId: string;
  adminClientSecret: string;
  /** The server's last output lines. */
  logTail(): string;
  stop(): Promise<void>;
}

/**
 * The built server (`packages/server/dist/main.js`, what `npm start` runs) as a child process
 * on a new, empty database, serving the built web app (unless `app: false`). Resolves once
 * /healthcheck answers.
 */
export async function startTibaServer({
  app = true,
  env = {},
}: {
  app?: boolean;
  /** More settings for the server (e.g. TWILIO_STAND_IN). */
  env?: Record<string, string>;
} = {}): Promise<TibaProcess> {
  for (const [file, build] of [
    [SERVER_MAIN, '@tiba/server'],
    ...(app ? [[`${APP_DIST_DIR}/index.html`, '@tiba/app']] : []),
  ]) {
    if (!existsSync(file)) {
      throw new Error(`${file} is missing: build first (npm run build -w ${build}, or npm test)`);
    }
  }
  const databaseName = randomDatabaseName('tiba_test_e2e');
  const databaseUrl = await createDatabase(databaseName);
  const credentials = {
    adminEmail: 'admin@e2e.example.com',
    adminPassword: `e2e-${randomBytes(9).toString('base64url')}`,
    adminClientId: `e2e-admin-${randomBytes(6).toString('hex')}`,
    adminClientSecret: randomBytes(24).toString('hex'),
  };
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const started = await spawnServer({ app, env, databaseUrl, ...credentials });
        const stop = async () => {
          await started.stop();
          await dropDatabase(databaseName);
        };
        return { ...credentials, baseUrl: started.baseUrl, logTail: started.logTail, stop };
      } catch (err) {
        // The free port was taken while migrations ran (other tests listen too): pick another.
        if (!(err instanceof PortTakenError) || attempt >= START_ATTEMPTS) {
          throw err;
        }
      }
    }
  } catch (err) {
    await dropDatabase(databaseName);
    throw err;
  }
}

class PortTakenError extends Error {}

interface SpawnOptions {
  app: boolean;
  env: Record<string, string>;
  databaseUrl: string;
  adminEmail: string;
  adminPassword: string;
  adminClientId: string;
  adminClientSecret: string;
}

async function spawnServer(options: SpawnOptions): Promise<Pick<TibaProcess, 'baseUrl' | 'logTail' | 'stop'>> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}/`;
  const output: string[] = [];
  const child = spawn(process.execPath, [SERVER_MAIN], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: options.databaseUrl,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      // Throttles and rate limits of this run only, whatever else uses this Redis.
      REDIS_KEY_PREFIX: `tiba-e2e-${randomBytes(6).toString('hex')}:`,
      HOST: '127.0.0.1',
      PORT: String(port),
      BASE_URL: baseUrl,
      ADMIN_EMAIL: options.adminEmail,
      ADMIN_PASSWORD: options.adminPassword,
      ADMIN_CLIENT_ID: options.adminClientId,
      ADMIN_CLIENT_SECRET: options.adminClientSecret,
      ...(options.app ? { APP_DIST_DIR } : undefined),
      LOG_LEVEL: process.env.E2E_SERVER_LOG_LEVEL ?? 'warn',
      ...options.env,
    },
    // The IPC channel carries the server's "listening" message (main.ts).
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      output.push(...chunk.split('\n').filter(Boolean));
      output.splice(0, Math.max(0, output.length - LOG_TAIL_LINES));
    });
  }
  // 'close', not 'exit': by then its last output (an EADDRINUSE, say) has been read.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  // Never outlive the test process, even when it dies without running its afterAll.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const logTail = () => output.join('\n');
  const stop = async () => {
    await stopChild(child, exited);
    process.removeListener('exit', killOnExit);
  };
  try {
    await waitUntilListening(child, exited);
    await waitUntilHealthy(baseUrl, child);
  } catch (err) {
    await stop();
    if (output.some((line) => line.includes('EADDRINUSE'))) {
      throw new PortTakenError(`port ${port} was taken before the server could listen`);
    }
    throw new Error(`${(err as Error).message}\n--- server output ---\n${logTail()}`);
  }
  return { baseUrl, logTail, stop };
}

/**
 * Resolves when the child itself reports that it listens. Polling the port alone is not proof: in
 * the minute migrations take, another test's server may listen on it and answer in its place.
 */
async function waitUntilListening(child: ChildProcess, exited: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const listening = new Promise<void>((resolve) => {
    child.on('message', (message: unknown) => {
      if ((message as { event?: string } | null)?.event === 'listening') {
        resolve();
      }
    });
  });
  const failed = Promise.race([
    exited.then(() => {
      throw new Error(`The server exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    }),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`The server did not listen within ${START_TIMEOUT_MS / 1000} s`)),
        START_TIMEOUT_MS
      );
    }),
  ]);
  // Once listening, a later exit is stop()'s business, not a start-up failure.
  failed.catch(() => undefined);
  try {
    await Promise.race([listening, failed]);
  } finally {
    clearTimeout(timer);
  }
}

/** A port nobody listens on right now (the OS picks it). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))
      );
    });
  });
}

async function waitUntilHealthy(baseUrl: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`The server exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    }
    const healthy = await fetch(new URL('healthcheck', baseUrl), { signal: AbortSignal.timeout(2000) }).then(
      (res) => res.ok,
      () => false
    );
    if (healthy) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`The server did not answer /healthcheck within ${START_TIMEOUT_MS / 1000} s`);
}

/** SIGTERM (the server drains and exits), SIGKILL if it does not. */
async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
