import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { CryptoKey, FlattenedJWSInput, JSONWebKeySet, JWK, JWSHeaderParameters } from 'jose';
import { createLocalJWKSet, errors, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { Queryable } from '../infra/postgres.js';

export const SIGNING_ALG = 'ES256';

/** The server's token signing keys: the newest active key signs, every active key verifies. */
export interface SigningKeys {
  kid: string;
  privateKey: CryptoKey;
  jwks: JSONWebKeySet;
  verifyKeys: ReturnType<typeof createLocalJWKSet>;
}

interface KeyRow {
  kid: string;
  alg: string;
  private_jwk: JWK;
  public_jwk: JWK;
  created_at: string;
}

/** One consistent view of the active keys; replaced as a whole on reload. */
interface KeySnapshot {
  kid: string;
  privateKey: CryptoKey;
  jwks: JSONWebKeySet;
  local: ReturnType<typeof createLocalJWKSet>;
}

/** A token naming an unknown `kid` triggers a reload at most this often (forged kids must not hammer the database). */
const UNKNOWN_KID_RELOAD_INTERVAL_MS = 10_000;

/**
 * The active signing keys of the database, kept current: `reload()` re-reads them (periodically,
 * see `startAutoReload`), so a rotation done by another process reaches this one. A token signed
 * with a key this process has not loaded yet triggers an early reload.
 */
export class SigningKeyRing implements SigningKeys {
  readonly verifyKeys: ReturnType<typeof createLocalJWKSet>;
  private snapshot: KeySnapshot;
  private pendingReload: Promise<void> | undefined;
  private lastUnknownKidReloadAt = 0;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly db: Queryable,
    snapshot: KeySnapshot
  ) {
    this.snapshot = snapshot;
    const verify = async (header?: JWSHeaderParameters, token?: FlattenedJWSInput): Promise<CryptoKey> => {
      try {
        return await this.snapshot.local(header, token);
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey) || !header?.kid || !this.mayReloadForUnknownKid()) {
          throw err;
        }
        await this.reload();
        return this.snapshot.local(header, token);
      }
    };
    this.verifyKeys = Object.assign(verify, { jwks: () => this.snapshot.jwks });
  }

  /** Loads the active keys, creating the first one when there is none. */
  static async load(db: Queryable): Promise<SigningKeyRing> {
    let rows = await selectActiveKeys(db);
    if (rows.length === 0) {
      await insertNewKey(db, { onlyIfNoneActive: true });
      rows = await selectActiveKeys(db);
    }
    return new SigningKeyRing(db, await toSnapshot(rows));
  }

  get kid(): string {
    return this.snapshot.kid;
  }

  get privateKey(): CryptoKey {
    return this.snapshot.privateKey;
  }

  get jwks(): JSONWebKeySet {
    return this.snapshot.jwks;
  }

  /** Re-reads the active keys; concurrent calls share one query. Keeps the current keys if none are active. */
  reload(): Promise<void> {
    this.pendingReload ??= (async () => {
      try {
        const rows = await selectActiveKeys(this.db);
        if (rows.length > 0) {
          this.snapshot = await toSnapshot(rows);
        }
      } finally {
        this.pendingReload = undefined;
      }
    })();
    return this.pendingReload;
  }

  /** Reloads every `intervalMs` until `stopAutoReload()`; failures go to `onError` and the old keys stay. */
  startAutoReload(intervalMs: number, onError: (err: unknown) => void): void {
    this.stopAutoReload();
    if (intervalMs <= 0) {
      return;
    }
    this.timer = setInterval(() => void this.reload().catch(onError), intervalMs);
    this.timer.unref();
  }

  stopAutoReload(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private mayReloadForUnknownKid(): boolean {
    const now = Date.now();
    if (now - this.lastUnknownKidReloadAt < UNKNOWN_KID_RELOAD_INTERVAL_MS) {
      return false;
    }
    this.lastUnknownKidReloadAt = now;
    return true;
  }
}

/** Loads the active keys from the database, creating the first one when there is none. */
export function loadSigningKeys(db: Queryable): Promise<SigningKeyRing> {
  return SigningKeyRing.load(db);
}

