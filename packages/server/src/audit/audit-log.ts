import { isUUID } from '@medplum/core';
import type { AuditEvent, Reference } from '@medplum/fhirtypes';
import type { FastifyBaseLogger } from 'fastify';
import pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import { createPool, type Pool } from '../infra/postgres.js';
import { signInAuditEvent } from './audit-event.js';
import type { SignInAudit, SignInAuditSink } from './types.js';
import { type PendingAuditEvent, writeAuditEvents } from './write-audit-events.js';

/**
 * Records AuditEvents off the request path: `record` only queues; a timer writes the queue in
 * batches (one SQL statement per batch). The queue is bounded: when PostgreSQL falls behind,
 * the oldest events are dropped, with a warning and a metric, rather than growing without end.
 */
export interface AuditLog extends SignInAuditSink {
  /** False when auditing is switched off (AUDIT_ENABLED=false): callers may skip building events. */
  readonly enabled: boolean;
  /** Who observed the events (AuditEvent.source.observer): this server. */
  readonly observer: Reference;
  /** Queues an AuditEvent belonging to the project (meta.project); never blocks, never throws. */
  record(projectId: string | undefined, event: AuditEvent): void;
  /** Writes everything queued so far. */
  flush(): Promise<void>;
  /** Stops the timer and writes what is left. */
  close(): Promise<void>;
}

export interface AuditLogOptions {
  /**
   * The audit log writes through a pool of its own (one connection): flushes never take a
   * connection from requests, and the log can flush on close whatever order pools close in.
   */
  databaseUrl: string;
  baseUrl: string;
  enabled: boolean;
  logger: FastifyBaseLogger;
  /** Where the audit metrics are registered (the server's /metrics registry). */
  metrics?: Registry;
  /** How long an event may wait in the queue before a flush; default 200 ms. */
  flushIntervalMs?: number;
  /** Events per SQL statement; a full batch is flushed at once. Default 500. */
  batchSize?: number;
  /** Most events held in memory; beyond it the oldest are dropped. Default 50 000. */
  maxQueued?: number;
}

export function createAuditLog(options: AuditLogOptions): AuditLog {
  return new QueuedAuditLog(options);
}

class QueuedAuditLog implements AuditLog {
  readonly enabled: boolean;
  readonly observer: Reference;
  private queue: PendingAuditEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The flush in progress; flushes never overlap, so events are written in order. */
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly flushIntervalMs: number;
  private readonly batchSize: number;
  private readonly maxQueued: number;
  private readonly dropped: Counter;
  private readonly written: Counter;
  private readonly lastWarning = new Map<string, number>();
  /** Non-zero while PostgreSQL is unreachable: how long to wait before the next attempt. */
  private retryDelayMs = 0;
  private readonly pool: Pool;

  constructor(private readonly options: AuditLogOptions) {
    this.enabled = options.enabled;
    this.pool = createPool(options.databaseUrl, 1);
    // A display, not an identifier: an identifier would cost every event a search row that names the same server.
    this.observer = { display: options.baseUrl };
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.batchSize = options.batchSize ?? 500;
    this.maxQueued = options.maxQueued ?? 50_000;
    const registers = options.metrics ? [options.metrics] : [];
    this.written = new Counter({
      name: 'tiba_audit_events_written_total',
      help: 'AuditEvents stored',
      registers,
    });
    this.dropped = new Counter({
      name: 'tiba_audit_events_dropped_total',
      help: 'AuditEvents lost: the queue overflowed or PostgreSQL refused a batch',
      labelNames: ['reason'],
      registers,
    });
    const queueLength = () => this.queue.length;
    new Gauge({
      name: 'tiba_audit_queue_length',
      help: 'AuditEvents waiting to be written',
      registers,
      collect() {
        this.set(queueLength());
      },
    });
  }

  recordSignIn(signIn: SignInAudit): void {
    if (this.enabled) {
      this.record(signIn.projectId, signInAuditEvent(this.observer, signIn, new Date().toISOString()));
    }
  }

