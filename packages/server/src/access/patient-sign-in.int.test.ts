import type { MedplumClient, WithId } from '@medplum/core';
import type { Observation, ProjectMembership } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { newMedplumClient, type SignInTestServer, startSignInTestServer } from '../auth/sign-in.fixtures.js';

/**
 * The whole path a patient takes: an admin invites two patients through the admin API, patient A
 * signs in with MedplumClient (auth/login + oauth2/token, as the web app does) and uses the
 * shipped patient role. The exhaustive per-path checks are in access.int.test.ts.
 */
let server: SignInTestServer;
let admin: MedplumClient;
let alice: MedplumClient;
let aliceObservation: WithId<Observation>;
let bobObservation: WithId<Observation>;

async function invitePatient(firstName: string, email: string): Promise<WithId<ProjectMembership>> {
  return admin.post(`admin/projects/${server.defaultProject.id}/invite`, {
    resourceType: 'Patient',
    firstName,
    lastName: 'Tester',
    email,
    password: `${firstName}-long-passphrase-42`,
  });
}

const weight = (subject: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
  subject: { reference: subject },
  valueQuantity: { value: 61, unit: 'kg' },
});

beforeAll(async () => {
  server = await startSignInTestServer();
  admin = newMedplumClient(server.url);
  admin.setAccessToken(server.token);
  const aliceMembership = await invitePatient('Alice', 'alice@example.org');
  const bobMembership = await invitePatient('Bob', 'bob@example.org');
  aliceObservation = await admin.createResource(weight(aliceMembership.profile?.reference as string));
  bobObservation = await admin.createResource(weight(bobMembership.profile?.reference as string));
  alice = newMedplumClient(server.url);
  const login = await alice.startLogin({ email: 'alice@example.org', password: 'Alice-long-passphrase-42' });
  await alice.processCode(login.code as string);
});

afterAll(async () => {
  await server?.close();
});

describe('a patient signed in through MedplumClient', () => {
  test('has a patient profile and the shipped patient policy', async () => {
    expect(alice.getProfile()?.resourceType).toBe('Patient');
    const me = await alice.get('auth/me', { cache: 'no-cache' });
    expect(JSON.stringify(me.accessPolicy)).toContain(`"Patient/${alice.getProfile()?.id}"`);
  });

  test('reads and searches their own results only', async () => {
    expect((await alice.readResource('Observation', aliceObservation.id)).id).toBe(aliceObservation.id);
    await expect(alice.readResource('Observation', bobObservation.id)).rejects.toThrow(/Not found/);
    const found = await alice.searchResources('Observation', { code: '29463-7', _total: 'accurate' });
    expect(found.map((o) => o.id)).toEqual([aliceObservation.id]);
    expect(found.bundle.total).toBe(1);
  });

  test('cannot change their results or another patient', async () => {
    await expect(alice.updateResource({ ...aliceObservation, status: 'cancelled' })).rejects.toThrow(/Forbidden/);
    await expect(alice.deleteResource('Observation', bobObservation.id)).rejects.toThrow(/Not found/);
  });

  test('cannot invite anyone', async () => {
    await expect(
      alice.post(`admin/projects/${server.defaultProject.id}/invite`, {
        resourceType: 'Patient',
        firstName: 'Eve',
        lastName: 'Tester',
        email: 'eve@example.org',
      })
    ).rejects.toThrow();
  });
});
