import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The only reader of process.env. Every setting has a default so that `npm start` works on a
 * developer machine; the result is frozen and passed down explicitly.
 */
export interface TibaConfig {
  port: number;
  /** The interface to listen on: HOST, else every interface, except 127.0.0.1 while the admin password is the default. */
  host: string;
  /** `host` is 127.0.0.1 only because HOST is unset and ADMIN_PASSWORD is the default (the log says so at start). */
  hostLimitedToLoopback: boolean;
  baseUrl: string;
  databaseUrl: string;
  redisUrl: string;
  /** Largest accepted request body, in bytes; larger bodies get 413. */
  maxBodyBytes: number;
  /** Deepest nesting of objects and arrays accepted in a JSON body; deeper bodies get 400. */
  maxJsonDepth: number;
  /** Longest accepted request URL (path and query), in bytes; longer ones get 400. */
  maxUrlLength: number;
  /** Limits on what one search may ask for (each over-limit search gets 400). */
  searchLimits: SearchLimits;
  /** Any single SQL statement of the server is cancelled after this long (ms; 0 = never). */
  statementTimeoutMs: number;
  databasePoolSize: number;
  adminEmail: string;
  adminPassword: string;
  adminClientId?: string;
  adminClientSecret?: string;
  /** Lifetime of access tokens issued by client_credentials, in seconds. */
  accessTokenLifetime: number;
  /** Lifetime of each refresh token issued to users, in seconds (every use issues a new one). */
  refreshTokenLifetime: number;
  /** How often each server re-reads the signing keys, so a rotation reaches every process (seconds; 0 = never). */
  signingKeyReloadSeconds: number;
  /** `rotate-keys` retires a key once a newer key has signed for this long (seconds): longer than any token lives. */
  signingKeyRetireAfterSeconds: number;
  /** Folder of StructureDefinition profiles (JSON) loaded at start and enforced on write. */
  profilesDir?: string;
  logLevel: string;
  /** Upper bound on rows counted for `_total=accurate` before the total becomes an estimate. */
  maxAccurateTotal: number;
  /** The built web app (packages/app/dist) served at `/`; unset when there is none. */
  appDistDir?: string;
  /** Other origins allowed to call the API from a browser (e.g. `vite dev`); same-origin needs none. */
  corsOrigins: readonly string[];
  /** Record AuditEvents for sign-ins and FHIR interactions (off only to measure its cost). */
  auditEnabled: boolean;
  /** Requests per minute per IP on /auth/* and /oauth2/*; 0 disables. */
  rateLimitAuthPerMinute: number;
  /** Requests per minute per IP elsewhere; 0 disables. */
  rateLimitApiPerMinute: number;
  /** The rate-limit window (60 s: the limits above are per minute; tests shorten it). */
  rateLimitWindowSeconds: number;
  /** Prefix of Redis keys for rate limits and sign-in throttling (lets servers share a Redis). */
  redisKeyPrefix: string;
  /**
   * Trust X-Forwarded-For from these proxies (Fastify's trustProxy: `true`, or comma-separated
   * addresses/CIDRs); false when unset, so clients cannot fake their IP.
   */
  trustProxy: boolean | string;
  /** Run the outbox relay and the job workers inside the server (off when `npm run worker` processes do it). */
  workersInProcess: boolean;
  /** How often the outbox relay looks for writes of other processes (ms); local writes wake it at once. */
  outboxPollMs: number;
  /** Jobs (deliveries, bot runs) each worker process runs at once. */
  jobConcurrency: number;
  /** A rest-hook request is cut after this long (ms). */
  restHookTimeoutMs: number;
  /**
   * Rest-hook endpoints (`host:port`, comma-separated) that may be on a private or loopback
   * network; `*` allows every endpoint (development). By default only public addresses are called.
   */
  restHookAllowedHosts: readonly string[];
  /** Delivery attempts of a Subscription without the subscription-max-attempts extension. */
  subscriptionMaxAttempts: number;
  /** Delay before the first retry of a failed delivery (ms); each further retry waits twice as long. */
  subscriptionRetryDelayMs: number;
  /** Bot runs: timeout when the Bot sets none, and the most any run may take (async runs; seconds). */
  botDefaultTimeoutSeconds: number;
  botMaxTimeoutSeconds: number;
  /** Heap cap of each bot run's process (MB). */
  botMemoryMb: number;
  /** Bot processes running at once in this server; further runs wait for a slot. */
  botMaxConcurrentRuns: number;
  /**
   * Hosts on a private or loopback network bots may still connect to (`host:port`, comma-separated):
   * by default a bot reaches the server itself and the public internet only.
   */
  botAllowedHosts: readonly string[];
  /**
   * Hosts on a private or loopback network a client's `jwksUri` may name (`host:port`,
   * comma-separated; `*` allows all): by default client keys are fetched from public addresses only.
   */
  jwksAllowedHosts: readonly string[];
  /** Twilio credentials and numbers that seed the default project's messaging channels at start. */
  twilio: TwilioSettings;
  /** Tries per outbound message when Twilio fails transiently (5xx, 429, network). */
  outboundMaxAttempts: number;
  /** Delay before the first retry of an outbound message (ms); each further retry waits twice as long. */
  outboundRetryDelayMs: number;
  /** Warm bot processes (USSD menus) alive at once, and how long an unused one stays. */
  botWarmProcesses: number;
  botWarmIdleSeconds: number;
  /** USSD_*: seed the default project's USSD channel at start. */
  ussd: UssdSettings;
}

