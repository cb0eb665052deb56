import type { WithId } from '@medplum/core';
import { forbidden, OperationOutcomeError } from '@medplum/core';
import type { AccessPolicy, Login, Patient, Project, ProjectMembership, Reference, User } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import type { SignInAuditSink } from '../audit/types.js';
import { DEFAULT_USER_SCOPE, LOGIN_STEP_SECONDS, parsePasswordLogin, readClient } from '../auth/login-flow.js';
import { readLogin, updateLoginIfUnchanged } from '../auth/logins.js';
import { hashPassword } from '../auth/password.js';
import { hashSecret, randomSecret } from '../auth/secrets.js';
import { normalizeEmail } from '../auth/users.js';
import type { PostgresRepository } from '../repository/repository.js';
import { assertEmailFree, MIN_PASSWORD_LENGTH } from './invite.js';
import { bodyObject, invalidField, requiredString } from './project-admin.js';

export interface SelfSignUpOptions {
  /** Privileged: the caller is not signed in yet; every route checks the project allows sign-up first. */
  systemRepo: PostgresRepository;
  audit: SignInAuditSink;
}

const SIGN_UP_OFF = 'This project does not allow self sign-up';

/**
 * Patient self-registration, Medplum's shapes: `auth/newuser` creates a User scoped to the
 * project and a pending Login (`{login}`), `auth/newpatient` creates the Patient and its
 * membership and answers `{login, code}` (exchanged at oauth2/token like any sign-in).
 * Off unless the project sets `Project.defaultPatientAccessPolicy`, which new patients get.
 * There is no open sign-up of new projects (`auth/newproject`).
 */
