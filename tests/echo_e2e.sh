#!/usr/bin/env bash
# ringcrypt-echo end to end, for RSA and EC certificates, each with --offload
# async and sync: a line through stock `openssl s_client` and 1 MiB of random
# bytes through Python's ssl module come back byte for byte over TLS 1.3 and
# 1.2; a client that half-closes (close_notify or FIN) right after writing
# still gets every byte back; ringcrypt-load's echo and handshake loads run
# without errors, 200 handshakes at once too (more than the server thread's
# 64 ASYNC jobs); SIGTERM
# ends the server with exit 0 within 10 s and a final JSON line whose counters
# show the handshakes and, in async mode only, offloads that all completed.
# Installed as $b/tests/echo_e2e; exit 0 pass, 1 fail (liburing's codes).
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
cd "$root" || exit 1
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill -KILL "$server" 2>/dev/null; rm -rf "$work"' EXIT
failures=0

. "$root/tests/echo_lib.sh"

# One line through s_client at TLS version V (1.2|1.3) must come back exactly.
check_s_client() {
    local name=$1 v=$2 line="ringcrypt-echo $1 TLSv$2 $RANDOM$RANDOM"
    local out=$work/$name-s_client-$v.out
    printf '%s\n' "$line" >"$work/expect"
    # stdin stays open until the echo is back: s_client closes the connection at its EOF.
    {
        printf '%s\n' "$line"
        for _ in $(seq 200); do
            cmp -s "$out" "$work/expect" && break
            sleep 0.05
        done
    } | timeout 30 openssl s_client -connect "127.0.0.1:$port" -tls"${v/./_}" -quiet -no_ign_eof \
        >"$out" 2>"$out.err"
    cmp -s "$out" "$work/expect" ||
        fail "$name: s_client TLSv$v echo: sent '$line', got '$(head -c 200 "$out")': $(tail -3 "$out.err")"
}

# The certificate is of the kind asked for: RSA-2048 signs with RSA-PSS, P-256 with ECDSA. s_client
# names the scheme as OpenSSL 3.0 does (RSA-PSS, ECDSA) or, since 3.5, by its TLS name.
check_key_type() {
    local name=$1 want out
    case $2 in
    rsa) want='RSA-PSS|rsa_pss_rsae_sha(256|384|512)' ;;
    ec) want='ECDSA|ecdsa_secp256r1_sha256' ;;
    esac
    out=$(timeout 30 openssl s_client -connect "127.0.0.1:$port" </dev/null 2>&1)
    grep -qEx "Peer signature type: ($want)" <<<"$out" ||
        fail "$name: expected a $want signature: $(grep -E 'Peer signature|public key|error' <<<"$out")"
    grep -E 'Peer signature type|Negotiated TLS1.3 group|Server Temp Key' <<<"$out" | sed 's/^/   /'
}

# 1 MiB of random bytes through Python's ssl at TLS version V must come back exactly.
check_python() {
    local name=$1 v=$2 out
    out=$(timeout 60 python3 - "$port" "$v" 2>&1 <<'EOF'
import os, select, socket, ssl, sys, time

port, version = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ctx.maximum_version = {"1.2": ssl.TLSVersion.TLSv1_2,
                                              "1.3": ssl.TLSVersion.TLSv1_3}[version]
data = os.urandom(1 << 20)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30))
if s.version() != "TLSv" + version:
    sys.exit("negotiated %s" % s.version())
# Write and read at once: a server with back-pressure stops reading from a client that does not read.
s.setblocking(False)
sent, got = 0, bytearray()
deadline = time.monotonic() + 45
while len(got) < len(data):
    if time.monotonic() > deadline:
        sys.exit("timed out: sent %d, received %d" % (sent, len(got)))
    select.select([s], [s] if sent < len(data) else [], [], 1)
    if sent < len(data):
        try:
            sent += s.send(data[sent:sent + 16384])
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
    while True:
        try:
            chunk = s.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            break
        if not chunk:
            sys.exit("server closed after %d bytes" % len(got))
        got += chunk