/** USSD_*: the channel is seeded only when the service code is given. */
export interface UssdSettings {
  /** Africa's Talking service code, e.g. `*384*123#`. */
  serviceCode?: string;
  /** The `key` the callback URL carries; generated (and logged once) when unset. */
  callbackSecret?: string;
  /** The Bot owning the menu: its identifier value in https://tiba.health/bots, or `Bot/<id>`. */
  bot: string;
}

/** TWILIO_*: each unset value is undefined; channels are seeded only for the numbers given. */
export interface TwilioSettings {
  accountSid?: string;
  authToken?: string;
  /** The SMS number, E.164 (`+15005550006`). */
  from?: string;
  /** The WhatsApp sender, `whatsapp:+E164` or `+E164`. */
  whatsappFrom?: string;
  /** Where the official `twilio` client sends REST calls (another host plays Twilio in tests and demos). */
  apiBaseUrl?: string;
  /**
   * TWILIO_STAND_IN=true: the server runs Tiba's local Twilio stand-in (on in `npm start`) on
   * TWILIO_STAND_IN_PORT (0: any free port) and sends through it; the phone simulator needs it.
   */
  standIn: boolean;
  standInPort: number;
}

/** Bounds on the cost of one search request; see the README's configuration table. */
export interface SearchLimits {
  /** Query parameters in one search, repeats counted. */
  maxParameters: number;
  /** Comma-separated (OR-ed) values in one parameter. */
  maxValuesPerParameter: number;
  /** Keys in `_sort`. */
  maxSortKeys: number;
  /** Comparisons in one `_filter` expression. */
  maxFilterClauses: number;
  /** Links in a chained parameter (`subject:Patient.organization.name` has 2), `_has` levels included. */
  maxChainDepth: number;
  /** `_include` and `_revinclude` parameters together. */
  maxIncludes: number;
}

