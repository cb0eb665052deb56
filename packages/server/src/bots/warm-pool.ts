import type { WithId } from '@medplum/core';
import type { Bot, Login, ProjectSetting } from '@medplum/fhirtypes';
import { findBotMembership } from './bot-membership.js';
import {
  type BotContext,
  type BotRunRequest,
  type BotRunResult,
  botEvent,
  createBotLogin,
  failedRun,
  projectSecrets,
  readBotCode,
  revokeBotLogin,
  signBotToken,
} from './execute.js';
import { WarmBotProcess } from './warm-process.js';

/**
 * A warm process is replaced after this long even when busy: its token (one Login per process)
 * must expire, and a long-lived bot process should not accumulate state forever.
 */
export const WARM_PROCESS_MAX_AGE_MS = 10 * 60_000;
/** Project secrets (`event.secrets`) are re-read at most this often for warm runs: one query less per run. */
const SECRETS_CACHE_MS = 5000;

export interface WarmPoolOptions {
  /** Warm processes alive at once in this server (BOT_WARM_PROCESSES). */
  size: number;
  /** An unused process is stopped after this long (BOT_WARM_IDLE_SECONDS). */
  idleMs: number;
  maxAgeMs?: number;
}

interface PoolEntry {
  process: WarmBotProcess;
  login: WithId<Login>;
}

/**
 * Keeps one warm process per bot (warm-process.ts), never shared between bots or projects,
 * for runs where a cold start per run would be too slow (USSD screens). At most `size` live at
 * once: a new bot takes the place of the least recently used idle one; when every process is
 * busy, `run` answers undefined and the caller runs the bot cold. A process is replaced when the
 * Bot's code or project changes, when it dies (timeout, memory, crash) and when it is too old.
 */
export class WarmBotPool {
  private readonly entries = new Map<string, PoolEntry>();
  /** Processes being started, so concurrent first runs of a bot start one, not many. */
  private readonly starting = new Map<string, Promise<PoolEntry | BotRunResult | undefined>>();
  private readonly secrets = new Map<string, { at: number; value: Promise<Record<string, ProjectSetting>> }>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  /** Logins being revoked now. */
  private readonly revoked = new Set<string>();

  constructor(
    private readonly ctx: BotContext,
    private readonly options: WarmPoolOptions
  ) {
    this.sweeper = setInterval(() => this.evictIdle(), Math.max(1000, Math.min(options.idleMs / 2, 30_000)));
    this.sweeper.unref();
  }

  /** Warm processes alive now (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Runs `request.bot` in its warm process. Undefined when no process can be had (the pool is
   * full of busy processes, or closed): the caller then runs the bot cold.
   */
  async run(
    request: BotRunRequest,
    run: { projectId: string; codeUrl: string; timeoutMs: number }
  ): Promise<BotRunResult | undefined> {
    const { bot } = request;
    const secrets = await this.secretsOf(run.projectId);
    // The warm process is taken and used in one synchronous step, so nothing evicts it in between.
    const entry = this.freshEntry(bot.id, run.codeUrl) ?? (await this.startOnce(bot, run.projectId, run.codeUrl));
    if (!entry || 'success' in entry) {
      return entry;
    }
    return entry.process.run(botEvent(bot, request, secrets), run.timeoutMs);
  }

  private secretsOf(projectId: string): Promise<Record<string, ProjectSetting>> {
    const cached = this.secrets.get(projectId);
    if (cached && Date.now() - cached.at < SECRETS_CACHE_MS) {
      return cached.value;
    }
    const value = projectSecrets(this.ctx.systemRepo, projectId);
    this.secrets.set(projectId, { at: Date.now(), value });
    value.catch(() => this.secrets.delete(projectId));
    return value;
  }

  /** Stops every process and revokes their Logins (the server is closing: before its database pool closes). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const entry of entries) {
      entry.process.kill();
    }
    await Promise.all(entries.map((entry) => this.revoke(entry.login)));
  }

  /** Revokes a process's Login once (its exit and the pool's close both ask). */
  private revoke(login: WithId<Login>): Promise<void> {
    if (this.revoked.has(login.id)) {
      return Promise.resolve();
    }
    this.revoked.add(login.id);
    return this.ctx.systemRepo
      .updateResource<Login>({ ...login, revoked: true })
      .then(
        () => undefined,
        (err) => this.ctx.logger.warn({ err, login: login.id }, 'could not revoke a warm bot process login')
      )
      .finally(() => this.revoked.delete(login.id));
  }

