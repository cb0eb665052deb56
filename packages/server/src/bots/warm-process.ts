import type { ChildProcess } from 'node:child_process';
import type { BotRunResult } from './execute.js';
import { Slots } from './execute.js';
import {
  CORE_PATH,
  forkBotProcess,
  LogTail,
  residentLimitMb,
  WARM_RUNNER_PATH,
  watchResidentMemory,
} from './sandbox-process.js';

/** Runs one warm process takes at once; more wait (a bot's runs are mostly waiting on HTTP). */
export const MAX_RUNS_PER_PROCESS = 32;
/** Runs that may wait for it: a USSD menu may have a thousand sessions at once, each a short run. */
export const MAX_WAITING_PER_PROCESS = 2000;
/** How long a new process may take to load its code before it counts as broken. */
const INIT_TIMEOUT_MS = 10_000;

export interface WarmProcessInit {
  code: string;
  filename: string;
  baseUrl: string;
  allowedHosts: readonly string[];
  /** The process's token (its own Login), for all its runs. */
  accessToken: string;
  memoryMb: number;
}

type RunnerMessage =
  | { type: 'ready' }
  | { type: 'init-error'; message: string }
  | { type: 'result'; id: number; value?: unknown; undefined?: boolean; logs: string }
  | { type: 'error'; id: number; message: string; logs: string };

interface PendingRun {
  resolve: (result: BotRunResult) => void;
  timer: NodeJS.Timeout;
}

/** Why the process ended, when the server ended it. */
type KillReason = { kind: 'timeout'; runId: number; timeoutMs: number } | { kind: 'memory' } | { kind: 'stopped' };

/**
 * One bot's process kept warm (warm-runner.cjs): loaded once, then runs the bot's runs over IPC,
 * up to MAX_RUNS_PER_PROCESS at once. A run past its timeout kills the process, as an
 * over-limit memory does: the runs in it at that moment fail with it (they are the same bot's),
 * and the pool starts a fresh process for the next run.
 */
export class WarmBotProcess {
  readonly startedAt = Date.now();
  lastUsedAt = Date.now();
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, PendingRun>();
  private readonly slots = new Slots(MAX_RUNS_PER_PROCESS, MAX_WAITING_PER_PROCESS);
  private readonly ready: Promise<string | undefined>;
  private readonly output = new LogTail(4096);
  private nextRunId = 1;
  private waiting = 0;
  private killReason: KillReason | undefined;
  private exited = false;

  constructor(
    readonly codeUrl: string,
    init: WarmProcessInit,
    private readonly onExit: (process: WarmBotProcess) => void
  ) {
    this.child = forkBotProcess(WARM_RUNNER_PATH, init.memoryMb);
    const rssLimitMb = residentLimitMb(init.memoryMb);
    const stopWatch = watchResidentMemory(this.child, init.memoryMb, () => {
      this.killReason ??= { kind: 'memory' };
    });
    this.child.stdout?.on('data', (chunk: Buffer) => this.output.push(chunk));
    this.child.stderr?.on('data', (chunk: Buffer) => this.output.push(chunk));
    this.ready = new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.kill();
        resolve('Bot process did not load its code in time');
      }, INIT_TIMEOUT_MS);
      this.child.on('message', (message: RunnerMessage) => {
        if (message.type === 'ready' || message.type === 'init-error') {
          clearTimeout(timer);
          resolve(message.type === 'ready' ? undefined : message.message || 'Bot code could not load');
          return;
        }
        this.settle(message.id, messageResult(message));
      });
      this.child.once('exit', (code, signal) => {
        clearTimeout(timer);
        stopWatch();
        this.exited = true;
        resolve(`Bot process exited (${signal ?? `code ${code}`}) while loading`);
        // stdout/stderr may still hold the last output (an OOM report): let them drain a moment.
        setTimeout(() => this.failAll(rssLimitMb, init.memoryMb), 50);
        this.onExit(this);
      });
      this.child.once('error', () => {
        this.kill();
      });
    });
    this.child.send({ type: 'init', ...init, corePath: CORE_PATH }, (err) => err && this.kill());
  }

  /** Runs in it now or waiting for it: a busy process is never evicted. */
  get load(): number {
    return this.pending.size + this.waiting;
  }

  get alive(): boolean {
    return !this.exited && this.killReason === undefined;
  }

  /** One run; never throws (a dead or broken process gives a failed, aborted run). */
  async run(event: Record<string, unknown>, timeoutMs: number): Promise<BotRunResult> {
    this.lastUsedAt = Date.now();
    const slot = this.slots.acquire();
    if (!slot) {
      return aborted('Too many bot runs waiting; try again later');
    }
    this.waiting++;
    const release = await slot;
    this.waiting--;
    try {
      const loadError = await this.ready;
      if (loadError) {
        return { ...aborted(loadError), logs: this.output.text() };
      }
      if (!this.alive) {
        return aborted('Bot process stopped before the run');
      }
      return await new Promise<BotRunResult>((resolve) => {
        const id = this.nextRunId++;
        const timer = setTimeout(() => {
          this.killReason ??= { kind: 'timeout', runId: id, timeoutMs };
          this.child.kill('SIGKILL');
        }, timeoutMs);
        this.pending.set(id, { resolve, timer });
        this.child.send({ type: 'run', id, event }, (err) => err && this.kill());
      });
    } finally {
      this.lastUsedAt = Date.now();
      release();
    }
  }

  /** Ends the process now; runs in it fail. */
  kill(): void {
    this.killReason ??= { kind: 'stopped' };
    this.child.kill('SIGKILL');
  }

  private settle(id: number, result: BotRunResult): void {
    const run = this.pending.get(id);
    if (run) {
      clearTimeout(run.timer);
      this.pending.delete(id);
      run.resolve(result);
    }
  }

  private failAll(rssLimitMb: number, memoryMb: number): void {
    const reason = this.killReason;
    const logs = this.output.text();
    for (const id of [...this.pending.keys()]) {
      let error: string;
      if (reason?.kind === 'timeout') {
        error =
          reason.runId === id
            ? `Bot timed out after ${reason.timeoutMs / 1000} s`
            : 'Bot process stopped: another run of this bot timed out';
      } else if (reason?.kind === 'memory') {
        error = `Bot memory limit exceeded (${rssLimitMb} MB resident)`;
      } else if (/heap limit|out of memory/i.test(logs)) {
        error = `Bot ran out of memory (limit ${memoryMb} MB)`;
      } else {
        error = reason?.kind === 'stopped' ? 'Bot process was stopped' : 'Bot process exited without a result';
      }
      this.settle(id, { ...aborted(error), logs });
    }
  }
}

function messageResult(message: Extract<RunnerMessage, { id: number }>): BotRunResult {
  if (message.type === 'result') {
    return {
      success: true,
      returnValue: message.undefined ? undefined : message.value,
      logs: message.logs,
      durationMs: 0,
    };
  }
  return { success: false, error: message.message || 'Bot failed', logs: message.logs, durationMs: 0 };
}

function aborted(error: string): BotRunResult {
  return { success: false, aborted: true, error, logs: '', durationMs: 0 };
}
