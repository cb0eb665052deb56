import type { SmartAppLaunch, User } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createTestUser,
  pkcePair,
  postJson,
  postToken,
  type SignInTestServer,
  startSignInTestServer,
  type TestUser,
} from '../auth/sign-in.fixtures.js';
import { currentTotp, newTotpSecret } from '../auth/totp.js';

const REDIRECT_URI = 'https://smart-app.example.com/callback';

let t: SignInTestServer;
let clientId: string;
let user: TestUser;
beforeAll(async () => {
  t = await startSignInTestServer();
  const client = await t.request({
    method: 'POST',
    url: '/fhir/R4/ClientApplication',
    payload: { resourceType: 'ClientApplication', name: 'Growth <Charts>', redirectUri: REDIRECT_URI },
  });
  expect(client.statusCode).toBe(201);
  clientId = client.json().id;
  user = await createTestUser(t.repo, t.defaultProject.id);
});
afterAll(async () => {
  await t?.close();
});

async function authorizeParams(overrides: Record<string, string | undefined> = {}) {
  const { verifier, challenge } = await pkcePair();
  const params: Record<string, string> = {};
  const all: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: 'openid fhirUser launch/patient patient/*.rs',
    state: 'state-123',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    aud: `${t.config.baseUrl}fhir/R4`,
    ...overrides,
  };
  for (const [name, value] of Object.entries(all)) {
    if (value !== undefined) {
      params[name] = value;
    }
  }
  return { params, verifier };
}

function getPage(params: Record<string, string>) {
  return fetch(`${t.url}oauth2/authorize?${new URLSearchParams(params)}`, { redirect: 'manual' });
}

