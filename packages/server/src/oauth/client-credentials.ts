import type { WithId } from '@medplum/core';
import type { ClientApplication, Login, ProjectMembership } from '@medplum/fhirtypes';
import { type AccessTokenClaims, signAccessToken } from '../auth/access-token.js';
import type { SigningKeys } from '../auth/keys.js';
import { secretsEqual } from '../auth/password.js';
import type { PostgresRepository } from '../repository/repository.js';

/** An OAuth2 error: https://datatracker.ietf.org/doc/html/rfc6749#section-5.2 */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string
  ) {
    super(description);
  }
}

export interface TokenResponse {
  token_type: 'Bearer';
  access_token: string;
  expires_in: number;
  scope: string;
  project: { reference: string };
  profile: { reference: string };
}

/**
 * The client_credentials grant: a ClientApplication proves its secret and receives a token
 * acting as its own ProjectMembership. `systemRepo` is privileged because the caller is not
 * authenticated yet: it only reads the client, its membership, and records the Login.
 */
export async function issueClientCredentialsToken(
  systemRepo: PostgresRepository,
  keys: SigningKeys,
  options: { issuer: string; lifetime: number },
  request: { clientId: string; clientSecret: string; scope?: string }
): Promise<TokenResponse> {
  const client = await systemRepo
    .readResource<ClientApplication>('ClientApplication', request.clientId)
    .catch(() => undefined);
  if (!client?.secret || !secretsEqual(client.secret, request.clientSecret)) {
    throw new OAuthError(401, 'invalid_client', 'Invalid client credentials');
  }
  const membership = await systemRepo.searchOne<ProjectMembership>({
    resourceType: 'ProjectMembership',
    filters: [{ code: 'profile', operator: 'eq', value: `ClientApplication/${client.id}` }],
  });
  const projectId = membership?.project?.reference?.split('/')[1];
  if (!membership || !projectId) {
    throw new OAuthError(400, 'invalid_client', 'Client is not a member of any project');
  }
  const scope = request.scope || 'system/*.*';
  const login = await systemRepo.createResource<Login>({
    resourceType: 'Login',
    user: { reference: `ClientApplication/${client.id}` },
    client: { reference: `ClientApplication/${client.id}` },
    membership: { reference: `ProjectMembership/${membership.id}` },
    authMethod: 'client',
    authTime: new Date().toISOString(),
    scope,
    granted: true,
  });
  const claims: AccessTokenClaims = {
    login_id: (login as WithId<Login>).id,
    sub: client.id,
    client_id: client.id,
    profile: `ClientApplication/${client.id}`,
    scope,
    project: projectId,
    membership: membership.id,
  };
  return {
    token_type: 'Bearer',
    access_token: await signAccessToken(keys, options.issuer, claims, options.lifetime),
    expires_in: options.lifetime,
    scope,
    project: { reference: `Project/${projectId}` },
    profile: { reference: claims.profile },
  };
}
