#!/usr/bin/env node
// Pre-flight for `npm test`: says clearly when the PostgreSQL or Redis the tests use does not
// answer, instead of leaving it to a wall of ECONNREFUSED. It only warns (exit code 0): the test
// run that follows decides. Like packages/server/src/test, it looks at TEST_DATABASE_SERVER
// (default postgres://postgres@127.0.0.1:5432), where the tests create throwaway databases, and
// at REDIS_URL (default redis://127.0.0.1:6379).
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, log, probePostgres, probeRedis, redact } from './lib/services.mjs';

/** A URL of the `postgres` maintenance database on the server the tests use. */
function testDatabaseServer(env) {
  const url = new URL(env.TEST_DATABASE_SERVER || DEFAULT_DATABASE_URL);
  url.pathname = '/postgres';
  return url.toString();
}

const env = process.env;
const databaseUrl = testDatabaseServer(env);
const redisUrl = env.REDIS_URL || DEFAULT_REDIS_URL;
const [pg, redis] = await Promise.all([probePostgres(databaseUrl), probeRedis(redisUrl)]);
const problems = [];
if (!pg.ok) {
  problems.push(`PostgreSQL at ${redact(databaseUrl)} does not answer (${pg.reason})`);
}
if (!redis.ok) {
  problems.push(`Redis at ${redact(redisUrl)} does not answer (${redis.reason})`);
}
for (const problem of problems) {
  log(`warning: ${problem}`);
}
if (problems.length > 0) {
  log('the tests need PostgreSQL 15+ and Redis 7 (see "npm test" in README.md); they will likely fail');
}
