// The FHIR load: autocannon phases for the single-resource operations and a fetch loop for the
// transaction-bundle ingest. Every phase reports throughput, p50/p99 latency (ms), errors
// (non-2xx, socket errors, timeouts), the CPU split of the measured interval and what PostgreSQL
// did per operation (dbstats.mjs).
import autocannon from 'autocannon';
import { startCpu } from './cpu.mjs';
import { MRN_SYSTEM, makePatient, namePrefix } from './patients.mjs';

const FHIR_JSON = 'application/fhir+json';

function headers(token) {
  return { authorization: `Bearer ${token}`, 'content-type': FHIR_JSON, accept: FHIR_JSON };
}

/** Nearest-rank percentile of numbers. */
export function percentile(values, p) {
  if (values.length === 0) {
    return 0;
  }
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * One autocannon phase: an unmeasured warm-up, then `seconds` measured, both with `connections`
 * connections and no pipelining (at most `overallRate` requests/s when given). `requests` is
 * autocannon's request list.
 */
export async function httpPhase(
  name,
  { origin, token, connections, seconds, warmup, serverPid, stats, overallRate },
  requests
) {
  const opts = { url: origin, connections, pipelining: 1, timeout: 10, headers: headers(token), requests };
  if (overallRate) {
    opts.overallRate = overallRate; // a fixed offered load instead of as fast as possible
  }
  if (warmup > 0) {
    await autocannon({ ...opts, duration: warmup });
  }
  const db = await stats.start();
  const cpu = startCpu(serverPid);
  const r = await autocannon({ ...opts, duration: seconds });
  const cpuUsed = cpu();
  const statuses = Object.fromEntries(
    Object.entries(r.statusCodeStats ?? {})
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, { count }]) => [code, count])
  );
  return {
    name,
    unit: 'req/s',
    rate: r.requests.total / r.duration,
    count: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    // autocannon counts timeouts among its errors too.
    errors: r.non2xx + r.errors,
    errorDetail: {
      ...statuses,
      ...(r.errors > r.timeouts ? { socket: r.errors - r.timeouts } : {}),
      ...(r.timeouts ? { timeout: r.timeouts } : {}),
    },
    cpu: cpuUsed,
    db: await db(r.requests.total),
  };
}

/** Create Patient; fills `created` with { id, n } of every patient the server answered 201 for. */
export function createRequests(runTag, created) {
  let n = 0;
  return [
    {
      method: 'POST',
      path: '/fhir/R4/Patient',
      setupRequest: (req) => ({ ...req, body: JSON.stringify(makePatient(runTag, n++)) }),
      onResponse: (status, body) => {
        if (status === 201 && created.length < 200_000) {
          try {
            const patient = JSON.parse(body);
            const mrn = patient.identifier?.find((i) => i.system === MRN_SYSTEM)?.value ?? '';
            created.push({ id: patient.id, n: Number(mrn.split('-').pop()) });
          } catch {
            // not the created Patient: reads and searches use the others
          }
        }
      },
    },
  ];
}

/** GETs of `pathOf(patient)`, cycling over the created patients. */
/** autocannon requests that cycle through `items`, GET `pathOf(item)`. */
export function cycling(created, pathOf) {
  let i = 0;
  return [{ method: 'GET', setupRequest: (req) => ({ ...req, path: pathOf(created[i++ % created.length]) }) }];
}

export const readRequests = (created) => cycling(created, (p) => `/fhir/R4/Patient/${p.id}`);

export const tokenSearchPath = (runTag, p) =>
  `/fhir/R4/Patient?identifier=${encodeURIComponent(`${MRN_SYSTEM}|${runTag}-${p.n}`)}`;
export const tokenSearchRequests = (runTag, created) => cycling(created, (p) => tokenSearchPath(runTag, p));

export const nameSearchPath = (p) => `/fhir/R4/Patient?name=${namePrefix(p.n)}`;
export const nameSearchRequests = (created) => cycling(created, nameSearchPath);

/** GET a search and count the entries it returns (to check a search really finds something). */
export async function countMatches(origin, token, path) {
  const res = await fetch(origin + path, { headers: headers(token), signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`GET ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  }
  return JSON.parse(text).entry?.length ?? 0;
}

/**
 * POSTs every bundle once to [base] with `workers` concurrent requests. A bundle counts as an
 * error unless the answer is 200 with a transaction-response of as many entries.
 */
export async function ingestPhase({ origin, token, workers, serverPid, stats }, bundles) {
  const latencies = [];
  const errorDetail = {};
  let next = 0;
  let resources = 0;
  let errors = 0;
  const fail = (why) => {
    errors++;
    errorDetail[why] = (errorDetail[why] ?? 0) + 1;
  };
  const db = await stats.start();
  const cpu = startCpu(serverPid);
  const started = performance.now();
  const worker = async () => {
    while (next < bundles.length) {
      const bundle = bundles[next++];
      const t0 = performance.now();
      try {
        const res = await fetch(`${origin}/fhir/R4`, {
          method: 'POST',
          headers: headers(token),
          body: bundle.body,
          signal: AbortSignal.timeout(300_000),
        });
        const text = await res.text();
        latencies.push(performance.now() - t0);
        if (res.status !== 200) {
          fail(String(res.status));
          if (errors <= 3) {
            console.error(`bench: ${bundle.name} → ${res.status}: ${text.slice(0, 400)}`);
          }
        } else if (JSON.parse(text).entry?.length !== bundle.entries) {
          fail('entry count');
        } else {
          resources += bundle.entries;
        }
      } catch (err) {
        latencies.push(performance.now() - t0);
        fail(err.name === 'TimeoutError' ? 'timeout' : 'socket');
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpuUsed = cpu();
  return {
    name: 'Transaction ingest',
    unit: 'resources/s',
    rate: resources / seconds,
    count: resources,
    bundles: bundles.length,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
    errorDetail,
    cpu: cpuUsed,
    db: await db(resources),
  };
}
