import type { WithId } from '@medplum/core';
import type { Binary, Bot, Login, Project, ProjectMembership, ProjectSetting } from '@medplum/fhirtypes';
import type { FastifyBaseLogger } from 'fastify';
import type { AuditLog } from '../audit/audit-log.js';
import { signAccessToken } from '../auth/access-token.js';
import type { SigningKeys } from '../auth/keys.js';
import type { TibaConfig } from '../config.js';
import type { PostgresRepository } from '../repository/repository.js';
import { botRunAuditEvent } from './bot-audit.js';
import { findBotMembership } from './bot-membership.js';
import {
  CORE_PATH,
  forkBotProcess,
  LogTail,
  RUNNER_PATH,
  residentLimitMb,
  watchResidentMemory,
} from './sandbox-process.js';
import type { WarmBotPool } from './warm-pool.js';

/** What a bot run needs from the server; constructible from the background-work deps. */
export interface BotContext {
  config: Readonly<TibaConfig>;
  systemRepo: PostgresRepository;
  keys: SigningKeys;
  audit: AuditLog;
  logger: FastifyBaseLogger;
}

export interface BotRunRequest {
  bot: WithId<Bot>;
  input: unknown;
  contentType: string;
  traceId: string;
  headers?: Record<string, string>;
}

export interface BotRunResult {
  success: boolean;
  returnValue?: unknown;
  /** The tail of the run's console output. */
  logs: string;
  /** Why the run failed, in words fit for the caller (no server detail). */
  error?: string;
  durationMs: number;
  /** Killed at its timeout, out of memory or crashed (as opposed to a handler that threw). */
  aborted?: boolean;
}

/** Console output kept per run (the tail): enough to debug, bounded so a chatty bot cannot fill memory. */
export const MAX_LOG_CHARS = 10 * 1024;
/** Tokens outlive the run's timeout by this much, so a bot's last call is not refused mid-run. */
const TOKEN_GRACE_SECONDS = 60;

/**
 * Runs a deployed bot in a child process of its own, or in its warm process when `warm` is given
 * (warm-pool.ts), and records the run as an AuditEvent. Never throws for anything the bot does:
 * crashes, timeouts and thrown errors are failed runs.
 */
export async function executeBot(
  ctx: BotContext,
  request: BotRunRequest,
  options?: { warm?: WarmBotPool; timeoutMs?: number }
): Promise<BotRunResult> {
  const started = new Date();
  const startedAt = performance.now();
  const { bot } = request;
  const projectId = bot.meta?.project;
  let result: BotRunResult;
  try {
    result = await prepareAndRun(ctx, request, projectId, options);
  } catch (err) {
    ctx.logger.error({ err, bot: bot.id }, 'bot run could not start');
    result = { success: false, logs: '', error: 'Bot run could not start', durationMs: 0, aborted: true };
  }
  result.durationMs = Math.round(performance.now() - startedAt);
  if (ctx.audit.enabled && shouldAudit(bot, result)) {
    ctx.audit.record(projectId, botRunAuditEvent(bot, request, result, started));
  }
  return result;
}

/** Medplum's Bot.auditEventTrigger: always (default), never, on-error, on-output. */
function shouldAudit(bot: Bot, result: BotRunResult): boolean {
  switch (bot.auditEventTrigger) {
    case 'never':
      return false;
    case 'on-error':
      return !result.success;
    case 'on-output':
      return !result.success || result.logs.length > 0;
    default:
      return true;
  }
}

export const failedRun = (error: string): BotRunResult => ({ success: false, logs: '', error, durationMs: 0 });

/** Bot.timeout (or the default), at most BOT_MAX_TIMEOUT_SECONDS, and at most `cap` when given. */
export function runTimeoutMs(config: Readonly<TibaConfig>, bot: Bot, capMs?: number): number {
  const ms = Math.min(
    (bot.timeout && bot.timeout > 0 ? bot.timeout : config.botDefaultTimeoutSeconds) * 1000,
    config.botMaxTimeoutSeconds * 1000
  );
  return capMs ? Math.min(ms, capMs) : ms;
}

