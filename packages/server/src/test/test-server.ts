import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { inject } from 'vitest';
import { loadConfig, type TibaConfig } from '../config.js';
import { createServer, type TibaServer } from '../server.js';
import { createDatabase, dropDatabase, randomDatabaseName } from './test-database.js';

export interface TestServer {
  app: FastifyInstance;
  config: Readonly<TibaConfig>;
  server: TibaServer;
  /** A bearer token of the default project's admin client. */
  token: string;
  /** app.inject with the admin token and FHIR JSON headers. */
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export const TEST_CLIENT_ID = 'test-admin-client';
export const TEST_CLIENT_SECRET = 'test-admin-secret-0123456789';

/**
 * A real server on a database of its own (copied from the run's template), real Redis,
 * requests through Fastify's inject. `env` overrides configuration.
 */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const name = randomDatabaseName();
  const url = await createDatabase(name, inject('templateDatabase'));
  const config = loadConfig({
    DATABASE_URL: url,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    BASE_URL: 'http://localhost:8103/',
    ADMIN_CLIENT_ID: TEST_CLIENT_ID,
    ADMIN_CLIENT_SECRET: TEST_CLIENT_SECRET,
    ADMIN_PASSWORD: 'test-admin-password',
    DATABASE_POOL_SIZE: '8',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Rate-limit and sign-in throttle counters of its own: parallel test servers share one Redis.
    REDIS_KEY_PREFIX: `${name}:`,
    // Rest-hook receivers in tests listen on 127.0.0.1.
    REST_HOOK_ALLOWED_HOSTS: '*',
    ...env,
  });
  const server = await createServer(config, { logger: Boolean(process.env.TEST_LOG_LEVEL) });
  const app = server.app;
  const tokenResponse = await app.inject({
    method: 'POST',
    url: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `grant_type=client_credentials&client_id=${TEST_CLIENT_ID}&client_secret=${TEST_CLIENT_SECRET}`,
  });
  const token = tokenResponse.json().access_token as string;
  if (!token) {
    throw new Error(`Could not get a test token: ${tokenResponse.body}`);
  }
  return {
    app,
    config,
    server,
    token,
    request: (options) =>
      app.inject({
        ...options,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/fhir+json',
          ...(options.payload !== undefined && typeof options.payload === 'object' && !Buffer.isBuffer(options.payload)
            ? { 'content-type': 'application/fhir+json' }
            : undefined),
          ...options.headers,
        },
      }),
    close: async () => {
      await server.close();
      await dropDatabase(name);
    },
  };
}
