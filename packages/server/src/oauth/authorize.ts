import type { WithId } from '@medplum/core';
import { badRequest, normalizeErrorString, OperationOutcomeError } from '@medplum/core';
import type { ClientApplication, SmartAppLaunch } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { SignInAuditSink } from '../audit/types.js';
import {
  chooseProfile,
  type LoginResponse,
  type SignInContext,
  signInWithPassword,
  verifyMfa,
} from '../auth/login-flow.js';
import { readLogin } from '../auth/logins.js';
import type { UsedTotpSteps } from '../auth/totp.js';
import { type SignInThrottle, TooManyAttemptsError } from '../rate-limit/types.js';
import type { PostgresRepository } from '../repository/repository.js';
import { chooseProfilePage, errorPage, mfaPage, PAGE_HEADERS, signInPage } from './authorize-page.js';

export interface AuthorizeRoutesOptions {
  baseUrl: string;
  systemRepo: PostgresRepository;
  audit: SignInAuditSink;
  signInThrottle: SignInThrottle;
  usedTotpSteps: UsedTotpSteps;
}

/** The parameters of an authorization request that travel through the sign-in pages. */
const REQUEST_PARAMS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'code_challenge',
  'code_challenge_method',
  'aud',
  'launch',
  'nonce',
] as const;
type AuthorizeParams = Partial<Record<(typeof REQUEST_PARAMS)[number], string>>;

/** A request the client's redirect URI should hear about (RFC 6749 §4.1.2.1). */
class RedirectError extends Error {
  constructor(
    readonly params: AuthorizeParams,
    readonly error: string,
    readonly description: string
  ) {
    super(description);
  }
}

/** A request that must not redirect anywhere: the client or its redirect URI is not trusted. */
class PageError extends Error {}

/**
 * `oauth2/authorize` (RFC 6749 §4.1, SMART App Launch 2.0) for apps launched by an EHR or
 * signing users in through the browser: the client and its exact registered redirect URI are
 * checked first (failures get an error page, never a redirect), then the rest of the request
 * (failures go back to the client as `error=`). The user signs in on a server-rendered page;
 * success redirects to `redirect_uri?code=…&state=…`.
 */
