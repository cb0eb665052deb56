import type { WithId } from '@medplum/core';
import type { Bot, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../test/free-port.js';
import { openServerParts, type ServerParts } from '../test/server-parts.js';
import { startTestServer, type TestServer } from '../test/test-server.js';
import { executeBot } from './execute.js';
import { WarmBotPool } from './warm-pool.js';

let server: TestServer;
let parts: ServerParts;
const pools: WarmBotPool[] = [];

beforeAll(async () => {
  const port = await freePort();
  server = await startTestServer({
    PORT: String(port),
    HOST: '127.0.0.1',
    BASE_URL: `http://127.0.0.1:${port}/`,
    BOT_MEMORY_MB: '64',
  });
  await server.server.listen();
  parts = await openServerParts(server.config);
});

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.close()));
  await parts?.close();
  await server?.close();
});

function newPool(options: { size?: number; idleMs?: number } = {}): WarmBotPool {
  const pool = new WarmBotPool(parts.bots, { size: options.size ?? 4, idleMs: options.idleMs ?? 60_000 });
  pools.push(pool);
  return pool;
}

async function createBot(code: string, bot: Partial<Bot> = {}): Promise<WithId<Bot>> {
  const res = await server.request({
    method: 'POST',
    url: '/fhir/R4/Bot',
    payload: { resourceType: 'Bot', name: 'warm test bot', ...bot },
  });
  expect(res.statusCode, res.body).toBe(201);
  const created = res.json() as WithId<Bot>;
  return deploy(created.id, code);
}

async function deploy(botId: string, code: string): Promise<WithId<Bot>> {
  const res = await server.request({
    method: 'POST',
    url: `/fhir/R4/Bot/${botId}/$deploy`,
    payload: { code, filename: 'index.js' },
  });
  expect(res.statusCode, res.body).toBe(200);
  return parts.bots.systemRepo.readResource<Bot>('Bot', botId);
}

function run(pool: WarmBotPool, bot: WithId<Bot>, input: unknown = {}) {
  return executeBot(parts.bots, { bot, input, contentType: 'application/json', traceId: 'warm-test' }, { warm: pool });
}

const PID_BOT = `exports.handler = async (medplum, event) => {
  console.log('run', event.input.n);
  if (event.input.wait) await new Promise((r) => setTimeout(r, event.input.wait));
  if (event.input.exit) process.exit(3);
  return { pid: process.pid, n: event.input.n };
};`;

describe('warm bot processes', () => {
  test("a bot's runs reuse one process, at once too, each with its own input and log; another bot gets its own", async () => {
    const pool = newPool();
    const a = await createBot(PID_BOT);
    const b = await createBot(PID_BOT);
    const first = await run(pool, a, { n: 0 });
    expect(first.success, first.error).toBe(true);
    const pid = (first.returnValue as { pid: number }).pid;
    const together = await Promise.all(Array.from({ length: 40 }, (_, n) => run(pool, a, { n, wait: 20 })));
    for (const [n, result] of together.entries()) {
      expect(result.returnValue).toEqual({ pid, n });
      expect(result.logs).toBe(`run ${n}\n`);
    }
    const other = await run(pool, b, { n: 1 });
    expect((other.returnValue as { pid: number }).pid).not.toBe(pid);
    expect(pool.size).toBe(2);
  });

  test('new code, a timeout and a crash each end the process; the next run gets a fresh one', async () => {
    const pool = newPool();
    let bot = await createBot(PID_BOT, { timeout: 1 });
    const pidOf = async (input: unknown = {}) => ((await run(pool, bot, input)).returnValue as { pid: number }).pid;
    const first = await pidOf();
    expect(await pidOf()).toBe(first);

    bot = await deploy(bot.id, PID_BOT.replace("'run'", "'ran'"));
    const afterDeploy = await pidOf();
    expect(afterDeploy).not.toBe(first);

    // The bystander starts later, so the slow run's timeout comes first and ends both.
    const slowRun = run(pool, bot, { wait: 5000 });
    await new Promise((r) => setTimeout(r, 500));
    const [slow, bystander] = await Promise.all([slowRun, run(pool, bot, { wait: 3000 })]);
    expect(slow).toMatchObject({ success: false, aborted: true, error: 'Bot timed out after 1 s' });
    expect(bystander).toMatchObject({
      success: false,
      aborted: true,
      error: 'Bot process stopped: another run of this bot timed out',
    });
    const afterTimeout = await pidOf();
    expect(afterTimeout).not.toBe(afterDeploy);

    const crashed = await run(pool, bot, { exit: true });
    expect(crashed).toMatchObject({ success: false, aborted: true });
    expect(await pidOf()).not.toBe(afterTimeout);
  });

  test('the pool is bounded: an idle process makes room, busy ones send a run cold; unused ones are evicted', async () => {
    const pool = newPool({ size: 1, idleMs: 1000 });
    const a = await createBot(PID_BOT);
    const b = await createBot(PID_BOT);
    const aPid = ((await run(pool, a)).returnValue as { pid: number }).pid;
    const bPid = ((await run(pool, b)).returnValue as { pid: number }).pid;
    expect(bPid).not.toBe(aPid);
    expect(pool.size).toBe(1);
    // b is busy: a cannot take its place and runs in a one-run process instead.
    const busy = run(pool, b, { wait: 1500 });
    await new Promise((r) => setTimeout(r, 200));
    const cold = await run(pool, a);
    expect(cold.success, cold.error).toBe(true);
    expect((await busy).returnValue).toMatchObject({ pid: bPid });
    await expect.poll(() => pool.size, { timeout: 5000, interval: 200 }).toBe(0);
  });

  test('a warm process is confined like a cold one and reaches FHIR as the bot', async () => {
    const pool = newPool();
    const patient = await server.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      payload: { resourceType: 'Patient', name: [{ given: ['Neema'] }] },
    });
    const bot = await createBot(`exports.handler = async (medplum, event) => {
      let read = 'allowed';
      try { require('node:fs').readFileSync('/etc/hostname'); } catch (err) { read = err.code; }
      const patient = await medplum.readResource('Patient', event.input.id);
      return { env: Object.keys(process.env).length, read, given: patient.name[0].given[0] };
    };`);
    const id = (patient.json() as Patient).id;
    for (let i = 0; i < 2; i++) {
      const result = await run(pool, bot, { id });
      expect(result.returnValue).toEqual({ env: 0, read: 'ERR_ACCESS_DENIED', given: 'Neema' });
    }
  });
});
