#!/usr/bin/env bash
# Self-test of the reference verifiers (see README.md).
#
# 1. Checks that the seed functions inside java/, node/ and php/ are still verbatim
#    (against seed 004 if it can be found, and against recorded SHA-256 sums).
# 2. For RSA 2048, 3072 and 4096: signs a UTF-8 JSON body (non-ASCII, emoji, "/" and
#    "+") with `openssl dgst -sha256 -sign` (base64, one line) and checks that java,
#    node and php all accept it, and all reject a tampered body and a signature made
#    with another key.
# 3. Pins a few behaviours cxhooks relies on (see README.md "Pitfalls").
# 4. Compiles the Java class from scratch with several concurrent callers.
#
# Usage: tests/verifiers/selftest.sh        (exit 0 = all checks passed)
# Env:   CXHOOKS_SEED_004  path of seed 004 (default /work/shared/seeds/004_7c77e87f17852483.txt)
set -uo pipefail

HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
RUN="$HERE/run.sh"
SEED="${CXHOOKS_SEED_004:-/work/shared/seeds/004_7c77e87f17852483.txt}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cxhooks-verifiers-selftest.XXXXXX")" || exit 2
trap 'rm -rf -- "$WORK"' EXIT
# Private Java class cache: exercises a fresh (and concurrent) compile, leaves target/ alone.
export CARGO_TARGET_DIR="$WORK/target"

pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "ok    $*"; }
bad() { fail=$((fail + 1)); echo "FAIL  $*"; }

for tool in openssl java javac node php python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "selftest: missing prerequisite: $tool" >&2; exit 2; }
done

# --- 1. provenance ---------------------------------------------------------------
verbatim_block() { sed -n '/BEGIN verbatim from seed 004/,/END verbatim from seed 004/{/verbatim from seed 004/d;p}' "$1"; }
declare -A SUMS=(
    [java/SignatureVerification.java]=e15d98b70acda9d4b5cef2529fcf1371b519b1fe5e3251fb78b9d4d04da42b0e
    [node/verify.js]=d918379be8b4021aa0af6e291fb5fe8c74aa5f55f20c2d936686f86eee827930
    [php/verify.php]=5dd12b80e38e7046375ac77615068af119bfd093d60cfac5f62cce80ee31cd8b
)
for f in java/SignatureVerification.java node/verify.js php/verify.php; do
    sum="$(verbatim_block "$HERE/$f" | sha256sum | cut -d' ' -f1)"
    if [ "$sum" = "${SUMS[$f]}" ]; then ok "verbatim seed block unchanged (sha256): $f"
    else bad "seed block in $f was modified (sha256 $sum)"; fi
    if [ -f "$SEED" ]; then
        verbatim_block "$HERE/$f" > "$WORK/block"
        if python3 -c 'import sys; b=open(sys.argv[1],encoding="utf-8").read(); s=open(sys.argv[2],encoding="utf-8").read(); sys.exit(0 if b and b in s else 1)' "$WORK/block" "$SEED"; then
            ok "seed block occurs verbatim in $(basename "$SEED"): $f"
        else
            bad "seed block of $f not found verbatim in $SEED"
        fi
    fi
done
[ -f "$SEED" ] || echo "note  seed not found at $SEED; checked recorded sums only"

# --- helpers ----------------------------------------------------------------------
LANGS=(java node php)
keygen() { # $1 bits, $2 out prefix -> $2.key (private), $2.pub (PEM, real newlines)
    openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$1" -out "$2.key" 2>/dev/null &&
        openssl pkey -in "$2.key" -pubout -out "$2.pub"
}
sign() { # $1 key, $2 body -> stdout: base64 signature, one line, no newline
    openssl dgst -sha256 -sign "$1" "$2" | openssl base64 -A
}
expect() { # $1 expected exit, $2 label, $3 lang, $4 secret, $5 sig, $6 body
    local out rc
    out="$("$RUN" "$3" "$4" "$5" "$6" 2>"$WORK/stderr")"; rc=$?
    if [ "$rc" -eq "$1" ]; then ok "$3: $2 -> exit $rc ($out)"
    else bad "$3: $2 -> exit $rc, expected $1 ($out) $(head -c 300 "$WORK/stderr")"; fi
}

# The seed's Webhook Event shape, with non-ASCII text, an emoji, "/" and "+".
make_body() { # $1 out file, $2 variation
    printf '%s' '{"id":"8469bf71-4942-45ea-98b8-393077288785","time":"2024-02-14T14:24:40Z","type":"cremployee:updated","applicationId":"6fc051df-90e0-4fa4-b78e-af243f0023b3","webhookId":"22cc6baf-7d9a-4230-a5fe-8004a9b34a17","tenant":"cxdev50streamer","data":{"entityId":"2.'"$2"'","changedFields":["attributechanges","statusinfo","modificationdate"],"lastName":"Müller","firstName":"Zoë","note":"Ça va? 🚀 naïve café – 日本語","url":"https://example.com/a/b?x=1+2","blob":"q+/w==","quote":"say \"hi\"\\n"}}' > "$1"
}

