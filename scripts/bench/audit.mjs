// The cost of audit: the bench's main server records AuditEvents (the default); a second server
// on the same database runs with AUDIT_ENABLED=false, and the create, read and token-search
// phases run on it too, each right after the audited one. Between phases the audited server's
// AuditEvent queue is left to drain (its /metrics), so that its writes are not charged to the
// next phase. BENCH_AUDIT_COMPARE=0 skips the comparison.
import { formatCpu } from './cpu.mjs';

export const AUDIT_COMPARED = [
  ['create', 'Create Patient'],
  ['read', 'Read Patient by id'],
  ['token', 'Search identifier (token)'],
];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The audit figures of a server's /metrics: queue length, events written and dropped. */
export async function auditMetrics(origin) {
  const res = await fetch(`${origin}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const value = (pattern) => {
    let sum = 0;
    for (const match of text.matchAll(pattern)) {
      sum += Number(match[1]);
    }
    return sum;
  };
  return {
    queued: value(/^tiba_audit_queue_length (\S+)$/gm),
    written: value(/^tiba_audit_events_written_total (\S+)$/gm),
    dropped: value(/^tiba_audit_events_dropped_total\{[^}]*\} (\S+)$/gm),
  };
}

/** Waits until the server's AuditEvent queue is empty; returns how long that took and its counters. */
export async function waitAuditDrained(origin, timeoutMs = 120_000) {
  const started = performance.now();
  let metrics = await auditMetrics(origin);
  const backlog = metrics.queued;
  while (metrics.queued > 0 && performance.now() - started < timeoutMs) {
    await sleep(200);
    metrics = await auditMetrics(origin);
  }
  return { ...metrics, backlog, drainMs: performance.now() - started };
}

const int = (x) => Math.round(x).toLocaleString('en-US');
const ms = (x) => (x == null ? '' : `${x < 10 ? x.toFixed(1) : int(x)} ms`);
/** Milliseconds of CPU per operation, from cores used and operations per second. */
const cpuMs = (cores, rate) => (cores == null || !rate ? 'n/a' : ((cores / rate) * 1000).toFixed(2));

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** `audited` and `unaudited` are the phase results by key; `drains` the queue state after each audited phase. */
export function auditCostMarkdown(audited, unaudited, drains) {
  const rows = AUDIT_COMPARED.filter(([key]) => audited[key] && unaudited[key]).map(([key, label]) => {
    const on = audited[key];
    const off = unaudited[key];
    const drain = drains[key];
    return [
      label,
      `${int(on.rate)}/s`,
      `${int(off.rate)}/s`,
      `${(((on.rate - off.rate) / off.rate) * 100).toFixed(1)} %`,
      `${ms(on.p99)} / ${ms(off.p99)}`,
      `${cpuMs(on.cpu?.server, on.rate)} / ${cpuMs(off.cpu?.server, off.rate)}`,
      `${cpuMs(on.cpu?.postgres, on.rate)} / ${cpuMs(off.cpu?.postgres, off.rate)}`,
      drain ? `${int(drain.backlog)} (${(drain.drainMs / 1000).toFixed(1)} s)` : 'n/a',
    ];
  });
  if (rows.length === 0) {
    return '';
  }
  const dropped = Math.max(0, ...Object.values(drains).map((d) => d.dropped));
  return [
    'Cost of audit (an AuditEvent per create, read and search, written in batches off the request path): the same phase on the audited server and on a second server with `AUDIT_ENABLED=false`, on the same database, one right after the other. CPU in ms per operation, measured per process (the audit writes run on the audited server’s own PostgreSQL connection, so they count in its phase); "backlog" is the audit queue when the audited phase ended, and how long it took to drain (not counted in the phase):',
    '',
    table(
      [
        'Operation',
        'audited',
        'not audited',
        'change',
        'p99 on / off',
        'server CPU on / off',
        'PostgreSQL CPU on / off',
        'backlog (drain)',
      ],
      rows
    ),
    '',
    `AuditEvents dropped by the audited server (queue overflow or failed writes): ${int(dropped)}.`,
    '',
  ].join('\n');
}

export function describePhase(r) {
  return `${Math.round(r.rate)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, errors ${r.errors}; CPU ${formatCpu(r.cpu)}`;
}

/** Reads per second offered in the fixed-load comparison: well below what either server sustains. */
export const FIXED_READ_RATE = Number(process.env.BENCH_FIXED_RATE || 1000);

/** Latency of the same fixed load of reads, audited and not: what audit adds to a request when the machine is not saturated. */
export function auditLatencyMarkdown(audited, unaudited) {
  if (!audited || !unaudited) {
    return '';
  }
  const row = (label, r) => [
    label,
    `${int(r.rate)}/s`,
    ms(r.p50),
    ms(r.p99),
    r.errors,
    cpuMs(r.cpu?.server, r.rate),
    cpuMs(r.cpu?.postgres, r.rate),
  ];
  return [
    `Latency of audit at a fixed load: ${int(FIXED_READ_RATE)} reads by id per second offered (\`BENCH_FIXED_RATE\`) to each server, the machine not saturated:`,
    '',
    table(
      ['Read Patient by id', 'served', 'p50', 'p99', 'errors', 'server CPU ms/op', 'PostgreSQL CPU ms/op'],
      [row('audited', audited), row('not audited', unaudited)]
    ),
    '',
  ].join('\n');
}
