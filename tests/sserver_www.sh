#!/usr/bin/env bash
# Why `openssl s_server -async -www` with ringcrypt serves a request only
# every few seconds: its -www loop (www_body in OpenSSL's apps/s_server.c,
# 3.0 to 3.5) sleeps one second after every SSL_ERROR_WANT_ASYNC instead of
# waiting on the fd in the job's wait ctx, so each paused job costs a second.
# Asserted, with the provider activated through OPENSSL_CONF: GETs over TLS 1.3
# and 1.2 are answered, every offload completed and was announced on the
# eventfd, s_server printed one "read R BLOCK" per pause, the requests took at
# least one second per pause, and (where strace runs) s_server's main thread
# slept one second exactly once per pause. `-rev` fails every handshake that
# pauses ("CONNECTION FAILURE": the SSL BIO sets no retry for WANT_ASYNC), and
# the runtime sees those jobs abandoned with no error or timeout. Not
# ringcrypt's doing: the same module and handshakes in s_server's default loop
# (sv_body, which retries without sleeping) pause too and never sleep; -www
# without -async offloads nothing and never sleeps, nor does -www -async
# without the module.
# Installed as $b/tests/sserver_www; exit 0 pass, 1 fail, 77 skip
# (openssl links another libcrypto than the module) (liburing's codes).
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
cd "$root" || exit 1
work=$(mktemp -d)
server='' tracee=''
# strace leaves its tracee running when it is killed: the tracee is killed too.
trap '[ -n "$server" ] && kill -KILL $tracee "$server" 2>/dev/null; rm -rf "$work"' EXIT
failures=0

. "$root/tests/echo_lib.sh"
require_module_libcrypto openssl

make_cert rsa || exit 1

# sv_body quits at EOF on its stdin: every server reads a pipe that stays open.
mkfifo "$work/stdin"
exec 3<>"$work/stdin"

tracer=()
if strace -f -qq -e trace=none true >/dev/null 2>&1; then
    tracer=(strace -f -qq --seccomp-bpf -e 'trace=execve,clock_nanosleep,nanosleep')
else
    echo "   strace cannot run here: s_server's sleeps are not counted"
fi