# --- 2. round trip per key size -----------------------------------------------------
saw_plus_slash=0
for bits in 2048 3072 4096; do
    keygen "$bits" "$WORK/k$bits" || { bad "openssl keygen $bits"; continue; }
    keygen "$bits" "$WORK/other$bits" || { bad "openssl keygen $bits (other)"; continue; }
    pub="$WORK/k$bits.pub"
    make_body "$WORK/body$bits" "$bits"
    python3 -c 'import json,sys; json.loads(open(sys.argv[1],"rb").read().decode("utf-8"))' "$WORK/body$bits" \
        || bad "test body is not valid JSON"
    sign "$WORK/k$bits.key" "$WORK/body$bits" > "$WORK/sig$bits"
    # tampered: one character of the body changed (Müller -> Muller)
    sed 's/Müller/Muller/' "$WORK/body$bits" > "$WORK/tampered$bits"
    cmp -s "$WORK/body$bits" "$WORK/tampered$bits" && bad "tampering did not change the body"
    sign "$WORK/other$bits.key" "$WORK/body$bits" > "$WORK/othersig$bits"
    for l in "${LANGS[@]}"; do
        expect 0 "RSA-$bits valid signature"      "$l" "$pub" "$WORK/sig$bits"      "$WORK/body$bits"
        expect 1 "RSA-$bits tampered body"        "$l" "$pub" "$WORK/sig$bits"      "$WORK/tampered$bits"
        expect 1 "RSA-$bits signature, other key" "$l" "$pub" "$WORK/othersig$bits" "$WORK/body$bits"
    done
done

# Several bodies so that signatures containing "+" and "/" are certainly exercised.
for i in 1 2 3 4 5 6; do
    make_body "$WORK/b$i" "$i$i"
    sign "$WORK/k2048.key" "$WORK/b$i" > "$WORK/s$i"
    case "$(cat "$WORK/s$i")" in *+*/*|*/*+*) saw_plus_slash=1 ;; esac
    out="$("$RUN" all "$WORK/k2048.pub" "$WORK/s$i" "$WORK/b$i" 2>&1)"; rc=$?
    if [ "$rc" -eq 0 ]; then ok "all: body variant $i"; else bad "all: body variant $i: $out"; fi
done
[ "$saw_plus_slash" -eq 1 ] && ok "signatures with both '+' and '/' were verified" \
    || bad "no signature with both '+' and '/' was produced (re-run)"

# --- 3. pinned behaviours -----------------------------------------------------------
pub="$WORK/k2048.pub"; body="$WORK/body2048"; sig="$WORK/sig2048"
# PEM shape that cxhooks must produce: 64-char base64 lines, trailing newline.
if python3 - "$pub" <<'EOF'
import re, sys
s = open(sys.argv[1], encoding="ascii").read()
m = re.fullmatch(r"-----BEGIN PUBLIC KEY-----\n((?:[A-Za-z0-9+/]{64}\n)*[A-Za-z0-9+/=]{1,64}\n)-----END PUBLIC KEY-----\n", s)
sys.exit(0 if m else 1)
EOF
then ok "openssl public key has the standard PEM shape the verifiers are tested with"
else bad "unexpected PEM shape from openssl"; fi
# A Cx-Signature read with a trailing newline (e.g. written with echo) is fine: the wrappers
# strip header whitespace the way an HTTP stack does.
{ cat "$sig"; echo; } > "$WORK/sig_nl"
for l in "${LANGS[@]}"; do expect 0 "signature file with trailing newline" "$l" "$pub" "$WORK/sig_nl" "$body"; done
# The body is signed byte for byte: one extra trailing newline is a different body.
{ cat "$body"; echo; } > "$WORK/body_nl"
for l in "${LANGS[@]}"; do expect 1 "body with an extra trailing newline" "$l" "$pub" "$sig" "$WORK/body_nl"; done
# Java takes the JSON-escaped secret; serde_json does not escape "/", and that form works...
python3 -c 'import json,sys; sys.stdout.write(json.dumps(open(sys.argv[1]).read())[1:-1])' "$pub" > "$WORK/sec_json"
expect 0 "secret as serde_json writes it (\\n, '/' unescaped)" java-json "$WORK/sec_json" "$sig" "$body"
# ...but "\/" (legal JSON, emitted by some encoders) breaks the Java snippet: cxhooks must never emit it.
sed 's#/#\\/#g' "$WORK/sec_json" > "$WORK/sec_slash"
if grep -q '\\/' "$WORK/sec_slash"; then
    expect 2 "secret with '/' escaped as '\\/' (must never be emitted)" java-json "$WORK/sec_slash" "$sig" "$body"
