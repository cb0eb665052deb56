import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Starting and bounding a bot's process, shared by one-run processes (execute.ts) and warm ones
 * (warm-process.ts): the same permission flags, empty environment, heap cap and resident-memory
 * watch for both, so a warm process is confined exactly like a cold one.
 */
const require = createRequire(import.meta.url);
export const CORE_PATH = require.resolve('@medplum/core');
// Beside this module: in src/ for tests, copied to dist/ by the build (tsc does not copy .cjs files).
export const RUNNER_PATH = fileURLToPath(new URL('./runner.cjs', import.meta.url));
export const WARM_RUNNER_PATH = fileURLToPath(new URL('./warm-runner.cjs', import.meta.url));
const SANDBOX_PATH = fileURLToPath(new URL('./sandbox.cjs', import.meta.url));
const PRIVATE_ADDRESS_PATH = fileURLToPath(new URL('../net/private-address.cjs', import.meta.url));

/**
 * --max-old-space-size caps the JS heap only, not Buffers and other off-heap memory, so each bot
 * process's resident memory is read from /proc (where there is one) this often and the process is
 * killed above 2 × BOT_MEMORY_MB + this much (the heap, its young generation, code and Node itself).
 */
const RSS_POLL_MS = 100;
const RSS_OVERHEAD_MB = 64;
const PAGE_BYTES = 4096;
const CAN_READ_RSS = existsSync('/proc/self/statm');

/** Bot processes alive now: killed when the server exits, so none outlives it. */
const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of liveChildren) {
    child.kill('SIGKILL');
  }
});

/**
 * A bot process: Node's permission model allows reading only the runner, sandbox.cjs and
 * @medplum/core (no writes, child processes, workers, addons or inspector), the environment is
 * empty and the heap is capped. Runs arrive over IPC.
 */
export function forkBotProcess(runnerPath: string, memoryMb: number): ChildProcess {
  const child = fork(runnerPath, [], {
    execPath: process.execPath,
    execArgv: [
      '--permission',
      `--allow-fs-read=${runnerPath}`,
      `--allow-fs-read=${SANDBOX_PATH}`,
      `--allow-fs-read=${PRIVATE_ADDRESS_PATH}`,
      `--allow-fs-read=${dirname(CORE_PATH)}`,
      `--max-old-space-size=${memoryMb}`,
      '--disable-proto=delete',
    ],
    env: {},
    cwd: dirname(runnerPath),
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'json',
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  child.once('error', () => liveChildren.delete(child));
  return child;
}

/** The resident-memory limit of a process whose heap is capped at `memoryMb`. */
export function residentLimitMb(memoryMb: number): number {
  return 2 * memoryMb + RSS_OVERHEAD_MB;
}

/** Kills `child` (and calls `onExceeded` first) once its resident memory passes the limit; returns the stop function. */
export function watchResidentMemory(child: ChildProcess, memoryMb: number, onExceeded: () => void): () => void {
  if (!CAN_READ_RSS || !child.pid) {
    return () => undefined;
  }
  const limitBytes = residentLimitMb(memoryMb) * 1024 * 1024;
  let reading = false;
  const poller = setInterval(() => {
    if (reading) {
      return;
    }
    reading = true;
    readFile(`/proc/${child.pid}/statm`, 'utf8')
      .then((statm) => {
        const residentBytes = Number(statm.split(' ')[1]) * PAGE_BYTES;
        if (residentBytes > limitBytes && child.exitCode === null && child.signalCode === null) {
          onExceeded();
          child.kill('SIGKILL');
        }
      })
      .catch(() => undefined) // the process has just exited
      .finally(() => {
        reading = false;
      });
  }, RSS_POLL_MS);
  poller.unref();
  return () => clearInterval(poller);
}

/** Keeps the last `max` characters of a stream of output. */
export class LogTail {
  private chunks: string[] = [];
  private length = 0;
  private truncated = false;

  constructor(private readonly max: number) {}

  push(chunk: Buffer | string): void {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    this.chunks.push(text);
    this.length += text.length;
    while (this.length - this.chunks[0].length >= this.max) {
      this.length -= (this.chunks.shift() as string).length;
      this.truncated = true;
    }
  }

  text(): string {
    const all = this.chunks.join('');
    if (all.length <= this.max && !this.truncated) {
      return all;
    }
    return `[…]${all.slice(-this.max)}`;
  }
}
