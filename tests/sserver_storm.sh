#!/usr/bin/env bash
# Stock `openssl s_server -async` with the ringcrypt provider beside default
# through OPENSSL_CONF, under a handshake storm: ringcrypt-load keeps 64
# connections looping handshake and close, 10% of them cut after the
# ClientHello, for TLS 1.3 then 1.2, on an RSA-2048 and a P-256 certificate.
# s_server takes one connection at a time (the rest wait in its backlog):
# no client errors, the server keeps serving (an s_client handshake after
# the storm), then quits on its `Q` command with exit 0, having counted at
# least as many finished handshakes ("server accepts that finished") as the
# clients did; the runtime's line at exit shows offloads, all completed,
# woken through the eventfd.
# Installed as $b/tests/sserver_storm; `$b/tests/sserver_storm /ABSOLUTE/DIR`
# loads DIR/ringcrypt.so instead of $b's. Exit 0 pass, 1 fail, 77 skip
# (openssl links another libcrypto than the module) (liburing's codes).
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
cd "$root" || exit 1
. "$root/tests/echo_lib.sh" "$@"
require_module_libcrypto openssl

# Long enough for some hundreds of handshakes through a server that serves one at a time.
duration=3

# s_server reads its commands from stdin while it serves a connection: a FIFO
# held open here, silent until `Q`. Sets $started.
start_sserver() {
    local name=$1 kind=$2
    RINGCRYPT_STATS=$work/$name.stats "${with_ringcrypt[@]}" "${stock[@]}" \
        openssl s_server -async -accept "127.0.0.1:$port" -cert "$work/$kind.pem" -key "$work/$kind.pem" \
        <"$work/stdin" >"$work/$name.log" 2>&1 &
    started=$!
}

storm() {
    local kind=$1 name="s_server -async, $1" v out hs cut errors clients=0 finished rc
    echo "== $name"
    start_listening "$work/$kind.log" start_sserver "$kind" "$kind" || return
    server=$started
    for v in 1.3 1.2; do
        out=$(timeout 120 "$b/ringcrypt-load" --port "$port" --mode handshake --tls "$v" --connections 64 \
              --cut 10 --duration "$duration" --json 2>"$work/load.err")
        rc=$?
        hs=$(jnum handshakes "$out") cut=$(jnum cut "$out") errors=$(jnum errors "$out")
        echo "   TLS $v: handshakes=$hs cut=$cut errors=$errors"
        [ "$rc" -eq 0 ] || fail "$name: ringcrypt-load exited $rc: $(tail -3 "$work/load.err")"
        [ "${hs:-0}" -gt 0 ] || fail "$name, TLS $v: no handshakes: $out"
        [ "${cut:-0}" -gt 0 ] || fail "$name, TLS $v: no connection cut: $out"
        [ "${errors:-x}" = 0 ] || fail "$name, TLS $v: ringcrypt-load counted errors: $out"
        clients=$((clients + ${hs:-0}))
        kill -0 "$server" 2>/dev/null || break
    done
    out=$(timeout 30 openssl s_client -connect "127.0.0.1:$port" </dev/null 2>&1)
    grep -q '^New, TLSv1.3' <<<"$out" || fail "$name: no s_client handshake after the storm: $(tail -3 <<<"$out")"
    # Read at the next connection's start: a bare TCP connection is enough.
    echo Q >&4
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    wait_exit "$server" 30 "$name: Q"
    server=
    [ "$rc" -eq 0 ] || fail "$name: exit code $rc after Q: $(tail -5 "$work/$kind.log")"
    finished=$(sed -n 's/^ *\([0-9]*\) server accepts that finished$/\1/p' "$work/$kind.log")
    echo "   server: ${finished:-no} handshakes finished, clients counted $clients"
    [ "${finished:-0}" -ge "$clients" ] || fail "$name: the server finished ${finished:-no} handshakes, the clients $clients"
    check_fd_stats "$work/$kind.stats" "$name"
}

mkfifo "$work/stdin"
exec 4<>"$work/stdin"
for kind in rsa ec; do
    make_cert "$kind" && storm "$kind"
done

echo "$failures failures"
[ "$failures" -eq 0 ]
