import { type Logger, pino } from 'pino';

/** Structured JSON logs; Fastify adds the request id to every line it writes for a request. */
export function createLogger(level: string, enabled = true): Logger {
  return pino({ level, enabled, base: { service: 'tiba' } });
}
