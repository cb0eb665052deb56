import { randomUUID } from 'node:crypto';
import type { CryptoKey, JSONWebKeySet, JWK } from 'jose';
import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { Queryable } from '../infra/postgres.js';

export const SIGNING_ALG = 'ES256';

/** The server's token signing keys: the newest active key signs, every active key verifies. */
export interface SigningKeys {
  kid: string;
  privateKey: CryptoKey;
  jwks: JSONWebKeySet;
  verifyKeys: ReturnType<typeof createLocalJWKSet>;
}

/** Loads the active keys from the database, creating the first one when there is none. */
export async function loadSigningKeys(db: Queryable): Promise<SigningKeys> {
  let rows = await selectActiveKeys(db);
  if (rows.length === 0) {
    const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const kid = randomUUID();
    await db.query(
      'INSERT INTO jwt_key (kid, alg, private_jwk, public_jwk) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [kid, SIGNING_ALG, await exportJWK(privateKey), await exportJWK(publicKey)]
    );
    rows = await selectActiveKeys(db);
  }
  const newest = rows[0];
  const jwks: JSONWebKeySet = {
    keys: rows.map((row) => ({ ...row.public_jwk, kid: row.kid, alg: row.alg, use: 'sig' })),
  };
  return {
    kid: newest.kid,
    privateKey: (await importJWK(newest.private_jwk, newest.alg)) as CryptoKey,
    jwks,
    verifyKeys: createLocalJWKSet(jwks),
  };
}

async function selectActiveKeys(db: Queryable) {
  const result = await db.query<{ kid: string; alg: string; private_jwk: JWK; public_jwk: JWK }>(
    'SELECT kid, alg, private_jwk, public_jwk FROM jwt_key WHERE active ORDER BY created_at DESC'
  );
  return result.rows;
}
