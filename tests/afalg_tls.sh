#!/bin/sh
# In the VM: TLS handshakes and checked echoes through ringcrypt-echo with
# the AF_ALG backend, one cipher suite at a time, each on a fresh server:
# TLS 1.3 records with AES-GCM and ChaCha20-Poly1305, TLS 1.2 CBC records
# (those the server sends go to the kernel). The server's final totals must
# show kernel operations, every offload completed, and a clean exit.
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
failures=0
server=

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
jnum() { printf '%s\n' "$2" | sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }
cleanup() { [ -n "$server" ] && kill -KILL "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# One suite: ringcrypt-load echoes (every byte checked) and handshakes, then the server stops.
run_case() {
    tls=$1 ciphers=$2
    "$b/ringcrypt-echo" --port 0 --threads 2 --backend afalg >"$work/out" 2>"$work/err" &
    server=$!
    port=
    for _ in $(seq 300); do
        port=$(sed -n '1s/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/out")
        [ -n "$port" ] && break
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        fail "$ciphers: server did not start: $(cat "$work/err")"
        return
    fi
    echo_json=$("$b/ringcrypt-load" --port "$port" --tls "$tls" --ciphers "$ciphers" --mode echo \
        --connections 4 --duration 1 --size 16384 --json)
    hs_json=$("$b/ringcrypt-load" --port "$port" --tls "$tls" --ciphers "$ciphers" \
        --mode handshake --connections 4 --duration 1 --json)
    kill -TERM "$server"
    wait "$server"
    rc=$?
    server=
    final=$(tail -n 1 "$work/out")
    trips=$(jnum echo_round_trips "$echo_json")
    hs=$(jnum handshakes "$hs_json")
    kernel=$(jnum kernel "$final")
    echo "  TLS $tls $ciphers: $trips echoes of 16 KiB, $hs handshakes, server: $final"
    [ "$rc" -eq 0 ] || fail "$ciphers: server exit $rc: $(tail -5 "$work/err")"
    [ "$(jnum errors "$echo_json")" = 0 ] && [ "${trips:-0}" -gt 0 ] \
        || fail "$ciphers: echo run: $echo_json"
    [ "$(jnum errors "$hs_json")" = 0 ] && [ "${hs:-0}" -gt 0 ] \
        || fail "$ciphers: handshake run: $hs_json"
    [ "${kernel:-0}" -gt 0 ] || fail "$ciphers: no kernel operations: $final"
    [ "$(jnum submitted "$final")" = "$(jnum completed "$final")" ] \
        || fail "$ciphers: offloads not all completed: $final"
}

run_case 1.3 TLS_AES_128_GCM_SHA256
run_case 1.3 TLS_AES_256_GCM_SHA384
run_case 1.3 TLS_CHACHA20_POLY1305_SHA256
run_case 1.2 ECDHE-RSA-AES128-SHA256
run_case 1.2 AES256-SHA256

[ "$failures" -eq 0 ] || exit 1
