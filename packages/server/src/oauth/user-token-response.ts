import type { WithId } from '@medplum/core';
import { resolveId } from '@medplum/core';
import type {
  Login,
  Patient,
  Practitioner,
  ProjectMembership,
  Reference,
  SmartAppLaunch,
  User,
} from '@medplum/fhirtypes';
import { type AccessTokenClaims, signAccessToken } from '../auth/access-token.js';
import type { SigningKeys } from '../auth/keys.js';
import { type IdTokenClaims, signIdToken, signRefreshToken } from '../auth/user-tokens.js';
import type { PostgresRepository } from '../repository/repository.js';
import { OAuthError } from './oauth-error.js';
import { tokenReferences } from './token-references.js';

export interface UserTokenOptions {
  issuer: string;
  accessTokenLifetime: number;
  refreshTokenLifetime: number;
}

/** The token response for a user: https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5 */
export interface UserTokenResponse {
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  access_token: string;
  id_token: string;
  refresh_token?: string;
  project: Reference;
  profile: Reference;
  /** SMART: the patient in context (an id, not a reference). */
  patient?: string;
  encounter?: string;
}

/**
 * Signs the tokens of a granted Login. `refreshSecret` is the secret whose hash the Login now
 * holds (undefined: the login may not refresh).
 */
export async function issueUserTokens(
  systemRepo: PostgresRepository,
  keys: SigningKeys,
  options: UserTokenOptions,
  login: WithId<Login>,
  refreshSecret: string | undefined
): Promise<UserTokenResponse> {
  const membership = await systemRepo
    .readReference<ProjectMembership>(login.membership as Reference<ProjectMembership>)
    .catch(() => undefined);
  const projectId = resolveId(membership?.project);
  if (!membership || membership.active === false || !projectId || !membership.profile?.reference) {
    throw new OAuthError(400, 'invalid_grant', 'The membership of this login no longer exists');
  }
  const user = await systemRepo.readReference<User>(login.user as Reference<User>).catch(() => undefined);
  if (!user) {
    throw new OAuthError(400, 'invalid_grant', 'The user of this login no longer exists');
  }
  const profile = membership.profile.reference;
  const clientId = resolveId(login.client);
  const scope = login.scope ?? 'openid';

  let patient = profile.startsWith('Patient/') ? profile : undefined;
  let encounter: string | undefined;
  if (login.launch) {
    const launch = await systemRepo.readReference<SmartAppLaunch>(login.launch).catch(() => undefined);
    patient = launch?.patient?.reference ?? patient;
    encounter = launch?.encounter?.reference;
  }

  const accessClaims: AccessTokenClaims = {
    login_id: login.id,
    sub: user.id,
    username: user.id,
    client_id: clientId,
    profile,
    scope,
    project: projectId,
    membership: membership.id,
    patient,
  };
  const idClaims: IdTokenClaims = {
    sub: user.id,
    login_id: login.id,
    fhirUser: profile,
    aud: clientId,
    client_id: clientId,
    nonce: login.nonce,
    auth_time: Math.floor(new Date(login.authTime as string).getTime() / 1000),
    ...(await identityClaims(systemRepo, scope, user, profile)),
  };
  const [accessToken, idToken, refreshToken, references] = await Promise.all([
    signAccessToken(keys, options.issuer, accessClaims, options.accessTokenLifetime),
    signIdToken(keys, options.issuer, idClaims, options.accessTokenLifetime),
    refreshSecret
      ? signRefreshToken(
          keys,
          options.issuer,
          { login_id: login.id, refresh_secret: refreshSecret },
          options.refreshTokenLifetime
        )
      : undefined,
    tokenReferences(systemRepo, membership),
  ]);
  return {
    token_type: 'Bearer',
    expires_in: options.accessTokenLifetime,
    scope,
    access_token: accessToken,
    id_token: idToken,
    refresh_token: refreshToken,
    project: references.project,
    profile: references.profile,
    patient: resolveId({ reference: patient }),
    encounter: resolveId({ reference: encounter }),
  };
}

/** OpenID standard claims the scope asks for (`profile`, `email`): https://openid.net/specs/openid-connect-core-1_0.html#ScopeClaims */
export async function identityClaims(
  systemRepo: PostgresRepository,
  scope: string,
  user: User,
  profileReference: string
): Promise<Pick<IdTokenClaims, 'email' | 'name' | 'given_name' | 'family_name'>> {
  const scopes = new Set(scope.split(/\s+/));
  const result: Pick<IdTokenClaims, 'email' | 'name' | 'given_name' | 'family_name'> = {};
  if (scopes.has('email') && user.email) {
    result.email = user.email;
  }
  if (scopes.has('profile')) {
    const profile = await systemRepo
      .readReference<Practitioner | Patient>({ reference: profileReference })
      .catch(() => undefined);
    const name = profile?.name?.[0];
    const given = name?.given?.join(' ') || user.firstName;
    const family = name?.family || user.lastName;
    result.given_name = given;
    result.family_name = family;
    result.name = name?.text ?? ([given, family].filter(Boolean).join(' ') || undefined);
  }
  return result;
}