fi
# The Java snippet needs the JSON-escaped form, not real newlines.
expect 2 "secret given with real newlines" java-json "$pub" "$sig" "$body"
# A CRLF PEM breaks the Java snippet (json escapes it as \r\n; only \n is stripped).
sed 's/$/\r/' "$pub" > "$WORK/pub_crlf"
expect 2 "PEM with CRLF line ends (must never be emitted)" java "$WORK/pub_crlf" "$sig" "$body"
# URL-safe base64 ('-', '_') is not accepted by Java (and PHP): Cx-Signature must be standard base64.
tr '+/' '-_' < "$sig" > "$WORK/sig_url"
if ! cmp -s "$sig" "$WORK/sig_url"; then
    expect 2 "URL-safe base64 signature" java "$pub" "$WORK/sig_url" "$body"
    expect 1 "URL-safe base64 signature" php  "$pub" "$WORK/sig_url" "$body"
fi
# A line-wrapped (MIME) base64 signature is rejected by Java.
fold -w 64 "$sig" > "$WORK/sig_wrap"
expect 2 "base64 signature wrapped at 64 columns" java "$pub" "$WORK/sig_wrap" "$body"
# A "BEGIN RSA PUBLIC KEY" (PKCS#1) PEM works for node/php but not for Java: must be SPKI.
openssl rsa -in "$WORK/k2048.key" -RSAPublicKey_out -out "$WORK/pkcs1.pem" 2>/dev/null
if grep -q 'BEGIN RSA PUBLIC KEY' "$WORK/pkcs1.pem" 2>/dev/null; then
    expect 2 "PKCS#1 'RSA PUBLIC KEY' PEM" java "$WORK/pkcs1.pem" "$sig" "$body"
fi
# Invalid UTF-8 in the body: Java throws (strict decode), Node decodes with U+FFFD and fails,
# PHP signs bytes and passes. cxhooks bodies are serde_json output, hence valid UTF-8.
printf '{"a":"\xff"}' > "$WORK/body_bad"
sign "$WORK/k2048.key" "$WORK/body_bad" > "$WORK/sig_bad"
expect 2 "body that is not valid UTF-8" java "$pub" "$WORK/sig_bad" "$WORK/body_bad"
expect 1 "body that is not valid UTF-8" node "$pub" "$WORK/sig_bad" "$WORK/body_bad"

# --- 4. concurrent first compile -----------------------------------------------------
export CARGO_TARGET_DIR="$WORK/target-concurrent"
pids=()
for i in 1 2 3 4 5 6; do
    "$RUN" java "$pub" "$sig" "$body" > "$WORK/conc$i.out" 2>&1 &
    pids+=($!)
done
conc_ok=1
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { conc_ok=0; cat "$WORK/conc$((i + 1)).out"; }
done
leftover="$(find "$CARGO_TARGET_DIR/verifiers-java" -mindepth 1 -name '.build.*' | wc -l)"
if [ "$conc_ok" -eq 1 ] && [ "$leftover" -eq 0 ] && [ -f "$CARGO_TARGET_DIR/verifiers-java/SignatureVerification.class" ]; then
    ok "6 concurrent first runs of the java verifier (fresh cache) all verified"
else
    bad "concurrent java runs (ok=$conc_ok, leftover build dirs=$leftover)"
fi

# a stale class (older than the .java) is recompiled
cls="$CARGO_TARGET_DIR/verifiers-java/SignatureVerification.class"
touch -d '2000-01-01 00:00:00' "$cls"
out="$("$RUN" java "$pub" "$sig" "$body" 2>&1)"; rc=$?
if [ "$rc" -eq 0 ] && [ "$cls" -nt "$HERE/java/SignatureVerification.java" ]; then ok "stale java class recompiled"
else bad "stale java class not recompiled (exit $rc: $out)"; fi

# run.sh from another cwd with relative paths
cp "$pub" "$WORK/rel.pub"; cp "$sig" "$WORK/rel.sig"; cp "$body" "$WORK/rel.body"
out="$(cd "$WORK" && "$RUN" all rel.pub rel.sig rel.body 2>&1)"; rc=$?
[ "$rc" -eq 0 ] && ok "run.sh all from another cwd with relative paths" || bad "run.sh from another cwd: $out"

echo
echo "selftest: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
