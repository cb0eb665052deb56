import type { AuditEvent } from '@medplum/fhirtypes';
import { beforeAll, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../fhir/definitions.js';
import { computeSearchRows } from '../repository/search/index-values.js';
import { restAuditEvent, signInAuditEvent } from './audit-event.js';
import { auditEventSearchRows, hasBuiltShape } from './audit-search-rows.js';

beforeAll(() => loadFhirDefinitions());

const observer = { display: 'http://localhost:8103/' };
const recorded = '2024-05-03T10:00:00.123Z';
const meta = {
  versionId: '0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b',
  lastUpdated: recorded,
  project: '0b7e5f4c-5a52-4c8e-9d4f-2b8f1f9f3a10',
  author: { reference: 'system' },
};
const practitioner = { profile: 'Practitioner/p-1', clientId: 'app-1', ip: '203.0.113.1' };

/** As stored: with the id and meta writeAuditEvents gives every event. */
function stored(event: AuditEvent, id = '0190a1b2-c3d4-7e5f-8a6b-000000000001'): AuditEvent {
  return { ...event, id, meta };
}

const events: Record<string, AuditEvent> = {
  read: restAuditEvent(observer, {
    interaction: 'read',
    caller: practitioner,
    what: 'Patient/0b9f3b9e-8d1c-4f0e-9b7a-2c3d4e5f6a7c',
    status: 200,
    recorded,
  }),
  'search of a patient signed in as a patient': restAuditEvent(observer, {
    interaction: 'search',
    caller: { profile: 'Patient/pat-1', clientId: 'app-1', ip: '2001:db8::1' },
    query: 'Observation?subject=Patient/pat-1&code=http://loinc.org|8480-6',
    status: 200,
    recorded,
  }),
  'read of oneself by a patient': restAuditEvent(observer, {
    interaction: 'read',
    caller: { profile: 'Patient/pat-1', ip: '203.0.113.9' },
    what: 'Patient/pat-1',
    status: 200,
    recorded,
  }),
  create: restAuditEvent(observer, {
    interaction: 'create',
    caller: { profile: 'ClientApplication/app-1', clientId: 'app-1', ip: '127.0.0.1' },
    what: 'Observation/obs-1',
    status: 201,
    recorded,
  }),
  'failed update': restAuditEvent(observer, {
    interaction: 'update',
    caller: practitioner,
    what: 'Patient/x',
    query: 'Patient?identifier=urn:x|1',
    status: 412,
    outcomeDesc: 'Version mismatch',
    recorded,
  }),
  'vread (a versioned reference)': restAuditEvent(observer, {
    interaction: 'vread',
    caller: practitioner,
    what: 'Patient/pat-1/_history/v2',
    status: 200,
    recorded,
  }),
  'system history, no caller IP': restAuditEvent(observer, {
    interaction: 'history',
    caller: { profile: 'Practitioner/p-1', ip: '' },
    query: '_history',
    status: 200,
    recorded,
  }),
  'sign-in success': signInAuditEvent(
    observer,
    {
      outcome: 'success',
      method: 'password',
      ip: '203.0.113.5',
      projectId: meta.project,
      who: 'Practitioner/p-1',
      email: 'Doctor@Example.com',
      clientId: 'app-1',
    },
    recorded
  ),
  'sign-in failure': signInAuditEvent(
    observer,
    { outcome: 'failure', method: 'password', ip: '203.0.113.5', email: 'x@example.com', reason: 'invalid password' },
    recorded
  ),
  'client sign-in': signInAuditEvent(
    observer,
    {
      outcome: 'success',
      method: 'client_credentials',
      ip: '10.0.0.1',
      who: 'ClientApplication/app-1',
      clientId: 'app-1',
    },
    '2024-05-03T10:00:00Z'
  ),
};

test.each(Object.entries(events))('the rows of an AuditEvent equal computeSearchRows: %s', (_, event) => {
  // The direct path, not the fallback to computeSearchRows, is what is compared.
  expect(hasBuiltShape(stored(event))).toBe(true);
  const rows = auditEventSearchRows(stored(event));
  expect(rows).toEqual(computeSearchRows(stored(event)));
  // Stored without a project (a failed sign-in before any project was chosen).
  const withoutProject = { ...event, id: 'a', meta: { ...meta, project: undefined } };
  expect(auditEventSearchRows(withoutProject)).toEqual(computeSearchRows(withoutProject));
});

test('the rows name every value searched by the standard parameters', () => {
  const rows = auditEventSearchRows(stored(events['search of a patient signed in as a patient']));
  expect(rows.token.map((r) => r.code)).toEqual(['_project', 'action', 'outcome', 'subtype', 'type']);
  expect(rows.string).toEqual([
    { code: 'address', value: '2001:db8::1', norm: '2001:db8::1', whole: true, part: null },
  ]);
  expect(rows.date).toEqual([{ code: 'date', start: recorded, end: recorded }]);
  expect(rows.reference.map((r) => [r.code, r.reference])).toEqual([
    ['agent', 'Patient/pat-1'],
    ['agent', 'ClientApplication/app-1'],
    ['patient', 'Patient/pat-1'],
  ]);
});

test('an AuditEvent with other elements is indexed by every SearchParameter', () => {
  const event = stored(events.read);
  const richer: AuditEvent = {
    ...event,
    meta: { ...meta, tag: [{ system: 'urn:t', code: 'x' }] },
    agent: [{ ...event.agent[0], name: 'Dr Who', role: [{ text: 'attending' }] }],
    entity: [{ what: { reference: 'Patient/1', identifier: { system: 'urn:mrn', value: '42' } }, name: 'chart' }],
    source: { observer: { reference: 'Device/d-1' }, site: 'ward 3' },
  };
  expect(hasBuiltShape(richer)).toBe(false);
  const rows = auditEventSearchRows(richer);
  expect(rows).toEqual(computeSearchRows(richer));
  expect(rows.string.map((r) => r.code)).toContain('agent-name');
  expect(rows.reference.map((r) => r.code)).toContain('source');
});
