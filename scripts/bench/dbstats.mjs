// What PostgreSQL did per FHIR operation in a phase, from its cumulative statistics of the
// benchmark database: transactions, rows inserted/updated/fetched, and the tables written most.
// Backends publish their counters at most about once a second, so a snapshot is taken after a
// short pause; the figures are averages over thousands of operations, close but not exact.
import pg from 'pg';

const SETTLE_MS = 1500;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function openStats(dbUrl) {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  const snapshot = async () => {
    await sleep(SETTLE_MS);
    const db =
      await client.query(`SELECT xact_commit + xact_rollback AS xacts, xact_rollback AS rollbacks, tup_fetched AS fetched,
        tup_returned AS scanned, tup_inserted AS inserted, tup_updated AS updated FROM pg_stat_database WHERE datname = current_database()`);
    const tables = await client.query('SELECT relname, n_tup_ins FROM pg_stat_user_tables');
    const row = Object.fromEntries(Object.entries(db.rows[0]).map(([k, v]) => [k, Number(v)]));
    return { ...row, tables: new Map(tables.rows.map((t) => [t.relname, Number(t.n_tup_ins)])) };
  };
  return {
    /** Starts measuring; call the result with the number of operations done to get per-op figures. */
    async start() {
      const before = await snapshot();
      return async (ops) => {
        const after = await snapshot();
        const per = (k) => (after[k] - before[k]) / (ops || 1);
        const tables = [...after.tables]
          .map(([name, ins]) => [name, (ins - (before.tables.get(name) ?? 0)) / (ops || 1)])
          .filter(([, n]) => n >= 0.05)
          .sort((a, b) => b[1] - a[1]);
        return {
          xacts: per('xacts'),
          rollbacks: per('rollbacks'),
          inserted: per('inserted'),
          updated: per('updated'),
          fetched: per('fetched'),
          scanned: per('scanned'),
          tables,
        };
      };
    },
    close: () => client.end(),
  };
}
