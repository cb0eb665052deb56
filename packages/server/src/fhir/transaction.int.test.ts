import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../test/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

async function countPatients(family: string): Promise<number> {
  const res = await t.request({ method: 'GET', url: `/fhir/R4/Patient?family=${family}&_total=accurate` });
  return (res.json() as Bundle).total ?? -1;
}

describe('transaction bundles', () => {
  test('resolves urn:uuid references whatever the entry order', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:0b7c1a0e-1f6a-4c5e-9a4b-2d7e1f0a9c11',
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { coding: [{ system: 'http://loinc.org', code: '1742-6' }] },
            subject: { reference: 'urn:uuid:7f1f3a52-7a7e-4c0e-8e2b-5f1e2c3d4b5a' },
          },
          request: { method: 'POST', url: 'Observation' },
        },
        {
          fullUrl: 'urn:uuid:7f1f3a52-7a7e-4c0e-8e2b-5f1e2c3d4b5a',
          resource: { resourceType: 'Patient', name: [{ family: 'Ordering' }] },
          request: { method: 'POST', url: 'Patient' },
        },
      ],
    };
    const res = await t.request({ method: 'POST', url: '/fhir/R4', payload: bundle });
    expect(res.statusCode).toBe(200);
    const result = res.json() as Bundle;
    expect(result.type).toBe('transaction-response');
    const observationUrl = result.entry?.[0].response?.location as string;
    const patientUrl = result.entry?.[1].response?.location as string;
    const observationId = observationUrl.split('/')[1];
    const obs = (
      await t.request({ method: 'GET', url: `/fhir/R4/Observation/${observationId}` })
    ).json() as Observation;
    expect(obs.subject?.reference).toBe(`Patient/${patientUrl.split('/')[1]}`);
  });

  test('is atomic: one failing entry writes nothing', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: { resourceType: 'Patient', name: [{ family: 'Atomic' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: { resourceType: 'Patient', name: [{ family: 'Atomic' }], gender: 'blue' } as unknown as Patient,
          request: { method: 'POST', url: 'Patient' },
        },
      ],
    };
    const res = await t.request({ method: 'POST', url: '/fhir/R4', payload: bundle });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    expect(res.json().resourceType).toBe('OperationOutcome');
    expect(await countPatients('Atomic')).toBe(0);
  });

  test('ifNoneExist inside a transaction does not duplicate', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: {
            resourceType: 'Patient',
            name: [{ family: 'Once' }],
            identifier: [{ system: 'urn:test', value: 'once' }],
          },
          request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:test|once' },
        },
      ],
    };
    expect((await t.request({ method: 'POST', url: '/fhir/R4', payload: bundle })).statusCode).toBe(200);
    expect((await t.request({ method: 'POST', url: '/fhir/R4', payload: bundle })).statusCode).toBe(200);
    expect(await countPatients('Once')).toBe(1);
  });

  test('batch entries succeed or fail independently', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          resource: { resourceType: 'Patient', name: [{ family: 'BatchOk' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        { request: { method: 'GET', url: 'Patient/does-not-exist' } },
      ],
    };
    const res = await t.request({ method: 'POST', url: '/fhir/R4', payload: bundle });
    expect(res.statusCode).toBe(200);
    const result = res.json() as Bundle;
    expect(result.entry?.[0].response?.status).toMatch(/^201/);
    expect(result.entry?.[1].response?.status).toMatch(/^404/);
    expect(await countPatients('BatchOk')).toBe(1);
  });
});
