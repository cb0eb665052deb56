#!/bin/sh
# `npm test`: lint and format check, typecheck, then every workspace's tests (vitest run).
# Runs under Node 24 (scripts/node24.sh). The tests talk to a real PostgreSQL, where they create
# and drop their own databases (TEST_DATABASE_SERVER, default postgres://postgres@127.0.0.1:5432),
# and Redis (REDIS_URL, default redis://127.0.0.1:6379). Any failure fails the command.
set -e
cd "$(dirname "$0")/.."

node scripts/ensure-deps.mjs
node scripts/check-services.mjs

echo "tiba: biome check" >&2
npx biome check .

# turbo.json passes DATABASE_URL, REDIS_URL and TEST_DATABASE_SERVER through to the tasks.
echo "tiba: typecheck" >&2
npx turbo run typecheck --ui=stream

echo "tiba: tests" >&2
npx turbo run test --ui=stream
