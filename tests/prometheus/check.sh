#!/usr/bin/env bash
# /metrics against the Prometheus project's own text parsers (check.py): a live server on a
# temporary SQLite store, one change delivered to a loopback receiver, then the classic text
# format and OpenMetrics scraped and parsed.
#
#   tests/prometheus/check.sh [CXHOOKS_BINARY]
#
# The binary is the first argument, else ${CARGO_TARGET_DIR:-target}/debug/cxhooks. The pinned
# parser (requirements.txt) goes into ${CARGO_TARGET_DIR:-target}/prometheus-venv.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd -- "$here/../.." && pwd -P)"
target="${CARGO_TARGET_DIR:-$repo/target}"
bin="${1:-$target/debug/cxhooks}"
venv="$target/prometheus-venv"
say() { printf '[prometheus] %s\n' "$*"; }
[ -x "$bin" ] || { say "no cxhooks binary at '$bin'"; exit 2; }

if ! cmp -s "$here/requirements.txt" "$venv/.requirements.txt" 2>/dev/null; then
  rm -rf -- "$venv"
  python3 -m venv "$venv"
  PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$venv/bin/pip" install --quiet --no-cache-dir --requirement "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/.requirements.txt"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/cxhooks-prometheus.XXXXXX")"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf -- "$work"
}
trap cleanup EXIT
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^CXHOOKS_[A-Z_]+__' || true)
export CXHOOKS_METRICS__PER_TENANT=true CXHOOKS_METRICS__PER_WEBHOOK=true
# The receiver is on loopback.
export CXHOOKS_DELIVERY__ALLOW_PRIVATE_TARGETS=true
cx() { "$bin" --data-dir "$work/data" "$@"; }
cx tenant create acme >/dev/null
client="$(cx client create --tenant acme --name Prometheus --code urn:cx/prometheus \
  --scopes "urn:cx/webhooks:events:publish urn:cx/webhooks:data:manage" \
  --permissions create=on,read=all,update=all,delete=all --json)"
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
id="$(field clientId <<<"$client")"
secret="$(field clientSecret <<<"$client")"
"$bin" --data-dir "$work/data" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
base=""
for _ in $(seq 1 300); do
  base="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")"
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { cat "$work/serve.err" >&2; say "the server did not start"; exit 2; }
token="$(curl -sf -u "$id:$secret" -d grant_type=client_credentials \
  "$base/auth/realms/acme/protocol/openid-connect/token" | field access_token)"
"$venv/bin/python" "$here/check.py" "$base" "$token"
