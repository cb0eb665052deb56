import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Bundle, ClientApplication, Observation, Patient, Project } from '@medplum/fhirtypes';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../test/free-port.js';
import { startTestServer, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type TestServer } from '../test/test-server.js';

/**
 * Medplum's own CLI (`@medplum/cli`, unmodified) against a listening Tiba: it signs in with
 * client credentials, keeps its session in ~/.medplum (a temporary HOME here) and prints what
 * the token response says about the project and profile.
 */
const CLI = createRequire(import.meta.url).resolve('@medplum/cli');
const run = promisify(execFile);

let t: TestServer;
let baseUrl: string;
let home: string;
let projectName: string;
let clientName: string;

/** Runs `medplum <args>` with only PATH and HOME from here (no MEDPLUM_* of the developer's). */
async function medplum(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args], {
    cwd: home, // the CLI loads a .env from its working directory
    env: { PATH: process.env.PATH ?? '', HOME: home, ...env },
    timeout: 20_000,
  });
  return stdout;
}

beforeAll(async () => {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}/`;
  t = await startTestServer({ BASE_URL: baseUrl });
  await t.app.listen({ port, host: '127.0.0.1' });
  home = await mkdtemp(path.join(tmpdir(), 'tiba-medplum-cli-'));
  const projectId = decodeJwt(t.token).project as string;
  projectName = (await t.request({ method: 'GET', url: `/fhir/R4/Project/${projectId}` })).json<Project>()
    .name as string;
  clientName = (
    await t.request({ method: 'GET', url: `/fhir/R4/ClientApplication/${TEST_CLIENT_ID}` })
  ).json<ClientApplication>().name as string;
});

afterAll(async () => {
  await t?.close();
  if (home) {
    await rm(home, { recursive: true, force: true });
  }
});

describe('medplum CLI', () => {
  test('login with client credentials, then whoami and project list print the names', async () => {
    await medplum([
      'login',
      '--auth-type',
      'client-credentials',
      '--base-url',
      baseUrl,
      '--client-id',
      TEST_CLIENT_ID,
      '--client-secret',
      TEST_CLIENT_SECRET,
    ]);
    const whoami = await medplum(['whoami']);
    expect(whoami).toContain(`Server:  ${baseUrl}`);
    expect(whoami).toContain(`Profile: ${clientName} (ClientApplication/${TEST_CLIENT_ID})`);
    expect(whoami).toMatch(new RegExp(`Project: ${projectName} \\(Project/[0-9a-f-]{36}\\)`));
    expect(await medplum(['project', 'list'])).toMatch(new RegExp(`^${projectName} \\(Project/[0-9a-f-]{36}\\)`));
  });

  test('post and get resources, and a compartment search', async () => {
    const created = JSON.parse(
      await medplum(['post', 'Patient', JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Kamau' }] })])
    ) as Patient;
    expect(created.id).toBeTruthy();
    const read = JSON.parse(await medplum(['get', `Patient/${created.id}`])) as Patient;
    expect(read.name?.[0].family).toBe('Kamau');

    const observation: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '20447-9' }] },
      subject: { reference: `Patient/${created.id}` },
    };
    await medplum(['post', 'Observation', JSON.stringify(observation)]);
    const bundle = JSON.parse(
      await medplum(['get', `Patient/${created.id}/Observation?code=http://loinc.org|20447-9`])
    ) as Bundle;
    expect(bundle.entry?.map((e) => e.resource?.resourceType)).toEqual(['Observation']);
  });

  test('signs in from MEDPLUM_* environment variables alone', async () => {
    await rm(path.join(home, '.medplum'), { recursive: true, force: true });
    const env = {
      MEDPLUM_BASE_URL: baseUrl,
      MEDPLUM_CLIENT_ID: TEST_CLIENT_ID,
      MEDPLUM_CLIENT_SECRET: TEST_CLIENT_SECRET,
    };
    const bundle = JSON.parse(await medplum(['get', 'Patient?family=Kamau'], env)) as Bundle;
    expect(bundle.entry).toHaveLength(1);
  });
});
