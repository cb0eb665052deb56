import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { loadConfig } from '../config.js';
import { createServer, type TibaServer } from '../server.js';
import { createDatabase, dropDatabase, randomDatabaseName } from '../test/test-database.js';

let name: string;
let server: TibaServer | undefined;
beforeAll(async () => {
  name = randomDatabaseName();
  const url = await createDatabase(name, inject('templateDatabase'));
  const config = loadConfig({
    DATABASE_URL: url,
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_PASSWORD: 'health-test-password',
    ADMIN_CLIENT_ID: 'health-test-client',
    ADMIN_CLIENT_SECRET: 'health-test-secret',
    REDIS_KEY_PREFIX: `${name}:`,
    LOG_LEVEL: 'silent',
  });
  server = await createServer(config, { logger: false, warmUp: true });
});
afterAll(async () => {
  await server?.close();
  await dropDatabase(name);
});

async function timedGet(url: string): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
  const started = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body, ms: performance.now() - started };
}

test('while the GraphQL schema is built, liveness answers at once and readiness says what it waits for', async () => {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const address = await server!.listen();
  const liveness: number[] = [];
  const readiness: { status: number; body: Record<string, unknown> }[] = [];
  const deadline = Date.now() + 90_000;
  while (readiness.at(-1)?.status !== 200 && Date.now() < deadline) {
    const live = await timedGet(`${address}/healthcheck`);
    expect(live.status).toBe(200);
    liveness.push(live.ms);
    const ready = await timedGet(`${address}/readyz`);
    readiness.push(ready);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  delay.disable();

  // It was not ready at first (the schema takes seconds), then it was.
  expect(readiness[0]).toMatchObject({
    status: 503,
    body: { ready: false, notReady: ['graphql'], postgres: true, redis: true, definitions: true, graphql: 'building' },
  });
  expect(readiness.at(-1)).toMatchObject({ status: 200, body: { ready: true, graphql: true } });
  expect(readiness.filter((r) => r.status === 503).length).toBeGreaterThan(5);
  // Built on the event loop, the schema held every answer for 3–7 s. Alone, the longest stall here
  // is ~40–60 ms; next to another test file on 2 cores, one major GC of this process (vitest and
  // the server share its heap) took up to ~420 ms, hence the margin.
  expect(Math.max(...liveness)).toBeLessThan(1000);
  expect(delay.max / 1e6).toBeLessThan(1000);

  // The schema it waited for answers queries.
  const token = await fetch(`${address}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=health-test-client&client_secret=health-test-secret',
  }).then((res) => res.json() as Promise<{ access_token: string }>);
  const graphql = await fetch(`${address}/fhir/R4/$graphql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ StructureDefinitionList(name: "Patient") { name } }' }),
  });
  expect(graphql.status).toBe(200);
  expect(await graphql.json()).toEqual({ data: { StructureDefinitionList: [{ name: 'Patient' }] } });
}, 120_000);
