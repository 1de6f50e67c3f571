#!/usr/bin/env bash
# Starts tests/oidc/provider.mjs (oidc-provider, pinned in package-lock.json), installing it once
# (under a lock: several tests start providers at once). Environment: see provider.mjs.
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
(
  flock 9
  # Installed once per lock file (the stamp is its copy), never under a running provider.
  if ! cmp -s "$here/package-lock.json" "$here/node_modules/.cx-installed" 2>/dev/null; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$here/package-lock.json" "$here/node_modules/.cx-installed"
  fi
) 9>"$here/.install.lock"
exec node "$here/provider.mjs"
