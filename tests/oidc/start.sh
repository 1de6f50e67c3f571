#!/usr/bin/env bash
# Starts tests/oidc/provider.mjs (oidc-provider, pinned in package-lock.json), installing it once
# (under a lock: several tests start providers at once). Environment: see provider.mjs.
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
(
  flock 9
  if ! cmp -s "$here/package-lock.json" "$here/node_modules/.package-lock.json" 2>/dev/null; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
) 9>"$here/.install.lock"
exec node "$here/provider.mjs"
