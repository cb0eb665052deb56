import type { WithId } from '@medplum/core';
import type {
  AccessPolicy,
  Bundle,
  ClientApplication,
  Condition,
  Observation,
  Patient,
  Practitioner,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestMember, TestMembers } from '../test/members.js';
import { startTestServer, type TestServer } from '../test/test-server.js';
import { ensureRolePolicy, rolePolicyId } from './roles.js';

let server: TestServer;
let members: TestMembers;
let patientA: WithId<Patient>;
let patientB: WithId<Patient>;
let obsA: WithId<Observation>;
let obsB: WithId<Observation>;
let condB: WithId<Condition>;
let alice: TestMember; // patient A
let clinician: TestMember;

const observation = (patient: WithId<Patient>, code: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  subject: { reference: `Patient/${patient.id}` },
});

const ids = (bundle: Bundle): string[] =>
  (bundle.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);

beforeAll(async () => {
  server = await startTestServer();
  members = await TestMembers.open(server);
  patientA = await members.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Apple', given: ['Alice'] }] });
  patientB = await members.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Banana', given: ['Bob'] }] });
  obsA = await members.create(observation(patientA, '29463-7'));
  obsB = await members.create(observation(patientB, '29463-7'));
  condB = await members.create<Condition>({
    resourceType: 'Condition',
    subject: { reference: `Patient/${patientB.id}` },
    code: { text: 'Hepatitis B' },
  });
  alice = await members.add(patientA, { role: 'patient' });
  const practitioner = await members.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Who' }] });
  clinician = await members.add(practitioner, { role: 'clinician' });
});

afterAll(async () => {
  await members?.close();
  await server?.close();
});

