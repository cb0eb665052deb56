import type { WithId } from '@medplum/core';
import { badRequest, getReferenceString, OperationOutcomeError, resolveId } from '@medplum/core';
import type {
  ClientApplication,
  Login,
  Project,
  ProjectMembership,
  Reference,
  Resource,
  SmartAppLaunch,
  User,
} from '@medplum/fhirtypes';
import type { SignInAudit, SignInAuditSink } from '../audit/types.js';
import type { SignInThrottle } from '../rate-limit/types.js';
import { TooManyAttemptsError } from '../rate-limit/types.js';
import type { PostgresRepository } from '../repository/repository.js';
import { readLogin, updateLoginIfUnchanged } from './logins.js';
import { hashPassword, verifyPassword } from './password.js';
import { hashSecret, randomSecret } from './secrets.js';
import { type UsedTotpSteps, useTotp } from './totp.js';
import { findMemberships, findUserByEmail, normalizeEmail } from './users.js';

/** Time from a correct password to an authorization code (choosing a profile, typing an MFA code). */
export const LOGIN_STEP_SECONDS = 10 * 60;
/** Scope of a user sign-in that asks for none (Medplum's default): the membership's policy alone applies. */
export const DEFAULT_USER_SCOPE = 'openid';
/** One message for an unknown email and a wrong password, so that neither reveals which emails exist. */
export const INVALID_CREDENTIALS = 'Email or password is invalid';

/** Who is asking, and the services each sign-in step reports to. */
export interface SignInContext {
  systemRepo: PostgresRepository;
  audit: SignInAuditSink;
  throttle: SignInThrottle;
  /** Each TOTP code signs in once. */
  usedTotpSteps: UsedTotpSteps;
  ip: string;
  userAgent?: string;
}

/** `POST auth/login` as MedplumClient's `startLogin` sends it. */
export interface PasswordLoginRequest {
  email: string;
  password: string;
  remember?: boolean;
  projectId?: string;
  clientId?: string;
  scope?: string;
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  /** SMART EHR launch: the SmartAppLaunch id the EHR handed the app. */
  launch?: string;
}

export interface MembershipChoice {
  id: string;
  project: Reference<Project>;
  profile: Reference;
}

/** What auth/login, auth/profile and auth/mfa/verify answer (Medplum's LoginAuthenticationResponse). */
export type LoginResponse =
  | { login: string; code: string }
  | { login: string; memberships: MembershipChoice[] }
  | { login: string; mfaRequired: true; mfaMethods: ['totp'] };

/** Checks an email and password and starts a Login; answers with a code, a choice of profiles, or an MFA step. */
export async function signInWithPassword(ctx: SignInContext, body: unknown): Promise<LoginResponse> {
  const request = parsePasswordLogin(body);
  const client = request.clientId ? await readClient(ctx.systemRepo, request.clientId) : undefined;
  let projectId = request.projectId;
  if (client) {
    const clientProject = client.meta?.project;
    if (projectId !== undefined && projectId !== clientProject) {
      throw new OperationOutcomeError(badRequest('Invalid projectId', 'projectId'));
    }
    projectId = clientProject;
  }
  const launch = request.launch ? await readLaunch(ctx.systemRepo, request.launch, client?.meta?.project) : undefined;
  const email = normalizeEmail(request.email);
  const failure: Omit<SignInAudit, 'reason'> = {
    outcome: 'failure',
    method: 'password',
    ip: ctx.ip,
    email,
    clientId: client?.id,
    // Only a project known to be real (the client's) files the failure there: a project id from
    // the request body would let anyone write into any project's audit trail.
    projectId: client?.meta?.project,
  };

  await countAttempt(ctx, email, failure);
  const user = await findUserByEmail(ctx.systemRepo, email, projectId);
  // An unknown email costs the same scrypt as a wrong password: timing tells nothing either.
  const passwordOk = await verifyPassword(request.password, user?.passwordHash ?? (await dummyPasswordHash()));
  if (!user?.passwordHash || !passwordOk) {
    ctx.audit.recordSignIn({ ...failure, reason: user ? 'wrong password' : 'unknown email' });
    throw new OperationOutcomeError(badRequest(INVALID_CREDENTIALS, 'password'));
  }

  const offline = request.remember || /(^|\s)offline(_access)?(\s|$)/.test(request.scope ?? '');
  const login = await ctx.systemRepo.createResource<Login>({
    resourceType: 'Login',
    user: { reference: `User/${user.id}` },
    client: client ? { reference: `ClientApplication/${client.id}` } : undefined,
    project: projectId ? { reference: `Project/${projectId}` } : undefined,
    launch: launch ? { reference: `SmartAppLaunch/${launch.id}` } : undefined,
    authMethod: 'password',
    authTime: new Date().toISOString(),
    scope: request.scope || DEFAULT_USER_SCOPE,
    nonce: request.nonce,
    codeChallenge: request.codeChallenge,
    codeChallengeMethod: request.codeChallenge ? (request.codeChallengeMethod as 'S256' | 'plain') : undefined,
    // A placeholder nobody holds: its presence says this login may refresh. The real secret is set when tokens are issued.
    refreshSecret: offline ? hashSecret(randomSecret()) : undefined,
    remoteAddress: ctx.ip,
    userAgent: ctx.userAgent,
  });
  if (user.mfaEnrolled) {
    // The password alone proves nothing yet: the account's counter and the audit wait for the
    // second factor.
    await ctx.throttle.recordFactorPassed(ctx.ip);
    return { login: login.id, mfaRequired: true, mfaMethods: ['totp'] };
  }
  return afterAuthenticated(ctx, login, user, 'password');
}

