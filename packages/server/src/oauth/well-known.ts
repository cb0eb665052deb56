import type { FastifyInstance } from 'fastify';

export interface WellKnownOptions {
  baseUrl: string;
}

const SCOPES = [
  'openid',
  'profile',
  'email',
  'fhirUser',
  'offline_access',
  'online_access',
  'launch',
  'launch/patient',
  'patient/*.read',
  'patient/*.rs',
  'patient/*.cruds',
  'user/*.read',
  'user/*.rs',
  'user/*.cruds',
  'system/*.read',
  'system/*.rs',
  'system/*.cruds',
];

/** Discovery: OpenID Connect (https://openid.net/specs/openid-connect-discovery-1_0.html) and SMART App Launch 2.0. */
export async function wellKnownRoutes(app: FastifyInstance, options: WellKnownOptions): Promise<void> {
  const base = options.baseUrl;
  const endpoints = {
    issuer: base,
    authorization_endpoint: `${base}oauth2/authorize`,
    token_endpoint: `${base}oauth2/token`,
    userinfo_endpoint: `${base}oauth2/userinfo`,
    end_session_endpoint: `${base}oauth2/logout`,
    jwks_uri: `${base}.well-known/jwks.json`,
  };
  const shared = {
    scopes_supported: SCOPES,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
  };
  const openid = {
    ...endpoints,
    ...shared,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'fhirUser', 'email', 'name'],
  };
  // https://hl7.org/fhir/smart-app-launch/conformance.html#metadata
  const smart = {
    ...endpoints,
    ...shared,
    capabilities: [
      'launch-ehr',
      'client-public',
      'client-confidential-symmetric',
      'client-confidential-asymmetric',
      'context-ehr-patient',
      'context-ehr-encounter',
      'sso-openid-connect',
      'openid',
      'fhirUser',
      'permission-offline',
      'permission-patient',
      'permission-user',
      'permission-v1',
      'permission-v2',
    ],
  };

  const cacheable = 'public, max-age=3600';
  app.get('/.well-known/openid-configuration', async (_request, reply) =>
    reply.header('Cache-Control', cacheable).send(openid)
  );
  for (const url of ['/.well-known/smart-configuration', '/fhir/R4/.well-known/smart-configuration']) {
    app.get(url, async (_request, reply) => reply.header('Cache-Control', cacheable).send(smart));
  }
}
