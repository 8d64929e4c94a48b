#!/usr/bin/env bash
# ringcrypt-echo under connection churn and hostile clients: 1000 handshake
# attempts from 50 looping connections, 10% of them cut right after the
# ClientHello, leave the server alive with no more file descriptors than it
# had before; garbage bytes and clients that vanish mid-handshake (half a
# ClientHello, a reset while the first signature may be offloaded, gone after
# the server's flight) neither kill it nor stop it serving; SIGTERM ends it
# with exit 0, which in the ASan build includes LeakSanitizer's check. A
# second server with --max-conns 5 refuses a sixth connection (closed without
# a handshake, counted in "refused") and takes new ones once the five close.
# A third, SIGTERMed in the middle of a mixed load, still exits 0 within 10 s
# with every offload completed.
# Installed as $b/tests/echo_churn; exit 0 pass, 1 fail (liburing's codes).
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
cd "$root" || exit 1
work=$(mktemp -d)
server=
load=
cleanup() {
    local pid
    for pid in $server $load; do kill -KILL "$pid" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
failures=0

# A leak makes a sanitized server's exit code non-zero: that is the leak check.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
. "$root/tests/echo_lib.sh"

# The server still runs; if not, says how it ended and forgets it.
alive() {
    local rc
    [ -n "$server" ] && kill -0 "$server" 2>/dev/null && return 0
    [ -n "$server" ] || return 1
    wait "$server"
    rc=$?
    server=
    fail "server ended $1 (exit $rc, last stdout line: $(tail -n 1 "$work/$2.out")): $(tail -40 "$work/$2.err")"
    return 1
}

fds() { ls "/proc/$server/fd" | wc -l; }

# Python's ssl client, inline: py SCRIPT ARGS.
py() {
    local script=$1
    shift
    timeout 120 python3 -c "$script" "$@" 2>&1
}

# A short echo over a full handshake: the server still serves.
serves='
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30))
s.sendall(b"still there?")
got = b""
while len(got) < 12:
    chunk = s.recv(12 - len(got))
    if not chunk:
        sys.exit("closed after %r" % got)
    got += chunk
print("ok" if got == b"still there?" else "echoed %r" % got)
'

# Clients that go away mid-handshake, 20 of each kind.
vanish='
import socket, ssl, struct, sys
port = int(sys.argv[1])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def client_hello():
    out = ssl.MemoryBIO()
    tls = ctx.wrap_bio(ssl.MemoryBIO(), out)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()

def connect(hello):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(hello)
    return s

for _ in range(20):
    hello = client_hello()
    connect(hello[:len(hello) // 2]).close()
    # SO_LINGER 0: a reset at once, likely while the server signs.
    s = connect(hello)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    s = connect(hello)
    if not s.recv(65536):
        sys.exit("the server sent no handshake flight")
    s.close()
print("ok")
'

# Five connections held at --max-conns 5: a sixth is closed without a handshake;
# once the five have closed, new connections are served again.
limit='
import socket, ssl, sys, time
port = int(sys.argv[1])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def session():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
    s.sendall(b"x")
    if s.recv(1) != b"x":
        raise OSError("no echo")
    return s

held = [session() for _ in range(5)]
try:
    session()
    sys.exit("a sixth connection was served past --max-conns 5")
except TimeoutError:
    sys.exit("the sixth connection was neither served nor closed within 10 s")
except (ssl.SSLError, OSError):
    pass
for s in held:
    s.close()
deadline = time.monotonic() + 10
while True:
    try:
        session().close()
        break
    except TimeoutError:
        sys.exit("a connection after the five closed hung")
    except (ssl.SSLError, OSError) as e:
        if time.monotonic() > deadline:
            sys.exit("still refused 10 s after the five closed: %r" % e)
        time.sleep(0.1)
print("ok")
'

# Garbage and clients vanishing mid-handshake: the server closes those connections and goes on.
hostile_clients() {
    local garbage out
    alive "after the churn" churn || return
    # An HTTP request, a handshake record holding no handshake, random bytes (of no record type),
    # and a record header promising 16 KiB that never come: the server waits, the client leaves.
    for garbage in "GET / HTTP/1.0\r\n\r\n" "\x16\x03\x01\x00\x05hello" \
                   "\x00$(head -c 300 /dev/urandom | od -An -tx1 | tr -d ' \n' | sed 's/../\\x&/g')" \
                   "\x17\x03\x03\x40\x00"; do
        exec 3<>"/dev/tcp/127.0.0.1/$port"
        # In a subshell: a reset connection's SIGPIPE ends it, not the test.
        (printf '%b' "$garbage" >&3) 2>/dev/null
        case $garbage in
        '\x17'*) ;;
        *) timeout 10 cat <&3 >/dev/null || fail "garbage ${garbage:0:24}...: connection not closed within 10 s" ;;
        esac
        exec 3>&-
    done
    alive "after garbage" churn || return
    out=$(py "$vanish" "$port")
    [ "$out" = ok ] || fail "clients vanishing mid-handshake: $out"
    alive "after clients vanished mid-handshake" churn || return
    out=$(py "$serves" "$port")
    [ "$out" = ok ] || fail "not serving after the hostile clients: $out"
}