/** `POST auth/mfa/verify`: the second factor of a Login whose password was right. */
export async function verifyMfa(ctx: SignInContext, body: unknown): Promise<LoginResponse> {
  const { login: loginId, token } = (isObject(body) ? body : {}) as { login?: unknown; token?: unknown };
  if (typeof token !== 'string' || !token) {
    throw new OperationOutcomeError(badRequest('Missing token', 'token'));
  }
  const login = await readPendingLogin(ctx.systemRepo, loginId);
  const user = await ctx.systemRepo.readReference<User>(login.user as Reference<User>);
  if (login.mfaVerified) {
    throw new OperationOutcomeError(badRequest('Login already verified', 'login'));
  }
  if (!user.mfaEnrolled || !user.mfaSecret) {
    throw new OperationOutcomeError(badRequest('User not enrolled in MFA', 'login'));
  }
  const email = normalizeEmail(user.email ?? user.id);
  const failure: SignInAudit = {
    outcome: 'failure',
    method: 'mfa',
    ip: ctx.ip,
    email,
    clientId: resolveId(login.client),
    projectId: resolveId(login.project),
  };
  await countAttempt(ctx, email, failure);
  if (!(await useTotp(ctx.usedTotpSteps, user.id, user.mfaSecret, token))) {
    ctx.audit.recordSignIn({ ...failure, reason: 'invalid or reused MFA code' });
    throw new OperationOutcomeError(badRequest('Invalid MFA code', 'token'));
  }
  const verified = await updateLoginIfUnchanged(ctx.systemRepo, { ...login, mfaVerified: true });
  if (!verified) {
    throw new OperationOutcomeError(badRequest('Login changed; sign in again', 'login'));
  }
  return afterAuthenticated(ctx, verified, user, 'mfa');
}

/**
 * Counts the attempt before its credentials are checked; refuses (429) an account or IP that
 * failed too often, recording the refusal as a failed sign-in.
 */
async function countAttempt(ctx: SignInContext, email: string, failure: Omit<SignInAudit, 'reason'>): Promise<void> {
  try {
    await ctx.throttle.countAttempt(email, ctx.ip);
  } catch (err) {
    if (err instanceof TooManyAttemptsError) {
      ctx.audit.recordSignIn({ ...failure, reason: 'too many attempts' });
    }
    throw err;
  }
}

