import { randomUUID } from 'node:crypto';
import type { WithId } from '@medplum/core';
import type { AccessPolicy, Project, ProjectMembership, User } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureRolePolicy } from '../access/roles.js';
import { newMedplumClient, postJson, type SignInTestServer, startSignInTestServer } from '../auth/sign-in.fixtures.js';

let t: SignInTestServer;
/** A project that lets patients register themselves (defaultPatientAccessPolicy set). */
let openProject: WithId<Project>;
let patientPolicy: WithId<AccessPolicy>;

beforeAll(async () => {
  t = await startSignInTestServer();
  const project = await t.repo.createResource<Project>({ resourceType: 'Project', name: 'Open clinic' });
  patientPolicy = await ensureRolePolicy(t.repo, project.id, 'patient');
  openProject = await t.repo.updateResource<Project>({
    ...project,
    defaultPatientAccessPolicy: { reference: `AccessPolicy/${patientPolicy.id}` },
  });
});
afterAll(async () => {
  await t?.close();
});

function newUserBody(overrides: Record<string, unknown> = {}) {
  return {
    firstName: 'Wanjiru',
    lastName: 'Kamau',
    email: `patient-${randomUUID()}@example.org`,
    password: 'a good long password',
    projectId: openProject.id,
    ...overrides,
  };
}

async function usersWithEmail(email: string): Promise<User[]> {
  const users = await t.repo.searchResources<User>({
    resourceType: 'User',
    filters: [{ code: 'email', operator: 'eq', value: email }],
  });
  return users.filter((u) => u.email === email);
}

describe('patient self sign-up', () => {
  test('MedplumClient registers a patient (newuser, newpatient, processCode) who can then sign in again', async () => {
    const medplum = newMedplumClient(t.url);
    const body = newUserBody();
    const { login } = await medplum.startNewUser(body);
    expect(login).toEqual(expect.any(String));
    const started = await medplum.startNewPatient({ login, projectId: openProject.id });
    expect(started).toMatchObject({ login, code: expect.any(String) });
    await medplum.processCode(started.code as string);

    const profile = medplum.getProfile();
    expect(profile?.resourceType).toBe('Patient');
    expect(profile).toMatchObject({
      name: [{ given: ['Wanjiru'], family: 'Kamau' }],
      meta: { project: openProject.id },
    });
    const self = await medplum.readResource('Patient', profile?.id as string);
    expect(self.id).toBe(profile?.id);

    const [user] = await usersWithEmail(body.email);
    expect(user.project?.reference).toBe(`Project/${openProject.id}`);
    const membership = await t.repo.searchOne<ProjectMembership>({
      resourceType: 'ProjectMembership',
      filters: [{ code: 'user', operator: 'eq', value: `User/${user.id}` }],
    });
    expect(membership).toMatchObject({
      project: { reference: `Project/${openProject.id}` },
      profile: { reference: `Patient/${profile?.id}` },
      accessPolicy: { reference: `AccessPolicy/${patientPolicy.id}` },
    });

    const again = newMedplumClient(t.url);
    const signIn = await again.startLogin({ email: body.email, password: body.password, projectId: openProject.id });
    await again.processCode(signIn.code as string);
    expect(again.getProfile()?.id).toBe(profile?.id);
  });

  test('a project that does not enable it answers 403, and nothing is created', async () => {
    const body = newUserBody({ projectId: t.defaultProject.id });
    const res = await postJson(t.url, 'auth/newuser', body);
    expect(res.status).toBe(403);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(await usersWithEmail(body.email)).toHaveLength(0);

    const noProject = await postJson(t.url, 'auth/newuser', newUserBody({ projectId: undefined }));
    expect(noProject.status).toBe(403);
    const unknown = await postJson(t.url, 'auth/newuser', newUserBody({ projectId: 'no-such-project' }));
    expect(unknown.status).toBe(403);
  });

  test('newpatient is refused once the project turns sign-up off', async () => {
    const project = await t.repo.createResource<Project>({ resourceType: 'Project', name: 'Briefly open' });
    const policy = await ensureRolePolicy(t.repo, project.id, 'patient');
    const open = await t.repo.updateResource<Project>({
      ...project,
      defaultPatientAccessPolicy: { reference: `AccessPolicy/${policy.id}` },
    });
    const created = await postJson(t.url, 'auth/newuser', newUserBody({ projectId: project.id }));
    expect(created.status).toBe(200);
    await t.repo.updateResource<Project>({ ...open, defaultPatientAccessPolicy: undefined });
    const res = await postJson(t.url, 'auth/newpatient', { login: created.body.login, projectId: project.id });
    expect(res.status).toBe(403);
  });

  test('a default patient policy of another project does not count as enabled', async () => {
    const project = await t.repo.createResource<Project>({
      resourceType: 'Project',
      name: 'Borrowed policy',
      defaultPatientAccessPolicy: { reference: `AccessPolicy/${patientPolicy.id}` },
    });
    const res = await postJson(t.url, 'auth/newuser', newUserBody({ projectId: project.id }));
    expect(res.status).toBe(403);
  });

  test('a registered email is 409; bad input is 400 naming the field', async () => {
    const body = newUserBody();
    expect((await postJson(t.url, 'auth/newuser', body)).status).toBe(200);
    const duplicate = await postJson(t.url, 'auth/newuser', { ...body, email: body.email.toUpperCase() });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.issue[0].expression).toEqual(['email']);

    const cases: [Record<string, unknown>, string][] = [
      [{ firstName: '' }, 'firstName'],
      [{ lastName: undefined }, 'lastName'],
      [{ email: 'nope' }, 'email'],
      [{ password: 'short' }, 'password'],
      [{ codeChallenge: 'x', codeChallengeMethod: 'S256' }, 'codeChallenge'],
    ];
    for (const [overrides, field] of cases) {
      const res = await postJson(t.url, 'auth/newuser', newUserBody(overrides));
      expect(res.status, JSON.stringify(overrides)).toBe(400);
      expect(res.body.issue[0].expression).toEqual([field]);
    }
  });

  test('a login is used for one registration only; unknown logins are 400', async () => {
    const created = await postJson(t.url, 'auth/newuser', newUserBody());
    const first = await postJson(t.url, 'auth/newpatient', { login: created.body.login, projectId: openProject.id });
    expect(first.status).toBe(200);
    const second = await postJson(t.url, 'auth/newpatient', { login: created.body.login, projectId: openProject.id });
    expect(second.status).toBe(400);
    const unknown = await postJson(t.url, 'auth/newpatient', { login: randomUUID(), projectId: openProject.id });
    expect(unknown.status).toBe(400);
    expect(unknown.body.issue[0].expression).toEqual(['login']);
  });
});
