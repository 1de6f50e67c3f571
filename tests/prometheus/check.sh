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
[ -x "$bin" ] || { echo "[prometheus] no cxhooks binary at '$bin'" >&2; exit 2; }
# shellcheck source=../lib/live-server.sh
. "$repo/tests/lib/live-server.sh"
venv="$target/prometheus-venv"
venv_from "$here/requirements.txt" "$venv"

work="$(mktemp -d "${TMPDIR:-/tmp}/cxhooks-prometheus.XXXXXX")"
trap 'stop_server; rm -rf -- "$work"' EXIT
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
serve "$bin" "$work/data"
token="$(curl -sf -u "$id:$secret" -d grant_type=client_credentials \
  "$base/auth/realms/acme/protocol/openid-connect/token" | field access_token)"
"$venv/bin/python" "$here/check.py" "$base" "$token"