  /** The bot's live process if it runs this code and is not too old; a stale one is retired. */
  private freshEntry(botId: string, codeUrl: string): PoolEntry | undefined {
    const current = this.entries.get(botId);
    if (!current) {
      return undefined;
    }
    const stale =
      current.process.codeUrl !== codeUrl ||
      !current.process.alive ||
      Date.now() - current.process.startedAt > (this.options.maxAgeMs ?? WARM_PROCESS_MAX_AGE_MS);
    if (!stale) {
      return current;
    }
    this.retire(botId, current);
    return undefined;
  }

  private startOnce(
    bot: WithId<Bot>,
    projectId: string,
    codeUrl: string
  ): Promise<PoolEntry | BotRunResult | undefined> {
    let starting = this.starting.get(bot.id);
    if (!starting) {
      starting = this.start(bot, projectId, codeUrl).finally(() => this.starting.delete(bot.id));
      this.starting.set(bot.id, starting);
    }
    return starting;
  }

  private async start(
    bot: WithId<Bot>,
    projectId: string,
    codeUrl: string
  ): Promise<PoolEntry | BotRunResult | undefined> {
    if (this.closed || !this.makeRoom()) {
      return undefined;
    }
    const code = await readBotCode(this.ctx.systemRepo, bot, projectId);
    if (!code) {
      return failedRun('Bot code not found');
    }
    const membership = await findBotMembership(this.ctx.systemRepo, projectId, bot.id);
    if (!membership || membership.active === false) {
      return failedRun('Bot has no active project membership');
    }
    const login = await createBotLogin(this.ctx.systemRepo, membership);
    const maxAgeSeconds = Math.ceil((this.options.maxAgeMs ?? WARM_PROCESS_MAX_AGE_MS) / 1000);
    const accessToken = await signBotToken(
      this.ctx,
      bot,
      membership,
      login,
      maxAgeSeconds + this.ctx.config.botMaxTimeoutSeconds
    );
    // Room may have gone while the Login was made (another bot started): check again.
    if (this.closed || !this.makeRoom()) {
      revokeBotLogin(this.ctx, login);
      return undefined;
    }
    const { config } = this.ctx;
    const process = new WarmBotProcess(
      codeUrl,
      {
        ...code,
        baseUrl: config.baseUrl,
        allowedHosts: config.botAllowedHosts,
        accessToken,
        memoryMb: config.botMemoryMb,
      },
      (exited) => {
        if (this.entries.get(bot.id)?.process === exited) {
          this.entries.delete(bot.id);
        }
        // After close the pool has revoked it already (and the database may be gone).
        if (!this.closed) {
          void this.revoke(login);
        }
      }
    );
    const entry = { process, login };
    this.entries.set(bot.id, entry);
    return entry;
  }

  /** True when a process may start: below the size, or after stopping the least recently used idle one. */
  private makeRoom(): boolean {
    if (this.entries.size < this.options.size) {
      return true;
    }
    const idle = [...this.entries.entries()]
      .filter(([, e]) => e.process.load === 0)
      .sort(([, a], [, b]) => a.process.lastUsedAt - b.process.lastUsedAt)[0];
    if (!idle) {
      return false;
    }
    this.retire(idle[0], idle[1]);
    return true;
  }

  /** Takes a process out of the pool; it is stopped once its runs are done. */
  private retire(botId: string, entry: PoolEntry): void {
    this.entries.delete(botId);
    const stopWhenIdle = () => {
      if (entry.process.load === 0) {
        entry.process.kill();
      } else {
        setTimeout(stopWhenIdle, 100).unref();
      }
    };
    stopWhenIdle();
  }

  private evictIdle(): void {
    const now = Date.now();
    for (const [botId, entry] of [...this.entries.entries()]) {
      if (entry.process.load === 0 && now - entry.process.lastUsedAt > this.options.idleMs) {
        this.retire(botId, entry);
      }
    }
  }
}
