#!/usr/bin/env bash
# The applications' command lines: --help prints the usage to stdout and exits
# 0, --version prints "NAME VERSION" (the header's RINGCRYPT_VERSION_STRING)
# and exits 0, for ringcrypt-echo, ringcrypt-load and ringcrypt-bench; each
# bad option or value (unknown, missing, out of range, --cert without --key,
# a TLS group or key type this OpenSSL lacks) exits 2 with the option named on
# stderr before the usage. ringcrypt-load
# against a port nothing listens on stops long before its --duration, says
# "connection refused", exits 1 and still prints its JSON report.
# Installed as $b/tests/apps_cli; exit 0 pass, 1 fail (liburing's codes).
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
cd "$root" || exit 1

. "$root/tests/echo_lib.sh"

version=$(sed -n 's/^#define RINGCRYPT_VERSION_STRING "\(.*\)"$/\1/p' runtime/include/ringcrypt.h)
[ -n "$version" ] || fail "no RINGCRYPT_VERSION_STRING in runtime/include/ringcrypt.h"

# run APP ARGS...: the exit code in $rc, stdout in $out, stderr in $err (bounded in time).
run() {
    timeout 60 "$b/$1" "${@:2}" >"$work/out" 2>"$work/err"
    rc=$?
    out=$(cat "$work/out")
    err=$(cat "$work/err")
}

for app in ringcrypt-echo ringcrypt-load ringcrypt-bench; do
    run "$app" --help
    [ "$rc" -eq 0 ] || fail "$app --help: exit $rc: $err"
    grep -q "^usage: $app " <<<"$out" || fail "$app --help: no usage on stdout: $out"
    [ -z "$err" ] || fail "$app --help: wrote to stderr: $err"

    run "$app" --version
    [ "$rc" -eq 0 ] || fail "$app --version: exit $rc: $err"
    [ "$out" = "$app $version" ] || fail "$app --version: '$out', expected '$app $version'"

    # Before anything runs, whatever follows: the first bad option wins.
    for bad in --bogus -x; do
        run "$app" "$bad" --help
        [ "$rc" -eq 2 ] || fail "$app $bad: exit $rc, expected 2"
        grep -qF -- "$app: $bad: unknown" <<<"$err" || fail "$app $bad: not named as unknown: $err"
    done
    run "$app" stray
    [ "$rc" -eq 2 ] && grep -qF "$app: stray: unexpected argument" <<<"$err" ||
        fail "$app stray: exit $rc, stderr: $err"
    run "$app" --help=1
    [ "$rc" -eq 2 ] && grep -qF -- "$app: --help=1: takes no value" <<<"$err" ||
        fail "$app --help=1: exit $rc, stderr: $err"
done

# bad APP 'ARGS' 'STDERR TEXT': exit 2, the text on stderr, then the usage (and nothing on stdout).
bad() {
    local app=$1 args=$2 want=$3
    run "$app" $args
    if [ "$rc" -ne 2 ]; then
        fail "$app $args: exit $rc, expected 2: $err"
    elif ! grep -qF -- "$app: $want" <<<"$(head -n 1 <<<"$err")"; then
        fail "$app $args: first stderr line is not '$app: $want...': $err"
    elif ! sed -n 2p <<<"$err" | grep -q "^usage: $app "; then
        fail "$app $args: no usage after the reason: $err"
    elif [ -n "$out" ]; then
        fail "$app $args: wrote to stdout: $out"
    fi
}

bad ringcrypt-echo '--cert x.pem' '--cert: needs --key'
bad ringcrypt-echo '--key x.key' '--key: needs --cert'
bad ringcrypt-echo '--threads 0' '--threads 0: not a whole number from 1 to 256'
bad ringcrypt-echo '--threads two' '--threads two: not a whole number'
bad ringcrypt-echo '--threads 1.5' '--threads 1.5: not a whole number'
bad ringcrypt-echo '--port 65536' '--port 65536: not a whole number from 0 to 65535'
bad ringcrypt-echo '--offload maybe' '--offload maybe: not one of async, sync'
bad ringcrypt-echo '--key-type dsa' '--key-type dsa: not one of rsa, ec'
bad ringcrypt-echo '--max-conns 0' '--max-conns 0: not a whole number'
bad ringcrypt-echo '--backend gpu' '--backend gpu: '
bad ringcrypt-echo '--workers 0' '--workers 0: '
bad ringcrypt-echo '--threads' '--threads: needs a value'
bad ringcrypt-echo '--groups X25519:NOPE' '--groups X25519:NOPE: OpenSSL'

# Key types by what the running OpenSSL has (its library's version, as `openssl version` says):
# ML-DSA from 3.5 on, SLH-DSA too but with no TLS signature scheme for it.
ossl=$(openssl version | sed -n 's/.*Library: OpenSSL \([0-9.]*\).*/\1/p')
[ -n "$ossl" ] || fail "no library version in: $(openssl version)"
if [ "$(printf '%s\n' 3.5 "$ossl" | sort -V | head -n 1)" != 3.5 ]; then
    bad ringcrypt-echo '--key-type mldsa65' "--key-type mldsa65: OpenSSL $ossl has no ML-DSA"
