// The raw ceiling of the PostgreSQL the server runs on: pgbench in prepared mode with the same
// concurrency, on scratch tables of the benchmark database. One ~1.2 KB JSONB row insert per
// transaction, and one primary-key select of such a row.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startCpu } from './cpu.mjs';
import { makePatient } from './patients.mjs';

const READ_ROWS = 50_000;

/**
 * A stored-looking Patient as JSON text, split around its id so SQL can put a number there.
 * pgbench reads `:word` as a variable even inside string literals, so no colon in the text may
 * be followed by a letter or digit: a space follows every key, and colons inside strings are
 * written as the JSON escape \u003a (the stored jsonb is the same).
 */
function patientJsonAroundId() {
  const meta = {
    versionId: randomUUID(),
    lastUpdated: new Date(),
    author: { reference: `ClientApplication/${randomUUID()}` },
  };
  const stored = { resourceType: 'Patient', id: '__ID__', meta };
  const patient = { ...stored, ...makePatient('raw', 4242), id: '__ID__' };
  const text = JSON.stringify(patient, (_key, value) =>
    typeof value === 'string' ? value.replaceAll(':', '\x01') : value
  )
    .replaceAll('\\u0001', '\\u003a')
    .replaceAll('":', '": ');
  const [before, after] = text.split('"__ID__"');
  const sql = (s) => `'${s.replaceAll("'", "''")}'`;
  return { before: sql(`${before}"`), after: sql(`"${after}`), bytes: JSON.stringify(patient).length };
}

function run(cmd, args, env, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}:\n${out.slice(-1500)}`));
    });
  });
}

/** { insert, select } each { tps, avgMs, cpu }, measured with pgbench on database `dbUrl`. */
export async function pgbenchCeilings({ dbUrl, clients, threads, seconds, pgbench = '/usr/bin/pgbench' }) {
  const json = patientJsonAroundId();
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    await client.query(`
      CREATE TABLE bench_raw_insert (id uuid PRIMARY KEY, content jsonb NOT NULL);
      CREATE TABLE bench_raw_read (id bigint PRIMARY KEY, content jsonb NOT NULL);
      INSERT INTO bench_raw_read
        SELECT g, (${json.before} || g::text || ${json.after})::jsonb FROM generate_series(1, ${READ_ROWS}) g;`);
    await client.query('VACUUM ANALYZE bench_raw_read');
  } finally {
    await client.end();
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tiba-pgbench-'));
  try {
    const scripts = {
      insert: `\\set n random(1, 2000000000)
INSERT INTO bench_raw_insert (id, content) VALUES (gen_random_uuid(), (${json.before} || CAST(:n AS text) || ${json.after})::jsonb);\n`,
      select: `\\set id random(1, ${READ_ROWS})\nSELECT content FROM bench_raw_read WHERE id = :id;\n`,
    };
    const url = new URL(dbUrl);
    const conn = ['-h', url.hostname.replace(/^\[|\]$/g, ''), '-p', url.port || '5432'];
    conn.push('-U', decodeURIComponent(url.username) || 'postgres');
    const env = url.password ? { PGPASSWORD: decodeURIComponent(url.password) } : {};
    const result = { bytes: json.bytes };
    for (const [name, script] of Object.entries(scripts)) {
      const file = path.join(dir, `${name}.sql`);
      writeFileSync(file, script);
      const args = [...conn, '-M', 'prepared', '-c', String(clients), '-j', String(threads)];
      args.push('-T', String(seconds), '-n', '-f', file, url.pathname.slice(1));
      const cpu = startCpu(null);
      const out = await run(pgbench, args, env, (seconds + 60) * 1000);
      const tps = out.match(/tps = ([\d.]+) \(without initial connection time\)/) ?? out.match(/tps = ([\d.]+)/);
      const avg = out.match(/latency average = ([\d.]+) ms/);
      if (!tps) {
        throw new Error(`could not read tps from pgbench output:\n${out}`);
      }
      result[name] = { tps: Number(tps[1]), avgMs: avg ? Number(avg[1]) : null, cpu: cpu() };
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
