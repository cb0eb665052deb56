#!/bin/sh
# Runs the given command on Node >= 24. When the machine's node is older, node@24 is fetched
# from the npm registry once into a cache directory and put first on PATH, so npm and every
# npm script below it run on Node 24 too.
set -e
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 24 ]; then
  cache="${TIBA_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tiba/node24}"
  if [ ! -x "$cache/node_modules/.bin/node" ]; then
    echo "tiba: node $(node -v 2>/dev/null || echo missing) is older than 24; fetching node@24 into $cache" >&2
    mkdir -p "$cache"
    # The node package installs its binary from a preinstall script; allow exactly that one.
    printf '{"private":true,"allowScripts":{"node":true}}\n' > "$cache/package.json"
    (cd "$cache" && npm install --no-audit --no-fund --loglevel=error node@24 >&2)
  fi
  PATH="$cache/node_modules/.bin:$PATH"
  export PATH
fi
exec "$@"
