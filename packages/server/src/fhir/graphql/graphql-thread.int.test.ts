import type { Worker } from 'node:worker_threads';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../../test/test-server.js';
import { sharedGraphqlThread } from './graphql-thread.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

const graphql = (query: string, variables?: Record<string, unknown>) =>
  t.request({ method: 'POST', url: '/fhir/R4/$graphql', payload: { query, variables } });

test('queries run in the worker thread; its reads go through the caller’s repository', async () => {
  const thread = sharedGraphqlThread();
  expect(thread.state).toBe('not started');
  const patient = (
    await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      payload: { resourceType: 'Patient', name: [{ family: 'Threadwell' }] },
    })
  ).json<Patient>();
  const res = await graphql(
    `{ Patient(id: "${patient.id}") { name { family } } PatientList(name: "Threadwell") { id } }`
  );
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual({
    data: { Patient: { name: [{ family: 'Threadwell' }] }, PatientList: [{ id: patient.id }] },
  });
  expect(thread.state).toBe('ready');
}, 120_000);

test('a missing resource is a GraphQL error with the repository’s message, not a fault', async () => {
  const res = await graphql('{ Patient(id: "00000000-0000-4000-8000-000000000000") { id } }');
  expect(res.statusCode).toBe(200);
  expect(res.json()).toMatchObject({ data: { Patient: null }, errors: [{ message: 'Not found', path: ['Patient'] }] });
});

test('mutations write through the caller’s repository, which validates them', async () => {
  const created = await graphql('mutation ($res: PatientCreate!) { PatientCreate(res: $res) { id gender } }', {
    res: { resourceType: 'Patient', gender: 'female', name: [{ family: 'Mutara' }] },
  });
  const id = created.json().data.PatientCreate.id as string;
  expect(created.json().data.PatientCreate.gender).toBe('female');
  const read = await t.request({ method: 'GET', url: `/fhir/R4/Patient/${id}` });
  expect(read.json<Patient>().name?.[0]?.family).toBe('Mutara');

  const invalid = await graphql('mutation ($res: PatientCreate!) { PatientCreate(res: $res) { id } }', {
    res: { resourceType: 'Patient', gender: 'sometimes' },
  });
  expect(invalid.json().data.PatientCreate).toBeNull();
  expect(invalid.json().errors[0].message).toMatch(/gender/i);
});

test('a dead worker fails its queries with 500; the next query starts a new one', async () => {
  // Its insides, to kill the worker while a query is in it.
  const thread = sharedGraphqlThread() as unknown as { worker: Worker; queries: Map<number, unknown>; state: string };
  const pending = graphql('{ PatientList(name: "Threadwell") { id } }');
  while (thread.queries.size === 0) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  await thread.worker.terminate();
  const slow = await pending;
  expect(slow.statusCode).toBe(500);
  expect(thread.state).toBe('failed');

  const again = await graphql('{ PatientList(name: "Threadwell") { id } }');
  expect(again.statusCode).toBe(200);
  expect(again.json().data.PatientList).toHaveLength(1);
  expect(thread.state).toBe('ready');
}, 120_000);
