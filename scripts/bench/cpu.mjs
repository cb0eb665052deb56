// Where the CPU went during a phase, from /proc (Linux): the server process, the load generator
// (this process, or pgbench), PostgreSQL and Redis, the rest of the machine, and idle time. Shown
// in cores, so on a 2-core machine the columns add up to 2.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

function read(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** user+system ticks of every process, keyed by pid, and the machine's busy/total ticks. */
function snapshot() {
  const procs = new Map();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) {
      continue;
    }
    const stat = read(`/proc/${pid}/stat`);
    if (!stat) {
      continue;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    procs.set(Number(pid), { comm, ticks: Number(fields[11]) + Number(fields[12]) });
  }
  const cpu = read('/proc/stat').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { procs, total, idle: cpu[3] + cpu[4] };
}

/**
 * Starts measuring; call the result to get { server, load, postgres, redis, other, idle } in
 * cores. Processes are sampled every second too, so short-lived ones (pgbench, its PostgreSQL
 * backends) are counted up to their last sample.
 */
export function startCpu(serverPid) {
  if (!read('/proc/stat')) {
    return () => null;
  }
  const before = snapshot();
  const seen = new Map();
  const sample = () => {
    for (const [pid, p] of snapshot().procs) {
      seen.set(pid, p);
    }
  };
  const timer = setInterval(sample, 1000);
  return () => {
    clearInterval(timer);
    const after = snapshot();
    for (const [pid, p] of after.procs) {
      seen.set(pid, p);
    }
    const cores = os.availableParallelism();
    const span = after.total - before.total || 1;
    const share = (ticks) => (ticks / span) * cores;
    const used = { server: 0, load: 0, postgres: 0, redis: 0 };
    for (const [pid, { comm, ticks }] of seen) {
      const prev = before.procs.get(pid);
      const delta = ticks - (prev && prev.comm === comm ? prev.ticks : 0);
      const group =
        pid === serverPid
          ? 'server'
          : pid === process.pid || comm === 'pgbench'
            ? 'load'
            : comm === 'postgres'
              ? 'postgres'
              : comm === 'redis-server'
                ? 'redis'
                : null;
      if (group) {
        used[group] += delta;
      }
    }
    const idle = after.idle - before.idle;
    const busy = span - idle;
    const known = used.server + used.load + used.postgres + used.redis;
    return {
      server: share(used.server),
      load: share(used.load),
      postgres: share(used.postgres),
      redis: share(used.redis),
      other: share(Math.max(0, busy - known)),
      idle: share(idle),
    };
  };
}

export function formatCpu(c) {
  if (!c) {
    return 'n/a';
  }
  const f = (x) => x.toFixed(2);
  return `server ${f(c.server)}, load gen ${f(c.load)}, PostgreSQL ${f(c.postgres)}, Redis ${f(c.redis)}, other ${f(c.other)}, idle ${f(c.idle)}`;
}

/** How many cores the machine keeps busy over `ms` milliseconds (before the run: should be ~0). */
export async function busyCores(ms = 3000) {
  if (!read('/proc/stat')) {
    return 0;
  }
  const before = snapshot();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = snapshot();
  const span = after.total - before.total || 1;
  return ((span - (after.idle - before.idle)) / span) * os.availableParallelism();
}
