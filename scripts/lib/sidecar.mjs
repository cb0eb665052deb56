#!/usr/bin/env node
// Runs one local service for scripts/start.mjs: `node sidecar.mjs postgres|redis '<options json>'`.
//
// start.mjs spawns this in its own process group, so a Ctrl-C in the terminal does not reach the
// database before the API server has drained. It reports { url, description } (or { error }) over
// IPC, and stops the service on SIGTERM/SIGINT or when start.mjs goes away (the IPC channel
// closes), so no PostgreSQL or Redis outlives `npm start`, even when it is killed.
import { startEmbeddedPostgres, startRedis } from './services.mjs';

const starters = { postgres: startEmbeddedPostgres, redis: startRedis };
const [kind, optionsJson] = process.argv.slice(2);

let service = null;
let stopRequested = false;

async function stop() {
  stopRequested = true;
  if (!service) {
    return; // still starting: main() stops it as soon as it is up
  }
  const current = service;
  service = null;
  try {
    await current.stop();
  } finally {
    process.exit(0);
  }
}

async function main() {
  const start = starters[kind];
  if (!start || !process.send) {
    throw new Error('usage: node sidecar.mjs postgres|redis <options-json> (spawned with an IPC channel)');
  }
  for (const event of ['SIGTERM', 'SIGINT', 'disconnect']) {
    process.on(event, stop);
  }
  service = await start(JSON.parse(optionsJson ?? '{}'));
  if (stopRequested) {
    await stop();
    return;
  }
  process.send({ url: service.url, description: service.description });
}

main().catch((err) => {
  if (process.connected) {
    process.send({ error: err.message }, () => process.exit(1));
  } else {
    console.error(`tiba: ${err.message}`);
    process.exit(1);
  }
});
