import { loadConfig } from './config.js';
import { stopOnSignals } from './infra/shutdown.js';
import { createServer } from './server.js';

const config = loadConfig();
const server = await createServer(config, { warmUp: true });
await server.listen();

stopOnSignals(server.app.log, 'Stopping: finishing in-flight requests', () => server.close());
