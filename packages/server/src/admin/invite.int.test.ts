import type {
  AccessPolicy,
  ClientApplication,
  Patient,
  Practitioner,
  Project,
  ProjectMembership,
  User,
} from '@medplum/fhirtypes';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { verifyPassword } from '../auth/password.js';
import { createPool, type Pool } from '../infra/postgres.js';
import { createRepositoryFactory } from '../repository/factory.js';
import type { PostgresRepository } from '../repository/repository.js';
import { startTestServer, type TestServer } from '../test/test-server.js';

let t: TestServer;
let pool: Pool;
let systemRepo: PostgresRepository;
let projectId: string;

beforeAll(async () => {
  t = await startTestServer();
  pool = createPool(t.config.databaseUrl, 2);
  systemRepo = createRepositoryFactory(t.config, pool).system('test assertions');
  projectId = decodeJwt(t.token).project as string;
});
afterAll(async () => {
  await pool?.end();
  await t?.close();
});

function invite(body: unknown, options: { token?: string; project?: string } = {}) {
  return t.request({
    method: 'POST',
    url: `/admin/projects/${options.project ?? projectId}/invite`,
    payload: body as object,
    headers: options.token ? { authorization: `Bearer ${options.token}` } : undefined,
  });
}

async function clientToken(client: ClientApplication): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `grant_type=client_credentials&client_id=${client.id}&client_secret=${client.secret}`,
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().access_token;
}

async function usersWithEmail(email: string): Promise<User[]> {
  const users = await systemRepo.searchResources<User>({
    resourceType: 'User',
    filters: [{ code: 'email', operator: 'eq', value: email }],
  });
  return users.filter((u) => u.email?.toLowerCase() === email.toLowerCase());
}

async function profilesWithEmail(resourceType: 'Practitioner' | 'Patient', email: string) {
  return systemRepo.searchResources<Practitioner | Patient>({
    resourceType,
    filters: [{ code: 'email', operator: 'eq', value: email }],
  });
}

