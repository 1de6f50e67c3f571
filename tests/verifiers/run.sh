#!/usr/bin/env bash
# Run one of the reference verifiers (the seed 004 Java / Node.js / PHP snippets).
#
#   run.sh LANG SECRET_PEM_FILE SIGNATURE_FILE BODY_FILE
#
# LANG:
#   java       SECRET_PEM_FILE holds the PEM with real newlines; this script turns it
#              into the form it has inside the JSON string literal of the API answer
#              (newlines as the two characters backslash-n; "/" not escaped, like
#              serde_json) and hands that to the Java snippet.
#   java-json  SECRET_PEM_FILE already holds the secret exactly as it appears between
#              the quotes in the raw JSON text of the API answer (e.g. cut out of a
#              real response); it is handed to the Java snippet unchanged.
#   node, php  SECRET_PEM_FILE holds the PEM with real newlines, passed as is.
#   all        java, node and php in turn; exit 0 only if all three verify.
# SIGNATURE_FILE holds the Cx-Signature header value; BODY_FILE the raw body bytes.
#
# Exit status: 0 verified, 1 not verified, 2 error (bad input, exception, missing tool).
# Safe to run from any directory and concurrently. The Java class is compiled once
# into ${CARGO_TARGET_DIR:-<repo>/target}/verifiers-java (recompiled when the .java
# is newer than the .class).
set -uo pipefail

HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$HERE/../.." && pwd -P)"

die() { echo "run.sh: $*" >&2; exit 2; }

[ $# -eq 4 ] || die "usage: run.sh java|java-json|node|php|all SECRET_PEM_FILE SIGNATURE_FILE BODY_FILE"
lang="$1"; secret_file="$2"; sig_file="$3"; body_file="$4"
for f in "$secret_file" "$sig_file" "$body_file"; do
    [ -f "$f" ] && [ -r "$f" ] || die "cannot read file: $f"
done

tmp_files=()
cleanup() { [ ${#tmp_files[@]} -eq 0 ] || rm -rf -- "${tmp_files[@]}"; }
trap cleanup EXIT

java_class_dir() {
    local target="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
    case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
    echo "$target/verifiers-java"
}

# Compile SignatureVerification.java into the cache dir if the .class is missing or
# stale. Compiles into a private temp dir and renames into place, so concurrent
# callers never see a half-written class file.
ensure_java_class() {
    command -v javac >/dev/null 2>&1 || die "javac not found (need a JDK 17+)"
    local src="$HERE/java/SignatureVerification.java"
    local dir; dir="$(java_class_dir)"
    local cls="$dir/SignatureVerification.class"
    if [ -f "$cls" ] && ! [ "$src" -nt "$cls" ]; then
        return 0
    fi
    mkdir -p -- "$dir" || die "cannot create $dir"
    local build; build="$(mktemp -d "$dir/.build.XXXXXX")" || die "mktemp failed in $dir"
    tmp_files+=("$build")
    javac -encoding UTF-8 -nowarn -d "$build" "$src" >&2 || die "javac failed"
    local f
    for f in "$build"/*.class; do
        mv -f -- "$f" "$dir/" || die "cannot move $f into $dir"
    done
}

json_escape_pem() { # $1 = PEM file (real newlines) -> stdout: JSON string literal content
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json,sys; sys.stdout.write(json.dumps(open(sys.argv[1], encoding="utf-8", newline="").read())[1:-1])' "$1"
    elif command -v node >/dev/null 2>&1; then
        node -e 'const s=JSON.stringify(require("fs").readFileSync(process.argv[1],"utf8")); process.stdout.write(s.slice(1,-1))' "$1"
    else
        die "need python3 or node to JSON-escape the secret"
    fi
}

run_java_json() { # $1 = secret as JSON string content
    command -v java >/dev/null 2>&1 || die "java not found (need Java 17+)"
    ensure_java_class
    java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
        -cp "$(java_class_dir)" SignatureVerification "$1" "$sig_file" "$body_file"
}

run_one() {
    case "$1" in
        java)
            local esc; esc="$(mktemp "${TMPDIR:-/tmp}/cxhooks-secret-json.XXXXXX")" || die "mktemp failed"
            tmp_files+=("$esc")
            json_escape_pem "$secret_file" > "$esc" || die "cannot JSON-escape $secret_file"
            run_java_json "$esc"
            ;;
        java-json)
            run_java_json "$secret_file"
            ;;
        node)
            command -v node >/dev/null 2>&1 || die "node not found (need Node.js 20)"
            node "$HERE/node/verify.js" "$secret_file" "$sig_file" "$body_file"
            ;;
        php)
            command -v php >/dev/null 2>&1 || die "php not found (apt-get install php-cli)"
            php "$HERE/php/verify.php" "$secret_file" "$sig_file" "$body_file"
            ;;
        *)
            die "unknown LANG '$1' (java, java-json, node, php, all)"
            ;;
    esac
}

if [ "$lang" = all ]; then
    worst=0
    for l in java node php; do
        out="$("$HERE/run.sh" "$l" "$secret_file" "$sig_file" "$body_file")"; rc=$?
        echo "$l: $out (exit $rc)"
        [ "$rc" -gt "$worst" ] && worst=$rc
    done
    exit "$worst"
fi

run_one "$lang"
exit $?