export const DEFAULT_ADMIN_PASSWORD = 'medplum_admin';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<TibaConfig> {
  const port = toInt(env.PORT, 8103, 'PORT');
  const baseUrl = withTrailingSlash(env.BASE_URL ?? `http://localhost:${port}/`);
  const accessTokenLifetime = toInt(env.ACCESS_TOKEN_LIFETIME, 3600, 'ACCESS_TOKEN_LIFETIME');
  const refreshTokenLifetime = toInt(env.REFRESH_TOKEN_LIFETIME, 14 * 24 * 3600, 'REFRESH_TOKEN_LIFETIME');
  const signingKeyReloadSeconds = toInt(env.SIGNING_KEY_RELOAD_SECONDS, 60, 'SIGNING_KEY_RELOAD_SECONDS');
  return Object.freeze({
    port,
    ...chooseHost(env),
    baseUrl,
    databaseUrl: env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/tiba',
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    maxBodyBytes: toInt(env.MAX_BODY_BYTES, 16 * 1024 * 1024, 'MAX_BODY_BYTES'),
    maxJsonDepth: toInt(env.MAX_JSON_DEPTH, 100, 'MAX_JSON_DEPTH') || 100,
    maxUrlLength: toInt(env.MAX_URL_LENGTH, 8192, 'MAX_URL_LENGTH') || 8192,
    searchLimits: Object.freeze({
      maxParameters: toInt(env.SEARCH_MAX_PARAMETERS, 100, 'SEARCH_MAX_PARAMETERS') || 100,
      maxValuesPerParameter: toInt(env.SEARCH_MAX_VALUES, 1000, 'SEARCH_MAX_VALUES') || 1000,
      maxSortKeys: toInt(env.SEARCH_MAX_SORT_KEYS, 8, 'SEARCH_MAX_SORT_KEYS') || 8,
      maxFilterClauses: toInt(env.SEARCH_MAX_FILTER_CLAUSES, 32, 'SEARCH_MAX_FILTER_CLAUSES') || 32,
      maxChainDepth: toInt(env.SEARCH_MAX_CHAIN_DEPTH, 4, 'SEARCH_MAX_CHAIN_DEPTH') || 4,
      maxIncludes: toInt(env.SEARCH_MAX_INCLUDES, 10, 'SEARCH_MAX_INCLUDES') || 10,
    }),
    statementTimeoutMs: toInt(env.DATABASE_STATEMENT_TIMEOUT_MS, 15_000, 'DATABASE_STATEMENT_TIMEOUT_MS'),
    databasePoolSize: toInt(env.DATABASE_POOL_SIZE, 20, 'DATABASE_POOL_SIZE'),
    adminEmail: env.ADMIN_EMAIL ?? 'admin@example.com',
    adminPassword: env.ADMIN_PASSWORD ?? DEFAULT_ADMIN_PASSWORD,
    adminClientId: env.ADMIN_CLIENT_ID || undefined,
    adminClientSecret: env.ADMIN_CLIENT_SECRET || undefined,
    accessTokenLifetime,
    refreshTokenLifetime,
    signingKeyReloadSeconds,
    // By default a replaced key verifies until every token it signed (refresh tokens included) has expired.
    signingKeyRetireAfterSeconds: toInt(
      env.SIGNING_KEY_RETIRE_AFTER,
      Math.max(accessTokenLifetime, refreshTokenLifetime) + signingKeyReloadSeconds,
      'SIGNING_KEY_RETIRE_AFTER'
    ),
    profilesDir: env.FHIR_PROFILES_DIR || defaultProfilesDir(),
    logLevel: env.LOG_LEVEL ?? 'info',
    maxAccurateTotal: toInt(env.MAX_ACCURATE_TOTAL, 10_000, 'MAX_ACCURATE_TOTAL'),
    appDistDir: env.APP_DIST_DIR || defaultAppDistDir(),
    corsOrigins: commaList(env.CORS_ORIGINS, (origin) => origin.replace(/\/$/, '')),
    auditEnabled: env.AUDIT_ENABLED !== 'false' && env.AUDIT_ENABLED !== '0',
    rateLimitAuthPerMinute: toInt(env.RATE_LIMIT_AUTH_PER_MINUTE, 160, 'RATE_LIMIT_AUTH_PER_MINUTE'),
    rateLimitApiPerMinute: toInt(env.RATE_LIMIT_API_PER_MINUTE, 60_000, 'RATE_LIMIT_API_PER_MINUTE'),
    rateLimitWindowSeconds: toInt(env.RATE_LIMIT_WINDOW_SECONDS, 60, 'RATE_LIMIT_WINDOW_SECONDS') || 60,
    redisKeyPrefix: env.REDIS_KEY_PREFIX ?? 'tiba:',
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    workersInProcess: env.WORKERS_IN_PROCESS !== 'false' && env.WORKERS_IN_PROCESS !== '0',
    outboxPollMs: toInt(env.OUTBOX_POLL_MS, 200, 'OUTBOX_POLL_MS') || 200,
    jobConcurrency: toInt(env.JOB_CONCURRENCY, 20, 'JOB_CONCURRENCY') || 1,
    restHookTimeoutMs: toInt(env.REST_HOOK_TIMEOUT_MS, 10_000, 'REST_HOOK_TIMEOUT_MS') || 10_000,
    restHookAllowedHosts: commaList(env.REST_HOOK_ALLOWED_HOSTS, (host) => host.toLowerCase()),
    subscriptionMaxAttempts: toInt(env.SUBSCRIPTION_MAX_ATTEMPTS, 4, 'SUBSCRIPTION_MAX_ATTEMPTS') || 1,
    subscriptionRetryDelayMs: toInt(env.SUBSCRIPTION_RETRY_DELAY_MS, 1000, 'SUBSCRIPTION_RETRY_DELAY_MS'),
    botDefaultTimeoutSeconds: toInt(env.BOT_DEFAULT_TIMEOUT_SECONDS, 30, 'BOT_DEFAULT_TIMEOUT_SECONDS') || 30,
    botMaxTimeoutSeconds: toInt(env.BOT_MAX_TIMEOUT_SECONDS, 900, 'BOT_MAX_TIMEOUT_SECONDS') || 900,
    botMemoryMb: toInt(env.BOT_MEMORY_MB, 128, 'BOT_MEMORY_MB') || 128,
    botMaxConcurrentRuns: toInt(env.BOT_MAX_CONCURRENT_RUNS, 4, 'BOT_MAX_CONCURRENT_RUNS') || 4,
    botAllowedHosts: commaList(env.BOT_ALLOWED_HOSTS, (host) => host.toLowerCase()),
    jwksAllowedHosts: commaList(env.JWKS_ALLOWED_HOSTS, (host) => host.toLowerCase()),
    twilio: Object.freeze({
      accountSid: env.TWILIO_ACCOUNT_SID || undefined,
      authToken: env.TWILIO_AUTH_TOKEN || undefined,
      from: env.TWILIO_FROM || undefined,
      whatsappFrom: env.TWILIO_WHATSAPP_FROM || undefined,
      apiBaseUrl: env.TWILIO_API_BASE_URL?.replace(/\/+$/, '') || undefined,
      standIn: env.TWILIO_STAND_IN === 'true' || env.TWILIO_STAND_IN === '1',
      standInPort: toInt(env.TWILIO_STAND_IN_PORT, 0, 'TWILIO_STAND_IN_PORT'),
    }),
    outboundMaxAttempts: toInt(env.OUTBOUND_MAX_ATTEMPTS, 6, 'OUTBOUND_MAX_ATTEMPTS') || 1,
    outboundRetryDelayMs: toInt(env.OUTBOUND_RETRY_DELAY_MS, 5000, 'OUTBOUND_RETRY_DELAY_MS'),
    botWarmProcesses: toInt(env.BOT_WARM_PROCESSES, 4, 'BOT_WARM_PROCESSES'),
    botWarmIdleSeconds: toInt(env.BOT_WARM_IDLE_SECONDS, 300, 'BOT_WARM_IDLE_SECONDS') || 300,
    ussd: Object.freeze({
      serviceCode: env.USSD_SERVICE_CODE?.trim() || undefined,
      callbackSecret: env.USSD_CALLBACK_SECRET || undefined,
      bot: env.USSD_BOT?.trim() || 'clinic-ussd-menu',
    }),
  });
}

