import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { freePort } from '../test/free-port.js';
import { createDatabase, dropDatabase, randomDatabaseName } from '../test/test-database.js';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET } from '../test/test-server.js';
import { TestReceiver } from './receiver.fixtures.js';

/*
 * The server and the worker run as child processes (the sources transpiled file by file, laid
 * out as dist/ is), so that the test can SIGKILL one right after its writes commit.
 */
const SERVER_DIR = fileURLToPath(new URL('../..', import.meta.url));
const REPO_NODE_MODULES = path.resolve(SERVER_DIR, '../../node_modules');
let buildRoot: string;
let buildDir: string;
let databaseName: string;
let databaseUrl: string;
let receiver: TestReceiver;
const children: ChildProcess[] = [];

/** The files under `dir` whose names end with `suffix`, tests left out. */
function listFiles(dir: string, suffix: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      return listFiles(full, suffix);
    }
    return entry.name.endsWith(suffix) && !entry.name.endsWith(`.test${suffix}`) ? [full] : [];
  });
}

beforeAll(async () => {
  buildRoot = mkdtempSync(path.join(tmpdir(), 'tiba-crash-'));
  const serverDir = path.join(buildRoot, 'server');
  buildDir = path.join(serverDir, 'build');
  mkdirSync(serverDir, { recursive: true });
  // The paths the code resolves relative to its own files (package.json, migrations, bot runner, packages).
  symlinkSync(path.join(SERVER_DIR, 'package.json'), path.join(serverDir, 'package.json'));
  symlinkSync(path.join(SERVER_DIR, 'migrations'), path.join(serverDir, 'migrations'));
  symlinkSync(path.join(SERVER_DIR, 'src'), path.join(serverDir, 'src'));
  symlinkSync(REPO_NODE_MODULES, path.join(buildRoot, 'node_modules'));
  await build({
    entryPoints: listFiles(path.join(SERVER_DIR, 'src'), '.ts'),
    outdir: buildDir,
    outbase: path.join(SERVER_DIR, 'src'),
    format: 'esm',
    platform: 'node',
    target: 'node24',
    logLevel: 'silent',
  });
  // As the real build does: CommonJS files (bot runner, address check) are copied beside the output.
  for (const file of listFiles(path.join(SERVER_DIR, 'src'), '.cjs')) {
    const target = path.join(buildDir, path.relative(path.join(SERVER_DIR, 'src'), file));
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(file, target);
  }
  databaseName = randomDatabaseName();
  databaseUrl = await createDatabase(databaseName, inject('templateDatabase'));
  receiver = await TestReceiver.start();
});

afterAll(async () => {
  for (const child of children) {
    child.kill('SIGKILL');
  }
  await receiver?.stop();
  if (databaseName) {
    await dropDatabase(databaseName);
  }
  if (buildRoot) {
    rmSync(buildRoot, { recursive: true, force: true });
  }
});

function startChild(entry: 'main.js' | 'worker.js', env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [path.join(buildDir, entry)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (chunk) => process.stderr.write(chunk));
  children.push(child);
  return child;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('a server killed with SIGKILL with its writes committed and a delivery in flight: all arrive after a restart', {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    BASE_URL: `${base}/`,
    ADMIN_CLIENT_ID: TEST_CLIENT_ID,
    ADMIN_CLIENT_SECRET: TEST_CLIENT_SECRET,
    ADMIN_PASSWORD: 'test-admin-password',
    REDIS_KEY_PREFIX: `${databaseName}:`,
    LOG_LEVEL: 'error',
    DATABASE_POOL_SIZE: '6',
    REST_HOOK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}`,
  };
  const server = startChild('main.js', env);
  await waitUntil(async () => (await fetch(`${base}/healthcheck`)).ok, 60_000, 'the server to start');
  const tokenResponse = await fetch(`${base}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `grant_type=client_credentials&client_id=${TEST_CLIENT_ID}&client_secret=${TEST_CLIENT_SECRET}`,
  });
  const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
  const post = async (resource: object) => {
    const res = await fetch(`${base}/fhir/R4/${(resource as { resourceType: string }).resourceType}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(resource),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string };
  };
  await post({
    resourceType: 'Subscription',
    status: 'active',
    reason: 'crash test',
    criteria: 'Patient',
    channel: { type: 'rest-hook', endpoint: receiver.url() },
  });

  // Deliveries hang until the kill: the server dies holding jobs in flight (active, locked).
  receiver.respond = () => 'hang';
  const patients = await Promise.all(
    Array.from({ length: 30 }, (_, i) => post({ resourceType: 'Patient', name: [{ family: `Crash${i}` }] }))
  );
  // Every write has committed (its 201 came back): kill the server once a delivery is in flight.
  await receiver.waitFor(() => receiver.received.length > 0, 30_000, 'a delivery in flight');
  server.kill('SIGKILL');
  await new Promise((resolve) => server.once('exit', resolve));
  const inFlight = new Set(receiver.received.map((r) => JSON.parse(r.body).id));
  console.log(`in flight (never answered) at SIGKILL: ${inFlight.size} of ${patients.length}`);

  // A separate worker process (npm run worker) takes over the outbox and the queue: the jobs the
  // dead server held come back once their locks expire (BullMQ's stalled-job check).
  const answered = new Set<string>();
  receiver.respond = (request) => {
    answered.add(JSON.parse(request.body).id);
    return 200;
  };
  const worker = startChild('worker.js', env);
  const wanted = patients.map((p) => p.id);
  await receiver.waitFor(
    () => wanted.every((id) => answered.has(id)),
    60_000,
    'every Patient to be delivered after the restart'
  );
  worker.kill('SIGTERM');
  await new Promise((resolve) => worker.once('exit', resolve));
});