export async function selfSignUpRoutes(app: FastifyInstance, options: SelfSignUpOptions): Promise<void> {
  const { systemRepo, audit } = options;
  app.addHook('onSend', async (_request, reply) => {
    reply.header('Cache-Control', 'no-store');
  });

  app.post('/auth/newuser', async (request) => {
    const body = bodyObject(request.body);
    const firstName = requiredString(body, 'firstName', 'First name', { max: 128 });
    const lastName = requiredString(body, 'lastName', 'Last name', { max: 128 });
    const login = parsePasswordLogin(body);
    if (login.password.length < MIN_PASSWORD_LENGTH) {
      throw invalidField('password', `Password must be at least ${MIN_PASSWORD_LENGTH} characters`);
    }
    const client = login.clientId ? await readClient(systemRepo, login.clientId) : undefined;
    if (client && login.projectId && client.meta?.project !== login.projectId) {
      throw invalidField('projectId', 'Client and project do not match');
    }
    const projectId = login.projectId ?? client?.meta?.project;
    const { project } = await signUpProject(systemRepo, projectId);
    const email = normalizeEmail(login.email);
    const passwordHash = await hashPassword(login.password);
    const offline = login.remember || /(^|\s)offline(_access)?(\s|$)/.test(login.scope ?? '');

    const created = await systemRepo.withTransaction(
      async (tx) => {
        await assertEmailFree(tx, project.id, email);
        const user = await tx.inProject(project.id).createResource<User>({
          resourceType: 'User',
          firstName,
          lastName,
          email,
          passwordHash,
          project: { reference: `Project/${project.id}` },
        });
        return tx.createResource<Login>({
          resourceType: 'Login',
          user: { reference: `User/${user.id}` },
          ...(client ? { client: { reference: `ClientApplication/${client.id}` } } : undefined),
          project: { reference: `Project/${project.id}` },
          authMethod: 'password',
          authTime: new Date().toISOString(),
          scope: login.scope || DEFAULT_USER_SCOPE,
          ...(login.nonce ? { nonce: login.nonce } : undefined),
          ...(login.codeChallenge
            ? {
                codeChallenge: login.codeChallenge,
                codeChallengeMethod: login.codeChallengeMethod === 'plain' ? 'plain' : 'S256',
              }
            : undefined),
          // A placeholder nobody holds, as at auth/login: it says this login may refresh.
          ...(offline ? { refreshSecret: hashSecret(randomSecret()) } : undefined),
          remoteAddress: request.ip,
          userAgent: request.headers['user-agent'],
        });
      },
      { serializable: true, resourceTypes: [] }
    );
    return { login: created.id };
  });

  app.post('/auth/newpatient', async (request) => {
    const body = bodyObject(request.body);
    const projectId = requiredString(body, 'projectId', 'Project ID');
    const login = await readLogin(systemRepo, body.login);
    const age = login ? (Date.now() - new Date(login.authTime as string).getTime()) / 1000 : Number.POSITIVE_INFINITY;
    if (!login || login.revoked || login.granted || login.authMethod !== 'password' || age > LOGIN_STEP_SECONDS) {
      throw invalidField('login', 'Invalid or expired login; sign up again');
    }
    if (login.membership) {
      throw invalidField('login', 'Login already has a membership');
    }
    if (login.project && login.project.reference !== `Project/${projectId}`) {
      throw invalidField('projectId', 'Login is for another project');
    }
    const { project, policy } = await signUpProject(systemRepo, projectId);
    const user = await systemRepo.readReference<User>(login.user as Reference<User>);
    if (user.project?.reference !== `Project/${project.id}`) {
      throw invalidField('login', 'User must be scoped to the project');
    }

    const code = randomSecret(32);
    const { membership } = await systemRepo.withTransaction(
      async (tx) => {
        const existing = await tx.searchOne<ProjectMembership>({
          resourceType: 'ProjectMembership',
          filters: [
            { code: 'user', operator: 'eq', value: `User/${user.id}` },
            { code: 'project', operator: 'eq', value: `Project/${project.id}` },
          ],
        });
        if (existing) {
          throw invalidField('login', 'Already registered in this project');
        }
        const repo = tx.inProject(project.id);
        const patient = await repo.createResource<Patient>({
          resourceType: 'Patient',
          name: [{ given: [user.firstName], family: user.lastName }],
          ...(user.email ? { telecom: [{ system: 'email', value: user.email }] } : undefined),
        });
        const membership = await repo.createResource<ProjectMembership>({
          resourceType: 'ProjectMembership',
          project: { reference: `Project/${project.id}` },
          user: { reference: `User/${user.id}` },
          profile: { reference: `Patient/${patient.id}` },
          accessPolicy: { reference: `AccessPolicy/${policy.id}` },
        });
        const updated = await updateLoginIfUnchanged(tx, {
          ...login,
          membership: { reference: `ProjectMembership/${membership.id}` },
          project: { reference: `Project/${project.id}` },
          profileType: 'Patient',
          code: hashSecret(code),
        });
        if (!updated) {
          throw invalidField('login', 'Login changed; sign up again');
        }
        return { membership };
      },
      { serializable: true, resourceTypes: [] }
    );
    audit.recordSignIn({
      outcome: 'success',
      method: 'password',
      ip: request.ip,
      email: user.email,
      clientId: login.client?.reference?.split('/')[1],
      projectId: project.id,
      who: membership.profile.reference,
    });
    return { login: login.id, code };
  });
}

/** The project a sign-up is for, when it allows sign-up: 403 otherwise (also when it does not exist). */
async function signUpProject(
  systemRepo: PostgresRepository,
  projectId: string | undefined
): Promise<{ project: WithId<Project>; policy: WithId<AccessPolicy> }> {
  const refuse = (text = SIGN_UP_OFF) =>
    new OperationOutcomeError({ ...forbidden, issue: [{ ...forbidden.issue[0], details: { text } }] });
  if (!projectId) {
    // No open sign-up of server-wide accounts: only into a project that allows it.
    throw refuse('Self sign-up needs the projectId (or clientId) of a project that allows it');
  }
  const project = await systemRepo.readResource<Project>('Project', projectId).catch(() => undefined);
  if (!project?.defaultPatientAccessPolicy) {
    throw refuse();
  }
  const policy = await systemRepo
    .readReference<AccessPolicy>(project.defaultPatientAccessPolicy)
    .catch(() => undefined);
  // A policy of another project would hand its grants to strangers: treat it as sign-up off.
  if (!policy || policy.meta?.project !== project.id) {
    throw refuse();
  }
  return { project, policy };
}
