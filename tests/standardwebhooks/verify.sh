#!/usr/bin/env bash
# The official Standard Webhooks verifier (PyPI `standardwebhooks`, pinned in requirements.txt)
# on deliveries: stdin and stdout as verify.py says. The package goes into
# ${CARGO_TARGET_DIR:-target}/standardwebhooks-venv once (under a lock: tests run this at once).
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd -- "$here/../.." && pwd -P)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="$target/standardwebhooks-venv"
mkdir -p "$target"
(
  flock 9
  # shellcheck source=../lib/live-server.sh
  . "$repo/tests/lib/live-server.sh"
  venv_from "$here/requirements.txt" "$venv" >&2
) 9>"$target/.standardwebhooks-venv.lock"
exec "$venv/bin/python" "$here/verify.py"
