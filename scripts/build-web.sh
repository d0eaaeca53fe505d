#!/usr/bin/env bash
# Builds the explorer page (web/ -> scenegraph/web/static/dist/) for `scenegraph serve`.
# Installs the npm packages from the lockfile when it changed, and bundles only when the
# sources changed: a second run with nothing new does nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEB="$ROOT/web"
DIST="$ROOT/scenegraph/web/static/dist"
INSTALLED_STAMP="$WEB/node_modules/.scenegraph-lock-hash"
BUILT_STAMP="$DIST/.scenegraph-source-hash"

digest() {
    (cd "$WEB" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

lock_hash="$(digest package.json package-lock.json)"
if [ ! -f "$INSTALLED_STAMP" ] || [ "$(cat "$INSTALLED_STAMP")" != "$lock_hash" ]; then
    (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_hash" > "$INSTALLED_STAMP"
fi

source_hash="$(digest package.json package-lock.json build.mjs src)"
if [ ! -f "$DIST/app.js" ] || [ ! -f "$BUILT_STAMP" ] || [ "$(cat "$BUILT_STAMP")" != "$source_hash" ]; then
    (cd "$WEB" && npm run --silent build)
    echo "$source_hash" > "$BUILT_STAMP"
    echo "built $DIST"
fi
