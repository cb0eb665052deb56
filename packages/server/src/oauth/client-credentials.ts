import type { WithId } from '@medplum/core';
import { isResourceType } from '@medplum/core';
import type { ClientApplication, Login, Project, ProjectMembership, Reference } from '@medplum/fhirtypes';
import type { Redis } from 'ioredis';
import { parseResourceScopes, type ResourceScope } from '../access/scopes.js';
import { type AccessTokenClaims, signAccessToken } from '../auth/access-token.js';
import type { SigningKeys } from '../auth/keys.js';
import { secretsEqual } from '../auth/password.js';
import type { PostgresRepository } from '../repository/repository.js';
import { authenticateClientAssertion } from './client-assertion.js';
import type { RemoteKeySets } from './jwks-fetch.js';
import { OAuthError } from './oauth-error.js';
import { tokenReferences } from './token-references.js';

export interface TokenResponse {
  token_type: 'Bearer';
  access_token: string;
  expires_in: number;
  scope: string;
  project: Reference<Project>;
  profile: Reference<ClientApplication>;
}

export interface ClientCredentialsOptions {
  /** The server's base URL: the token issuer; the token URL (`aud` of client assertions) is `${issuer}oauth2/token`. */
  issuer: string;
  /** Lifetime of tokens for clients that authenticate with a secret, in seconds. */
  lifetime: number;
  /** Replay protection for client assertions (`jti`). */
  redis: Redis;
  redisKeyPrefix?: string;
  /** Fetches the key sets at clients' jwksUris (through the private-address guard). */
  remoteKeySets: RemoteKeySets;
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
  // Called once the request has passed every check: a refused request keeps its assertion usable.
  let recordAssertionUse = async (): Promise<void> => undefined;
  let lifetime = options.lifetime;
  if (usesAssertion) {
    if (request.clientSecret) {
      throw new OAuthError(
        400,
        'invalid_request',
        'Use one client authentication method, not a secret and an assertion'
      );
    }
    const authenticated = await authenticateClientAssertion(
      {
        systemRepo,
        tokenUrl: `${options.issuer}oauth2/token`,
        redis: options.redis,
        redisKeyPrefix: options.redisKeyPrefix ?? '',
        remoteKeySets: options.remoteKeySets,
      },
      request.clientAssertionType,
      request.clientAssertion,
      request.clientId
    );
    client = authenticated.client;
    recordAssertionUse = authenticated.recordUse;
    lifetime = Math.min(lifetime, BACKEND_SERVICE_TOKEN_LIFETIME);
  } else {
    client = await authenticateClientSecret(systemRepo, request.clientId, request.clientSecret);
  }
  // SMART Backend Services requires `scope`, so an assertion without one is refused (also
  // MedplumClient.startJwtAssertionLogin's, which sends none: a backend service names what it
  // wants). A secret client that sends no scope at all keeps Medplum's behaviour
  // (MedplumClient.startClientLogin, the CLI's client-credentials login and Tiba's scripts send
  // none): its registered scope, or its whole AccessPolicy. A scope that is sent follows the rule.
  const scope = grantedClientScope(client, request.scope, usesAssertion);

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
  await recordAssertionUse();
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
  const [accessToken, references] = await Promise.all([
    signAccessToken(keys, options.issuer, claims, lifetime),
    tokenReferences(systemRepo, membership, client),
  ]);
  return {
    token_type: 'Bearer',
    access_token: accessToken,
    expires_in: lifetime,
    scope,
    project: references.project,
    profile: references.profile as Reference<ClientApplication>,
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
 * The scope a client gets. With no `scope` parameter (and none required): its registered
 * `defaultScope`, else everything its AccessPolicy allows. Otherwise the request's `system/`
 * resource scopes (https://hl7.org/fhir/smart-app-launch/backend-services.html#scopes), each for a
 * real resource type and within the registered scope; other words (`openid`, `offline_access`,
 * unknown ones) grant nothing here and are left out. No resource scope left is `invalid_scope`.
 */
export function grantedClientScope(
  client: ClientApplication,
  requested: string | undefined,
  scopeRequired: boolean
): string {
  const registered = (client.defaultScope ?? []).flatMap((s) => s.split(/\s+/)).filter(Boolean);
  if (requested === undefined && !scopeRequired) {
    return registered.length > 0 ? registered.join(' ') : DEFAULT_CLIENT_SCOPE;
  }
  const allowed = parseResourceScopes(registered.join(' '));
  const granted: string[] = [];
  for (const token of (requested ?? '').split(/\s+/)) {
    if (!/^(patient|user|system)\//.test(token)) {
      continue;
    }
    const scope = parseResourceScopes(token)?.[0];
    if (!scope) {
      throw new OAuthError(400, 'invalid_scope', `Malformed scope: ${token}`);
    }
    if (scope.context !== 'system') {
      throw new OAuthError(400, 'invalid_scope', `client_credentials grants system/ scopes only, not ${token}`);
    }
    if (scope.resourceType !== '*' && !isResourceType(scope.resourceType)) {
      throw new OAuthError(400, 'invalid_scope', `Unknown resource type in scope: ${token}`);
    }
    if (allowed && !allowed.some((a) => scopeCovers(a, scope))) {
      throw new OAuthError(400, 'invalid_scope', `Scope not allowed for this client: ${token}`);
    }
    if (!granted.includes(token)) {
      granted.push(token);
    }
  }
  if (granted.length === 0) {
    throw new OAuthError(
      400,
      'invalid_scope',
      requested?.trim()
        ? 'scope must name at least one system/ resource scope, e.g. system/*.rs'
        : 'scope is required, e.g. system/*.rs'
    );
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