/**
 * Where to listen. The default admin password is public knowledge, so while it is in use (or
 * empty) the server is reachable from this machine only, unless HOST says otherwise.
 */
function chooseHost(env: NodeJS.ProcessEnv): Pick<TibaConfig, 'host' | 'hostLimitedToLoopback'> {
  if (env.HOST) {
    return { host: env.HOST, hostLimitedToLoopback: false };
  }
  const defaultPassword = !env.ADMIN_PASSWORD || env.ADMIN_PASSWORD === DEFAULT_ADMIN_PASSWORD;
  return defaultPassword
    ? { host: '127.0.0.1', hostLimitedToLoopback: true }
    : { host: '0.0.0.0', hostLimitedToLoopback: false };
}

/** The repository's fhir-profiles/ folder, when the server runs from a checkout. */
function defaultProfilesDir(): string | undefined {
  const dir = fileURLToPath(new URL('../../../fhir-profiles', import.meta.url));
  return existsSync(dir) ? dir : undefined;
}

/** The web app's build output in a checkout (packages/app/dist), when it has been built. */
function defaultAppDistDir(): string | undefined {
  const dir = fileURLToPath(new URL('../../app/dist', import.meta.url));
  return existsSync(dir) ? dir : undefined;
}

/** A comma-separated setting: each entry trimmed, then normalized; empty entries dropped. */
function commaList(value: string | undefined, normalize: (entry: string) => string): readonly string[] {
  return Object.freeze(
    (value ?? '')
      .split(',')
      .map((entry) => normalize(entry.trim()))
      .filter(Boolean)
  );
}

function parseTrustProxy(value: string | undefined): boolean | string {
  if (!value || value === 'false') {
    return false;
  }
  return value === 'true' ? true : value;
}

function toInt(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') {
    return fallback;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`${name} must be a non-negative integer, got "${value}"`);
  }
  return n;
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
