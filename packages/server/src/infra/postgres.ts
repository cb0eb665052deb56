import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Anything that runs a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

// timestamptz and numeric come back as strings: FHIR wants the instant text we format ourselves.
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (v) => v);
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => v);

const statementNames = new Map<string, string>();
/** Bounds the statements each connection keeps prepared; later shapes run unprepared. */
const MAX_PREPARED_STATEMENTS = 2000;

/**
 * Runs a query as a named prepared statement, so PostgreSQL parses and analyses each distinct
 * SQL text once per connection instead of on every call. Tiba's SQL texts are shapes with bind
 * parameters (values never enter the text), so the number of distinct texts stays small.
 */
export function queryPrepared<R extends pg.QueryResultRow>(
  db: Queryable,
  text: string,
  values: unknown[]
): Promise<pg.QueryResult<R>> {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_PREPARED_STATEMENTS) {
    name = `tiba_${statementNames.size}`;
    statementNames.set(text, name);
  }
  return db.query<R>(name ? { name, text, values } : { text, values });
}

/**
 * Floor of the idle-in-transaction limit: between two statements of a transaction the process
 * validates and indexes, which on a busy machine can take far longer than one short statement.
 */
const MIN_IDLE_IN_TRANSACTION_MS = 60_000;

/**
 * A connection pool. With `statementTimeoutMs`, PostgreSQL cancels any statement running longer,
 * and ends a session idle in a transaction for that long (at least a minute), so no request holds
 * a connection or its locks for long.
 */
export function createPool(databaseUrl: string, max: number, options: { statementTimeoutMs?: number } = {}): pg.Pool {
  const timeout = options.statementTimeoutMs || undefined;
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    idleTimeoutMillis: 30_000,
    statement_timeout: timeout,
    idle_in_transaction_session_timeout: timeout && Math.max(timeout, MIN_IDLE_IN_TRANSACTION_MS),
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', () => undefined);
  return pool;
}

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

/** Applies pending migrations (node-pg-migrate, SQL files in packages/server/migrations). */
export async function migrate(databaseUrl: string, log?: (msg: string) => void): Promise<void> {
  await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Number.POSITIVE_INFINITY,
    log: log ?? (() => undefined),
    noLock: false,
    singleTransaction: true,
  });
}

/** Creates the database named in the URL when it does not exist yet. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) {
      await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    }
  } catch (err) {
    // Two processes racing to create the database: the loser sees duplicate_database.
    if ((err as { code?: string }).code !== '42P04') {
      throw err;
    }
  } finally {
    await client.end();
  }
}
