import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The only reader of process.env. Every setting has a default so that `npm start` works on a
 * developer machine; the result is frozen and passed down explicitly.
 */
export interface TibaConfig {
  port: number;
  host: string;
  baseUrl: string;
  databaseUrl: string;
  redisUrl: string;
  /** Largest accepted request body, in bytes; larger bodies get 413. */
  maxBodyBytes: number;
  databasePoolSize: number;
  adminEmail: string;
  adminPassword: string;
  adminClientId?: string;
  adminClientSecret?: string;
  /** Lifetime of access tokens issued by client_credentials, in seconds. */
  accessTokenLifetime: number;
  /** Folder of StructureDefinition profiles (JSON) loaded at start and enforced on write. */
  profilesDir?: string;
  logLevel: string;
  /** Upper bound on rows counted for `_total=accurate` before the total becomes an estimate. */
  maxAccurateTotal: number;
}

export const DEFAULT_ADMIN_PASSWORD = 'medplum_admin';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<TibaConfig> {
  const port = toInt(env.PORT, 8103, 'PORT');
  const baseUrl = withTrailingSlash(env.BASE_URL ?? `http://localhost:${port}/`);
  return Object.freeze({
    port,
    host: env.HOST ?? '0.0.0.0',
    baseUrl,
    databaseUrl: env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/tiba',
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    maxBodyBytes: toInt(env.MAX_BODY_BYTES, 16 * 1024 * 1024, 'MAX_BODY_BYTES'),
    databasePoolSize: toInt(env.DATABASE_POOL_SIZE, 20, 'DATABASE_POOL_SIZE'),
    adminEmail: env.ADMIN_EMAIL ?? 'admin@example.com',
    adminPassword: env.ADMIN_PASSWORD ?? DEFAULT_ADMIN_PASSWORD,
    adminClientId: env.ADMIN_CLIENT_ID || undefined,
    adminClientSecret: env.ADMIN_CLIENT_SECRET || undefined,
    accessTokenLifetime: toInt(env.ACCESS_TOKEN_LIFETIME, 3600, 'ACCESS_TOKEN_LIFETIME'),
    profilesDir: env.FHIR_PROFILES_DIR || defaultProfilesDir(),
    logLevel: env.LOG_LEVEL ?? 'info',
    maxAccurateTotal: toInt(env.MAX_ACCURATE_TOTAL, 10_000, 'MAX_ACCURATE_TOTAL'),
  });
}

/** The repository's fhir-profiles/ folder, when the server runs from a checkout. */
function defaultProfilesDir(): string | undefined {
  const dir = fileURLToPath(new URL('../../../fhir-profiles', import.meta.url));
  return existsSync(dir) ? dir : undefined;
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