function postForm(fields: Record<string, string>) {
  return fetch(`${t.url}oauth2/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
}

/** The hidden fields of the first form on a page, as the browser would post them. */
function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  const form = html.slice(html.indexOf('<form'), html.indexOf('</form>'));
  for (const match of form.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
    fields[match[1]] = match[2]
      .replaceAll('&quot;', '"')
      .replaceAll('&#39;', "'")
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>')
      .replaceAll('&amp;', '&');
  }
  return fields;
}

describe('oauth2/authorize', () => {
  test('shows a sign-in page whose form signs in and redirects with code and state', async () => {
    const { params, verifier } = await authorizeParams();
    const page = await getPage(params);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const html = await page.text();
    expect(html).toContain('Growth &lt;Charts&gt;');
    expect(hiddenFields(html)).toEqual(params);

    const signedIn = await postForm({ ...hiddenFields(html), email: user.email, password: user.password });
    expect(signedIn.status).toBe(302);
    const location = new URL(signedIn.headers.get('location') as string);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(location.searchParams.get('state')).toBe('state-123');
    const code = location.searchParams.get('code') as string;

    const tokens = await postToken(t.url, {
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
    });
    expect(tokens.status).toBe(200);
    expect(tokens.body.scope).toBe(params.scope);
    const claims = JSON.parse(Buffer.from(tokens.body.access_token.split('.')[1], 'base64url').toString());
    expect(claims.client_id).toBe(clientId);
  });

  test('an EHR launch puts its patient in the token response', async () => {
    const patient = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      payload: { resourceType: 'Patient', name: [{ family: 'Launched' }] },
    });
    const launch = await t.repo.inProject(t.defaultProject.id).createResource<SmartAppLaunch>({
      resourceType: 'SmartAppLaunch',
      patient: { reference: `Patient/${patient.json().id}` },
    });
    const { params, verifier } = await authorizeParams({ launch: launch.id, scope: 'launch openid patient/*.rs' });
    const signedIn = await postForm({ ...params, email: user.email, password: user.password });
    expect(signedIn.status).toBe(302);
    const code = new URL(signedIn.headers.get('location') as string).searchParams.get('code') as string;
    const tokens = await postToken(t.url, { grant_type: 'authorization_code', code, code_verifier: verifier });
    expect(tokens.body.patient).toBe(patient.json().id);

    const unknown = await getPage((await authorizeParams({ launch: 'no-such-launch' })).params);
    expect(unknown.status).toBe(302);
    expect(new URL(unknown.headers.get('location') as string).searchParams.get('error')).toBe('invalid_request');

    // Another project's launch is unknown to this client, on the page and at sign-in.
    const otherProject = await t.repo.createResource({ resourceType: 'Project', name: 'Other EHR' });
    const foreign = await t.repo.inProject(otherProject.id).createResource<SmartAppLaunch>({
      resourceType: 'SmartAppLaunch',
      patient: { reference: `Patient/${patient.json().id}` },
    });
    const foreignParams = (await authorizeParams({ launch: foreign.id, scope: 'launch openid patient/*.rs' })).params;
    const page = await getPage(foreignParams);
    expect(new URL(page.headers.get('location') as string).searchParams.get('error')).toBe('invalid_request');
    const signIn = await postForm({ ...foreignParams, email: user.email, password: user.password });
    expect(signIn.status).not.toBe(200);
    expect(signIn.headers.get('location') ?? '').not.toContain('code=');
  });

  test('a wrong password shows the page again with one message, and no redirect', async () => {
    const { params } = await authorizeParams();
    const res = await postForm({ ...params, email: user.email, password: 'wrong-password' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('Email or password is invalid');
    expect(hiddenFields(html)).toEqual(params);
  });

  test('a user with MFA gets a code page before the redirect', async () => {
    const mfaUser = await createTestUser(t.repo, t.defaultProject.id);
    const secret = newTotpSecret();
    await t.repo.updateResource<User>({ ...mfaUser.user, mfaSecret: secret, mfaEnrolled: true });
    const { params } = await authorizeParams();
    const step = await postForm({ ...params, email: mfaUser.email, password: mfaUser.password });
    expect(step.status).toBe(200);
    const fields = hiddenFields(await step.text());
    expect(fields.login).toEqual(expect.any(String));
    const wrong = await postForm({ ...fields, token: '000000' });
    expect(wrong.status).toBe(400);
    // A login started elsewhere (auth/login, no client) cannot be finished here for this client.
    const elsewhere = await postJson(t.url, 'auth/login', { email: mfaUser.email, password: mfaUser.password });
    expect(elsewhere.body.mfaRequired).toBe(true);
    const hijack = await postForm({ ...fields, login: elsewhere.body.login, token: currentTotp(secret) });
    expect(hijack.status).toBe(400);
    expect(hijack.headers.get('location')).toBeNull();
    const done = await postForm({ ...fields, token: currentTotp(secret) });
    expect(done.status).toBe(302);
    expect(new URL(done.headers.get('location') as string).searchParams.get('code')).toEqual(expect.any(String));
  });

  test('an unknown client or an unregistered redirect URI gets an error page, never a redirect', async () => {
    for (const overrides of [
      { redirect_uri: 'https://attacker.example.com/callback' },
      { redirect_uri: `${REDIRECT_URI}/../evil` },
      { redirect_uri: undefined },
      { client_id: 'no-such-client' },
      { client_id: undefined },
    ]) {
      const { params } = await authorizeParams(overrides);
      for (const res of [
        await getPage(params),
        await postForm({ ...params, email: user.email, password: user.password }),
      ]) {
        expect(res.status).toBe(400);
        expect(res.headers.get('location')).toBeNull();
        expect(await res.text()).toContain('Sign-in error');
      }
    }
  });

  test('other bad requests go back to the client as error redirects, with state', async () => {
    const cases: [Record<string, string | undefined>, string][] = [
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ code_challenge: undefined }, 'invalid_request'],
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ aud: 'https://other-ehr.example.com/fhir' }, 'invalid_request'],
      [{ scope: undefined }, 'invalid_scope'],
    ];
    for (const [overrides, error] of cases) {
      const res = await getPage((await authorizeParams(overrides)).params);
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get('location') as string);
      expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
      expect(location.searchParams.get('error')).toBe(error);
      expect(location.searchParams.get('state')).toBe('state-123');
      expect(location.searchParams.get('code')).toBeNull();
    }
  });

  test('values from the query are escaped in the page', async () => {
    const evil = '"><script>alert(1)</script>';
    const { params } = await authorizeParams({ state: evil, nonce: `'onmouseover='x` });
    const res = await getPage(params);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).not.toContain('<script>');
    expect(html).not.toContain(`'onmouseover='`);
    expect(html).toContain('&quot;&gt;&lt;script&gt;');
    expect(hiddenFields(html).state).toBe(evil);
  });
});

describe('discovery', () => {
  test('OpenID configuration', async () => {
    const res = await fetch(`${t.url}.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as any;
    expect(doc).toMatchObject({
      issuer: t.config.baseUrl,
      authorization_endpoint: `${t.config.baseUrl}oauth2/authorize`,
      token_endpoint: `${t.config.baseUrl}oauth2/token`,
      userinfo_endpoint: `${t.config.baseUrl}oauth2/userinfo`,
      jwks_uri: `${t.config.baseUrl}.well-known/jwks.json`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
    });
    const jwks = (await (await fetch(`${t.url}.well-known/jwks.json`)).json()) as any;
    expect(jwks.keys.length).toBeGreaterThan(0);
  });

  test('SMART configuration at the root and under fhir/R4, without a token', async () => {
    const root = (await (await fetch(`${t.url}.well-known/smart-configuration`)).json()) as any;
    const fhir = await fetch(`${t.url}fhir/R4/.well-known/smart-configuration`);
    expect(fhir.status).toBe(200);
    expect(await fhir.json()).toEqual(root);
    expect(root).toMatchObject({
      authorization_endpoint: `${t.config.baseUrl}oauth2/authorize`,
      token_endpoint: `${t.config.baseUrl}oauth2/token`,
      jwks_uri: `${t.config.baseUrl}.well-known/jwks.json`,
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      response_types_supported: ['code'],
    });
    expect(root.token_endpoint_auth_methods_supported).toEqual(
      expect.arrayContaining(['private_key_jwt', 'client_secret_basic'])
    );
    expect(root.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials'])
    );
    expect(root.scopes_supported).toEqual(expect.arrayContaining(['openid', 'launch', 'offline_access']));
    expect(root.capabilities).toEqual(
      expect.arrayContaining([
        'launch-ehr',
        'client-public',
        'client-confidential-symmetric',
        'client-confidential-asymmetric',
        'context-ehr-patient',
        'permission-v1',
        'permission-v2',
        'sso-openid-connect',
      ])
    );
  });
});
