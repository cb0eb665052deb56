import { loadConfig } from './config.js';
import { createServer } from './server.js';

const config = loadConfig();
const server = await createServer(config, { warmUp: true });
await server.listen();

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) {
      return;
    }
    stopping = true;
    server.app.log.info({ signal }, 'Stopping: finishing in-flight requests');
    server.close().then(
      () => process.exit(0),
      (err) => {
        server.app.log.error({ err }, 'Unclean stop');
        process.exit(1);
      }
    );
  });
}