/** `POST auth/profile`: the user picks one of their memberships. */
export async function chooseProfile(ctx: SignInContext, body: unknown): Promise<LoginResponse> {
  const { login: loginId, profile: membershipId } = (isObject(body) ? body : {}) as {
    login?: unknown;
    profile?: unknown;
  };
  if (typeof membershipId !== 'string' || !membershipId) {
    throw new OperationOutcomeError(badRequest('Missing profile', 'profile'));
  }
  const login = await readPendingLogin(ctx.systemRepo, loginId);
  const user = await ctx.systemRepo.readReference<User>(login.user as Reference<User>);
  if (user.mfaEnrolled && !login.mfaVerified) {
    throw new OperationOutcomeError(badRequest('MFA verification required', 'login'));
  }
  if (login.membership) {
    throw new OperationOutcomeError(badRequest('Login profile already set', 'login'));
  }
  const membership = await ctx.systemRepo
    .readResource<ProjectMembership>('ProjectMembership', membershipId)
    .catch(() => undefined);
  if (
    !membership ||
    membership.active === false ||
    membership.user?.reference !== login.user?.reference ||
    (login.project && membership.project?.reference !== login.project.reference)
  ) {
    throw new OperationOutcomeError(badRequest('Profile not found', 'profile'));
  }
  return issueCode(ctx, login, membership);
}

/**
 * After the last factor: the sign-in counts as a success (throttle and audit), and the Login gets
 * its membership when there is one to choose, else the user is asked to choose.
 */
async function afterAuthenticated(
  ctx: SignInContext,
  login: WithId<Login>,
  user: WithId<User>,
  method: 'password' | 'mfa'
): Promise<LoginResponse> {
  const email = normalizeEmail(user.email ?? user.id);
  await ctx.throttle.recordSuccess(email, ctx.ip);
  const memberships = await findMemberships(ctx.systemRepo, `User/${user.id}`, resolveId(login.project));
  const only = memberships.length === 1 ? memberships[0] : undefined;
  ctx.audit.recordSignIn({
    outcome: memberships.length === 0 ? 'failure' : 'success',
    method,
    ip: ctx.ip,
    email,
    clientId: resolveId(login.client),
    projectId: resolveId(only?.project ?? login.project),
    who: only?.profile?.reference ?? `User/${user.id}`,
    reason: memberships.length === 0 ? 'no project membership' : undefined,
  });
  if (memberships.length === 0) {
    throw new OperationOutcomeError(badRequest('This user has no access to this project'));
  }
  if (only) {
    return issueCode(ctx, login, only);
  }
  return { login: login.id, memberships: await describeMemberships(ctx.systemRepo, memberships) };
}

/** Sets the Login's membership and gives out a fresh authorization code (only its hash is stored). */
async function issueCode(
  ctx: SignInContext,
  login: WithId<Login>,
  membership: WithId<ProjectMembership>
): Promise<LoginResponse> {
  const code = randomSecret(32);
  const updated = await updateLoginIfUnchanged(ctx.systemRepo, {
    ...login,
    membership: { reference: `ProjectMembership/${membership.id}` },
    project: membership.project,
    profileType: membership.profile?.reference?.split('/')[0] as Login['profileType'],
    code: hashSecret(code),
  });
  if (!updated) {
    throw new OperationOutcomeError(badRequest('Login changed; sign in again', 'login'));
  }
  return { login: login.id, code };
}

/** A Login in the middle of signing in: not yet exchanged for tokens, not revoked, not stale. */
async function readPendingLogin(systemRepo: PostgresRepository, loginId: unknown): Promise<WithId<Login>> {
  if (typeof loginId !== 'string' || !loginId) {
    throw new OperationOutcomeError(badRequest('Missing login', 'login'));
  }
  const login = await readLogin(systemRepo, loginId);
  const age = login ? (Date.now() - new Date(login.authTime as string).getTime()) / 1000 : Infinity;
  if (!login || login.revoked || login.granted || login.authMethod !== 'password' || age > LOGIN_STEP_SECONDS) {
    throw new OperationOutcomeError(badRequest('Invalid or expired login; sign in again', 'login'));
  }
  return login;
}

/** The memberships to choose from, with the project and profile names shown by ChooseProfileForm. */
async function describeMemberships(
  systemRepo: PostgresRepository,
  memberships: WithId<ProjectMembership>[]
): Promise<MembershipChoice[]> {
  const [projects, profiles] = await Promise.all([
    systemRepo.readReferences<Project>(memberships.map((m) => m.project)),
    systemRepo.readReferences<Resource>(memberships.map((m) => m.profile)),
  ]);
  return memberships.map((membership, i) => {
    const project = projects[i];
    const profile = profiles[i];
    return {
      id: membership.id,
      project: {
        reference: membership.project.reference,
        display: project instanceof Error ? undefined : (project as Project).name,
      },
      profile: {
        reference: membership.profile.reference,
        display: membership.profile.display ?? (profile instanceof Error ? undefined : displayName(profile)),
      },
    };
  });
}

