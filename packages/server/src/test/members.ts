import type { WithId } from '@medplum/core';
import type { AccessPolicy, Login, ProjectMembership, Reference, Resource, User } from '@medplum/fhirtypes';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { ensureRolePolicy, type Role } from '../access/roles.js';
import { signAccessToken } from '../auth/access-token.js';
import { loadSigningKeys } from '../auth/keys.js';
import { createPool, type Pool } from '../infra/postgres.js';
import { PostgresRepository } from '../repository/repository.js';
import type { TestServer } from './test-server.js';

/** A member of the test server's project, with a token of its own, for access-control tests. */
export interface TestMember {
  token: string;
  profile: Reference;
  membership: WithId<ProjectMembership>;
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
}

/**
 * Creates members directly in the database (a User, the ProjectMembership with a role or policy,
 * a Login) and signs their tokens with the server's own key: the access checks under test are
 * the repository's, so these tests do not depend on the sign-in flows (tested on their own).
 */
export class TestMembers {
  private constructor(
    private readonly server: TestServer,
    private readonly pool: Pool,
    readonly systemRepo: PostgresRepository,
    readonly projectId: string
  ) {}

  static async open(server: TestServer): Promise<TestMembers> {
    const pool = createPool(server.config.databaseUrl, 2);
    const systemRepo = new PostgresRepository({
      pool,
      baseUrl: server.config.baseUrl,
      maxAccurateTotal: 1000,
      validate: () => undefined,
    });
    const me = await server.request({ method: 'GET', url: '/fhir/R4/ClientApplication?_count=1' });
    const projectId = me.json().entry?.[0]?.resource?.meta?.project as string;
    if (!projectId) {
      throw new Error(`No project for the test admin: ${me.body}`);
    }
    return new TestMembers(server, pool, systemRepo, projectId);
  }

  /** Creates a resource in the project as the server (no access checks). */
  create<T extends Resource>(resource: T): Promise<WithId<T>> {
    return this.systemRepo.inProject(this.projectId).createResource(resource);
  }

  /** A member whose profile is `profile` (created in the project), with a shipped role or a given policy. */
  async add(
    profile: Resource & { id: string },
    access: { role: Role } | { policy: Reference<AccessPolicy> } | { admin: true },
    scope = 'openid'
  ): Promise<TestMember> {
    const projectRepo = this.systemRepo.inProject(this.projectId);
    const user = await projectRepo.createResource<User>({
      resourceType: 'User',
      firstName: 'Test',
      lastName: profile.id,
      email: `${profile.id}@example.org`,
      project: { reference: `Project/${this.projectId}` },
    });
    const profileRef = { reference: `${profile.resourceType}/${profile.id}` };
    let accessPolicy: Reference<AccessPolicy> | undefined;
    if ('role' in access) {
      const policy = await ensureRolePolicy(this.systemRepo, this.projectId, access.role);
      accessPolicy = { reference: `AccessPolicy/${policy.id}` };
    } else if ('policy' in access) {
      accessPolicy = access.policy;
    }
    const membership = await projectRepo.createResource<ProjectMembership>({
      resourceType: 'ProjectMembership',
      project: { reference: `Project/${this.projectId}` },
      user: { reference: `User/${user.id}` },
      profile: profileRef,
      ...(accessPolicy ? { accessPolicy } : undefined),
      ...('admin' in access ? { admin: true } : undefined),
    });
    const login = await this.systemRepo.createResource<Login>({
      resourceType: 'Login',
      user: { reference: `User/${user.id}` },
      membership: { reference: `ProjectMembership/${membership.id}` },
      authMethod: 'password',
      authTime: new Date().toISOString(),
      scope,
      granted: true,
    });
    const keys = await loadSigningKeys(this.pool);
    const token = await signAccessToken(
      keys,
      this.server.config.baseUrl,
      {
        login_id: login.id,
        sub: user.id,
        profile: profileRef.reference,
        scope,
        project: this.projectId,
        membership: membership.id,
      },
      3600
    );
    return {
      token,
      profile: profileRef,
      membership,
      request: (options) =>
        this.server.app.inject({
          ...options,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/fhir+json',
            ...(options.payload !== undefined && typeof options.payload === 'object'
              ? { 'content-type': 'application/fhir+json' }
              : undefined),
            ...options.headers,
          },
        }),
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
