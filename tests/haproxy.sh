#!/usr/bin/env bash
# Stock HAProxy (Debian's, from tools/setup) with `ssl-mode-async` and the
# ringcrypt provider beside default through OPENSSL_CONF: nbthread 1 and 2,
# RSA-2048 and P-256 certificates, TLS 1.2 and 1.3. ringcrypt-load keeps 64
# connections looping handshake, one GET answered by `http-request return
# status 200`, close, with 10% of them cut after the ClientHello: every
# request gets its 200, nothing fails, HAProxy never dies (the old runtime let
# it abort in ssl_sock_close, fd.c:378, on an eventfd it had never been told
# of) and its descriptors return to where they were. Then, with the load still
# running and handshakes in flight, a reload (`-sf`) and a soft stop
# (SIGUSR1): both processes exit 0 within 30 s with nothing in their logs
# worse than a warning, and the runtime's line at exit shows offloads, all
# completed, woken through the eventfd (fd_wakes).
# Installed as $b/tests/haproxy; `$b/tests/haproxy /ABSOLUTE/DIR` loads
# DIR/ringcrypt.so (another tree's build) instead of $b's, with $b's load client.
# Skipped where haproxy links another libcrypto than the module (Debian's
# HAProxy links OpenSSL 3 beside experimental's OpenSSL 4.0).
# Exit 0 pass, 1 fail, 77 skip (liburing's codes).
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
cd "$root" || exit 1
. "$root/tests/echo_lib.sh" "$@"

# Each load runs this long, twice per instance (TLS 1.2, then 1.3): four
# instances keep the whole test near 40 s on two shared CPUs (80 s under
# TSan), and at some 300 handshakes/s a run is about a thousand handshakes
# with a hundred cut.
duration=3
# Enough connections in flight that the reload and the soft stop find handshakes paused.
busy=16

require_module_libcrypto haproxy

# HAProxy's own log: warnings (a stopped proxy) are expected, alerts and fatal bugs are not.
check_log() {
    local name=$1 bad
    bad=$(grep -E 'ALERT|FATAL|BUG' "$work/$name.log" | head -5)
    [ -z "$bad" ] || fail "$name: $bad"
}

# The process is still there; if not, says how it ended.
alive() {
    local name=$1 pid=$2 rc
    kill -0 "$pid" 2>/dev/null && return 0
    wait "$pid"
    rc=$?
    fail "$name died $3 (exit $rc): $(grep -E 'ALERT|FATAL|BUG' "$work/$name.log" | head -3) $(tail -3 "$work/$name.log")"
    return 1
}

# Waits up to 30 s for PID to hold at least N descriptors: connections in flight.
wait_fds_above() {
    local pid=$1 n=$2
    for _ in $(seq 300); do
        [ "$(fd_count "$pid")" -ge "$n" ] && return 0
        sleep 0.1
    done
    return 1
}

# ringcrypt-load --mode http with ARGS: handshakes made, every one answered 200, some cut if
# ARGS ask for it, no errors.
http_load() {
    local name=$1 out hs responses cut errors rc
    shift
    out=$(timeout 120 "$b/ringcrypt-load" --port "$port" --mode http --json "$@" 2>"$work/$name.load.err")
    rc=$?
    [ "$rc" -eq 0 ] || { fail "$name: ringcrypt-load exited $rc: $(tail -3 "$work/$name.load.err")"; return; }
    hs=$(jnum handshakes "$out") responses=$(jnum responses "$out") cut=$(jnum cut "$out") errors=$(jnum errors "$out")
    echo "   $name: handshakes=$hs responses=$responses cut=$cut errors=$errors"
    [ "${hs:-0}" -gt 0 ] || fail "$name: no handshakes: $out"
    [ "$responses" = "$hs" ] || fail "$name: $responses HTTP 200 responses for $hs handshakes: $out"
    case " $* " in *" --cut "*) [ "${cut:-0}" -gt 0 ] || fail "$name: no connection cut: $out" ;; esac
    [ "${errors:-x}" = 0 ] || fail "$name: ringcrypt-load counted errors: $out"
}