async function prepareAndRun(
  ctx: BotContext,
  request: BotRunRequest,
  projectId: string | undefined,
  options: { warm?: WarmBotPool; timeoutMs?: number } | undefined
): Promise<BotRunResult> {
  const { bot } = request;
  if (!projectId) {
    return failedRun('Bot belongs to no project');
  }
  const codeUrl = bot.executableCode?.url;
  if (!codeUrl?.startsWith('Binary/')) {
    return failedRun('Bot has no deployed code (POST Bot/:id/$deploy)');
  }
  const timeoutMs = runTimeoutMs(ctx.config, bot, options?.timeoutMs);
  // A full pool of busy warm processes answers undefined: the run goes cold instead.
  const warm = await options?.warm?.run(request, { projectId, codeUrl, timeoutMs });
  if (warm) {
    return warm;
  }
  const code = await readBotCode(ctx.systemRepo, bot, projectId);
  if (!code) {
    return failedRun('Bot code not found');
  }
  const membership = await findBotMembership(ctx.systemRepo, projectId, bot.id);
  if (!membership || membership.active === false) {
    return failedRun('Bot has no active project membership');
  }
  // Wait for a slot before the Login and token exist: a queued run holds neither, nor their clock.
  const slot = runSlots(ctx.config.botMaxConcurrentRuns).acquire();
  if (!slot) {
    return { ...failedRun('Too many bot runs waiting; try again later'), aborted: true };
  }
  const release = await slot;
  let login: WithId<Login> | undefined;
  try {
    const [created, secrets] = await Promise.all([
      createBotLogin(ctx.systemRepo, membership),
      projectSecrets(ctx.systemRepo, projectId),
    ]);
    login = created;
    const accessToken = await signBotToken(ctx, bot, membership, login, Math.ceil(timeoutMs / 1000));
    return await runInChildProcess(
      {
        ...code,
        corePath: CORE_PATH,
        baseUrl: ctx.config.baseUrl,
        allowedHosts: ctx.config.botAllowedHosts,
        accessToken,
        event: botEvent(bot, request, secrets),
      },
      { timeoutMs, memoryMb: ctx.config.botMemoryMb }
    );
  } finally {
    release();
    if (login) {
      revokeBotLogin(ctx, login);
    }
  }
}

/** The deployed code of a Bot; only its own project's Binary (a Bot must not run, and so read, another project's). */
export async function readBotCode(
  systemRepo: PostgresRepository,
  bot: WithId<Bot>,
  projectId: string
): Promise<{ code: string; filename: string } | undefined> {
  const codeUrl = bot.executableCode?.url ?? '';
  const binary = await systemRepo
    .readResource<Binary>('Binary', codeUrl.slice('Binary/'.length))
    .catch(() => undefined);
  if (!binary?.data || binary.meta?.project !== projectId) {
    return undefined;
  }
  return {
    code: Buffer.from(binary.data, 'base64').toString('utf8'),
    filename: bot.executableCode?.title || 'index.js',
  };
}

/** Medplum's BotEvent (without the client, which the runner makes). */
export function botEvent(
  bot: WithId<Bot>,
  request: BotRunRequest,
  secrets: Record<string, ProjectSetting>
): Record<string, unknown> {
  return {
    bot: { reference: `Bot/${bot.id}`, display: bot.name },
    input: request.input,
    contentType: request.contentType,
    secrets,
    traceId: request.traceId,
    headers: request.headers ?? {},
  };
}

/** A token for the bot's membership, valid `seconds` (plus a grace, so a bot's last call is not refused mid-run). */
export function signBotToken(
  ctx: BotContext,
  bot: WithId<Bot>,
  membership: WithId<ProjectMembership>,
  login: WithId<Login>,
  seconds: number
): Promise<string> {
  return signAccessToken(
    ctx.keys,
    ctx.config.baseUrl,
    {
      login_id: login.id,
      sub: bot.id,
      profile: `Bot/${bot.id}`,
      scope: 'openid',
      project: bot.meta?.project as string,
      membership: membership.id,
    },
    seconds + TOKEN_GRACE_SECONDS
  );
}

/** The token dies with its run (or warm process): revoke its Login (best effort; it also expires on its own). */
export function revokeBotLogin(ctx: BotContext, login: WithId<Login>): void {
  void ctx.systemRepo
    .updateResource<Login>({ ...login, revoked: true })
    .catch((err) => ctx.logger.warn({ err, login: login.id }, 'could not revoke a bot run login'));
}

/** A Login per run (or warm process), so the server's revocation check accepts the token and it can be revoked. */
export function createBotLogin(
  systemRepo: PostgresRepository,
  membership: WithId<ProjectMembership>
): Promise<WithId<Login>> {
  return systemRepo.createResource<Login>({
    resourceType: 'Login',
    user: membership.user,
    membership: { reference: `ProjectMembership/${membership.id}` },
    authMethod: 'execute',
    authTime: new Date().toISOString(),
    scope: 'openid',
    granted: true,
  });
}

/** Project.secret by name, Medplum's `event.secrets` shape. */
export async function projectSecrets(
  systemRepo: PostgresRepository,
  projectId: string
): Promise<Record<string, ProjectSetting>> {
  const project = await systemRepo.readResource<Project>('Project', projectId);
  return Object.fromEntries((project.secret ?? []).map((s) => [s.name, s]));
}

