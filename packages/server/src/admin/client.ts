import { randomBytes } from 'node:crypto';
import type { WithId } from '@medplum/core';
import type { AccessPolicy, ClientApplication, Project, ProjectMembership, Reference } from '@medplum/fhirtypes';
import { importJWK, type JSONWebKeySet } from 'jose';
import { ensureRolePolicy } from '../access/roles.js';
import { parseResourceScopes } from '../access/scopes.js';
import { CLIENT_ASSERTION_ALGORITHMS, clientJwksExtension, describeJwksProblem } from '../oauth/client-assertion.js';
import type { PostgresRepository } from '../repository/repository.js';
import {
  bodyObject,
  invalidField,
  optionalBoolean,
  optionalString,
  projectAccessPolicy,
  requiredString,
} from './project-admin.js';

/**
 * `POST /admin/projects/:projectId/client`: how an external SMART client registers. Keys for
 * `private_key_jwt` come as `jwksUri` or an inline `jwks`; `scope` bounds what it may request.
 */
export interface ClientRegistration {
  name: string;
  description?: string;
  redirectUri?: string;
  jwksUri?: string;
  jwks?: JSONWebKeySet;
  /** Space-separated SMART scopes, stored as `ClientApplication.defaultScope`. */
  scope?: string;
  accessPolicy?: Reference<AccessPolicy>;
  admin?: boolean;
}

export interface ClientRegistrationResult {
  client: WithId<ClientApplication>;
  membership: WithId<ProjectMembership>;
}

const HTTP_URL = /^https?:\/\/[^\s]+$/;

export async function parseClientRegistration(
  systemRepo: PostgresRepository,
  projectId: string,
  rawBody: unknown
): Promise<ClientRegistration> {
  const body = bodyObject(rawBody);
  const jwksUri = optionalString(body, 'jwksUri', {
    max: 2048,
    pattern: HTTP_URL,
    message: 'jwksUri must be an http(s) URL',
  });
  const jwks = body.jwks ?? undefined;
  if (jwks !== undefined) {
    const problem = describeJwksProblem(jwks) ?? (await describeUnimportableKey(jwks as JSONWebKeySet));
    if (problem) {
      throw invalidField('jwks', problem);
    }
    if (jwksUri) {
      throw invalidField('jwks', 'Register either jwksUri or jwks, not both');
    }
  }
  const scope = parseScope(body.scope);
  return {
    name: requiredString(body, 'name', 'Name'),
    description: optionalString(body, 'description', { max: 2000 }),
    redirectUri: optionalString(body, 'redirectUri', {
      max: 2048,
      pattern: /^[a-z][a-z0-9+.-]*:[^\s]+$/i,
      message: 'redirectUri must be an absolute URI',
    }),
    jwksUri,
    jwks: jwks as JSONWebKeySet | undefined,
    scope,
    accessPolicy: await projectAccessPolicy(systemRepo, projectId, body.accessPolicy),
    admin: optionalBoolean(body, 'admin'),
  };
}

/** Each key must import as an RS384 or ES384 verification key, so a typo fails here, not at sign-in. */
async function describeUnimportableKey(jwks: JSONWebKeySet): Promise<string | undefined> {
  for (const key of jwks.keys) {
    const alg = key.alg ?? (key.kty === 'RSA' ? 'RS384' : 'ES384');
    if (!CLIENT_ASSERTION_ALGORITHMS.includes(alg)) {
      return `JWKS key alg must be ${CLIENT_ASSERTION_ALGORITHMS.join(' or ')}, not ${alg}`;
    }
    try {
      await importJWK(key, alg);
    } catch {
      return `JWKS key${key.kid ? ` ${key.kid}` : ''} is not a valid ${alg} public key`;
    }
  }
  return undefined;
}

/** `scope` as a string or an array of strings; each resource scope must parse. */
function parseScope(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') {
    return undefined;
  }
  const tokens = (Array.isArray(value) ? value : [value]).flatMap((v) => {
    if (typeof v !== 'string') {
      throw invalidField('scope', 'scope must be a string of space-separated scopes');
    }
    return v.split(/\s+/).filter(Boolean);
  });
  for (const token of tokens) {
    if (/^(patient|user|system)\//.test(token) && !parseResourceScopes(token)?.length) {
      throw invalidField('scope', `Malformed scope: ${token}`);
    }
  }
  return tokens.join(' ') || undefined;
}

/**
 * Creates the ClientApplication and its ProjectMembership in one transaction. A client without
 * registered keys gets a generated secret (returned once, in the response); a client with keys
 * authenticates with them only. Its policy: the chosen one, else the shipped clinician policy
 * (admin policy when `admin`).
 */
export async function registerClient(
  systemRepo: PostgresRepository,
  project: WithId<Project>,
  registration: ClientRegistration,
  invitedBy?: ProjectMembership['invitedBy']
): Promise<ClientRegistrationResult> {
  const hasKeys = Boolean(registration.jwksUri || registration.jwks);
  return systemRepo.withTransaction(async (tx) => {
    const repo = tx.inProject(project.id);
    const client = await repo.createResource<ClientApplication>({
      resourceType: 'ClientApplication',
      status: 'active',
      name: registration.name,
      ...(registration.description ? { description: registration.description } : undefined),
      ...(hasKeys ? undefined : { secret: randomBytes(32).toString('hex') }),
      ...(registration.redirectUri
        ? { redirectUri: registration.redirectUri, redirectUris: [registration.redirectUri] }
        : undefined),
      ...(registration.jwksUri ? { jwksUri: registration.jwksUri } : undefined),
      ...(registration.jwks ? { extension: [clientJwksExtension(registration.jwks)] } : undefined),
      ...(registration.scope ? { defaultScope: [registration.scope] } : undefined),
    });
    const accessPolicy =
      registration.accessPolicy ??
      (await ensureRolePolicy(repo, project.id, registration.admin ? 'admin' : 'clinician').then(
        (policy): Reference<AccessPolicy> => ({ reference: `AccessPolicy/${policy.id}` })
      ));
    const membership = await repo.createResource<ProjectMembership>({
      resourceType: 'ProjectMembership',
      project: { reference: `Project/${project.id}` },
      user: { reference: `ClientApplication/${client.id}` },
      profile: { reference: `ClientApplication/${client.id}` },
      accessPolicy,
      ...(registration.admin ? { admin: true } : undefined),
      ...(invitedBy ? { invitedBy } : undefined),
    });
    return { client, membership };
  });
}
