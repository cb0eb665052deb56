import type { WithId } from '@medplum/core';
import type { ClientApplication, Login, ProjectMembership } from '@medplum/fhirtypes';
import type { Redis } from 'ioredis';
import { parseResourceScopes, type ResourceScope } from '../access/scopes.js';
import { type AccessTokenClaims, signAccessToken } from '../auth/access-token.js';
import type { SigningKeys } from '../auth/keys.js';
import { secretsEqual } from '../auth/password.js';
import type { PostgresRepository } from '../repository/repository.js';
import { authenticateClientAssertion } from './client-assertion.js';
import { OAuthError } from './oauth-error.js';

export interface TokenResponse {
  token_type: 'Bearer';
  access_token: string;
  expires_in: number;
  scope: string;
  project: { reference: string };
  profile: { reference: string };
}

export interface ClientCredentialsOptions {
  /** The server's base URL: the token issuer; the token URL (`aud` of client assertions) is `${issuer}oauth2/token`. */
  issuer: string;
  /** Lifetime of tokens for clients that authenticate with a secret, in seconds. */
  lifetime: number;
  /** Replay protection for client assertions (`jti`). */
  redis: Redis;
  redisKeyPrefix?: string;
}

/** The client authentication and scope of a token request, as sent (form body or Basic header). */
export interface ClientCredentialsRequest {
  clientId?: string;
  clientSecret?: string;
  clientAssertionType?: string;
  clientAssertion?: string;
  scope?: string;
  remoteAddress?: string;
  userAgent?: string;
}

/** SMART Backend Services: tokens issued on a client assertion live at most five minutes. */
export const BACKEND_SERVICE_TOKEN_LIFETIME = 300;

/** The scope of a client that registered none and requested none: everything its AccessPolicy allows. */
const DEFAULT_CLIENT_SCOPE = 'system/*.*';

/** Scopes asking for a refresh token: client_credentials never issues one, so they are not granted. */
const REFRESH_SCOPES = new Set(['offline_access', 'online_access']);

/**
 * The client_credentials grant: a ClientApplication proves who it is with its secret or a
 * `private_key_jwt` assertion (SMART Backend Services) and receives a token acting as its own
 * ProjectMembership. `systemRepo` is privileged because the caller is not authenticated yet: it
 * only reads the client and its membership, and records the Login.
 */
export async function issueClientCredentialsToken(
  systemRepo: PostgresRepository,
  keys: SigningKeys,
  options: ClientCredentialsOptions,
  request: ClientCredentialsRequest
): Promise<TokenResponse> {
  const usesAssertion = request.clientAssertionType !== undefined || request.clientAssertion !== undefined;
  let client: WithId<ClientApplication>;
  let lifetime = options.lifetime;
  if (usesAssertion) {
    if (request.clientSecret) {
      throw new OAuthError(
        400,
        'invalid_request',
        'Use one client authentication method, not a secret and an assertion'
      );
    }
    client = await authenticateClientAssertion(
      {
        systemRepo,
        tokenUrl: `${options.issuer}oauth2/token`,
        redis: options.redis,
        redisKeyPrefix: options.redisKeyPrefix ?? '',
      },
      request.clientAssertionType,
      request.clientAssertion,
      request.clientId
    );
    lifetime = Math.min(lifetime, BACKEND_SERVICE_TOKEN_LIFETIME);
  } else {
    client = await authenticateClientSecret(systemRepo, request.clientId, request.clientSecret);
  }

  const memberships = await systemRepo.searchResources<ProjectMembership>({
    resourceType: 'ProjectMembership',
    filters: [{ code: 'profile', operator: 'eq', value: `ClientApplication/${client.id}` }],
    count: 100,
  });
  // Only a membership in the client's own project: another project's admin could otherwise
  // create one naming this client and have its tokens act there.
  const clientProject = client.meta?.project;
  const membership = memberships.find(
    (m) => m.active !== false && clientProject !== undefined && m.project?.reference === `Project/${clientProject}`
  );
  const projectId = membership?.project?.reference?.split('/')[1];
  if (!membership || !projectId) {
    throw new OAuthError(400, 'invalid_client', 'Client is not an active member of any project');
  }
  const scope = grantedClientScope(client, request.scope);
  const login = await systemRepo.createResource<Login>({
    resourceType: 'Login',
    user: { reference: `ClientApplication/${client.id}` },
    client: { reference: `ClientApplication/${client.id}` },
    membership: { reference: `ProjectMembership/${membership.id}` },
    authMethod: 'client',
    authTime: new Date().toISOString(),
    scope,
    granted: true,
    remoteAddress: request.remoteAddress,
    userAgent: request.userAgent,
  });
  const claims: AccessTokenClaims = {
    login_id: login.id,
    sub: client.id,
    client_id: client.id,
    profile: `ClientApplication/${client.id}`,
    scope,
    project: projectId,
    membership: membership.id,
  };
  return {
    token_type: 'Bearer',
    access_token: await signAccessToken(keys, options.issuer, claims, lifetime),
    expires_in: lifetime,
    scope,
    project: { reference: `Project/${projectId}` },
    profile: { reference: claims.profile },
  };
}

