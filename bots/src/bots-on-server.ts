import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MedplumClient } from '@medplum/core';
import { startTibaServer, type TibaProcess } from '../../e2e/src/tiba-server.js';
import { buildBots, type listBots } from '../build.mjs';
import { signIn } from '../deploy.mjs';

type BotSource = ReturnType<typeof listBots>[number];

/** A bot integration test's world: the built server, its admin signed in, the bots built (not yet deployed). */
export interface BotsOnServer {
  server: TibaProcess;
  medplum: MedplumClient;
  /** Where the bots were built, for deployBots. */
  distDir: string;
  stop(): Promise<void>;
}

/**
 * The real path every bot's integration test takes: the built server as a child process (its
 * in-process workers deliver), the default project's admin client signed in, `bots` built as
 * `npm run deploy:bots` builds them. `env` adds server settings (a USSD channel, say).
 */
export async function startServerWithBots(bots: BotSource[], env?: Record<string, string>): Promise<BotsOnServer> {
  const server = await startTibaServer({ app: false, env });
  const distDir = mkdtempSync(path.join(tmpdir(), 'tiba-bots-'));
  const stop = async () => {
    await server.stop();
    rmSync(distDir, { recursive: true, force: true });
  };
  try {
    const medplum = await signIn({
      baseUrl: server.baseUrl,
      clientId: server.adminClientId,
      clientSecret: server.adminClientSecret,
    });
    await buildBots({ bots, outDir: distDir });
    return { server, medplum, distDir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The promise, with the server's last output added to its error when it fails. */
export function withServerLog<T>(server: TibaProcess, promise: Promise<T>): Promise<T> {
  return promise.catch((err: Error) => {
    err.message += `\n--- server output ---\n${server.logTail()}`;
    throw err;
  });
}
