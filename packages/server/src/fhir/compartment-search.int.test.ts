import type { WithId } from '@medplum/core';
import type {
  Bundle,
  Condition,
  Device,
  Encounter,
  Observation,
  OperationOutcome,
  Patient,
  Practitioner,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestMember, TestMembers } from '../test/members.js';
import { startTestServer, type TestServer } from '../test/test-server.js';

const BASE = 'http://localhost:8103/fhir/R4/';
const LOINC = 'http://loinc.org';

let t: TestServer;
let members: TestMembers;
let alice: WithId<Patient>;
let bob: WithId<Patient>;
let doctor: WithId<Practitioner>;
let visit: WithId<Encounter>;
let pump: WithId<Device>;
let viralLoad: WithId<Observation>; // subject Alice, in the visit
let alt: WithId<Observation>; // subject Alice, status preliminary
let reportedByAlice: WithId<Observation>; // subject Bob, performer Alice: in both compartments
let bobsOwn: WithId<Observation>; // subject Bob only
let hepatitis: WithId<Condition>; // Alice
let aliceMember: TestMember; // signed in as Alice, patient role

const observation = (patient: Patient, code: string, extra: Partial<Observation> = {}): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: LOINC, code }] },
  subject: { reference: `Patient/${patient.id}` },
  ...extra,
});

