// The benchmark report: a table on the console and a dated entry in docs/benchmarks.md, whose
// History section keeps every earlier run (latest first). Text outside History is left as is.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

const HISTORY_MARKER = '<!-- bench:history (npm run bench inserts each run below this line, latest first) -->';

/** The figures issue #2 asks for, the matching raw ceiling, and Medplum 5.0.10 on this machine kind. */
const OPERATIONS = [
  { key: 'create', label: 'Create Patient', ceiling: 'insert', rate: 1000, p99: 50, medplum: '418/s, p99 62 ms' },
  { key: 'read', label: 'Read Patient by id', ceiling: 'select', rate: 4000, p99: 50, medplum: '2,204/s, p99 20 ms' },
  { key: 'token', label: 'Search identifier (token)', ceiling: 'select', rate: 2000, p99: 50, medplum: '766/s ¹' },
  { key: 'name', label: 'Search name prefix (string)', ceiling: 'select', rate: null, p99: null, medplum: '766/s ¹' },
  { key: 'ingest', label: 'Transaction ingest', ceiling: 'insert', rate: 2000, p99: null, medplum: '238 resources/s' },
];

const int = (x) => Math.round(x).toLocaleString('en-US');
const ms = (x) => (x == null ? '' : `${x < 10 ? x.toFixed(1) : int(x)} ms`);

export function machineInfo() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const memory = `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`;
  return { model, cores: os.availableParallelism(), memory, kernel: `${os.type()} ${os.release()}` };
}

