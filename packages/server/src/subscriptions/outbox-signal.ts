import { EventEmitter } from 'node:events';
import type { Queryable } from '../infra/postgres.js';

/**
 * Tells the relays of this process that a write added an outbox row, so that they claim it
 * at once instead of at their next poll. `db` is where the row was written: the pool (the
 * write is committed already) or a transaction's client (committed when the client is released).
 */
export const outboxWrites = new EventEmitter<{ write: [db: Queryable] }>();
outboxWrites.setMaxListeners(0);

export function signalOutboxWrite(db: Queryable): void {
  outboxWrites.emit('write', db);
}
