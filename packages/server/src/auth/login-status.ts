import type { PostgresRepository } from '../repository/repository.js';
import { readLogin } from './logins.js';

/** How long a process trusts what it read about a Login; other processes learn of a revocation within this. */
export const LOGIN_STATUS_TTL_MS = 10_000;
const CACHE_LIMIT = 50_000;

interface Entry {
  active: boolean;
  until: number;
}

/**
 * Answers "is this Login still valid?" for every authenticated request. Reading the Login on each
 * request would cost a query per read, so the answer is remembered for a few seconds; a
 * revocation in this process takes effect at once (`markRevoked`).
 */
export class LoginStatus {
  private readonly cache = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<boolean>>();

  constructor(
    private readonly systemRepo: PostgresRepository,
    private readonly ttlMs = LOGIN_STATUS_TTL_MS
  ) {}

  async isActive(loginId: string): Promise<boolean> {
    const now = Date.now();
    const cached = this.cache.get(loginId);
    if (cached && (cached.until > now || !cached.active)) {
      // A revoked login never comes back: no need to read it again.
      return cached.active;
    }
    let read = this.pending.get(loginId);
    if (!read) {
      read = this.read(loginId).finally(() => this.pending.delete(loginId));
      this.pending.set(loginId, read);
    }
    return read;
  }

  /** Called by logout and refresh-token reuse detection, after the Login is written revoked. */
  markRevoked(loginId: string): void {
    this.remember(loginId, false);
  }

  private async read(loginId: string): Promise<boolean> {
    const login = await readLogin(this.systemRepo, loginId);
    const active = login !== undefined && !login.revoked;
    this.remember(loginId, active);
    return active;
  }

  private remember(loginId: string, active: boolean): void {
    if (active && this.cache.get(loginId)?.active === false) {
      return; // a read that started before a revocation must not undo it
    }
    if (this.cache.size >= CACHE_LIMIT) {
      this.cache.delete(this.cache.keys().next().value as string);
    }
    this.cache.delete(loginId);
    this.cache.set(loginId, { active, until: Date.now() + this.ttlMs });
  }
}
