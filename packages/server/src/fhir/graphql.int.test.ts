import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../test/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

// The query MedplumClient.requestSchema() sends before SearchControl and ResourceForm render.
const SCHEMA_QUERY = `{
  StructureDefinitionList(name: "Patient") {
    resourceType, name, kind, description, type,
    snapshot { element { id, path, definition, min, max, base { path, min, max },
      contentReference, type { code, profile, targetProfile }, binding { strength, valueSet } } }
  }
  SearchParameterList(base: "Patient", _count: 100) { base, code, type, expression, target }
}`;

test('requestSchema() gets the Patient StructureDefinition and its SearchParameters', async () => {
  const res = await t.request({ method: 'POST', url: '/fhir/R4/$graphql', payload: { query: SCHEMA_QUERY } });
  expect(res.statusCode).toBe(200);
  const { data } = res.json();
  expect(data.StructureDefinitionList).toHaveLength(1);
  expect(data.StructureDefinitionList[0].name).toBe('Patient');
  expect(data.StructureDefinitionList[0].snapshot.element.length).toBeGreaterThan(20);
  const codes = data.SearchParameterList.map((sp: { code: string }) => sp.code);
  expect(codes).toEqual(expect.arrayContaining(['name', 'birthdate', 'identifier', 'gender']));
});

test('GraphQL reads and searches resources', async () => {
  const created = (
    await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      payload: { resourceType: 'Patient', name: [{ family: 'Graphqlson' }] },
    })
  ).json();
  const res = await t.request({
    method: 'POST',
    url: '/fhir/R4/$graphql',
    payload: {
      query: `{ Patient(id: "${created.id}") { id, name { family } } PatientList(name: "Graphqlson") { id } }`,
    },
  });
  expect(res.statusCode).toBe(200);
  const { data } = res.json();
  expect(data.Patient.name[0].family).toBe('Graphqlson');
  expect(data.PatientList.map((p: { id: string }) => p.id)).toEqual([created.id]);
});

test('a malformed query is a 400 OperationOutcome', async () => {
  const res = await t.request({ method: 'POST', url: '/fhir/R4/$graphql', payload: { query: '{ Patient(id: ' } });
  expect(res.statusCode).toBe(400);
  expect(res.json().resourceType).toBe('OperationOutcome');
});