describe('invite', () => {
  test('a Practitioner invite creates the profile, a project User and the membership with the clinician policy', async () => {
    const res = await invite({
      resourceType: 'Practitioner',
      firstName: 'Amina',
      lastName: 'Odhiambo',
      email: 'Amina.Odhiambo@example.org',
      phone: '+254 700 000001',
      password: 'correct horse battery',
    });
    expect(res.statusCode, res.body).toBe(200);
    const membership = res.json() as ProjectMembership;
    expect(membership).toMatchObject({
      resourceType: 'ProjectMembership',
      project: { reference: `Project/${projectId}` },
      accessPolicy: { reference: `AccessPolicy/clinician-${projectId}` },
    });
    expect(membership.admin).toBeUndefined();

    const profile = await systemRepo.readReference<Practitioner>(membership.profile as { reference: string });
    expect(profile).toMatchObject({
      resourceType: 'Practitioner',
      name: [{ given: ['Amina'], family: 'Odhiambo' }],
      meta: { project: projectId },
    });
    expect(profile.telecom).toEqual([
      { system: 'email', value: 'amina.odhiambo@example.org' },
      { system: 'phone', value: '+254 700 000001' },
    ]);
    const user = await systemRepo.readReference<User>(membership.user as { reference: string });
    expect(user).toMatchObject({
      firstName: 'Amina',
      lastName: 'Odhiambo',
      email: 'amina.odhiambo@example.org',
      project: { reference: `Project/${projectId}` },
    });
    expect(user.passwordHash).toMatch(/^scrypt\$/);
    expect(await verifyPassword('correct horse battery', user.passwordHash as string)).toBe(true);
    const policy = await systemRepo.readResource<AccessPolicy>('AccessPolicy', `clinician-${projectId}`);
    expect(policy.meta?.project).toBe(projectId);
  });

  test('a Patient gets the patient policy; admin: true gets the admin policy and an admin membership', async () => {
    const patient = await invite({ resourceType: 'Patient', firstName: 'Baraka', lastName: 'Mwangi' });
    expect(patient.statusCode, patient.body).toBe(200);
    expect(patient.json().accessPolicy.reference).toBe(`AccessPolicy/patient-${projectId}`);
    expect(patient.json().profile.reference).toMatch(/^Patient\//);

    const admin = await invite({
      resourceType: 'Practitioner',
      firstName: 'Chao',
      lastName: 'Lin',
      email: 'chao.lin@example.org',
      admin: true,
    });
    expect(admin.statusCode, admin.body).toBe(200);
    expect(admin.json()).toMatchObject({ admin: true, accessPolicy: { reference: `AccessPolicy/admin-${projectId}` } });
    const user = await systemRepo.readReference<User>(admin.json().user);
    expect(user.passwordHash).toBeUndefined();
  });

  test('an explicit AccessPolicy of the project is used; one of another project is refused', async () => {
    const own = await t.request({
      method: 'POST',
      url: '/fhir/R4/AccessPolicy',
      payload: { resourceType: 'AccessPolicy', name: 'Front desk', resource: [{ resourceType: 'Appointment' }] },
    });
    expect(own.statusCode, own.body).toBe(201);
    const byReference = await invite({
      resourceType: 'Practitioner',
      firstName: 'Dalia',
      lastName: 'Hassan',
      accessPolicy: { reference: `AccessPolicy/${own.json().id}` },
    });
    expect(byReference.statusCode, byReference.body).toBe(200);
    expect(byReference.json().accessPolicy.reference).toBe(`AccessPolicy/${own.json().id}`);
    const byId = await invite({
      resourceType: 'Practitioner',
      firstName: 'Eli',
      lastName: 'Kim',
      accessPolicy: own.json().id,
    });
    expect(byId.json().accessPolicy.reference).toBe(`AccessPolicy/${own.json().id}`);

    const otherProject = await systemRepo.createResource<Project>({ resourceType: 'Project', name: 'Elsewhere' });
    const foreign = await systemRepo.inProject(otherProject.id).createResource<AccessPolicy>({
      resourceType: 'AccessPolicy',
      name: 'Theirs',
      resource: [{ resourceType: '*' }],
    });
    const refused = await invite({
      resourceType: 'Practitioner',
      firstName: 'Fay',
      lastName: 'Osei',
      accessPolicy: `AccessPolicy/${foreign.id}`,
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().issue[0].expression).toEqual(['accessPolicy']);
  });

  const badInputs: [string, unknown, string][] = [
    ['resourceType Organization', { resourceType: 'Organization', firstName: 'A', lastName: 'B' }, 'resourceType'],
    ['missing firstName', { resourceType: 'Patient', lastName: 'B' }, 'firstName'],
    ['blank lastName', { resourceType: 'Patient', firstName: 'A', lastName: '   ' }, 'lastName'],
    ['firstName not a string', { resourceType: 'Patient', firstName: 42, lastName: 'B' }, 'firstName'],
    ['invalid email', { resourceType: 'Patient', firstName: 'A', lastName: 'B', email: 'not-an-email' }, 'email'],
    ['invalid phone', { resourceType: 'Patient', firstName: 'A', lastName: 'B', phone: 'call me' }, 'phone'],
    ['short password', { resourceType: 'Patient', firstName: 'A', lastName: 'B', password: 'short' }, 'password'],
    ['admin not boolean', { resourceType: 'Patient', firstName: 'A', lastName: 'B', admin: 'yes' }, 'admin'],
    [
      'accessPolicy unknown',
      { resourceType: 'Patient', firstName: 'A', lastName: 'B', accessPolicy: 'nope' },
      'accessPolicy',
    ],
  ];
  test.each(badInputs)('400 with expression: %s', async (_name, body, field) => {
    const res = await invite(body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ expression: [field] }] });
  });

  test('a body that is not an object is 400', async () => {
    for (const payload of [[1, 2], 'text']) {
      const res = await t.request({
        method: 'POST',
        url: `/admin/projects/${projectId}/invite`,
        payload: JSON.stringify(payload),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode).toBe(400);
    }
  });

  test('a duplicate email in the project is 409 (case-insensitive), and creates nothing', async () => {
    const body = { resourceType: 'Practitioner', firstName: 'Gita', lastName: 'Rao', email: 'gita.rao@example.org' };
    expect((await invite(body)).statusCode).toBe(200);
    const again = await invite({ ...body, resourceType: 'Patient', email: 'GITA.RAO@example.org' });
    expect(again.statusCode).toBe(409);
    expect(again.json().issue[0].expression).toEqual(['email']);
    expect(await usersWithEmail('gita.rao@example.org')).toHaveLength(1);
    expect(await profilesWithEmail('Patient', 'gita.rao@example.org')).toHaveLength(0);
  });

  test('concurrent invites of one email: exactly one succeeds, the others leave nothing behind', async () => {
    const body = { resourceType: 'Practitioner', firstName: 'Hana', lastName: 'Ito', email: 'hana.ito@example.org' };
    const results = await Promise.all([invite(body), invite(body), invite(body)]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409, 409]);
    expect(await usersWithEmail('hana.ito@example.org')).toHaveLength(1);
    expect(await profilesWithEmail('Practitioner', 'hana.ito@example.org')).toHaveLength(1);
  });

  test('a failure while writing the membership leaves no profile and no user (one transaction)', async () => {
    // A real database failure on the last write of the invite, injected with a trigger.
    await pool.query(`CREATE FUNCTION refuse_membership() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.resource_type = 'ProjectMembership' THEN
          RAISE EXCEPTION 'membership refused for the test' USING ERRCODE = 'unique_violation';
        END IF;
        RETURN NEW;
      END $$`);
    await pool.query(
      'CREATE TRIGGER refuse_membership BEFORE INSERT ON resource FOR EACH ROW EXECUTE FUNCTION refuse_membership()'
    );
    try {
      const res = await invite({
        resourceType: 'Practitioner',
        firstName: 'Ivo',
        lastName: 'Petrov',
        email: 'ivo.petrov@example.org',
        password: 'a long enough password',
      });
      expect(res.statusCode).toBe(409);
    } finally {
      await pool.query('DROP TRIGGER refuse_membership ON resource');
      await pool.query('DROP FUNCTION refuse_membership()');
    }
    expect(await usersWithEmail('ivo.petrov@example.org')).toHaveLength(0);
    expect(await profilesWithEmail('Practitioner', 'ivo.petrov@example.org')).toHaveLength(0);
    // With the fault gone, the same invite works.
    const retry = await invite({
      resourceType: 'Practitioner',
      firstName: 'Ivo',
      lastName: 'Petrov',
      email: 'ivo.petrov@example.org',
    });
    expect(retry.statusCode, retry.body).toBe(200);
  });
});