export function gitCommit(root) {
  try {
    const git = (...args) =>
      execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' (with uncommitted changes)' : ''}`;
  } catch {
    return 'unknown';
  }
}

function verdict(op, r) {
  if (op.rate == null && op.p99 == null) {
    return '—';
  }
  const short = [];
  if (op.rate != null && r.rate < op.rate) {
    short.push('rate');
  }
  if (op.p99 != null && r.p99 > op.p99) {
    short.push('p99');
  }
  return short.length === 0 ? 'pass' : `**short** (${short.join(', ')})`;
}

function target(op) {
  const parts = [];
  if (op.rate != null) {
    parts.push(`≥ ${int(op.rate)}/s`);
  }
  if (op.p99 != null) {
    parts.push(`p99 ≤ ${op.p99} ms`);
  }
  return parts.join(', ') || '—';
}

/** A markdown table whose columns are padded, so it also reads well on a terminal. */
function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function resultsTable(results, raw) {
  const rows = OPERATIONS.map((op) => {
    const r = results[op.key];
    const ceiling = raw[op.ceiling];
    return [
      op.label,
      `${int(r.rate)} ${r.unit}`,
      ms(r.p50),
      ms(r.p99),
      r.errors,
      `${op.ceiling} ${int(ceiling.tps)} tps`,
      `${((r.rate / ceiling.tps) * 100).toFixed(1)} %`,
      target(op),
      verdict(op, r),
      op.medplum,
    ];
  });
  for (const [name, label, medplum] of [
    ['insert', `Raw PostgreSQL: ${(raw.bytes / 1000).toFixed(1)} KB JSONB row insert`, '13,428 tps'],
    ['select', 'Raw PostgreSQL: primary-key select', '43,943 tps'],
  ]) {
    rows.push([label, `${int(raw[name].tps)} tps`, `avg ${ms(raw[name].avgMs)}`, '', '', '', '', '', '', medplum]);
  }
  const header = ['Operation', 'Throughput', 'p50', 'p99', 'Errors', 'Raw ceiling', 'Ratio', 'Target', 'Result'];
  return table([...header, 'Medplum 5.0.10 (same machine kind)'], rows);
}

export function cpuTable(results, raw) {
  const phases = [
    ...OPERATIONS.map((op) => [op.label, results[op.key].cpu]),
    ['pgbench insert', raw.insert.cpu],
    ['pgbench select', raw.select.cpu],
  ];
  const header = ['Phase', 'server', 'load gen', 'PostgreSQL', 'Redis', 'other', 'idle'];
  const f = (x) => (x == null ? 'n/a' : x.toFixed(2));
  return table(
    header,
    phases.map(([name, c]) => [name, f(c?.server), f(c?.load), f(c?.postgres), f(c?.redis), f(c?.other), f(c?.idle)])
  );
}

export function dbTable(results) {
  const header = [
    'Phase',
    'per',
    'transactions',
    'rolled back',
    'rows inserted',
    'rows updated',
    'rows fetched',
    'rows scanned',
  ];
  const f = (x) => (x == null ? 'n/a' : x < 10 ? x.toFixed(2) : int(x));
  const rows = OPERATIONS.map((op) => {
    const d = results[op.key].db;
    const per = op.key === 'ingest' ? 'resource' : 'request';
    return [op.label, per, f(d?.xacts), f(d?.rollbacks), f(d?.inserted), f(d?.updated), f(d?.fetched), f(d?.scanned)];
  });
  return table(header, rows);
}

/** The tables each write phase inserted into, with rows per operation. */
function writtenTables(results) {
  return ['create', 'ingest']
    .map((key) => {
      const tables = results[key].db?.tables ?? [];
      const list = tables.slice(0, 8).map(([name, n]) => `${name} ${n.toFixed(2)}`);
      return `- ${key === 'create' ? 'Create Patient, rows per request' : 'Ingest, rows per resource'}: ${list.join(', ') || 'n/a'}`;
    })
    .join('\n');
}

/** The markdown of one run, a `### date` section for History. */
export function runMarkdown(info) {
  const { results, raw, machine, errors } = info;
  const ingest = results.ingest;
  const lines = [`### ${info.date.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${info.commit}`, ''];
  if (errors > 0) {
    const detail = Object.entries(results)
      .filter(([, r]) => r.errors > 0)
      .map(([key, r]) => `${key}: ${JSON.stringify(r.errorDetail)}`)
      .join('; ');
    lines.push(
      `**Flagged: ${errors} failed requests** (${detail}). Figures of a run with errors are not comparable.`,
      ''
    );
  }
  const busiest = Math.max(...Object.values(results).map((r) => r.cpu?.other ?? 0));
  if (busiest > 0.25) {
    lines.push(
      `**Flagged: other work used up to ${busiest.toFixed(2)} cores during the run** (column "other" below): the figures are lower than on an idle machine.`,
      ''
    );
  }
  for (const note of info.notes) {
    lines.push(`**Flagged: ${note}.**`, '');
  }
  lines.push(
    ...runContext(info),
    `- Data: ${int(info.created)} patients created by the create phase; searches return ${info.matches}`,
    `- Ingest: ${ingest.bundles} bundles from ${info.bundleSource}, ${int(ingest.count)} resources in ${ingest.seconds.toFixed(1)} s with ${info.workers} workers; p50/p99 are per bundle`,
    '',
    resultsTable(results, raw),
    '',
    `CPU during each measured phase, in cores (of ${machine.cores}); "other" is everything else on the machine:`,
    '',
    cpuTable(results, raw),
    '',
    'PostgreSQL work per operation (its statistics for the benchmark database; "fetched" counts rows read through indexes, "scanned" also index entries and sequential scans):',
    '',
    dbTable(results),
    '',
    'Tables written most (rows inserted per operation):',
    '',
    writtenTables(results),
    ''
  );
  if (info.auditMarkdown) {
    lines.push(info.auditMarkdown);
  }
  if (info.accessMarkdown) {
    lines.push(info.accessMarkdown);
  }
  if (info.subscriptionsMarkdown) {
    lines.push(info.subscriptionsMarkdown);
  }
  if (info.ussdMarkdown) {
    lines.push(info.ussdMarkdown);
  }
  if (info.outboundMarkdown) {
    lines.push(info.outboundMarkdown);
  }
  if (info.restartMarkdown) {
    lines.push(info.restartMarkdown);
  }
  return lines.join('\n');
}

/** Machine, software, load and command of a run: the first lines of its entry. */
function runContext(info) {
  const { machine } = info;
  return [
    `- Machine: ${machine.model}, ${machine.cores} cores, ${machine.memory} RAM, ${machine.kernel}; server, PostgreSQL, Redis and load generator share it`,
    `- Software: Node ${process.version}, PostgreSQL ${info.postgres}`,
    `- Background load just before the run: ${info.background.toFixed(2)} of ${machine.cores} cores busy${info.background > 0.25 ? ' (**the machine was not idle: figures are low**)' : ''}`,
    `- Command: \`${info.command}\`${info.options ? ` (${info.options})` : ''}`,
    `- Server start on an empty database (migrate, load definitions, build the GraphQL schema) until ready: ${info.startSeconds.toFixed(1)} s`,
  ];
}

/** The entry of a \`BENCH_ONLY=restart\` run: its context and the restart table. */
export function restartRunMarkdown(info) {
  const title = `### ${info.date.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${info.commit} (restart to ready only)`;
  return [title, '', ...runContext(info), '', info.restartMarkdown].join('\n');
}

/** The entry of a \`BENCH_ONLY=ussd\` run: its context and the USSD table. */
export function ussdRunMarkdown(info) {
  const title = `### ${info.date.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${info.commit} (USSD screens only)`;
  return [title, '', ...runContext(info), '', info.ussdMarkdown].join('\n');
}

/** The entry of a \`BENCH_ONLY=outbound\` run: its context and the outbound table. */
export function outboundRunMarkdown(info) {
  const title = `### ${info.date.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${info.commit} (outbound messages only)`;
  return [title, '', ...runContext(info), '', info.outboundMarkdown].join('\n');
}

const TEMPLATE = `# Benchmarks

\`npm run bench\` measures the built server (\`packages/server/dist/main.js\`) on this machine and
appends the figures to the History below. One run:

1. creates a throwaway database \`tiba_bench_<random>\` on the PostgreSQL at
   \`BENCH_DATABASE_SERVER\` (default \`postgres://postgres@127.0.0.1:5432\`), starts the server on
   it (Redis at \`REDIS_URL\`, default \`redis://127.0.0.1:6379\`) on a free 127.0.0.1 port, and gets
   a client-credentials token;
2. at concurrency 16 (autocannon, 16 connections, no pipelining, \`BENCH_SECONDS\` = 10 s per phase
   after a 2 s warm-up): creates ~1 KB Patients (each with its own identifier), reads them by id,
   searches them by identifier (\`identifier=system|value\`, one match) and by name prefix
   (\`name=\` first four letters of the family name, a page of matches);
3. posts the 20 Synthea transaction bundles of \`../shared/data/synthea/\` (generated bundles of
   the same shape when that folder is missing) with 16 concurrent workers: resources/s is the
   sum of their entries over the wall time;
4. stops the server and measures the raw ceiling of the same PostgreSQL with \`pgbench\` (prepared
   mode, 16 clients, 2 threads, same duration): a single-row ~1.2 KB JSONB insert, and a
   primary-key select of such a row;
5. drops the database (also on failure or Ctrl-C).

Any non-2xx answer, socket error or timeout counts as an error and flags the run; so does a
search that does not find the created patients, and other work on the machine (more than a
quarter of a core outside server, PostgreSQL, Redis and load generator). The ratio column
divides the FHIR figure by its raw ceiling (writes by the insert tps, reads and searches by the
select tps). Everything runs on the same 2-core machine, so the load generator's CPU is taken
from the server. To show what limits each figure, every run also records the CPU each party used
(from \`/proc\`) and what PostgreSQL did per operation (from its statistics: transactions and
rows inserted or read, and the tables written most).

Knobs: \`BENCH_SECONDS\` (10), \`BENCH_WARMUP_SECONDS\` (2), \`BENCH_CONNECTIONS\` (16),
\`BENCH_WAIT_IDLE\` (seconds to wait for a busy machine to calm down first), \`BENCH_SKIP_BUILD=1\`,
\`BENCH_NO_DOC=1\` (do not touch this file).

## Targets (issue #2)

| Operation | Target |
| --- | --- |
| Create Patient | ≥ 1,000/s |
| Read by id | ≥ 4,000/s |
| Token search | ≥ 2,000/s |
| Transaction ingest | ≥ 2,000 resources/s |
| Single-resource operations | p99 ≤ 50 ms |

## Reference: Medplum 5.0.10 on the same machine kind

2 cores shared by server, PostgreSQL, Redis and load generator; concurrency 16 (from the project
brief): create Patient 418/s (p99 62 ms), read by id 2,204/s (p99 20 ms), identifier/name search
766/s (¹ one figure for both), CRUD mix 456 req/s, Synthea transaction import 238 resources/s.
Raw PostgreSQL on the same box (pgbench, prepared, 16 clients): ~1.2 KB JSONB insert 13,428 tps,
primary-key select 43,943 tps; Medplum reaches 3–5 % of those ceilings.

## History

${HISTORY_MARKER}
`;

/** Inserts the run at the top of History in `file` (created from the template when missing). */
export function appendToDoc(file, markdown) {
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : TEMPLATE;
  if (!doc.includes(HISTORY_MARKER)) {
    doc = `${doc.trimEnd()}\n\n## History\n\n${HISTORY_MARKER}\n`;
  }
  const at = doc.indexOf(HISTORY_MARKER) + HISTORY_MARKER.length;
  const earlier = doc.slice(at).trim();
  writeFileSync(file, `${doc.slice(0, at)}\n\n${markdown.trimEnd()}\n${earlier ? `\n${earlier}\n` : ''}`);
}