  record(projectId: string | undefined, event: AuditEvent): void {
    if (!this.enabled) {
      return;
    }
    if (this.closed && !this.running) {
      this.dropped.inc({ reason: 'closed' });
      return;
    }
    if (projectId !== undefined && !isUUID(projectId)) {
      // project_id is a uuid column: one malformed id would fail its whole batch.
      this.options.logger.warn({ projectId }, 'audit: not a project id; the event is stored without a project');
      projectId = undefined;
    }
    this.queue.push({ projectId, event });
    this.trimOverflow();
    if (this.queue.length >= this.batchSize && this.retryDelayMs === 0) {
      this.startFlush();
    } else {
      this.schedule(this.retryDelayMs || this.flushIntervalMs);
    }
  }

  /** Writes everything queued so far; stops early (events stay queued for a retry) when PostgreSQL is unreachable. */
  async flush(): Promise<void> {
    // A flush already running may have taken only part of the queue: wait, then take the rest.
    while (this.running || this.queue.length > 0) {
      this.startFlush();
      await this.running;
      if (this.retryDelayMs > 0) {
        return;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running;
    // One last attempt: once closed, a failed batch is dropped rather than retried.
    this.retryDelayMs = 0;
    await this.flush();
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.pool.end();
  }

  private schedule(delayMs: number): void {
    if (!this.timer && !this.closed && this.queue.length > 0) {
      this.timer = setTimeout(() => this.startFlush(), delayMs);
      this.timer.unref();
    }
  }

  private startFlush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.queue.length === 0) {
      return;
    }
    this.running = this.writeQueued().finally(() => {
      this.running = undefined;
      if (this.queue.length >= this.batchSize && this.retryDelayMs === 0) {
        this.startFlush();
      } else {
        this.schedule(this.retryDelayMs || this.flushIntervalMs);
      }
    });
  }

  /**
   * Writes the queue batch by batch. When PostgreSQL cannot be reached the batch goes back to
   * the front of the queue and writing pauses (1 s, doubling up to 30 s); a batch PostgreSQL
   * refuses is dropped, since retrying it would fail forever.
   */
  private async writeQueued(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      try {
        this.written.inc(await writeAuditEvents(this.pool, batch));
        this.retryDelayMs = 0;
      } catch (err) {
        const retry = !this.closed && isUnavailable(err);
        this.logWriteError(err, batch.length, retry);
        if (retry) {
          this.queue.unshift(...batch);
          this.trimOverflow();
          this.retryDelayMs = Math.min(Math.max(this.retryDelayMs * 2, 1000), 30_000);
          return;
        }
        this.dropped.inc({ reason: 'write_failed' }, batch.length);
      }
    }
  }

  /** Drops the oldest events beyond the bound. */
  private trimOverflow(): void {
    const excess = this.queue.length - this.maxQueued;
    if (excess <= 0) {
      return;
    }
    this.queue.splice(0, excess);
    this.dropped.inc({ reason: 'overflow' }, excess);
    if (this.warnedAt('overflow')) {
      this.options.logger.warn(
        { dropped: excess, maxQueued: this.maxQueued },
        'audit: queue full (PostgreSQL falls behind); dropping the oldest AuditEvents'
      );
    }
  }

  private logWriteError(err: unknown, events: number, retry: boolean): void {
    if (this.warnedAt('write')) {
      this.options.logger.error(
        { err, events, queued: this.queue.length },
        retry ? 'audit: PostgreSQL unavailable; AuditEvents kept for a retry' : 'audit: AuditEvents refused; dropped'
      );
    }
  }

  /** At most one log line per kind every 10 s: an outage must not flood the log. */
  private warnedAt(kind: string): boolean {
    const now = Date.now();
    if (now - (this.lastWarning.get(kind) ?? 0) < 10_000) {
      return false;
    }
    this.lastWarning.set(kind, now);
    return true;
  }
}

/**
 * Retry when PostgreSQL could not be reached (socket errors, no answer) or answered that it
 * cannot work now (SQLSTATE classes 08 connection, 53 resources, 57 shutdown); anything else is
 * a refusal of this batch (or a bug), which a retry would only repeat.
 */
function isUnavailable(err: unknown): boolean {
  if (err instanceof pg.DatabaseError) {
    return /^(08|53|57)/.test(err.code ?? '');
  }
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  // Socket errors (ECONNREFUSED, ECONNRESET, …) and pg's own "Connection terminated", "timeout … connect".
  return (typeof code === 'string' && /^E[A-Z]+$/.test(code)) || /connect|terminat|timeout/i.test(String(message));
}