else
    run ringcrypt-echo --key-type mldsa65 --groups X25519MLKEM768 --help
    [ "$rc" -eq 0 ] || fail "--key-type mldsa65 --groups X25519MLKEM768 --help: exit $rc: $err"
    bad ringcrypt-echo '--key-type slhdsa-sha2-128f' \
        "--key-type slhdsa-sha2-128f: OpenSSL $ossl has no TLS signature scheme for SLH-DSA"
fi

bad ringcrypt-load '' '--port: is required'
bad ringcrypt-load '--port 0' '--port 0: not a whole number from 1 to 65535'
bad ringcrypt-load '--port 1 --threads 0' '--threads 0: not a whole number from 1 to 256'
bad ringcrypt-load '--port 1 --duration 0' '--duration 0: not a number'
bad ringcrypt-load '--port 1 --mode ping' '--mode ping: not one of handshake, echo, mixed, http'
bad ringcrypt-load '--port 1 --tls 1.1' '--tls 1.1: not one of 1.2, 1.3'
bad ringcrypt-load '--port 1 --cut 101' '--cut 101: not a number from 0 to 100'
bad ringcrypt-load '--port 1 --connections 0' '--connections 0: handshake mode needs a connection'
bad ringcrypt-load '--port 1 --mode mixed --connections 0 --echo-conns 0' '--connections: mixed mode needs'
bad ringcrypt-load '--port 1 --echo 3' '--echo: unknown or ambiguous option'
bad ringcrypt-load '--port' '--port: needs a value'
bad ringcrypt-load '--port 1 --groups NOPE' '--groups NOPE: OpenSSL'

bad ringcrypt-bench '--repeat 1' '--op: give either --op or --alg'
bad ringcrypt-bench '--op null --alg rsa2048' '--alg: give either --op or --alg'
bad ringcrypt-bench '--op nothing' '--op nothing: not one of null, spin'
bad ringcrypt-bench '--alg rot13' '--alg rot13: not one of '
bad ringcrypt-bench '--op null --repeat 0' '--repeat 0: not a whole number from 1 to 16'
bad ringcrypt-bench '--op null --jobs 1,0' '--jobs 1,0: not up to 16 comma-separated counts'
bad ringcrypt-bench '--op null --duration -1' '--duration -1: not a number'
bad ringcrypt-bench '--op null --workers 0' '--workers 0: '

# A closed port: every connect is refused. The run stops within seconds of a 120 s --duration
# (60 s allows for a sanitized build on a loaded machine), names the cause and exits 1.
port=$(free_port)
"$b/ringcrypt-load" --port "$port" --duration 120 --json >"$work/closed.json" 2>"$work/closed.err" &
load=$!
pids+=("$load")
wait_exit "$load" 60 "ringcrypt-load against the closed port $port"
report=$(tail -n 1 "$work/closed.json")
echo "   closed port: exit $rc; $(cat "$work/closed.err"); $report"
[ "$rc" -eq 1 ] || fail "closed port: exit $rc, expected 1"
grep -qi "connection refused" "$work/closed.err" || fail "closed port: stderr does not say why: $(cat "$work/closed.err")"
[ "$(jnum connects "$report")" = 0 ] || fail "closed port: connects not 0: $report"
[ "$(jnum errors "$report")" -gt 0 ] 2>/dev/null || fail "closed port: no errors counted: $report"
[ "$(jnum top_error_count "$report")" = "$(jnum errors "$report")" ] ||
    fail "closed port: not every error is the top cause: $report"
grep -q '"top_error":"connection refused"' <<<"$report" || fail "closed port: top_error is not refused: $report"
duration=$(jnum duration_s "$report")
awk -v d="${duration:-999}" 'BEGIN { exit !(d < 60) }' || fail "closed port: ran ${duration:-?} s of 120"

# The same in the human-readable report.
run ringcrypt-load --port "$port" --duration 120
[ "$rc" -eq 1 ] && grep -q "^most common error *connection refused ([0-9]*)$" <<<"$out" ||
    fail "closed port, text report: exit $rc: $out $err"

# tools/bench-cost's command line, before it measures anything: --help, a bad option.
"$root/tools/bench-cost" --help >"$work/out" 2>&1 && grep -q '^usage: tools/bench-cost ' "$work/out" ||
    fail "tools/bench-cost --help: $(cat "$work/out")"
"$root/tools/bench-cost" --bogus >/dev/null 2>"$work/err"
rc=$?
[ "$rc" -eq 2 ] && grep -qF -- "tools/bench-cost: --bogus: unknown option" "$work/err" ||
    fail "tools/bench-cost --bogus: exit $rc: $(cat "$work/err")"

echo "$failures failures"
[ "$failures" -eq 0 ]
