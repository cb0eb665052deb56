/**
 * `npm run fuzz`: hostile requests against a running Tiba over real HTTP (keep-alive
 * connections), for FUZZ_MINUTES (default 60). Reports every 5xx, leaked detail, FHIR error
 * without an OperationOutcome, connection reset and timeout, and exits 1 if there was any.
 *
 * BASE_URL (default http://localhost:8103/), ADMIN_CLIENT_ID / ADMIN_CLIENT_SECRET (default:
 * the client `npm start` keeps in .data/admin-client.json), FUZZ_SEED (default: random, printed),
 * FUZZ_CONCURRENCY (default 4), FUZZ_TIMEOUT_MS per request (default 30000).
 */
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { answerProblems, describeRequest } from './answer-check.js';
import { createFuzzTargets, type FuzzTargets, type HostileRequest, hostileRequests } from './hostile-requests.js';
import { sendOverHttp } from './http-sender.js';

const env = process.env;
const baseUrl = (env.BASE_URL ?? 'http://localhost:8103/').replace(/\/?$/, '/');
const minutes = Number(env.FUZZ_MINUTES ?? 60);
const seed = Number(env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const concurrency = Number(env.FUZZ_CONCURRENCY ?? 4);
const timeoutMs = Number(env.FUZZ_TIMEOUT_MS ?? 30_000);
/** Tokens live an hour by default; a long run takes a fresh one well before. */
const TOKEN_REFRESH_MS = 20 * 60_000;

/** Answers by status, printed at the end: shows how much reached past the edge. */
const statusCounts = new Map<number, number>();

interface Finding {
  problem: string;
  request: string;
  answer?: string;
}

function credentials(): { clientId: string; clientSecret: string } {
  if (env.ADMIN_CLIENT_ID && env.ADMIN_CLIENT_SECRET) {
    return { clientId: env.ADMIN_CLIENT_ID, clientSecret: env.ADMIN_CLIENT_SECRET };
  }
  const file = new URL('../../../../.data/admin-client.json', import.meta.url);
  if (existsSync(file)) {
    return JSON.parse(readFileSync(file, 'utf8'));
  }
  throw new Error('Set ADMIN_CLIENT_ID and ADMIN_CLIENT_SECRET (or start the server with npm start)');
}

async function fetchToken(): Promise<string> {
  const { clientId, clientSecret } = credentials();
  const res = await fetch(`${baseUrl}oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) {
    throw new Error(`Could not get a token from ${baseUrl}: ${res.status} ${JSON.stringify(body)}`);
  }
  return body.access_token;
}

async function createTargets(token: string): Promise<FuzzTargets> {
  const create = async (resource: { resourceType: string }) => {
    const res = await fetch(`${baseUrl}fhir/R4/${resource.resourceType}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(resource),
    });
    return ((await res.json()) as { id: string }).id;
  };
  return createFuzzTargets(create);
}

/** One request: its problems, or the transport failure (reset, timeout) it met. */
/** Whether the run's token still opens the FHIR API. */
async function tokenWorks(token: string): Promise<boolean> {
  const res = await fetch(`${baseUrl}fhir/R4/Patient?_count=1`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(timeoutMs),
  }).catch(() => undefined);
  await res?.body?.cancel();
  return res?.status !== 401;
}

async function probe(request: HostileRequest, token: string): Promise<Finding[]> {
  const outcome = await sendOverHttp(baseUrl, request, token, timeoutMs);
  if ('notSent' in outcome) {
    return [];
  }
  if ('failure' in outcome) {
    return [{ problem: `transport: ${outcome.failure}`, request: describeRequest(request, 8000) }];
  }
  const { answer } = outcome;
  statusCounts.set(answer.status, (statusCounts.get(answer.status) ?? 0) + 1);
  return answerProblems(request, answer).map((problem) => ({
    problem,
    request: describeRequest(request, 8000),
    answer: answer.body.slice(0, 300),
  }));
}

async function main(): Promise<void> {
  let token = await fetchToken();
  let tokenAt = Date.now();
  const targets = await createTargets(token);
  const requests = hostileRequests(targets);
  const deadline = Date.now() + minutes * 60_000;
  const findings: Finding[] = [];
  let sent = 0;
  let batchSeed = seed;
  let renewals = 0;
  console.log(`fuzz: ${baseUrl}, ${minutes} min, seed ${seed}, ${concurrency} at a time`);
  while (Date.now() < deadline) {
    // A generated POST /oauth2/logout carries the run's token and ends its session; without a new
    // one the rest of the run would only test the 401 path.
    if (Date.now() - tokenAt > TOKEN_REFRESH_MS || !(await tokenWorks(token))) {
      token = await fetchToken();
      tokenAt = Date.now();
      renewals++;
    }
    let batch: HostileRequest[];
    try {
      batch = fc.sample(requests, { seed: batchSeed++, numRuns: 200 });
    } catch (err) {
      // A generated value this tool cannot handle is the tool's problem, not the server's: skip the batch.
      console.log(`fuzz: generator error (seed ${batchSeed - 1}): ${(err as Error)?.message}`);
      continue;
    }
    for (let i = 0; i < batch.length; i += concurrency) {
      const results = await Promise.all(
        batch.slice(i, i + concurrency).map((r) =>
          probe(r, token).catch((err) => {
            console.log(`fuzz: tool error on one request: ${(err as Error)?.message}`);
            return [];
          })
        )
      );
      for (const found of results.flat()) {
        findings.push(found);
        console.log(`FOUND ${found.problem}: ${found.request}${found.answer ? ` → ${found.answer}` : ''}`);
      }
      sent += results.length;
    }
    const health = await fetch(`${baseUrl}healthcheck`, { signal: AbortSignal.timeout(timeoutMs) }).catch(
      () => undefined
    );
    if (health?.status !== 200) {
      findings.push({ problem: `healthcheck ${health?.status ?? 'unreachable'}`, request: 'GET /healthcheck' });
      console.log(`FOUND healthcheck ${health?.status ?? 'unreachable'} after ${sent} requests`);
    }
    process.stdout.write(`fuzz: ${sent} requests, ${findings.length} findings\r`);
  }
  const byStatus = [...statusCounts].sort(([a], [b]) => a - b).map(([status, n]) => `${status}×${n}`);
  console.log(`\nfuzz: ${sent} requests in ${minutes} min (seed ${seed}), ${findings.length} findings`);
  console.log(`fuzz: answers ${byStatus.join(' ')}; token renewed ${renewals} times (generated sign-outs, expiry)`);
  process.exit(findings.length ? 1 : 0);
}

main().catch((err) => {
  console.error(`fuzz: ${(err as Error).message}`);
  process.exit(2);
});
