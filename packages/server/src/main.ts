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
await server.listen();
if (config.hostLimitedToLoopback) {
  server.app.log.warn(
    { host: config.host },
    'listening on 127.0.0.1 only because ADMIN_PASSWORD is the default; set ADMIN_PASSWORD or HOST to listen on all interfaces'
  );
}

stopOnSignals(server.app.log, 'Stopping: finishing in-flight requests', () => server.close());
