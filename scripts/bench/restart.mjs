// Restart to ready: the built server started again on the benchmark database (migrated and
// seeded, as after a deploy), timed from the spawn until GET /readyz answers 200. Meanwhile the
// liveness probe is polled, and the event loop's longest stall from listening until ready is
// read from the server's own /metrics (prom-client's monitorEventLoopDelay histogram, which
// each scrape resets: one scrape when it starts answering, one at readiness).
import { freePort, spawnServer, stopServer, tail } from './server.mjs';

export const RESTARTS = Number(process.env.BENCH_RESTARTS || 3);
const POLL_MS = 25;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function timedGet(url) {
  const started = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  return { status: res.status, text, ms: performance.now() - started };
}

async function eventLoopMaxMs(base) {
  const { text } = await timedGet(`${base}/metrics`);
  const seconds = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1];
  return seconds === undefined ? null : Number(seconds) * 1000;
}

/** One start: spawn, poll /healthcheck and /readyz every 25 ms until ready, stop. */
async function restartOnce({ root, env, logFile, timeoutMs }) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawnServer({ root, port, logFile, env: { ...env, BASE_URL: `${base}/` } });
  let gone = null;
  child.exited.then((how) => {
    gone = how;
  });
  const run = { listeningMs: null, readyMs: null, maxLivenessMs: 0, polls: 0, maxStallMs: null };
  try {
    while (run.readyMs === null) {
      if (gone || performance.now() - started > timeoutMs) {
        throw new Error(`${gone ? `server exited (code ${gone.code})` : 'timed out'} before it was ready`);
      }
      const asked = performance.now();
      try {
        const live = await timedGet(`${base}/healthcheck`);
        run.polls++;
        run.maxLivenessMs = Math.max(run.maxLivenessMs, live.ms);
        if (run.listeningMs === null) {
          run.listeningMs = asked - started;
          await eventLoopMaxMs(base); // resets the histogram: what follows is after listening
        }
        if ((await timedGet(`${base}/readyz`)).status === 200) {
          run.readyMs = performance.now() - started;
          run.maxStallMs = await eventLoopMaxMs(base);
        }
      } catch (err) {
        if (run.listeningMs !== null) {
          throw new Error(`liveness failed after listening: ${err.message}`);
        }
        // not listening yet
      }
      await sleep(POLL_MS);
    }
    return run;
  } catch (err) {
    throw new Error(`${err.message}; last lines of ${logFile}:\n${tail(logFile)}`);
  } finally {
    await stopServer(child);
  }
}

/** `RESTARTS` starts of the server with `env` (its database already prepared), one after the other. */
export async function restartBench({ root, env, logFile, say, timeoutMs = 120_000 }) {
  const runs = [];
  for (let i = 0; i < RESTARTS; i++) {
    const run = await restartOnce({ root, env, logFile, timeoutMs });
    say(
      `  restart ${i + 1}: listening ${s(run.listeningMs)}, ready ${s(run.readyMs)}, slowest liveness ${ms(run.maxLivenessMs)}, longest stall ${ms(run.maxStallMs)}`
    );
    runs.push(run);
  }
  return runs;
}

const s = (x) => `${(x / 1000).toFixed(1)} s`;
const ms = (x) => (x == null ? 'n/a' : `${Math.round(x)} ms`);

export function restartMarkdown(runs) {
  if (!runs?.length) {
    return '';
  }
  const rows = runs.map(
    (r, i) =>
      `| ${i + 1} | ${s(r.listeningMs)} | ${s(r.readyMs)} | ${ms(r.maxLivenessMs)} (${r.polls} polls) | ${ms(r.maxStallMs)} |`
  );
  return [
    'Restart to ready: the built server started again on this database (migrated and seeded, as after a deploy), from the spawn until `GET /readyz` answers 200 (PostgreSQL, Redis, definitions, GraphQL schema); `/healthcheck` and `/readyz` polled every 25 ms meanwhile; the longest event-loop stall from listening until ready is the server’s own `nodejs_eventloop_lag_max_seconds`:',
    '',
    '| Start | listening | ready | slowest liveness answer | longest event-loop stall |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