describe('compartments', () => {
  test('writes record the patient compartments in meta.compartment, whatever the client sent', async () => {
    const res = await server.request({
      method: 'POST',
      url: '/fhir/R4/Observation',
      payload: { ...observation(patientA, '1234-5'), meta: { compartment: [{ reference: `Patient/${patientB.id}` }] } },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().meta.compartment).toEqual([{ reference: `Patient/${patientA.id}` }]);
    expect(patientA.meta?.compartment).toEqual([{ reference: `Patient/${patientA.id}` }]);
  });
});

describe('a patient sees only their own record', () => {
  test('read', async () => {
    expect((await alice.request({ method: 'GET', url: `/fhir/R4/Patient/${patientA.id}` })).statusCode).toBe(200);
    expect((await alice.request({ method: 'GET', url: `/fhir/R4/Observation/${obsA.id}` })).statusCode).toBe(200);
    const other = await alice.request({ method: 'GET', url: `/fhir/R4/Observation/${obsB.id}` });
    expect(other.statusCode).toBe(404);
    expect(other.body).not.toContain(patientB.id);
    expect((await alice.request({ method: 'GET', url: `/fhir/R4/Patient/${patientB.id}` })).statusCode).toBe(404);
  });

  test('vread and history of another patient', async () => {
    const vid = obsB.meta?.versionId;
    expect(
      (await alice.request({ method: 'GET', url: `/fhir/R4/Observation/${obsB.id}/_history/${vid}` })).statusCode
    ).toBe(404);
    expect((await alice.request({ method: 'GET', url: `/fhir/R4/Observation/${obsB.id}/_history` })).statusCode).toBe(
      404
    );
    const typeHistory = await alice.request({ method: 'GET', url: '/fhir/R4/Observation/_history' });
    expect(typeHistory.statusCode).toBe(200);
    expect(ids(typeHistory.json())).toContain(`Observation/${obsA.id}`);
    expect(typeHistory.body).not.toContain(patientB.id);
    const systemHistory = await alice.request({ method: 'GET', url: '/fhir/R4/_history?_count=1000' });
    expect(systemHistory.statusCode).toBe(200);
    expect(systemHistory.body).not.toContain(patientB.id);
  });

  test('search, with totals filtered in SQL', async () => {
    const res = await alice.request({ method: 'GET', url: '/fhir/R4/Observation?code=29463-7&_total=accurate' });
    expect(res.statusCode).toBe(200);
    expect(ids(res.json())).toEqual([`Observation/${obsA.id}`]);
    expect(res.json().total).toBe(1);
    const patients = await alice.request({ method: 'GET', url: '/fhir/R4/Patient?_total=accurate' });
    expect(ids(patients.json())).toEqual([`Patient/${patientA.id}`]);
    expect(patients.json().total).toBe(1);
    const bySubject = await alice.request({
      method: 'GET',
      url: `/fhir/R4/Observation?subject=Patient/${patientB.id}`,
    });
    expect(bySubject.json().entry ?? []).toEqual([]);
  });

  test('_include and _revinclude', async () => {
    const included = await alice.request({ method: 'GET', url: '/fhir/R4/Observation?_include=Observation:subject' });
    expect(included.statusCode).toBe(200);
    expect(included.body).not.toContain(patientB.id);
    expect(ids(included.json())).toContain(`Patient/${patientA.id}`);
    const revincluded = await alice.request({
      method: 'GET',
      url: '/fhir/R4/Patient?_revinclude=Observation:subject&_revinclude=Condition:subject',
    });
    expect(revincluded.body).not.toContain(obsB.id);
    expect(revincluded.body).not.toContain(condB.id);
  });

  test('chained search and _has cannot probe another patient', async () => {
    const chained = await alice.request({ method: 'GET', url: '/fhir/R4/Observation?subject:Patient.name=Banana' });
    expect(chained.statusCode).toBe(200);
    expect(chained.json().entry ?? []).toEqual([]);
    // Alice's own Patient, filtered by a Condition she may not read: must not match.
    const has = await members.create<Condition>({
      resourceType: 'Condition',
      subject: { reference: `Patient/${patientA.id}` },
      code: { text: 'secret' },
    });
    expect(has.id).toBeDefined();
    const reverse = await alice.request({
      method: 'GET',
      url: `/fhir/R4/Patient?_has:Observation:subject:code=29463-7&_id=${patientB.id}`,
    });
    expect(reverse.json().entry ?? []).toEqual([]);
  });

  test('GraphQL', async () => {
    const res = await alice.request({
      method: 'POST',
      url: '/fhir/R4/$graphql',
      payload: { query: `{ ObservationList { id subject { reference } } Patient(id: "${patientB.id}") { id } }` },
    });
    expect(res.body).not.toContain(obsB.id);
    const list = res.json().data?.ObservationList ?? [];
    expect(list.map((o: { id: string }) => o.id)).toContain(obsA.id);
    expect(
      list.every((o: { subject: { reference: string } }) => o.subject.reference === `Patient/${patientA.id}`)
    ).toBe(true);
    expect(res.json().data?.Patient ?? null).toBeNull();
  });

  test('update, patch and delete of anything of another patient', async () => {
    const update = await alice.request({
      method: 'PUT',
      url: `/fhir/R4/Observation/${obsB.id}`,
      payload: { ...obsB, status: 'cancelled' },
    });
    expect(update.statusCode).toBe(404);
    const patch = await alice.request({
      method: 'PATCH',
      url: `/fhir/R4/Observation/${obsB.id}`,
      headers: { 'content-type': 'application/json-patch+json' },
      payload: JSON.stringify([{ op: 'replace', path: '/status', value: 'cancelled' }]),
    });
    expect(patch.statusCode).toBe(404);
    expect((await alice.request({ method: 'DELETE', url: `/fhir/R4/Observation/${obsB.id}` })).statusCode).toBe(404);
    const still = await server.request({ method: 'GET', url: `/fhir/R4/Observation/${obsB.id}` });
    expect(still.json().status).toBe('final');
  });

  test('nor their own clinical record, which is read-only to them', async () => {
    const update = await alice.request({
      method: 'PUT',
      url: `/fhir/R4/Observation/${obsA.id}`,
      payload: { ...obsA, status: 'cancelled' },
    });
    expect(update.statusCode).toBe(403);
  });

  test('batch and transaction entries', async () => {
    const batch = await alice.request({
      method: 'POST',
      url: '/fhir/R4',
      payload: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'GET', url: `Observation/${obsB.id}` } },
          { request: { method: 'GET', url: `Observation/${obsA.id}` } },
          { request: { method: 'DELETE', url: `Condition/${condB.id}` } },
        ],
      },
    });
    expect(batch.statusCode).toBe(200);
    const statuses = batch.json().entry.map((e: { response: { status: string } }) => e.response.status);
    expect(statuses[0]).toMatch(/^404/);
    expect(statuses[1]).toMatch(/^200/);
    expect(statuses[2]).toMatch(/^404/);
    expect(batch.body).not.toContain('"Hepatitis B"');
    const transaction = await alice.request({
      method: 'POST',
      url: '/fhir/R4',
      payload: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'PUT', url: `Observation/${obsB.id}` }, resource: { ...obsB, status: 'cancelled' } },
        ],
      },
    });
    expect(transaction.statusCode).toBeGreaterThanOrEqual(400);
    expect((await server.request({ method: 'GET', url: `/fhir/R4/Observation/${obsB.id}` })).json().status).toBe(
      'final'
    );
  });

  test('Binary', async () => {
    const binary = await server.request({
      method: 'POST',
      url: '/fhir/R4/Binary',
      headers: { 'content-type': 'text/plain' },
      payload: 'lab report of patient B',
    });
    expect(binary.statusCode).toBe(201);
    const read = await alice.request({
      method: 'GET',
      url: `/fhir/R4/Binary/${binary.json().id}`,
      headers: { accept: '*/*' },
    });
    expect([403, 404]).toContain(read.statusCode);
    expect(read.body).not.toContain('lab report');
  });

  test('creates only inside their own compartment', async () => {
    const own = await alice.request({
      method: 'POST',
      url: '/fhir/R4/QuestionnaireResponse',
      payload: {
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        subject: { reference: `Patient/${patientA.id}` },
      },
    });
    expect(own.statusCode, own.body).toBe(201);
    const forOther = await alice.request({
      method: 'POST',
      url: '/fhir/R4/QuestionnaireResponse',
      payload: {
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        subject: { reference: `Patient/${patientB.id}` },
      },
    });
    expect(forOther.statusCode, forOther.body).toBe(403);
    const namingOther = await alice.request({
      method: 'POST',
      url: '/fhir/R4/Communication',
      payload: {
        resourceType: 'Communication',
        status: 'completed',
        subject: { reference: `Patient/${patientA.id}` },
        sender: { reference: `Patient/${patientB.id}` },
      },
    });
    expect(namingOther.statusCode, namingOther.body).toBe(403);
    const booked = await alice.request({
      method: 'POST',
      url: '/fhir/R4/Appointment',
      payload: {
        resourceType: 'Appointment',
        status: 'booked',
        start: '2026-12-01T09:00:00Z',
        end: '2026-12-01T09:30:00Z',
        participant: [{ actor: { reference: `Patient/${patientA.id}` }, status: 'accepted' }],
      },
    });
    expect(booked.statusCode, booked.body).toBe(403);
    const proposed = await alice.request({
      method: 'POST',
      url: '/fhir/R4/Appointment',
      payload: {
        resourceType: 'Appointment',
        status: 'proposed',
        participant: [{ actor: { reference: `Patient/${patientA.id}` }, status: 'needs-action' }],
      },
    });
    expect(proposed.statusCode, proposed.body).toBe(201);
  });

  test('every signed-in caller reads the shared definitions', async () => {
    const res = await alice.request({ method: 'GET', url: '/fhir/R4/StructureDefinition?name=Patient' });
    expect(res.statusCode).toBe(200);
    expect(res.json().entry?.length).toBeGreaterThan(0);
  });
});

