import { beforeAll, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../fhir/definitions.js';
import { validateFhirResource } from '../fhir/validation/validate-resource.js';
import { computeSearchRows } from '../repository/search/index-values.js';
import { outcomeOfStatus, restAuditEvent, signInAuditEvent } from './audit-event.js';

beforeAll(() => loadFhirDefinitions());

const observer = { display: 'http://localhost:8103/' };
const recorded = '2024-05-03T10:00:00.000Z';

test('the outcome follows the HTTP status: 0 success, 4 the caller’s failure, 8 the server’s', () => {
  expect([200, 201, 204, 304, 400, 401, 403, 404, 409, 412, 429, 500, 503].map(outcomeOfStatus)).toEqual([
    '0',
    '0',
    '0',
    '0',
    '4',
    '4',
    '4',
    '4',
    '4',
    '4',
    '4',
    '8',
    '8',
  ]);
});

test('REST events: restful-interaction subtype, CRUDE action, the caller and its client, valid R4', () => {
  const search = restAuditEvent(observer, {
    interaction: 'search',
    caller: { profile: 'Practitioner/p1', clientId: 'app-1', ip: '203.0.113.1' },
    query: 'Observation?subject=Patient/1&code=8480-6',
    status: 200,
    recorded,
  });
  expect(search.subtype).toEqual([
    { system: 'http://hl7.org/fhir/restful-interaction', code: 'search', display: 'search' },
  ]);
  expect(search.action).toBe('R');
  expect(search.agent.map((a) => [a.who?.reference, a.requestor])).toEqual([
    ['Practitioner/p1', true],
    ['ClientApplication/app-1', false],
  ]);
  expect(search.entity).toEqual([
    {
      query: Buffer.from('Observation?subject=Patient/1&code=8480-6').toString('base64'),
      description: 'Observation?subject=Patient/1&code=8480-6',
    },
  ]);
  const failedDelete = restAuditEvent(observer, {
    interaction: 'delete',
    caller: { profile: 'ClientApplication/app-1', clientId: 'app-1', ip: '203.0.113.1' },
    what: 'Patient/1',
    status: 500,
    outcomeDesc: 'Internal server error',
    recorded,
  });
  expect(failedDelete.action).toBe('D');
  expect(failedDelete.outcome).toBe('8');
  // A client acting as itself is one agent.
  expect(failedDelete.agent).toHaveLength(1);
  for (const event of [search, failedDelete]) {
    expect(() => validateFhirResource(event)).not.toThrow();
  }
});

test('sign-in events: DICOM User Authentication / Login, the email tried when no one is known', () => {
  const event = signInAuditEvent(
    observer,
    { outcome: 'failure', method: 'password', ip: '203.0.113.2', email: 'a@example.com', reason: 'wrong password' },
    recorded
  );
  expect(event.type).toEqual({
    system: 'http://dicom.nema.org/resources/ontology/DCM',
    code: '110114',
    display: 'User Authentication',
  });
  expect(event.subtype).toEqual([
    { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110122', display: 'Login' },
  ]);
  expect(event.outcome).toBe('4');
  expect(event.agent[0]).toEqual({
    who: { display: 'a@example.com' },
    altId: 'a@example.com',
    requestor: true,
    network: { address: '203.0.113.2', type: '2' },
  });
  expect(() => validateFhirResource(event)).not.toThrow();
});

test('a malformed target named by a client is kept as text, not as a reference', () => {
  const event = restAuditEvent(
    { display: 'http://localhost:8103/' },
    {
      interaction: 'read',
      caller: { profile: 'Practitioner/1', ip: '127.0.0.1' },
      what: `Patient/x\u0000${'y'.repeat(5000)}`,
      status: 404,
      recorded: '2026-11-22T00:00:00.000Z',
    }
  );
  expect(event.entity?.[0].what).toBeUndefined();
  expect(event.entity?.[0].description).toMatch(/^Patient\/x\ufffdy+$/);
  expect(event.entity?.[0].description?.length).toBeLessThanOrEqual(2048);
  expect(computeSearchRows(event).reference.some((r) => r.code === 'entity')).toBe(false);
});
