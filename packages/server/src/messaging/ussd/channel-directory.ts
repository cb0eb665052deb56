import type { WithId } from '@medplum/core';
import type { Bot } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../../repository/repository.js';
import { callbackKeyOf, findMenuBot, findUssdChannel, type UssdChannel } from './ussd-channel.js';

/**
 * How long a service code's channel, key and menu Bot are reused. Every screen needs all three
 * (three queries), within a latency budget; an admin's edit of the Endpoint, the key or the Bot
 * applies within this long.
 */
export const CHANNEL_CACHE_MS = 5000;

export interface ChannelEntry {
  channel: UssdChannel;
  callbackKey?: string;
  /** Undefined when the channel names no Bot of its project. */
  bot?: WithId<Bot>;
}

/** The USSD channels by service code, looked up in the database at most every CHANNEL_CACHE_MS. */
export class UssdChannelDirectory {
  private readonly entries = new Map<string, { entry: Promise<ChannelEntry | 'ambiguous' | undefined>; at: number }>();

  constructor(private readonly systemRepo: PostgresRepository) {}

  lookup(serviceCode: string): Promise<ChannelEntry | 'ambiguous' | undefined> {
    const cached = this.entries.get(serviceCode);
    if (cached && Date.now() - cached.at < CHANNEL_CACHE_MS) {
      return cached.entry;
    }
    const entry = this.load(serviceCode);
    // Unknown codes are not kept: anyone can send those, and they must not fill memory.
    this.entries.set(serviceCode, { entry, at: Date.now() });
    entry.then(
      (found) => found || this.entries.delete(serviceCode),
      () => this.entries.delete(serviceCode)
    );
    return entry;
  }

  private async load(serviceCode: string): Promise<ChannelEntry | 'ambiguous' | undefined> {
    const channel = await findUssdChannel(this.systemRepo, serviceCode);
    if (!channel || channel === 'ambiguous') {
      return channel;
    }
    const [callbackKey, bot] = await Promise.all([
      callbackKeyOf(this.systemRepo, channel),
      findMenuBot(this.systemRepo, channel),
    ]);
    return { channel, callbackKey, bot };
  }
}
