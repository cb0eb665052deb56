import { afterAll, beforeAll, expect, test } from 'vitest';
import { createPool, type Pool } from '../infra/postgres.js';
import { TestMembers } from '../test/members.js';
import { startTestServer, type TestServer } from '../test/test-server.js';

let server: TestServer;
let members: TestMembers;
let pool: Pool;

beforeAll(async () => {
  server = await startTestServer();
  members = await TestMembers.open(server);
  pool = createPool(server.config.databaseUrl, 1);
});

afterAll(async () => {
  await pool?.end();
  await members?.close();
  await server?.close();
});

async function medianWriteMs(writes: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < writes; i++) {
    const started = performance.now();
    const res = await server.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      payload: { resourceType: 'Patient', name: [{ family: `Latency${i}`, given: ['Test'] }], gender: 'female' },
    });
    times.push(performance.now() - started);
    expect(res.statusCode).toBe(201);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function waitForEmptyOutbox(): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM subscription_outbox');
    if (rows[0].n === '0') {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('The outbox did not drain');
}

test('1,000 Subscriptions on other resource types add < 2 ms to a write', { timeout: 120_000 }, async () => {
  await medianWriteMs(50); // warm-up: prepared statements, JIT
  const without = await medianWriteMs(200);
  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        members.create({
          resourceType: 'Subscription',
          status: 'active',
          reason: 'unrelated',
          criteria: `Observation?code=http://loinc.org|${i + j}`,
          channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/never' },
        })
      )
    );
  }
  await waitForEmptyOutbox();
  const withUnrelated = await medianWriteMs(200);
  await waitForEmptyOutbox();
  console.log(
    `median Patient create: ${without.toFixed(2)} ms without, ${withUnrelated.toFixed(2)} ms with 1,000 unrelated Subscriptions`
  );
  expect(withUnrelated - without).toBeLessThan(2);
});