/** client_secret_post / client_secret_basic; the retiring secret still works while a new one is rolled out. */
async function authenticateClientSecret(
  systemRepo: PostgresRepository,
  clientId: string | undefined,
  clientSecret: string | undefined
): Promise<WithId<ClientApplication>> {
  if (!clientId || !clientSecret) {
    throw new OAuthError(400, 'invalid_request', 'Missing client_id or client_secret');
  }
  const client = await systemRepo.readResource<ClientApplication>('ClientApplication', clientId).catch(() => undefined);
  // Both comparisons always run, so timing does not tell whether a retiring secret exists.
  const current = Boolean(client?.secret) && secretsEqual(client?.secret ?? '', clientSecret);
  const retiring = Boolean(client?.retiringSecret) && secretsEqual(client?.retiringSecret ?? '', clientSecret);
  if (!client || !(current || retiring) || (client.status && client.status !== 'active')) {
    throw new OAuthError(401, 'invalid_client', 'Invalid client credentials');
  }
  return client;
}

/**
 * The scope a client gets: what it requested (or, when it requested nothing, its registered
 * `defaultScope`), checked against its registered `defaultScope` when it has one. Resource scopes
 * must be `system/` ones (there is no user or patient in this grant).
 */
export function grantedClientScope(client: ClientApplication, requested: string | undefined): string {
  const registered = (client.defaultScope ?? []).flatMap((s) => s.split(/\s+/)).filter(Boolean);
  const tokens = (requested ?? '').split(/\s+/).filter((t) => t && !REFRESH_SCOPES.has(t));
  if (tokens.length === 0) {
    return registered.length > 0 ? registered.join(' ') : DEFAULT_CLIENT_SCOPE;
  }
  const allowed = parseResourceScopes(registered.join(' '));
  const granted: string[] = [];
  let grantsResources = false;
  for (const token of tokens) {
    if (/^(patient|user|system)\//.test(token)) {
      grantsResources = true;
      const scope = parseResourceScopes(token)?.[0];
      if (!scope) {
        throw new OAuthError(400, 'invalid_scope', `Malformed scope: ${token}`);
      }
      if (scope.context !== 'system') {
        throw new OAuthError(400, 'invalid_scope', `client_credentials grants system/ scopes only, not ${token}`);
      }
      if (allowed && !allowed.some((a) => scopeCovers(a, scope))) {
        throw new OAuthError(400, 'invalid_scope', `Scope not allowed for this client: ${token}`);
      }
    }
    granted.push(token);
  }
  if (!grantsResources) {
    // Only identity scopes (`openid`…): without a resource scope the token would get its whole
    // policy, so the registered resource scopes still bound it.
    granted.push(...registered.filter((s) => /^(patient|user|system)\//.test(s)));
  }
  return granted.join(' ');
}

/** Whether a registered scope permits everything a requested one asks for. */
function scopeCovers(allowed: ResourceScope, wanted: ResourceScope): boolean {
  return (
    allowed.context === wanted.context &&
    (allowed.resourceType === '*' || allowed.resourceType === wanted.resourceType) &&
    wanted.interactions.every((i) => allowed.interactions.includes(i)) &&
    (allowed.query === undefined || allowed.query === wanted.query)
  );
}
