#!/bin/sh
# `npm run fuzz`: hostile requests against a running server (start one with `npm start`) for
# FUZZ_MINUTES (default 60); see packages/server/src/fuzz/fuzz-server.ts for the settings.
# Builds the server first (turbo's cache makes this quick). Exits 1 when anything was found.
set -e
cd "$(dirname "$0")/.."
node scripts/ensure-deps.mjs
npx turbo run build --filter @tiba/server --ui=stream --output-logs=errors-only
exec node packages/server/dist/fuzz/fuzz-server.js "$@"