# serve NAME PREFIX... -- S_SERVER-ARGS...: s_server for two connections, under
# strace where it runs, with RINGCRYPT_STATS in $work/NAME.json; sets $port,
# $server (the child: strace or s_server) and $tracee (s_server).
serve() {
    local name=$1 prefix=() trace=()
    shift
    while [ "$1" != -- ]; do prefix+=("$1"); shift; done
    shift
    [ ${#tracer[@]} -gt 0 ] && trace=("${tracer[@]}" -o "$work/$name.trace")
    port=$(free_port)
    "${trace[@]}" "${stock[@]}" "${prefix[@]}" RINGCRYPT_STATS="$work/$name.json" \
        openssl s_server -accept "127.0.0.1:$port" -cert "$work/rsa.crt" -key "$work/rsa.key" -naccept 2 \
        "$@" <"$work/stdin" >"$work/$name.out" 2>&1 &
    server=$! tracee=$!
    for _ in $(seq 600); do
        if grep -qs '^ACCEPT' "$work/$name.out"; then
            [ ${#trace[@]} -eq 0 ] && return 0
            tracee=$(sed -n 's/^\([0-9]*\) *execve("[^"]*openssl".* = 0$/\1/p' "$work/$name.trace" | tail -n 1)
            [ -n "$tracee" ] && return 0
            fail "$name: no execve of openssl in the trace"
            break
        fi
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    fail "$name: s_server did not start: $(tail -5 "$work/$name.out")"
    return 1
}

# client NAME V [GET]: one connection at TLS 1.V, with a GET whose answer must be
# HTTP 200 if asked for; adds the time it took to $client_ms.
client() {
    local name=$1 v=$2 get=${3:-} out=$work/$1-tls1_$2.client start
    start=$(date +%s%N)
    if [ -n "$get" ]; then
        printf 'GET / HTTP/1.0\r\n\r\n' | timeout 120 openssl s_client -connect "127.0.0.1:$port" -tls1_"$v" \
            -ign_eof >"$out" 2>&1
        grep -q '^HTTP/1.0 200 ok' "$out" || fail "$name: TLSv1.$v GET not answered: $(tail -5 "$out")"
    else
        timeout 120 openssl s_client -connect "127.0.0.1:$port" -tls1_"$v" </dev/null >"$out" 2>&1
    fi
    grep -q "^New, TLSv1.$v" "$out" || fail "$name: no TLSv1.$v handshake: $(tail -5 "$out")"
    client_ms=$((client_ms + ($(date +%s%N) - start) / 1000000))
}

# finish NAME: s_server must exit after its two connections; sets $blocks (its
# "read R BLOCK" lines), $sleeps (1-second sleeps of its main thread; -1 without
# strace) and $stats (the runtime's line at exit, if it loaded).
finish() {
    local name=$1
    wait_exit "$server" 120 "$name: s_server after two connections"
    [ "$rc" -eq 137 ] && kill -KILL "$tracee" 2>/dev/null
    server=
    [ "$rc" -eq 0 ] || fail "$name: s_server exit code $rc: $(tail -5 "$work/$name.out")"
    blocks=$(grep -c '^read R BLOCK$' "$work/$name.out")
    stats=$(tail -n 1 "$work/$name.json" 2>/dev/null)
    sleeps=-1
    [ ${#tracer[@]} -eq 0 ] ||
        sleeps=$(grep -cE "^$tracee +(clock_)?nanosleep\((CLOCK_REALTIME, 0, )?\{tv_sec=1, tv_nsec=0\}" "$work/$name.trace")
}

# no_sleep NAME: the server neither printed "read R BLOCK" nor slept.
no_sleep() {
    [ "$blocks" -eq 0 ] || fail "$1: $blocks 'read R BLOCK' lines, none expected"
    [ "$sleeps" -le 0 ] || fail "$1: s_server slept a second $sleeps times, never expected"
}

echo "== s_server -async -www, ringcrypt through OPENSSL_CONF: one second per pause"
client_ms=0
serve www_async "${with_ringcrypt[@]}" -- -async -www || exit 1
client www_async 3 get
client www_async 2 get
finish www_async
check_fd_stats "$work/www_async.json" "s_server -async -www"
paused=$(jnum paused "$stats")
echo "   paused $paused times, $blocks 'read R BLOCK', ${sleeps/#-1/uncounted} 1-second sleeps, the GETs took $client_ms ms"
[ "${paused:-0}" -gt 0 ] && [ "$blocks" -eq "$paused" ] ||
    fail "s_server -async -www: $blocks 'read R BLOCK' lines for ${paused:-no} pauses; one per pause expected"
[ "$client_ms" -ge $((blocks * 1000)) ] ||
    fail "s_server -async -www: the GETs took $client_ms ms, under the $blocks s its retry loop sleeps"
[ "$sleeps" -lt 0 ] || [ "$sleeps" -eq "$blocks" ] ||
    fail "s_server -async -www: $sleeps 1-second sleeps of its main thread for $blocks pauses"

echo "== s_server -async -rev: a handshake that pauses fails (OpenSSL's SSL BIO sets no retry for it)"
serve rev_async "${with_ringcrypt[@]}" -- -async -rev || exit 1
for v in 2 3; do
    timeout 120 openssl s_client -connect "127.0.0.1:$port" -tls1_"$v" </dev/null >"$work/rev_async-tls1_$v.client" 2>&1
done
finish rev_async
n=$(grep -c '^CONNECTION FAILURE$' "$work/rev_async.out")
[ "$n" -eq 2 ] || fail "s_server -async -rev: $n 'CONNECTION FAILURE' for two handshakes: $(tail -5 "$work/rev_async.out")"
# s_server exits right after the last failure: that job's work may still be in flight then.
echo "   s_server -async -rev: $stats"
paused=$(jnum paused "$stats")
[ "${paused:-0}" -gt 0 ] && [ "$(jnum errors "$stats")" = 0 ] && [ "$(jnum timeouts "$stats")" = 0 ] ||
    fail "s_server -async -rev: no pause, or errors or timeouts: '$stats'"

echo "== s_server -async (its default loop), same module and handshakes: pauses, never sleeps"
serve sv_async "${with_ringcrypt[@]}" -- -async || exit 1
client sv_async 3
client sv_async 2
finish sv_async
check_fd_stats "$work/sv_async.json" "s_server -async"
paused=$(jnum paused "$stats")
echo "   paused ${paused:-0} times, $blocks 'read R BLOCK', ${sleeps/#-1/uncounted} 1-second sleeps"
[ "${paused:-0}" -gt 0 ] || fail "s_server -async: its handshakes never paused ($stats)"
no_sleep "s_server -async"

echo "== s_server -www without -async: nothing offloaded, no sleep"
serve www_sync "${with_ringcrypt[@]}" -- -www || exit 1
client www_sync 3 get
client www_sync 2 get
finish www_sync
n=$(jnum submitted "$stats")
[ "${n:-1}" -eq 0 ] || fail "s_server -www without -async offloaded ${n:-?} operations ($stats)"
no_sleep "s_server -www"

echo "== s_server -async -www without the module: jobs never pause, no sleep"
serve www_default env -- -async -www || exit 1
client www_default 3 get
client www_default 2 get
finish www_default
[ -z "$stats" ] || fail "without the module the runtime wrote stats: $stats"
no_sleep "s_server -async -www (default provider)"

exec 3>&-
echo "$failures failures"
[ "$failures" -eq 0 ]
