#!/usr/bin/env bash
# The examples of apps/examples: async_server serves two TLS handshakes to
# `openssl s_client` with its signatures offloaded through its core, then
# exits 0; epoll_loop makes and verifies 40 signatures, each offloaded from
# its epoll loop. Negative cases: a bad option or value exits 2 naming it, and
# a port already taken is a clean bind error with exit 1.
# Installed as $b/tests/examples; exit 0 pass, 1 fail (liburing's codes).
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
cd "$root" || exit 1

. "$root/tests/echo_lib.sh"

# The examples load the provider by name, as they would once installed.
export OPENSSL_MODULES=$b

# A number after WORD in a line of counters: num WORD LINE.
num() { sed -n "s/.*\<$1 \([0-9]*\).*/\1/p" <<<"$2"; }

# Bad options: exit 2, the culprit named on stderr, then the usage.
for bad in "async_server --bogus" "async_server --connections 0" "async_server --port 65536" \
           "epoll_loop --count 0" "epoll_loop --count x" "epoll_loop stray"; do
    set -- $bad
    timeout 60 "$b/examples/$1" "${@:2}" >"$work/bad.out" 2>"$work/bad.err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "$bad: exit $rc, expected 2"
    grep -qF -- "$1: ${*: -1}: unknown option or bad value" "$work/bad.err" &&
        grep -q "^usage: $1 " "$work/bad.err" || fail "$bad: stderr: $(cat "$work/bad.err")"
done

# The server: its first line names its port (waits up to 60 s: sanitized start-ups are slow).
"$b/examples/async_server" --port 0 --connections 2 >"$work/server.out" 2>"$work/server.err" &
server=$!
port=
for _ in $(seq 600); do
    port=$(sed -n '1s/^listening on 127\.0\.0\.1:\([0-9]\{1,5\}\)$/\1/p' "$work/server.out")
    [ -n "$port" ] || ! kill -0 "$server" 2>/dev/null && break
    sleep 0.1
done
if [ -z "$port" ]; then
    fail "async_server: no 'listening on' line: $(cat "$work/server.out" "$work/server.err")"
else
    # The same port again: taken, so a clean error and exit 1.
    timeout 60 "$b/examples/async_server" --port "$port" >"$work/taken.out" 2>"$work/taken.err"
    rc=$?
    [ "$rc" -eq 1 ] && grep -qF "async_server: 127.0.0.1:$port: Address already in use" "$work/taken.err" ||
        fail "port taken: exit $rc: $(cat "$work/taken.err")"

    for i in 1 2; do
        timeout 60 openssl s_client -connect "127.0.0.1:$port" -brief </dev/null >"$work/client$i" 2>&1
        rc=$?
        [ "$rc" -eq 0 ] && grep -q "^CONNECTION ESTABLISHED" "$work/client$i" ||
            fail "s_client $i: exit $rc: $(cat "$work/client$i")"
    done
    pids+=("$server")
    wait_exit "$server" 60 "async_server after two connections"
    line=$(tail -n 1 "$work/server.out")
    echo "   async_server: exit $rc: $line"
    [ "$rc" -eq 0 ] || fail "async_server: exit $rc: $(cat "$work/server.err")"
    [ "$(num handshakes "$line")" = 2 ] || fail "async_server: not 2 handshakes: $line"
    # Each handshake signs at least once (CertificateVerify), in a paused job.
    [ "$(num offloaded "$line")" -ge 2 ] 2>/dev/null && [ "$(num paused "$line")" -ge 2 ] ||
        fail "async_server: signatures not offloaded: $line"
    [ "$(num errors "$line")" = 0 ] || fail "async_server: errors: $line"
fi
server=

timeout 120 "$b/examples/epoll_loop" --count 40 >"$work/loop.out" 2>"$work/loop.err"
rc=$?
line=$(tail -n 1 "$work/loop.out")
echo "   epoll_loop: exit $rc: $line"
[ "$rc" -eq 0 ] || fail "epoll_loop: exit $rc: $(cat "$work/loop.err")"
[ "$(num verified "$line")" = 40 ] || fail "epoll_loop: not 40 verified signatures: $line"
for counter in offloaded paused callbacks; do
    [ "$(num $counter "$line")" -ge 40 ] 2>/dev/null || fail "epoll_loop: $counter below 40: $line"
done
[ "$(num errors "$line")" = 0 ] || fail "epoll_loop: errors: $line"

echo "$failures failures"
[ "$failures" -eq 0 ]