describe('roles', () => {
  test('a clinician works on clinical data but cannot change AccessPolicies or memberships', async () => {
    const created = await clinician.request({
      method: 'POST',
      url: '/fhir/R4/Observation',
      payload: observation(patientB, '1-8'),
    });
    expect(created.statusCode).toBe(201);
    expect((await clinician.request({ method: 'GET', url: `/fhir/R4/Condition/${condB.id}` })).statusCode).toBe(200);
    const policy = await members.create<AccessPolicy>({ resourceType: 'AccessPolicy', name: 'x', resource: [] });
    const update = await clinician.request({
      method: 'PUT',
      url: `/fhir/R4/AccessPolicy/${policy.id}`,
      payload: { ...policy, resource: [{ resourceType: '*' }] },
    });
    expect([403, 404]).toContain(update.statusCode);
    const create = await clinician.request({
      method: 'POST',
      url: '/fhir/R4/AccessPolicy',
      payload: { resourceType: 'AccessPolicy', name: 'mine', resource: [{ resourceType: '*' }] },
    });
    expect(create.statusCode).toBe(403);
    const membership = await clinician.request({
      method: 'PUT',
      url: `/fhir/R4/ProjectMembership/${clinician.membership.id}`,
      payload: { ...clinician.membership, admin: true },
    });
    expect([403, 404]).toContain(membership.statusCode);
    expect((await clinician.request({ method: 'GET', url: '/fhir/R4/AuditEvent' })).statusCode).toBe(403);
  });

  test('a clinician reads billing but does not write it', async () => {
    expect((await clinician.request({ method: 'GET', url: '/fhir/R4/Invoice' })).statusCode).toBe(200);
    const invoice = await clinician.request({
      method: 'POST',
      url: '/fhir/R4/Invoice',
      payload: { resourceType: 'Invoice', status: 'draft', subject: { reference: `Patient/${patientA.id}` } },
    });
    expect(invoice.statusCode).toBe(403);
  });

  test('nobody writes server records through the API, not even an admin', async () => {
    const login = await server.request({
      method: 'POST',
      url: '/fhir/R4/AuditEvent',
      payload: {
        resourceType: 'AuditEvent',
        type: { code: 'rest' },
        recorded: new Date().toISOString(),
        agent: [{ requestor: true }],
        source: { observer: { display: 'x' } },
      },
    });
    expect(login.statusCode).toBe(403);
  });
});

