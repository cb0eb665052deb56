import type { WithId } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import type { Redis } from 'ioredis';

/** Africa's Talking ends a USSD session after 180 s; Tiba ends it there too, whatever the gateway does. */
export const USSD_SESSION_LIMIT_MS = 180_000;
/** Kept this long past the limit, so a late screen meets "time is up" rather than "unknown session". */
const EXPIRY_MARGIN_MS = 60_000;
/** A bot's state for one session; larger is a bot bug (and would fill Redis). */
export const MAX_STATE_BYTES = 16 * 1024;

export interface UssdSession {
  /** When the first screen was asked for (ms since the epoch, the server's clock). */
  startedAt: number;
  phoneNumber: string;
  patientId?: string;
  /** The matched Patient as read on the first screen: the bot sees the same one on every screen, without a read each. */
  patient?: WithId<Patient>;
  /** `text` as last answered: the inputs so far, joined by `*`. */
  text: string;
  /** The last screen sent (`CON …`), answered again when the gateway repeats a request. */
  screen: string;
  /** The bot's own state, handed back to it on the next screen. */
  state: unknown;
  /** Each input, in order, as the patient typed it (for the session's record). */
  inputs: string[];
}

/**
 * Sessions in Redis, one key per channel and session id under REDIS_KEY_PREFIX, expiring with
 * the session (the absolute limit itself is checked against `startedAt` on every screen).
 */
export class UssdSessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string
  ) {}

  private key(channelId: string, sessionId: string): string {
    return `${this.prefix}ussd:${channelId}:${sessionId}`;
  }

  async read(channelId: string, sessionId: string): Promise<UssdSession | undefined> {
    const raw = await this.redis.get(this.key(channelId, sessionId));
    if (!raw) {
      return undefined;
    }
    try {
      return JSON.parse(raw) as UssdSession;
    } catch {
      return undefined; // not ours to read: treated as no session
    }
  }

  /** Stores the session until its absolute limit (plus a margin) as measured by `now`. */
  async save(channelId: string, sessionId: string, session: UssdSession, now: number): Promise<void> {
    const ttl = Math.max(1000, session.startedAt + USSD_SESSION_LIMIT_MS + EXPIRY_MARGIN_MS - now);
    await this.redis.set(this.key(channelId, sessionId), JSON.stringify(session), 'PX', ttl);
  }

  /** True when this call removed it: of two requests ending one session at once, only one records it. */
  async delete(channelId: string, sessionId: string): Promise<boolean> {
    return (await this.redis.del(this.key(channelId, sessionId))) === 1;
  }
}