echo "== churn: ringcrypt-echo --offload async --workers 2"
if start_server churn --offload async --workers 2; then
    baseline=$(fds)
    echo "   $baseline fds after start"

    attempts=0 runs=0
    while [ "$attempts" -lt 1000 ] && [ "$runs" -lt 60 ] && alive "under load" churn; do
        out=$(timeout 60 "$b/ringcrypt-load" --port "$port" --mode handshake --connections 50 --cut 10 \
              --duration 2 --json 2>"$work/load.err")
        rc=$?
        runs=$((runs + 1))
        if [ "$rc" -ne 0 ]; then
            fail "ringcrypt-load exited $rc: $(tail -5 "$work/load.err")"
            break
        fi
        hs=$(jnum handshakes "$out") cut=$(jnum cut "$out") errors=$(jnum errors "$out")
        attempts=$((attempts + ${hs:-0} + ${cut:-0} + ${errors:-0}))
        echo "   load: handshakes=$hs cut=$cut errors=$errors"
        [ "${errors:-x}" = 0 ] || fail "ringcrypt-load counted errors: $out"
    done
    [ "$attempts" -ge 1000 ] || fail "only $attempts handshake attempts in $runs runs"
    echo "   $attempts handshake attempts in $runs runs"

    hostile_clients
    if [ -n "$server" ]; then
        now=
        for _ in $(seq 300); do
            now=$(fds)
            [ "$now" -le "$baseline" ] && break
            sleep 0.1
        done
        [ "$now" -le "$baseline" ] ||
            fail "fds: $now 30 s after the last client, $baseline before the load: $(ls -l "/proc/$server/fd" | tail -n +2 | awk '{ print $NF }' | sort | uniq -c | sort -rn | head -5)"
        echo "   $now fds after the last client"
        stop_server churn
        echo "   server: $final"
        submitted=$(jnum submitted "$final") completed=$(jnum completed "$final")
        [ "${submitted:-0}" -gt 0 ] || fail "async server offloaded nothing: $final"
        [ "${completed:-x}" = "${submitted:-y}" ] || fail "completed != submitted at exit: $final"
    fi
fi

echo "== ringcrypt-echo --max-conns 5"
if start_server limit --offload async --max-conns 5; then
    out=$(py "$limit" "$port")
    [ "$out" = ok ] || fail "--max-conns 5: $out"
    if alive "with --max-conns 5" limit; then
        stop_server limit
        echo "   server: $final"
        refused=$(jnum refused "$final")
        [ "${refused:-0}" -ge 1 ] || fail "--max-conns 5: refused=${refused:-none}: $final"
    fi
fi

echo "== SIGTERM in the middle of a mixed load, 20% of the handshakes cut"
if start_server midload --offload async --workers 2; then
    # Until SIGTERM ends it: the load is still running when the server goes.
    "$b/ringcrypt-load" --port "$port" --mode mixed --connections 64 --cut 20 --duration 600 \
        --progress --json >"$work/midload.json" 2>"$work/midload.err" &
    load=$!
    # In the middle: once an echo came back (so the server has finished handshakes), whenever that is.
    echoed=
    for _ in $(seq 600); do
        echoed=$(tr '\r' '\n' <"$work/midload.err" | awk '$6 == "p99" && $7 > 0 { print; exit }')
        [ -n "$echoed" ] && break
        kill -0 "$load" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$echoed" ] || fail "no echo within 60 s of the mixed load: $(tr '\r' '\n' <"$work/midload.err" | tail -3)"
    # Connections mid-handshake, their jobs paused, close first: the server still exits 0 in 10 s.
    stop_server midload
    echo "   server: $final"
    handshakes=$(jnum handshakes "$final") submitted=$(jnum submitted "$final") completed=$(jnum completed "$final")
    [ "${handshakes:-0}" -gt 0 ] || fail "no handshakes before SIGTERM: $final"
    [ "${completed:-x}" = "${submitted:-y}" ] || fail "completed != submitted at exit: $final"
    kill -TERM "$load" 2>/dev/null
    wait_exit "$load" 30 "ringcrypt-load after SIGTERM"
    load=
    [ "$rc" -eq 0 ] || fail "ringcrypt-load exited $rc when its server went away: $(tail -5 "$work/midload.err")"
fi

echo "$failures failures"
[ "$failures" -eq 0 ]