describe('SMART scopes narrow the policy', () => {
  test('patient/Observation.rs reads Observations and nothing else', async () => {
    const narrowed = await members.add(
      await members.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Cherry' }] }),
      { role: 'clinician' },
      `patient/Observation.rs`
    );
    // A clinician's policy, but scoped to patient context with no patient: nothing.
    expect((await narrowed.request({ method: 'GET', url: '/fhir/R4/Observation' })).json().entry ?? []).toEqual([]);
    const userScoped = await members.add(
      await members.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Scoped' }] }),
      { role: 'clinician' },
      'openid user/Observation.rs'
    );
    const obs = await userScoped.request({ method: 'GET', url: `/fhir/R4/Observation/${obsB.id}` });
    expect(obs.statusCode).toBe(200);
    expect((await userScoped.request({ method: 'GET', url: `/fhir/R4/Condition/${condB.id}` })).statusCode).toBe(404);
    expect((await userScoped.request({ method: 'GET', url: '/fhir/R4/Condition' })).statusCode).toBe(403);
    const write = await userScoped.request({
      method: 'POST',
      url: '/fhir/R4/Observation',
      payload: observation(patientA, '2-1'),
    });
    expect(write.statusCode).toBe(403);
  });
});

describe('memberships', () => {
  test('a token of a deactivated or deleted membership grants nothing', async () => {
    const someone = await members.add(
      await members.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Gone' }] }),
      { role: 'clinician' }
    );
    // Changed before the tokens are first used: the server remembers a resolved access for 10 s.
    await members.systemRepo.updateResource({ ...someone.membership, active: false });
    const other = await members.add(
      await members.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Deleted' }] }),
      { role: 'clinician' }
    );
    await members.systemRepo.deleteResource('ProjectMembership', other.membership.id);
    const res = await other.request({ method: 'GET', url: '/fhir/R4/Patient' });
    expect(res.statusCode).toBe(401);
    expect(res.json().resourceType).toBe('OperationOutcome');
    const inactive = await someone.request({ method: 'GET', url: '/fhir/R4/Patient' });
    expect(inactive.statusCode).toBe(401);
  });
});