describe('who may invite', () => {
  test('a non-admin member gets 403', async () => {
    const reg = await t.request({
      method: 'POST',
      url: `/admin/projects/${projectId}/client`,
      payload: { name: 'Plain' },
    });
    expect(reg.statusCode, reg.body).toBe(201);
    const token = await clientToken(reg.json());
    const res = await invite({ resourceType: 'Patient', firstName: 'J', lastName: 'K' }, { token });
    expect(res.statusCode).toBe(403);
    expect(res.json().resourceType).toBe('OperationOutcome');
    const client = await t.request({
      method: 'POST',
      url: `/admin/projects/${projectId}/client`,
      payload: { name: 'Sneaky' },
      headers: { authorization: `Bearer ${token}` },
    });
    expect(client.statusCode).toBe(403);
  });

  test('an admin of another project gets 403 here', async () => {
    const other = await systemRepo.createResource<Project>({ resourceType: 'Project', name: 'Other clinic' });
    const client = await systemRepo.inProject(other.id).createResource<ClientApplication>({
      resourceType: 'ClientApplication',
      name: 'Other admin',
      secret: 'other-secret-0123456789',
    });
    await systemRepo.inProject(other.id).createResource<ProjectMembership>({
      resourceType: 'ProjectMembership',
      project: { reference: `Project/${other.id}` },
      user: { reference: `ClientApplication/${client.id}` },
      profile: { reference: `ClientApplication/${client.id}` },
      admin: true,
    });
    const token = await clientToken(client);
    const res = await invite({ resourceType: 'Patient', firstName: 'L', lastName: 'M' }, { token });
    expect(res.statusCode).toBe(403);
    // In its own project it may invite.
    const own = await invite({ resourceType: 'Patient', firstName: 'L', lastName: 'M' }, { token, project: other.id });
    expect(own.statusCode, own.body).toBe(200);
    expect(own.json().project.reference).toBe(`Project/${other.id}`);
    // An admin of the super admin project administers every project.
    const bySuperAdmin = await invite(
      { resourceType: 'Patient', firstName: 'P', lastName: 'Q' },
      { project: other.id }
    );
    expect(bySuperAdmin.statusCode, bySuperAdmin.body).toBe(200);
    const unknownProject = await invite(
      { resourceType: 'Patient', firstName: 'P', lastName: 'Q' },
      { project: 'nope' }
    );
    expect(unknownProject.statusCode).toBe(404);
  });

  test('no token is 401', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/admin/projects/${projectId}/invite`,
      payload: { resourceType: 'Patient', firstName: 'N', lastName: 'O' },
    });
    expect(res.statusCode).toBe(401);
  });
});

describe('client registration', () => {
  test('bad registrations are 400 naming the field', async () => {
    const cases: [object, string][] = [
      [{}, 'name'],
      [{ name: 'x', jwksUri: 'ftp://example.org/keys' }, 'jwksUri'],
      [{ name: 'x', jwks: { keys: [] } }, 'jwks'],
      [{ name: 'x', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, 'jwks'],
      [{ name: 'x', jwks: { keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB', d: 'AQAB' }] } }, 'jwks'],
      [
        { name: 'x', jwks: { keys: [{ kty: 'EC', crv: 'P-384', x: 'a', y: 'b' }] }, jwksUri: 'https://example.org/k' },
        'jwks',
      ],
      [{ name: 'x', jwks: { keys: [{ kty: 'EC', crv: 'P-384', x: 'a', y: 'b' }] } }, 'jwks'],
      [{ name: 'x', jwks: { keys: [{ kty: 'RSA', alg: 'RS256', n: 'AQAB', e: 'AQAB' }] } }, 'jwks'],
      [{ name: 'x', scope: 'system/Patient.xyz' }, 'scope'],
      [{ name: 'x', redirectUri: 'not a uri' }, 'redirectUri'],
    ];
    for (const [payload, field] of cases) {
      const res = await t.request({ method: 'POST', url: `/admin/projects/${projectId}/client`, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().issue[0].expression).toEqual([field]);
    }
  });

  test('a registered client gets its own membership with the chosen policy', async () => {
    const res = await t.request({
      method: 'POST',
      url: `/admin/projects/${projectId}/client`,
      payload: { name: 'Lab feed', redirectUri: 'https://lab.example.org/callback', scope: 'system/Observation.cruds' },
    });
    expect(res.statusCode, res.body).toBe(201);
    const client = res.json() as ClientApplication;
    expect(client).toMatchObject({
      redirectUri: 'https://lab.example.org/callback',
      defaultScope: ['system/Observation.cruds'],
    });
    const [membership] = await systemRepo.searchResources<ProjectMembership>({
      resourceType: 'ProjectMembership',
      filters: [{ code: 'profile', operator: 'eq', value: `ClientApplication/${client.id}` }],
    });
    expect(membership).toMatchObject({
      project: { reference: `Project/${projectId}` },
      user: { reference: `ClientApplication/${client.id}` },
      accessPolicy: { reference: `AccessPolicy/clinician-${projectId}` },
    });
  });
});
