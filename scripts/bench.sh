#!/bin/sh
# `npm run bench`: builds what changed (turbo's cache makes this quick when nothing did), then runs
# the benchmark (scripts/bench/run.mjs), which starts the built server on a throwaway database and
# adds its figures to docs/benchmarks.md. Runs under Node 24 (scripts/node24.sh).
# BENCH_SKIP_BUILD=1 uses packages/server/dist as it is.
set -e
cd "$(dirname "$0")/.."

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  node scripts/ensure-deps.mjs
  echo "bench: building" >&2
  npx turbo run build --ui=stream --output-logs=errors-only
fi
if [ ! -f packages/server/dist/main.js ]; then
  echo "bench: packages/server/dist/main.js is missing; run npm run build" >&2
  exit 1
fi
exec node scripts/bench/run.mjs "$@"
