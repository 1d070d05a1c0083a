#!/usr/bin/env bash
# Installs the Node OAuth clients tests/interop/test_node_clients.py drives (openid-client,
# jose) into tests/interop/node/node_modules (ignored by git), at the versions pinned in
# tests/interop/node/package-lock.json. Run by `make tools`.
#
# `npm ci` installs exactly the lock file. Nothing happens when the installed tree already
# matches it. Without node/npm it only says so and exits 0: the tests then skip with the
# reason, and under CI=true a skip fails the run.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)/tests/interop/node"
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "install-node-clients: node/npm not found; the Node client tests will skip" >&2
    exit 0
fi
# A copy of the lock file installed last time: equal means up to date.
stamp="$here/node_modules/.installed-lock.json"
if cmp -s "$here/package-lock.json" "$stamp" 2>/dev/null; then
    exit 0
fi
echo "install-node-clients: npm ci in tests/interop/node (openid-client, jose)"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
cp "$here/package-lock.json" "$stamp"