export async function authorizeRoutes(app: FastifyInstance, options: AuthorizeRoutesOptions): Promise<void> {
  const { systemRepo } = options;
  const fhirBase = `${options.baseUrl}fhir/R4`;

  app.get('/oauth2/authorize', async (request, reply) =>
    handle(reply, async () => {
      const params = pickParams(request.query);
      const client = await validateRequest(params);
      return showPage(reply, 200, signInPage({ clientName: client.name ?? client.id, params }));
    })
  );

  app.post('/oauth2/authorize', async (request, reply) =>
    handle(reply, async () => {
      // Parameters come from the form the page posted; a client may also send them in the query.
      const form = formFields(request.body);
      const params = { ...pickParams(request.query), ...pickParams(form) };
      const client = await validateRequest(params);
      const ctx: SignInContext = {
        systemRepo,
        audit: options.audit,
        throttle: options.signInThrottle,
        usedTotpSteps: options.usedTotpSteps,
        ip: request.ip,
        userAgent: request.headers['user-agent'],
      };
      let result: LoginResponse;
      try {
        if (form.login) {
          await assertLoginOfThisRequest(form.login, client.id, params);
        }
        if (form.login && form.token !== undefined) {
          result = await verifyMfa(ctx, { login: form.login, token: form.token });
        } else if (form.login && form.profile) {
          result = await chooseProfile(ctx, { login: form.login, profile: form.profile });
        } else {
          result = await signInWithPassword(ctx, {
            email: form.email,
            password: form.password,
            clientId: client.id,
            scope: params.scope,
            nonce: params.nonce,
            codeChallenge: params.code_challenge,
            codeChallengeMethod: params.code_challenge ? (params.code_challenge_method ?? 'S256') : undefined,
            launch: params.launch,
            remember: /(^|\s)offline_access(\s|$)/.test(params.scope ?? ''),
          });
        }
      } catch (err) {
        if (err instanceof TooManyAttemptsError) {
          reply.header('Retry-After', String(err.retryAfterSeconds));
          return showPage(reply, 429, signInPage({ clientName: client.name ?? client.id, params, error: err.message }));
        }
        if (err instanceof OperationOutcomeError) {
          const error = normalizeErrorString(err);
          if (form.login && form.token !== undefined) {
            return showPage(reply, 400, mfaPage({ params, login: form.login, error }));
          }
          return showPage(
            reply,
            400,
            signInPage({ clientName: client.name ?? client.id, params, email: form.email, error })
          );
        }
        throw err;
      }
      if ('code' in result) {
        const target = new URL(params.redirect_uri as string);
        target.searchParams.set('code', result.code);
        if (params.state !== undefined) {
          target.searchParams.set('state', params.state);
        }
        return reply.header('Cache-Control', 'no-store').redirect(target.toString(), 302);
      }
      if ('mfaRequired' in result) {
        return showPage(reply, 200, mfaPage({ params, login: result.login }));
      }
      return showPage(
        reply,
        200,
        chooseProfilePage({
          params,
          login: result.login,
          memberships: result.memberships.map((m) => ({
            id: m.id,
            label: [m.profile.display, m.project.display].filter(Boolean).join(' — ') || m.id,
          })),
        })
      );
    })
  );

  /** Checks the client and redirect URI (PageError), then the rest (RedirectError). */
  async function validateRequest(params: AuthorizeParams): Promise<WithId<ClientApplication>> {
    const client = params.client_id
      ? await systemRepo.readResource<ClientApplication>('ClientApplication', params.client_id).catch(() => undefined)
      : undefined;
    if (!client || (client.status && client.status !== 'active')) {
      throw new PageError('Unknown client application.');
    }
    const registered = [client.redirectUri, ...(client.redirectUris ?? [])].filter(Boolean);
    if (!params.redirect_uri || !registered.includes(params.redirect_uri) || !isSafeRedirect(params.redirect_uri)) {
      throw new PageError('The redirect URI is not registered for this client application.');
    }
    if (params.response_type !== 'code') {
      throw new RedirectError(params, 'unsupported_response_type', 'response_type must be code');
    }
    if (!params.state) {
      throw new RedirectError(params, 'invalid_request', 'Missing state');
    }
    if (!params.scope) {
      throw new RedirectError(params, 'invalid_scope', 'Missing scope');
    }
    if (params.code_challenge) {
      if ((params.code_challenge_method ?? 'S256') !== 'S256') {
        throw new RedirectError(params, 'invalid_request', 'code_challenge_method must be S256');
      }
      if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(params.code_challenge)) {
        throw new RedirectError(params, 'invalid_request', 'Invalid code_challenge');
      }
    } else if (!client.pkceOptional) {
      throw new RedirectError(params, 'invalid_request', 'PKCE is required: send code_challenge with S256');
    }
    if (params.aud !== undefined && params.aud.replace(/\/+$/, '') !== fhirBase) {
      throw new RedirectError(params, 'invalid_request', `aud must be this server's FHIR base URL: ${fhirBase}`);
    }
    if (params.launch) {
      const launch = await systemRepo
        .readResource<SmartAppLaunch>('SmartAppLaunch', params.launch)
        .catch(() => undefined);
      // A launch belongs to the project of the app it was made for: another project's launch is unknown here.
      if (!launch || launch.meta?.project !== client.meta?.project) {
        throw new RedirectError(params, 'invalid_request', 'Unknown launch');
      }
    }
    return client;
  }

  /** The later steps (MFA, profile) continue the Login this very request started, for this client. */
  async function assertLoginOfThisRequest(loginId: string, clientId: string, params: AuthorizeParams): Promise<void> {
    const login = await readLogin(systemRepo, loginId);
    if (
      !login ||
      login.client?.reference !== `ClientApplication/${clientId}` ||
      login.codeChallenge !== params.code_challenge
    ) {
      throw new OperationOutcomeError(badRequest('Invalid login; sign in again', 'login'));
    }
  }

  /** Turns the two kinds of refusal into an error page or an error redirect. */
  async function handle(reply: FastifyReply, run: () => Promise<FastifyReply>): Promise<FastifyReply> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof PageError) {
        return showPage(reply, 400, errorPage(err.message));
      }
      if (err instanceof RedirectError) {
        return redirectError(reply, err);
      }
      throw err;
    }
  }

  function redirectError(reply: FastifyReply, err: RedirectError): FastifyReply {
    const { params } = err;
    const target = new URL(params.redirect_uri as string);
    target.searchParams.set('error', err.error);
    target.searchParams.set('error_description', err.description);
    if (params.state !== undefined) {
      target.searchParams.set('state', params.state);
    }
    return reply.header('Cache-Control', 'no-store').redirect(target.toString(), 302);
  }
}

function showPage(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).send(html);
}

function pickParams(source: unknown): AuthorizeParams {
  const fields = formFields(source);
  const params: AuthorizeParams = {};
  for (const name of REQUEST_PARAMS) {
    if (fields[name] !== undefined && fields[name] !== '') {
      params[name] = fields[name];
    }
  }
  return params;
}

/** Single string values only: repeated parameters are ignored rather than guessed at. */
function formFields(source: unknown): Record<string, string | undefined> {
  const result: Record<string, string | undefined> = {};
  if (typeof source === 'object' && source !== null && !Buffer.isBuffer(source)) {
    for (const [name, value] of Object.entries(source)) {
      if (typeof value === 'string') {
        result[name] = value;
      }
    }
  }
  return result;
}

/** A URL a browser can be sent to with a code: native apps' own schemes are fine, script-like ones are not. */
function isSafeRedirect(value: string): boolean {
  try {
    return !['javascript:', 'data:', 'vbscript:', 'file:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}