function displayName(resource: Resource): string | undefined {
  const name = (resource as { name?: unknown }).name;
  if (typeof name === 'string') {
    return name;
  }
  if (Array.isArray(name) && name.length > 0) {
    const first = name[0] as { text?: string; given?: string[]; family?: string };
    return first.text ?? [...(first.given ?? []), first.family].filter(Boolean).join(' ');
  }
  return getReferenceString(resource);
}

/** The client a sign-in is for; unknown or inactive clients are refused. */
export async function readClient(systemRepo: PostgresRepository, clientId: string): Promise<WithId<ClientApplication>> {
  const client = await systemRepo.readResource<ClientApplication>('ClientApplication', clientId).catch(() => undefined);
  if (!client || (client.status && client.status !== 'active')) {
    throw new OperationOutcomeError(badRequest('Invalid client', 'clientId'));
  }
  return client;
}

/** The EHR launch the app was started with; it must belong to the client's project. */
async function readLaunch(
  systemRepo: PostgresRepository,
  launchId: string,
  clientProjectId: string | undefined
): Promise<WithId<SmartAppLaunch>> {
  const launch = await systemRepo.readResource<SmartAppLaunch>('SmartAppLaunch', launchId).catch(() => undefined);
  if (!launch || !clientProjectId || launch.meta?.project !== clientProjectId) {
    throw new OperationOutcomeError(badRequest('Invalid launch', 'launch'));
  }
  return launch;
}

/** Validates the body of `auth/login`; each problem names its field, as SignInForm shows it. */
export function parsePasswordLogin(body: unknown): PasswordLoginRequest {
  if (!isObject(body)) {
    throw new OperationOutcomeError(badRequest('Expected a JSON object'));
  }
  const b = body as Record<string, unknown>;
  const optional = (name: string): string | undefined => {
    const value = b[name];
    if (value === undefined || value === null || value === '') {
      return undefined;
    }
    if (typeof value !== 'string') {
      throw new OperationOutcomeError(badRequest(`Invalid ${name}`, name));
    }
    return value;
  };
  const email = optional('email');
  if (!email || email.length > 320 || !/^[^\s@]+@[^\s@]+$/.test(email.trim())) {
    throw new OperationOutcomeError(badRequest('Valid email address is required', 'email'));
  }
  const password = optional('password');
  if (!password) {
    throw new OperationOutcomeError(badRequest('Password is required', 'password'));
  }
  if (password.length > 1024) {
    throw new OperationOutcomeError(badRequest(INVALID_CREDENTIALS, 'password'));
  }
  const codeChallenge = optional('codeChallenge');
  const codeChallengeMethod = optional('codeChallengeMethod');
  if (codeChallengeMethod && !codeChallenge) {
    throw new OperationOutcomeError(badRequest('Missing code challenge', 'codeChallenge'));
  }
  if (codeChallenge) {
    // MedplumClient falls back to `plain` where it cannot hash (Node.js). Here that is as safe as
    // S256: the challenge and the code travel in one request and its answer, with no redirect in
    // between to intercept. oauth2/authorize (SMART) accepts S256 only.
    if (codeChallengeMethod !== 'S256' && codeChallengeMethod !== 'plain') {
      throw new OperationOutcomeError(badRequest('Code challenge method must be S256', 'codeChallengeMethod'));
    }
    if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(codeChallenge)) {
      throw new OperationOutcomeError(badRequest('Invalid code challenge', 'codeChallenge'));
    }
  }
  const scope = optional('scope');
  if (scope && scope.length > 2000) {
    throw new OperationOutcomeError(badRequest('Invalid scope', 'scope'));
  }
  return {
    email: email.trim(),
    password,
    remember: b.remember === true || b.remember === 'true',
    projectId: optional('projectId'),
    clientId: optional('clientId'),
    scope,
    nonce: optional('nonce'),
    codeChallenge,
    codeChallengeMethod,
    launch: optional('launch'),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

let dummyHash: Promise<string> | undefined;
function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(randomSecret(16));
  return dummyHash;
}
