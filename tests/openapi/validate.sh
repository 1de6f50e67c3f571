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
[ -x "$bin" ] || { echo "[openapi] no cxhooks binary at '$bin'" >&2; exit 2; }
# shellcheck source=../lib/live-server.sh
. "$repo/tests/lib/live-server.sh"
venv="$target/openapi-venv"
venv_from "$here/requirements.txt" "$venv"

work="$(mktemp -d "${TMPDIR:-/tmp}/cxhooks-openapi.XXXXXX")"
trap 'stop_server; rm -rf -- "$work"' EXIT
serve "$bin" "$work/data"
curl -sf "$base/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" --subschema-errors all "$work/openapi.json"
echo "[openapi] OK: /openapi.json is a valid OpenAPI 3.1 document"
