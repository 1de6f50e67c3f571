#!/usr/bin/env bash
# Clients generated from /openapi.json of a live server, used as an integrator would:
#   - Python: openapi-python-client generates a package; client_test.py uses only it;
#   - TypeScript: @hey-api/openapi-ts generates a fetch client; client_test.ts uses only it,
#     passes `tsc --strict --noEmit`, and is then compiled and run with Node.
# Each script gets a token, creates an application and a webhook (to a receiver it runs on
# loopback), lists them, publishes a change, and reads the delivery from the request log.
#
#   tests/clients/run.sh [CXHOOKS_BINARY]
#
# The binary is the first argument, else ${CARGO_TARGET_DIR:-target}/debug/cxhooks. The pinned
# generators: requirements.txt (venv ${CARGO_TARGET_DIR:-target}/clients-venv) and
# package-lock.json (tests/clients/node_modules).
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd -- "$here/../.." && pwd -P)"
target="${CARGO_TARGET_DIR:-$repo/target}"
bin="${1:-$target/debug/cxhooks}"
[ -x "$bin" ] || { echo "[clients] no cxhooks binary at '$bin'" >&2; exit 2; }
bin="$(cd -- "$(dirname -- "$bin")" && pwd -P)/$(basename -- "$bin")"
# shellcheck source=../lib/live-server.sh
. "$repo/tests/lib/live-server.sh"
say() { printf '[clients] %s\n' "$*"; }

venv="$target/clients-venv"
venv_from "$here/requirements.txt" "$venv"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

work="$(mktemp -d "${TMPDIR:-/tmp}/cxhooks-clients.XXXXXX")"
trap 'stop_server; rm -rf -- "$work"' EXIT
# The scripts' receivers listen on loopback.
export CXHOOKS_DELIVERY__ALLOW_PRIVATE_TARGETS=true
export CXHOOKS_DELIVERY__TIMEOUT=5s

tenant=clients
cx() { "$bin" --data-dir "$work/data" "$@"; }
cx tenant create "$tenant" >/dev/null
client_json="$(cx client create --tenant "$tenant" --name "Generated clients" --code urn:cx/clients \
  --scopes "urn:cx/webhooks:data:manage urn:cx/webhooks:events:publish" \
  --permissions create=on,read=all,update=all,delete=all --json)"
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
export CX_BASE CX_TENANT="$tenant"
CX_CLIENT_ID="$(json_field clientId <<<"$client_json")"
CX_CLIENT_SECRET="$(json_field clientSecret <<<"$client_json")"
export CX_CLIENT_ID CX_CLIENT_SECRET

serve "$bin" "$work/data"
CX_BASE="$base"
curl -sf "$base/openapi.json" -o "$work/openapi.json"

say "Python: openapi-python-client $("$venv/bin/openapi-python-client" --version | awk '{print $NF}')"
mkdir -p "$work/py"
(cd "$work/py" && PATH="$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --path "$work/openapi.json" \
  --meta none --output-path "$work/py/cxhooks_client" --fail-on-warning)
PYTHONPATH="$work/py" "$venv/bin/python" "$here/client_test.py"

say "TypeScript: @hey-api/openapi-ts $(node -p "require('$here/node_modules/@hey-api/openapi-ts/package.json').version")"
mkdir -p "$work/ts"
cp "$here/client_test.ts" "$work/ts/"
echo '{"type": "module"}' >"$work/ts/package.json"
(cd "$work/ts" && CX_OPENAPI="$work/openapi.json" CX_TS_OUT="$work/ts/client" \
  "$here/node_modules/.bin/openapi-ts" --file "$here/openapi-ts.config.mjs" --no-log-file)
cat >"$work/ts/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
    "strict": true, "skipLibCheck": false, "outDir": "out",
    "typeRoots": ["$here/node_modules/@types"], "types": ["node"]
  },
  "include": ["client_test.ts", "client/**/*.ts"]
}
JSON
"$here/node_modules/.bin/tsc" --strict --noEmit -p "$work/ts/tsconfig.json"
say "tsc --strict --noEmit: no errors"
"$here/node_modules/.bin/tsc" -p "$work/ts/tsconfig.json"
cp "$work/ts/package.json" "$work/ts/out/"
node "$work/ts/out/client_test.js"
say "OK: both generated clients did the whole round"