describe('projects are isolated', () => {
  test("an admin cannot make a membership that names another project's client or user", async () => {
    const other = await members.systemRepo.createResource({ resourceType: 'Project', name: 'Neighbour clinic' });
    const client = await members.systemRepo
      .inProject(other.id)
      .createResource<ClientApplication>({ resourceType: 'ClientApplication', name: 'Neighbour backend' });
    const res = await server.request({
      method: 'POST',
      url: '/fhir/R4/ProjectMembership',
      payload: {
        resourceType: 'ProjectMembership',
        project: { reference: `Project/${members.projectId}` },
        user: { reference: `ClientApplication/${client.id}` },
        profile: { reference: `ClientApplication/${client.id}` },
        admin: true,
      },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.body).toContain('ProjectMembership.user');
  });

  test("a project's role policy cannot be claimed by another project", async () => {
    const other = await members.systemRepo.createResource({ resourceType: 'Project', name: 'Later clinic' });
    const claimed = await server.request({
      method: 'PUT',
      url: `/fhir/R4/AccessPolicy/${rolePolicyId(other.id, 'patient')}`,
      payload: {
        resourceType: 'AccessPolicy',
        id: rolePolicyId(other.id, 'patient'),
        resource: [{ resourceType: '*' }],
      },
    });
    expect(claimed.statusCode).toBe(201);
    const policy = await ensureRolePolicy(members.systemRepo, other.id, 'patient');
    expect(policy.meta?.project).toBe(other.id);
    expect(policy.resource?.some((r) => r.resourceType === '*')).toBe(false);
    expect(await ensureRolePolicy(members.systemRepo, other.id, 'patient')).toMatchObject({ id: policy.id });
  });

  test('an admin token narrowed by SMART scopes cannot administer the project', async () => {
    const narrowed = await members.add(
      await members.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Narrow' }] }),
      { admin: true },
      'patient/Observation.rs'
    );
    const res = await narrowed.request({
      method: 'POST',
      url: `/admin/projects/${members.projectId}/invite`,
      payload: { resourceType: 'Practitioner', firstName: 'Eve', lastName: 'Intruder', email: 'eve@example.org' },
    });
    expect(res.statusCode).toBe(403);
  });

  test('an admin reads project users but never their credentials', async () => {
    const user = await members.create({
      resourceType: 'User',
      firstName: 'S',
      lastName: 'H',
      passwordHash: 'scrypt$secret',
    });
    const read = await server.request({ method: 'GET', url: `/fhir/R4/User/${user.id}` });
    expect(read.statusCode).toBe(200);
    expect(read.body).not.toContain('scrypt$secret');
    const search = await server.request({ method: 'GET', url: `/fhir/R4/User?_id=${user.id}` });
    expect(search.json().entry).toHaveLength(1);
    expect(search.body).not.toContain('scrypt$secret');
    const history = await server.request({ method: 'GET', url: `/fhir/R4/User/${user.id}/_history` });
    expect(history.body).not.toContain('scrypt$secret');
    expect((await server.request({ method: 'GET', url: '/fhir/R4/Login' })).statusCode).toBe(403);
  });

  test('an admin reads its own Project, not others', async () => {
    const own = await server.request({ method: 'GET', url: `/fhir/R4/Project/${members.projectId}` });
    expect(own.statusCode).toBe(200);
    const list = await server.request({ method: 'GET', url: '/fhir/R4/Project' });
    expect(ids(list.json())).toEqual([`Project/${members.projectId}`]);
  });

  test("another project's resources are invisible", async () => {
    const other = await members.systemRepo.createResource({ resourceType: 'Project', name: 'Other clinic' });
    const foreign = await members.systemRepo
      .inProject(other.id)
      .createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Foreign' }] });
    expect((await server.request({ method: 'GET', url: `/fhir/R4/Patient/${foreign.id}` })).statusCode).toBe(404);
    const search = await server.request({ method: 'GET', url: '/fhir/R4/Patient?name=Foreign' });
    expect(search.json().entry ?? []).toEqual([]);
    const update = await server.request({
      method: 'PUT',
      url: `/fhir/R4/Patient/${foreign.id}`,
      payload: { ...foreign, active: false },
    });
    expect(update.statusCode).toBe(404);
  });
});
