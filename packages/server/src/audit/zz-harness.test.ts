import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, inject, test } from 'vitest';
import { loadFhirDefinitions } from '../fhir/definitions.js';
import { createPool, type Pool } from '../infra/postgres.js';
import { createDatabase, dropDatabase, randomDatabaseName } from '../test/test-database.js';
import { restAuditEvent } from './audit-event.js';
import { type PendingAuditEvent, writeAuditEvents } from './write-audit-events.js';

const PROJECT = '0b7e5f4c-5a52-4c8e-9d4f-2b8f1f9f3a10';
const name = randomDatabaseName();
let pool: Pool;
beforeAll(async () => {
  loadFhirDefinitions();
  const url = await createDatabase(name, inject('templateDatabase'));
  pool = createPool(url, 1);
});
afterAll(async () => {
  await pool?.end();
  await dropDatabase(name);
});

function pgCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}
const observer = { display: 'http://127.0.0.1:8103/' };
function events(n: number): PendingAuditEvent[] {
  const out: PendingAuditEvent[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      projectId: PROJECT,
      event: restAuditEvent(observer, {
        interaction: 'read',
        caller: { profile: 'ClientApplication/0b9f3b9e-8d1c-4f0e-9b7a-2c3d4e5f6a7b', clientId: '0b9f3b9e-8d1c-4f0e-9b7a-2c3d4e5f6a7b', ip: '127.0.0.1' },
        what: `Patient/${crypto.randomUUID()}`,
        status: 200,
        recorded: new Date().toISOString(),
      }),
    });
  }
  return out;
}

test('harness', async () => {
  const { rows } = await pool.query('SELECT pg_backend_pid() AS pid');
  const pid = rows[0].pid as number;
  const BATCH = Number(process.env.H_BATCH ?? 500);
  // warm up: 20k events
  for (let i = 0; i < 40; i++) await writeAuditEvents(pool, events(500));
  for (let round = 0; round < 3; round++) {
    const N = 20000;
    const all = events(N);
    const cpu0 = process.cpuUsage();
    const pg0 = pgCpuMs(pid);
    const t0 = performance.now();
    for (let i = 0; i < N; i += BATCH) await writeAuditEvents(pool, all.slice(i, i + BATCH));
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const pgms = pgCpuMs(pid) - pg0;
    console.log(`batch ${BATCH}: node ${(((cpu.user + cpu.system) / 1000) / N).toFixed(4)} ms/ev, pg ${(pgms / N).toFixed(4)} ms/ev, wall ${(wall / N).toFixed(4)} ms/ev`);
  }
}, 300_000);
