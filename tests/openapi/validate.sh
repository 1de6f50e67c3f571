#!/usr/bin/env bash
# /openapi.json of a live server through openapi-spec-validator (the OpenAPI 3.1 schema and its
# rules): a document generators can take.
#
#   tests/openapi/validate.sh [CXHOOKS_BINARY]
#
# The binary is the first argument, else ${CARGO_TARGET_DIR:-target}/debug/cxhooks. The pinned
# validator (requirements.txt) goes into ${CARGO_TARGET_DIR:-target}/openapi-venv.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd -- "$here/../.." && pwd -P)"
target="${CARGO_TARGET_DIR:-$repo/target}"
bin="${1:-$target/debug/cxhooks}"
venv="$target/openapi-venv"
say() { printf '[openapi] %s\n' "$*"; }
[ -x "$bin" ] || { say "no cxhooks binary at '$bin'"; exit 2; }

if ! cmp -s "$here/requirements.txt" "$venv/.requirements.txt" 2>/dev/null; then
  rm -rf -- "$venv"
  python3 -m venv "$venv"
  PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$venv/bin/pip" install --quiet --no-cache-dir --requirement "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/.requirements.txt"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/cxhooks-openapi.XXXXXX")"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf -- "$work"
}
trap cleanup EXIT
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^CXHOOKS_[A-Z_]+__' || true)
"$bin" --data-dir "$work/data" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
base=""
for _ in $(seq 1 300); do
  base="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")"
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { cat "$work/serve.err" >&2; say "the server did not start"; exit 2; }
curl -sf "$base/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" --subschema-errors all "$work/openapi.json"
say "OK: /openapi.json is a valid OpenAPI 3.1 document"
