import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { loadConfig } from './config.js';
import { createServer } from './server.js';
import { createDatabase, dropDatabase, randomDatabaseName } from './test/test-database.js';

let name: string;
let url: string;
beforeAll(async () => {
  name = randomDatabaseName();
  url = await createDatabase(name, inject('templateDatabase'));
});
afterAll(async () => {
  await dropDatabase(name);
});

test('close() lets in-flight requests finish, then refuses new connections and ends the pools', async () => {
  const config = loadConfig({
    DATABASE_URL: url,
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_CLIENT_ID: 'shutdown-client',
    ADMIN_CLIENT_SECRET: 'shutdown-secret',
    LOG_LEVEL: 'silent',
  });
  const server = await createServer(config, { logger: false });
  const address = await server.listen();
  let started = 0;
  server.app.server.on('request', () => {
    started++;
  });
  const token = await fetch(`${address}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=shutdown-client&client_secret=shutdown-secret',
  }).then((r) => r.json() as Promise<{ access_token: string }>);
  const headers = { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/fhir+json' };

  const inFlight = Array.from({ length: 20 }, (_, i) =>
    fetch(`${address}/fhir/R4/Patient`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: `Shutdown${i}` }] }),
    }).then((r) => r.status)
  );
  // Stop once the token request and all 20 creates have reached the server, while most still run.
  while (started < 21) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const closing = server.close();
  const statuses = await Promise.all(inFlight);
  await closing;

  expect(statuses).toEqual(Array(20).fill(201));
  await expect(fetch(`${address}/healthcheck`)).rejects.toThrow();
});