# One HAProxy at THREADS threads with a KIND certificate: loads, then a reload and a soft stop under load.
instance() {
    local threads=$1 kind=$2 name="nbthread $1, $2" a b_pid baseline load v
    echo "== haproxy ssl-mode-async, nbthread $threads, $kind certificate"
    start_listening "$work/a-$threads-$kind.log" start_haproxy "a-$threads-$kind" "$threads" "$kind" ringcrypt ||
        return
    a=$started
    # The runtime's threads and rings exist from start-up; the first handshakes set up the rest.
    http_load "$name, warm-up" --connections 4 --duration 0.5
    alive "a-$threads-$kind" "$a" "during the warm-up" || return
    baseline=$(fd_count "$a")
    for v in 1.2 1.3; do
        http_load "$name, TLS $v" --tls "$v" --connections 64 --cut 10 --duration "$duration"
        alive "a-$threads-$kind" "$a" "under TLS $v load" || return
    done
    check_fds_back "$a" "$baseline" "$name"

    # The load goes on (until SIGTERM) through the reload and the soft stop; connections refused
    # once the last process has stopped are errors of this load, not failures of the test.
    "$b/ringcrypt-load" --port "$port" --mode http --connections 64 --cut 10 --duration 120 --json \
        >"$work/bg.json" 2>"$work/bg.err" &
    load=$!
    pids+=("$load")
    wait_fds_above "$a" $((baseline + busy)) || fail "$name: the load never had $busy connections in flight"
    start_haproxy "b-$threads-$kind" "$threads" "$kind" ringcrypt -sf "$a"
    b_pid=$started
    wait_exit "$a" 30 "$name: the old process, reloaded"
    [ "$rc" -eq 0 ] || fail "$name: the old process exited $rc after the reload: $(tail -3 "$work/a-$threads-$kind.log")"
    check_log "a-$threads-$kind"
    check_fd_stats "$work/a-$threads-$kind.stats" "$name, old process"
    # Handshakes the new process surely made itself, before it is stopped under load.
    http_load "$name, new process" --connections 4 --duration 0.5
    if wait_fds_above "$b_pid" $((baseline + busy)); then
        kill -USR1 "$b_pid"
        wait_exit "$b_pid" 30 "$name: soft stop"
        [ "$rc" -eq 0 ] || fail "$name: exit code $rc after the soft stop: $(tail -3 "$work/b-$threads-$kind.log")"
        check_log "b-$threads-$kind"
        check_fd_stats "$work/b-$threads-$kind.stats" "$name, new process"
    else
        alive "b-$threads-$kind" "$b_pid" "after the reload"
        fail "$name: the new process never had $busy connections in flight"
        kill -KILL "$b_pid" 2>/dev/null
    fi
    kill -TERM "$load"
    wait_exit "$load" 30 "$name: ringcrypt-load after SIGTERM"
    [ "$rc" -eq 0 ] || fail "$name: ringcrypt-load exited $rc: $(tail -3 "$work/bg.err")"
    echo "   $name, load through the reload and the soft stop: $(cat "$work/bg.json")"
    grep -q '"responses":[1-9]' "$work/bg.json" || fail "$name: nothing answered during the reload"
}

# The check itself: ringcrypt-echo answers a GET with the GET, which is no 200.
echo "== ringcrypt-load --mode http against a server that does not answer 200"
if start_server echo --offload async; then
    out=$(timeout 60 "$b/ringcrypt-load" --port "$port" --mode http --connections 4 --duration 1 --json \
          2>"$work/echo.load.err")
    echo "   $out"
    [ "$(jnum responses "$out")" = 0 ] && [ "$(jnum errors "$out")" -gt 0 ] 2>/dev/null ||
        fail "echoed requests were not errors: $out $(tail -3 "$work/echo.load.err")"
    stop_server echo
fi

make_cert rsa && make_cert ec || exit 1
for threads in 1 2; do
    for kind in rsa ec; do
        instance "$threads" "$kind"
    done
done

echo "$failures failures"
[ "$failures" -eq 0 ]