export interface RotationResult {
  /** The new signing key. */
  kid: string;
  /** Keys retired by this rotation (replaced long enough ago that their tokens have expired). */
  retired: string[];
}

/**
 * Adds a new signing key, which every server uses for new tokens once it reloads (within its
 * reload interval). Older keys keep verifying; a key is retired (no longer verifies, no longer
 * published) once a newer key has existed for `retireAfterSeconds`, i.e. when no token it
 * signed can still be valid.
 */
export async function rotateSigningKeys(
  db: Queryable,
  options: { retireAfterSeconds: number }
): Promise<RotationResult> {
  const kid = await insertNewKey(db, { onlyIfNoneActive: false });
  const retired = await retireReplacedKeys(db, options.retireAfterSeconds);
  return { kid, retired };
}

/** Retires active keys that a newer key replaced more than `retireAfterSeconds` ago. */
export async function retireReplacedKeys(db: Queryable, retireAfterSeconds: number): Promise<string[]> {
  const result = await db.query<{ kid: string }>(
    `UPDATE jwt_key old SET active = false
      WHERE old.active
        AND EXISTS (SELECT 1 FROM jwt_key newer
                     WHERE newer.created_at > old.created_at
                       AND newer.created_at <= now() - make_interval(secs => $1))
      RETURNING old.kid`,
    [retireAfterSeconds]
  );
  return result.rows.map((row) => row.kid);
}

/** Retires one key at once (e.g. a leaked key): tokens it signed stop verifying after the next reload. */
export async function retireSigningKey(db: Queryable, kid: string): Promise<boolean> {
  const active = await selectActiveKeys(db);
  if (active.length === 1 && active[0].kid === kid) {
    throw new Error('Refusing to retire the only active key: rotate first');
  }
  const result = await db.query('UPDATE jwt_key SET active = false WHERE kid = $1 AND active', [kid]);
  return (result.rowCount ?? 0) > 0;
}

export interface KeyInfo {
  kid: string;
  alg: string;
  createdAt: string;
  active: boolean;
}

export async function listSigningKeys(db: Queryable): Promise<KeyInfo[]> {
  const result = await db.query<{ kid: string; alg: string; created_at: string; active: boolean }>(
    'SELECT kid, alg, created_at, active FROM jwt_key ORDER BY created_at DESC, kid'
  );
  return result.rows.map((row) => ({ kid: row.kid, alg: row.alg, createdAt: row.created_at, active: row.active }));
}

/** `GET /.well-known/jwks.json` (Medplum's path): the public half of every active key. */
export async function jwksRoutes(app: FastifyInstance, options: { keys: SigningKeys }): Promise<void> {
  app.get('/.well-known/jwks.json', async (_request, reply) =>
    reply.header('Cache-Control', 'public, max-age=60').send(options.keys.jwks)
  );
}

async function insertNewKey(db: Queryable, options: { onlyIfNoneActive: boolean }): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const kid = randomUUID();
  // clock_timestamp(), not now(): two keys made in one transaction still get distinct, ordered times.
  await db.query(
    `INSERT INTO jwt_key (kid, alg, private_jwk, public_jwk, created_at)
     SELECT $1, $2, $3, $4, clock_timestamp()
      WHERE NOT $5 OR NOT EXISTS (SELECT 1 FROM jwt_key WHERE active)`,
    [kid, SIGNING_ALG, await exportJWK(privateKey), await exportJWK(publicKey), options.onlyIfNoneActive]
  );
  return kid;
}

async function selectActiveKeys(db: Queryable): Promise<KeyRow[]> {
  const result = await db.query<KeyRow>(
    'SELECT kid, alg, private_jwk, public_jwk, created_at FROM jwt_key WHERE active ORDER BY created_at DESC, kid'
  );
  return result.rows;
}

async function toSnapshot(rows: KeyRow[]): Promise<KeySnapshot> {
  const newest = rows[0];
  const jwks: JSONWebKeySet = {
    keys: rows.map((row) => ({ ...row.public_jwk, kid: row.kid, alg: row.alg, use: 'sig' })),
  };
  return {
    kid: newest.kid,
    privateKey: (await importJWK(newest.private_jwk, newest.alg)) as CryptoKey,
    jwks,
    local: createLocalJWKSet(jwks),
  };
}
