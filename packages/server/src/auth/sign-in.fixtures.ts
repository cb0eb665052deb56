import { randomUUID } from 'node:crypto';
import type { WithId } from '@medplum/core';
import { ClientStorage, MedplumClient, MemoryStorage } from '@medplum/core';
import type { Patient, Practitioner, Project, ProjectMembership, User } from '@medplum/fhirtypes';
import { createPool, type Pool } from '../infra/postgres.js';
import { createRepositoryFactory } from '../repository/factory.js';
import type { PostgresRepository } from '../repository/repository.js';
import { startTestServer, type TestServer } from '../test/test-server.js';
import { hashPassword } from './password.js';

/**
 * A test server for sign-in tests, listening on a random port for MedplumClient, plus a
 * privileged repository on its database to set up users.
 */
export interface SignInTestServer extends TestServer {
  /** http://127.0.0.1:<port>/ */
  url: string;
  repo: PostgresRepository;
  defaultProject: WithId<Project>;
}

export async function startSignInTestServer(env: Record<string, string> = {}): Promise<SignInTestServer> {
  const t = await startTestServer(env);
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  const pool: Pool = createPool(t.config.databaseUrl, 2);
  const repo = createRepositoryFactory(t.config, pool).system('set up test users');
  const defaultProject = (await repo.searchOne<Project>({ resourceType: 'Project', count: 1 })) as WithId<Project>;
  return {
    ...t,
    url: `${address}/`,
    repo,
    defaultProject,
    close: async () => {
      await pool.end();
      await t.close();
    },
  };
}

export interface TestUser {
  email: string;
  password: string;
  user: WithId<User>;
  profile: WithId<Practitioner | Patient>;
  membership: WithId<ProjectMembership>;
}

/** A User with a password and one membership (add more with `addMembership`). */
export async function createTestUser(
  repo: PostgresRepository,
  projectId: string,
  options: { profileType?: 'Practitioner' | 'Patient'; admin?: boolean; password?: string; email?: string } = {}
): Promise<TestUser> {
  const email = options.email ?? `user-${randomUUID()}@example.com`;
  const password = options.password ?? `pw-${randomUUID()}`;
  const user = await repo.createResource<User>({
    resourceType: 'User',
    firstName: 'Test',
    lastName: 'User',
    email,
    passwordHash: await hashPassword(password),
  });
  const { profile, membership } = await addMembership(repo, user, projectId, options);
  return { email, password, user, profile, membership };
}

export async function addMembership(
  repo: PostgresRepository,
  user: WithId<User>,
  projectId: string,
  options: { profileType?: 'Practitioner' | 'Patient'; admin?: boolean } = {}
): Promise<{ profile: WithId<Practitioner | Patient>; membership: WithId<ProjectMembership> }> {
  const profile = await repo.inProject(projectId).createResource<Practitioner | Patient>({
    resourceType: options.profileType ?? 'Practitioner',
    name: [{ given: [user.firstName], family: user.lastName }],
  });
  const membership = await repo.inProject(projectId).createResource<ProjectMembership>({
    resourceType: 'ProjectMembership',
    project: { reference: `Project/${projectId}` },
    user: { reference: `User/${user.id}` },
    profile: { reference: `${profile.resourceType}/${profile.id}` },
    admin: options.admin,
  });
  return { profile, membership };
}

/** MedplumClient from @medplum/core, as the web app uses it, against the listening test server. */
export function newMedplumClient(
  url: string,
  options: { clientId?: string; refreshGracePeriod?: number } = {}
): MedplumClient {
  return new MedplumClient({
    baseUrl: url,
    clientId: options.clientId,
    refreshGracePeriod: options.refreshGracePeriod,
    fetch: (input: string | URL | Request, init?: RequestInit) => fetch(input, init),
    storage: new ClientStorage(new MemoryStorage()),
  });
}

/** A PKCE verifier and its S256 challenge. */
export async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = `${randomUUID()}${randomUUID()}`.replaceAll('-', '');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: Buffer.from(digest).toString('base64url') };
}

/** POSTs a form to the token endpoint. */
export async function postToken(
  url: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {}
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, body: await res.json() };
}

/** POSTs JSON to an auth/* endpoint. */
export async function postJson(
  url: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {}
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

/** auth/login then the token exchange, by hand: returns the token response. */
export async function signInByHand(
  url: string,
  user: { email: string; password: string },
  extra: Record<string, unknown> = {}
): Promise<any> {
  const { verifier, challenge } = await pkcePair();
  const login = await postJson(url, 'auth/login', {
    email: user.email,
    password: user.password,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
    ...extra,
  });
  if (!login.body.code) {
    throw new Error(`No code: ${JSON.stringify(login.body)}`);
  }
  const token = await postToken(url, {
    grant_type: 'authorization_code',
    code: login.body.code,
    code_verifier: verifier,
  });
  if (token.status !== 200) {
    throw new Error(`Token exchange failed: ${JSON.stringify(token.body)}`);
  }
  return token.body;
}