const ids = (bundle: Bundle): string[] =>
  (bundle.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`).sort();

async function search(url: string, member?: TestMember): Promise<Bundle> {
  const res = await (member ?? t).request({ method: 'GET', url });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function refused(url: string): Promise<{ status: number; text: string }> {
  const res = await t.request({ method: 'GET', url });
  const outcome = res.json() as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  return { status: res.statusCode, text: outcome.issue?.[0]?.details?.text ?? '' };
}

beforeAll(async () => {
  t = await startTestServer();
  members = await TestMembers.open(t);
  alice = await members.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Wanjiku', given: ['Alice'] }] });
  bob = await members.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Otieno', given: ['Bob'] }] });
  doctor = await members.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Mwangi' }] });
  pump = await members.create<Device>({ resourceType: 'Device', patient: { reference: `Patient/${alice.id}` } });
  visit = await members.create<Encounter>({
    resourceType: 'Encounter',
    status: 'finished',
    class: { code: 'AMB' },
    subject: { reference: `Patient/${alice.id}` },
    participant: [{ individual: { reference: `Practitioner/${doctor.id}` } }],
  });
  viralLoad = await members.create(
    observation(alice, '20447-9', { encounter: { reference: `Encounter/${visit.id}` } })
  );
  alt = await members.create(observation(alice, '1742-6', { status: 'preliminary' }));
  reportedByAlice = await members.create(
    observation(bob, '20447-9', { performer: [{ reference: `Patient/${alice.id}` }] })
  );
  bobsOwn = await members.create(observation(bob, '20447-9', { device: { reference: `Device/${pump.id}` } }));
  hepatitis = await members.create<Condition>({
    resourceType: 'Condition',
    subject: { reference: `Patient/${alice.id}` },
    code: { text: 'Hepatitis B' },
  });
  aliceMember = await members.add(alice, { role: 'patient' });
});

afterAll(async () => {
  await members?.close();
  await t?.close();
});

describe('Patient compartment', () => {
  test('a type: every resource whose compartment parameters reference the patient (subject OR performer)', async () => {
    const bundle = await search(`/fhir/R4/Patient/${alice.id}/Observation`);
    expect(ids(bundle)).toEqual(
      [`Observation/${viralLoad.id}`, `Observation/${alt.id}`, `Observation/${reportedByAlice.id}`].sort()
    );
    expect(ids(await search(`/fhir/R4/Patient/${bob.id}/Observation`))).toEqual(
      [`Observation/${reportedByAlice.id}`, `Observation/${bobsOwn.id}`].sort()
    );
  });

  test('search parameters narrow the compartment', async () => {
    const bundle = await search(`/fhir/R4/Patient/${alice.id}/Observation?code=${LOINC}|20447-9&_total=accurate`);
    expect(ids(bundle)).toEqual([`Observation/${viralLoad.id}`, `Observation/${reportedByAlice.id}`].sort());
    expect(bundle.total).toBe(2);
  });

  test('* searches every member type, the patient included; _type narrows it', async () => {
    const all = await search(`/fhir/R4/Patient/${alice.id}/*`);
    // Not her Device: R4 puts no Device in the Patient compartment.
    expect(ids(all)).toEqual(
      [
        `Patient/${alice.id}`,
        `Encounter/${visit.id}`,
        `Observation/${viralLoad.id}`,
        `Observation/${alt.id}`,
        `Observation/${reportedByAlice.id}`,
        `Condition/${hepatitis.id}`,
      ].sort()
    );
    const narrowed = await search(`/fhir/R4/Patient/${alice.id}/%2A?_type=Condition,Encounter`);
    expect(ids(narrowed)).toEqual([`Condition/${hepatitis.id}`, `Encounter/${visit.id}`].sort());
  });

  test('paging links point back at the compartment and work', async () => {
    const first = await search(`/fhir/R4/Patient/${alice.id}/Observation?_count=2&_sort=_id`);
    const next = first.link?.find((l) => l.relation === 'next')?.url as string;
    expect(next).toBe(`${BASE}Patient/${alice.id}/Observation?_count=2&_offset=2&_sort=_id`);
    const second = await search(next.replace('http://localhost:8103', ''));
    expect(new Set([...ids(first), ...ids(second)]).size).toBe(3);
    expect(second.link?.find((l) => l.relation === 'next')).toBeUndefined();

    const everything = await search(`/fhir/R4/Patient/${alice.id}/*?_count=4`);
    const nextAll = everything.link?.find((l) => l.relation === 'next')?.url as string;
    expect(nextAll).toBe(`${BASE}Patient/${alice.id}/*?_count=4&_offset=4`);
    expect((await search(nextAll.replace('http://localhost:8103', ''))).entry).toHaveLength(2);
  });

  test('POST …/_search with a form body equals GET', async () => {
    const res = await t.request({
      method: 'POST',
      url: `/fhir/R4/Patient/${alice.id}/Observation/_search`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'status=preliminary',
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(ids(res.json())).toEqual([`Observation/${alt.id}`]);
  });

  test('an unknown patient is an empty compartment, not an error', async () => {
    const bundle = await search('/fhir/R4/Patient/no-such-patient/Observation');
    expect(bundle.entry ?? []).toEqual([]);
  });

  test('works inside a batch', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/fhir/R4',
      payload: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ request: { method: 'GET', url: `Patient/${alice.id}/Condition` } }],
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    const inner = res.json().entry[0].resource as Bundle;
    expect(ids(inner)).toEqual([`Condition/${hepatitis.id}`]);
  });
});

describe('other compartments', () => {
  test('Encounter: its own resource and what refers to it by `encounter`', async () => {
    expect(ids(await search(`/fhir/R4/Encounter/${visit.id}/Observation`))).toEqual([`Observation/${viralLoad.id}`]);
    expect(ids(await search(`/fhir/R4/Encounter/${visit.id}/Encounter`))).toEqual([`Encounter/${visit.id}`]);
  });

  test('Practitioner: encounters by participant', async () => {
    expect(ids(await search(`/fhir/R4/Practitioner/${doctor.id}/Encounter`))).toEqual([`Encounter/${visit.id}`]);
    expect(ids(await search(`/fhir/R4/Practitioner/${doctor.id}/Observation`))).toEqual([]);
  });

  test('Device: observations by device', async () => {
    expect(ids(await search(`/fhir/R4/Device/${pump.id}/Observation`))).toEqual([`Observation/${bobsOwn.id}`]);
  });
});

describe('access policies apply', () => {
  test("a patient's search of any compartment returns only what their policy lets them see", async () => {
    const own = await search(`/fhir/R4/Patient/${alice.id}/Observation`, aliceMember);
    expect(ids(own)).toEqual(
      [`Observation/${viralLoad.id}`, `Observation/${alt.id}`, `Observation/${reportedByAlice.id}`].sort()
    );
    // Bob's compartment, seen by Alice: only the observation she performed (in hers too), not Bob himself.
    const other = await search(`/fhir/R4/Patient/${bob.id}/*`, aliceMember);
    expect(ids(other)).toEqual([`Observation/${reportedByAlice.id}`]);
    const forbidden = await aliceMember.request({ method: 'GET', url: `/fhir/R4/Patient/${bob.id}/Flag` });
    expect(forbidden.statusCode).toBe(403);
  });
});

describe('refusals', () => {
  test('a type outside the compartment: 400 naming it', async () => {
    expect(await refused(`/fhir/R4/Patient/${alice.id}/Organization`)).toEqual({
      status: 400,
      text: 'Not in the Patient compartment: Organization',
    });
    expect((await refused(`/fhir/R4/Patient/${alice.id}/*?_type=Condition,Medication`)).text).toBe(
      'Not in the Patient compartment: Medication'
    );
  });

  test('not a compartment, or not a resource type: 404', async () => {
    const notCompartment = await refused(`/fhir/R4/Observation/${viralLoad.id}/Patient`);
    expect(notCompartment.status).toBe(404);
    expect(notCompartment.text).toContain('Not a compartment: Observation');
    expect(await refused(`/fhir/R4/Patient/${alice.id}/Nonsense`)).toEqual({
      status: 404,
      text: 'Unknown resource type: Nonsense',
    });
    expect((await refused(`/fhir/R4/Patient/${alice.id}/$no-such-operation`)).status).toBe(404);
  });

  test('bad input: an invalid id, _type on a single type, an unknown parameter', async () => {
    expect((await refused('/fhir/R4/Patient/bad!id/Observation')).status).toBe(400);
    expect((await refused(`/fhir/R4/Patient/${alice.id}/Observation?_type=Condition`)).status).toBe(400);
    expect(await refused(`/fhir/R4/Patient/${alice.id}/Observation?nonsense=1`)).toEqual({
      status: 400,
      text: 'Unknown search parameter: nonsense',
    });
  });

  test('the search cost limits of other searches apply (SEARCH_MAX_PARAMETERS)', async () => {
    const query = Array.from({ length: t.config.searchLimits.maxParameters + 1 }, () => 'status=final').join('&');
    const res = await t.request({ method: 'GET', url: `/fhir/R4/Patient/${alice.id}/Observation?${query}` });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('SEARCH_MAX_PARAMETERS');
  });

  test('instance routes with a literal segment still win', async () => {
    const res = await t.request({ method: 'GET', url: `/fhir/R4/Patient/${alice.id}/_history` });
    expect(res.statusCode).toBe(200);
    expect(res.json().type).toBe('history');
  });
});
