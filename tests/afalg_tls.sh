#!/usr/bin/env bash
# In the VM: TLS handshakes and checked echoes through ringcrypt-echo with
# the AF_ALG backend, one cipher suite at a time, each on a fresh server:
# TLS 1.3 records with AES-GCM and ChaCha20-Poly1305, TLS 1.2 CBC records
# (those the server sends go to the kernel). The server's final totals must
# show kernel operations, every offload completed, and a clean exit.
# Everything runs under emulation (TCG), on a host that may be busy: it waits
# for events (the server's first line, a load's first echo), never for a time.
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
work=$(mktemp -d)
failures=0
server=
trap '[ -n "$server" ] && kill -KILL "$server" 2>/dev/null; rm -rf "$work"' EXIT

. "$root/tests/echo_lib.sh"

# Deadlines are not under test here; emulated signatures queued behind one another may be slow.
export RINGCRYPT_TIMEOUT_MS=60000
# One RSA key for every server: under emulation a key takes seconds to make.
make_cert rsa || exit 1

# ringcrypt-load ARGS in runs of 1, 2, 4 ... 32 s until one reports KEY > 0 (or
# errors): the first handshakes alone may outlast a short run. Sets $json.
load_until() {
    local key=$1 secs=1 n
    shift
    while :; do
        json=$("$b/ringcrypt-load" --port "$port" --duration "$secs" --json "$@")
        n=$(jnum "$key" "$json")
        if [ "${n:-0}" -gt 0 ] || [ "$(jnum errors "$json")" != 0 ] || [ "$secs" -ge 32 ]; then
            return
        fi
        secs=$((secs * 2))
    done
}

# One suite: ringcrypt-load echoes (every byte checked) and handshakes, then the server stops.
run_case() {
    local tls=$1 ciphers=$2 name=afalg echo_json hs_json trips hs kernel
    start_server "$name" --threads 2 --backend afalg --cert "$work/rsa.crt" --key "$work/rsa.key" ||
        return
    load_until echo_round_trips --tls "$tls" --ciphers "$ciphers" --mode echo --connections 4 \
        --size 16384
    echo_json=$json
    load_until handshakes --tls "$tls" --ciphers "$ciphers" --mode handshake --connections 4
    hs_json=$json
    stop_server "$name"
    trips=$(jnum echo_round_trips "$echo_json")
    hs=$(jnum handshakes "$hs_json")
    kernel=$(jnum kernel "$final")
    echo "  TLS $tls $ciphers: $trips echoes of 16 KiB, $hs handshakes, server: $final"
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
