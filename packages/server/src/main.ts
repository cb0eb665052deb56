import { loadConfig } from './config.js';
import { sharedGraphqlThread } from './fhir/graphql/graphql-thread.js';
import { stopOnSignals } from './infra/shutdown.js';
import { createServer } from './server.js';

const config = loadConfig();
// The GraphQL schema takes seconds to build (in its worker thread): start it before the database work.
void sharedGraphqlThread()
  .start()
  .catch(() => undefined);
const server = await createServer(config, { warmUp: true });
const address = await server.listen().catch(async (err: NodeJS.ErrnoException) => {
  // One clear line instead of a stack trace (the e2e harness reads the code to pick another port).
  const reason = err.code === 'EADDRINUSE' ? `port ${config.port} is in use (EADDRINUSE)` : err.message;
  server.app.log.fatal({ code: err.code }, `Cannot listen on ${config.host}:${config.port}: ${reason}`);
  await server.close().catch(() => undefined);
  process.exit(1);
});
// A parent that started this server over IPC (the e2e harness) learns that this process listens.
process.send?.({ event: 'listening', address }, () => process.disconnect?.());
if (config.hostLimitedToLoopback) {
  server.app.log.warn(
    { host: config.host },
    'listening on 127.0.0.1 only because ADMIN_PASSWORD is the default; set ADMIN_PASSWORD or HOST to listen on all interfaces'
  );
}

stopOnSignals(server.app.log, 'Stopping: finishing in-flight requests', () => server.close());
