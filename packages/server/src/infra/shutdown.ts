import type { FastifyBaseLogger } from 'fastify';

/**
 * On the first SIGTERM or SIGINT: logs `message`, runs `stop` (finish in-flight work, close pools),
 * then exits 0, or 1 when stopping failed. Later signals are ignored while stopping.
 */
export function stopOnSignals(logger: FastifyBaseLogger, message: string, stop: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) {
        return;
      }
      stopping = true;
      logger.info({ signal }, message);
      stop().then(
        () => process.exit(0),
        (err) => {
          logger.error({ err }, 'Unclean stop');
          process.exit(1);
        }
      );
    });
  }
}