if bytes(got) != data:
    first = next(i for i in range(len(data)) if i >= len(got) or got[i] != data[i])
    sys.exit("echo differs from byte %d (received %d bytes)" % (first, len(got)))
s.close()
print("ok")
EOF
    )
    [ "$out" = ok ] || fail "$name: python TLSv$v 1 MiB echo: $out"
}

# ringcrypt-load MODE with CONNECTIONS (4) for 2 s must report work of its kind (KEY > 0) and
# no errors.
check_load() {
    local name=$1 mode=$2 key=$3 conns=${4:-4} out n errors rc
    out=$(timeout 60 "$b/ringcrypt-load" --port "$port" --mode "$mode" --connections "$conns" --duration 2 \
          --json 2>"$work/$name-load-$mode.err")
    rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "$name: ringcrypt-load --mode $mode exited $rc: $(tail -5 "$work/$name-load-$mode.err")"
        return
    fi
    n=$(jnum "$key" "$out")
    errors=$(jnum errors "$out")
    [ "${n:-0}" -gt 0 ] 2>/dev/null || fail "$name: ringcrypt-load --mode $mode: $key=${n:-none}: $out"
    [ "${errors:-x}" = 0 ] || fail "$name: ringcrypt-load --mode $mode: errors=${errors:-none}: $out"
    echo "   load $mode: $key=$n errors=$errors"
}

# A client that writes, then half-closes (close_notify, or a bare TCP FIN), gets
# every byte echoed before the server's own close.
check_half_close() {
    local name=$1 out
    out=$(timeout 60 python3 - "$port" 2>&1 <<'EOF'
import os, socket, ssl, sys
port = int(sys.argv[1])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
for how in ("close_notify", "fin"):
    s = socket.create_connection(("127.0.0.1", port))
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inb, outb)
    def flush():
        d = outb.read()
        if d:
            s.sendall(d)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            inb.write(s.recv(65536))
    flush()
    data = os.urandom(40000)
    tls.write(data)
    flush()
    if how == "close_notify":
        try:
            tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        flush()
    else:
        s.shutdown(socket.SHUT_WR)
    s.settimeout(10)
    got = b""
    while len(got) < len(data):
        try:
            got += tls.read(65536)
            continue
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            break
        d = s.recv(65536)
        if not d:
            break
        inb.write(d)
    s.close()
    if got != data:
        print(f"{how}: {len(got)} of {len(data)} bytes echoed")
        sys.exit(1)
EOF
) || fail "$name: a half-closing client lost echoed bytes: $out"
}

for key_type in rsa ec; do
    for offload in async sync; do
        name=$key_type-$offload
        echo "== ringcrypt-echo --key-type $key_type --offload $offload"
        start_server "$name" --key-type "$key_type" --offload "$offload" || continue
        check_key_type "$name" "$key_type"
        for v in 1.3 1.2; do
            check_s_client "$name" "$v"
            check_python "$name" "$v"
        done
        check_load "$name" echo echo_round_trips
        check_load "$name" handshake handshakes
        # More handshakes at once than a server thread has ASYNC jobs (64): the rest wait a turn.
        check_load "$name" handshake handshakes 200
        check_half_close "$name"
        stop_server "$name"
        [ -n "$final" ] || continue
        echo "   server: $final"
        handshakes=$(jnum handshakes "$final")
        submitted=$(jnum submitted "$final")
        completed=$(jnum completed "$final")
        [ "${handshakes:-0}" -gt 0 ] || fail "$name: server counted no handshakes: $final"
        if [ "$offload" = async ]; then
            [ "${submitted:-0}" -gt 0 ] || fail "$name: async server offloaded nothing: $final"
            [ "${completed:-x}" = "${submitted:-y}" ] ||
                fail "$name: completed ($completed) != submitted ($submitted) at exit: $final"
        else
            [ "${submitted:-x}" = 0 ] || fail "$name: sync server offloaded (submitted=$submitted): $final"
        fi
    done
done

echo "$failures failures"
[ "$failures" -eq 0 ]
