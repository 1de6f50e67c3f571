# Shared by the live-server checks (tests/openapi, tests/prometheus): source it, then
#   venv_from REQUIREMENTS VENV   installs the pinned requirements into VENV once per change;
#   serve BIN DATA_DIR            starts `cxhooks serve` on a free loopback port, sets $base
#                                 (http://127.0.0.1:PORT) and $server_pid; stop_server stops it.
# The caller's CXHOOKS_<section>__<key> settings are dropped first, except those it exports
# after sourcing.

venv_from() {
  local requirements="$1" venv="$2"
  if ! cmp -s "$requirements" "$venv/.requirements.txt" 2>/dev/null; then
    rm -rf -- "$venv"
    python3 -m venv "$venv"
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
      "$venv/bin/pip" install --quiet --no-cache-dir --requirement "$requirements"
    cp "$requirements" "$venv/.requirements.txt"
  fi
}

server_pid=""
base=""
serve() {
  local bin="$1" data="$2"
  "$bin" --data-dir "$data" serve --listen 127.0.0.1:0 >"$data.out" 2>"$data.err" &
  server_pid=$!
  for _ in $(seq 1 300); do
    base="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$data.out")"
    [ -n "$base" ] && return 0
    sleep 0.1
  done
  cat "$data.err" >&2
  echo "cxhooks serve did not start" >&2
  return 1
}

stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  fi
  return 0
}

while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^CXHOOKS_[A-Z_]+__' || true)