interface RunnerInput {
  code: string;
  filename: string;
  corePath: string;
  baseUrl: string;
  /** Private-network `host:port`s the bot may reach besides the server (BOT_ALLOWED_HOSTS). */
  allowedHosts: readonly string[];
  accessToken: string;
  event: Record<string, unknown>;
}

type RunnerMessage = { type: 'result'; value?: unknown; undefined?: boolean } | { type: 'error'; message: string };

/** One run in a fresh child process (sandbox-process.ts), killed at the timeout. */
function runInChildProcess(run: RunnerInput, limits: { timeoutMs: number; memoryMb: number }): Promise<BotRunResult> {
  return new Promise((resolve) => {
    const child = forkBotProcess(RUNNER_PATH, limits.memoryMb);
    const rssLimitMb = residentLimitMb(limits.memoryMb);
    let memoryExceeded = false;
    const stopWatch = watchResidentMemory(child, limits.memoryMb, () => {
      memoryExceeded = true;
    });
    const log = new LogTail(MAX_LOG_CHARS);
    child.stdout?.on('data', (chunk: Buffer) => log.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => log.push(chunk));
    let message: RunnerMessage | undefined;
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limits.timeoutMs);
    // A run that has answered but keeps the process alive (a dangling timer) is ended.
    let exitTimer: NodeJS.Timeout | undefined;
    child.on('message', (m: RunnerMessage) => {
      message ??= m;
      exitTimer ??= setTimeout(() => child.kill('SIGKILL'), 1000);
    });
    const done = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      clearTimeout(exitTimer);
      const logs = log.text();
      const base = { logs, durationMs: 0 };
      if (message?.type === 'result') {
        resolve({ ...base, success: true, returnValue: message.undefined ? undefined : message.value });
      } else if (message?.type === 'error') {
        resolve({ ...base, success: false, error: message.message || 'Bot failed' });
      } else if (memoryExceeded) {
        resolve({
          ...base,
          success: false,
          aborted: true,
          error: `Bot memory limit exceeded (${rssLimitMb} MB resident)`,
        });
      } else if (timedOut) {
        resolve({ ...base, success: false, aborted: true, error: `Bot timed out after ${limits.timeoutMs / 1000} s` });
      } else if (/heap limit|out of memory/i.test(logs)) {
        resolve({
          ...base,
          success: false,
          aborted: true,
          error: `Bot ran out of memory (limit ${limits.memoryMb} MB)`,
        });
      } else {
        const how = spawnError ? 'could not start' : `exited (${signal ?? `code ${exitCode}`}) without a result`;
        resolve({ ...base, success: false, aborted: true, error: `Bot process ${how}` });
      }
    };
    child.on('exit', (code, signal) => {
      stopWatch();
      // stdout/stderr may still hold the last output (an OOM report): read them to their end first.
      let open = [child.stdout, child.stderr].filter((s) => s && !s.readableEnded).length;
      if (open === 0) {
        done(code, signal);
        return;
      }
      for (const stream of [child.stdout, child.stderr]) {
        stream?.once('end', () => --open === 0 && done(code, signal));
      }
      setTimeout(() => done(code, signal), 200);
    });
    child.on('error', (err) => {
      stopWatch();
      child.kill('SIGKILL');
      done(null, null, err);
    });
    child.send(run, (err) => {
      if (err) {
        child.kill('SIGKILL');
      }
    });
  });
}

/** Runs that may wait for a slot; beyond them a run fails at once rather than pile up requests. */
export const MAX_WAITING_RUNS = 100;

/** Bounds the bot processes alive at once: each costs tens of MB, and the server must keep serving. */
export class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly size: number,
    private readonly maxWaiting = MAX_WAITING_RUNS
  ) {}

  /** A slot's release function once one is free, or undefined when the wait queue is full. */
  acquire(): Promise<() => void> | undefined {
    if (this.active < this.size) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxWaiting) {
      return undefined;
    }
    return new Promise((resolve) => this.waiting.push(() => resolve(this.releaser())));
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) {
        return;
      }
      released = true;
      const next = this.waiting.shift();
      if (next) {
        next(); // the slot passes straight to the next run
      } else {
        this.active--;
      }
    };
  }
}

const slotsBySize = new Map<number, Slots>();

function runSlots(size: number): Slots {
  let slots = slotsBySize.get(size);
  if (!slots) {
    slots = new Slots(size);
    slotsBySize.set(size, slots);
  }
  return slots;
}
