# Sourced by the benchmarks of tools/ (bench-cost, bench-pq, bench-haproxy,
# bench-echo) after tests/echo_lib.sh: dying with the script's name, medians
# over rounds, `openssl speed`'s rates, which build's provider a stock program
# loads, and the servers measured under ringcrypt-load - HAProxy's CPU per
# handshake from /proc, ringcrypt-echo under a handshake storm and its memory
# per idle connection. Needs $root, $b and $work (echo_lib.sh's); a server of
# another build is named by its directory.

bench_name=tools/${0##*/}
tck=$(getconf CLK_TCK)

die() {
    echo "$bench_name: $*" >&2
    exit 1
}

# A sanitizer build's figures say nothing of the optimised one's.
require_optimised() {
    [ -z "$san_runtime" ] || die "$modules is a sanitizer build: measure an optimised one"
}

# The median of the numbers on stdin, one a line; a round that could not measure writes "-"
# instead, and none at all leaves the median empty.
median() {
    grep -E '^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Median over the rounds of FILE1's over FILE2's: each file has a line a round.
ratio() { paste "$1" "$2" | awk '$1 != "-" && $2 != "-" { print $1 / $2 }' | median; }

# Sets with_ringcrypt (echo_lib.sh's: the provider beside default, through OPENSSL_CONF) to
# the module of build DIR.
use_module() { with_ringcrypt=(env "OPENSSL_CONF=$root/docs/openssl-ringcrypt.cnf" "OPENSSL_MODULES=$1"); }

# speed NAME FILE CMD...: one `CMD -elapsed -seconds $seconds NAME`; the rate that the
# script's speed_rate NAME reads from the output on its stdin is appended to FILE.
speed() {
    local name=$1 file=$2 rate
    shift 2
    "$@" -elapsed -seconds "$seconds" "$name" >"$work/speed.out" 2>&1 ||
        die "$* $name exited $?: $(tail -5 "$work/speed.out")"
    rate=$(speed_rate "$name" <"$work/speed.out")
    [ -n "$rate" ] && awk -v r="$rate" 'BEGIN { exit !(r > 0) }' ||
        die "$* $name printed no rate: $(tail -5 "$work/speed.out")"
    echo "$rate" >>"$file"
}

# The offloads counted in the runtime's line at exit in FILE (RINGCRYPT_STATS) of WHAT.
offloads() {
    [ -s "$1" ] || die "$2 wrote no RINGCRYPT_STATS"
    sed -n 's/.*"submitted":\([0-9]*\).*/\1/p' "$1" | tail -1
}

# "TID TICKS" for every thread of PID.
thread_ticks() {
    local t
    for t in /proc/"$1"/task/*; do
        echo "${t##*/} $(ticks "$t/stat")"
    done
}

# haproxy_cpu DIR THREADS TLS SSL SECONDS CONNECTIONS: a fresh HAProxy (echo_lib.sh's
# start_haproxy: nbthread THREADS, the RSA certificate of make_cert, OpenSSL stock or with
# build DIR's provider as SSL says) under SECONDS of ringcrypt-load --mode http --tls TLS with
# CONNECTIONS connections, after half a second's warm-up. Sets $hp_line: "handshakes handshakes/s
# us/handshake loop-us/handshake rest-us/handshake haproxy-CPUs client-CPUs": CPU from /proc
# over the seconds the client counts, the event-loop threads (those that sleep in epoll_wait
# once idle) apart from the rest (ringcrypt's workers and watchdog), the client's own count.
# Returns 1, saying why in $why, when the load failed (HAProxy may have crashed).
haproxy_cpu() {
    local dir=$1 threads=$2 tls=$3 ssl=$4 secs=$5 conns=$6 hp load out hs loop=0 rest=0 tid t0 t1
    use_module "$dir"
    start_listening "$work/m.log" start_haproxy m "$threads" rsa "$ssl" || die "haproxy did not start"
    hp=$started
    timeout 60 "$b/ringcrypt-load" --port "$port" --mode http --connections 8 --duration 0.5 >/dev/null 2>&1
    thread_ticks "$hp" >"$work/before"
    "$b/ringcrypt-load" --port "$port" --mode http --tls "$tls" --connections "$conns" \
        --duration "$secs" --json >"$work/load.json" 2>"$work/load.err" &
    load=$!
    pids+=("$load")
    # The client counts the handshakes of these seconds (from its start, within a few ms).
    sleep "$secs"
    thread_ticks "$hp" >"$work/after"
    wait_exit "$load" 60 "ringcrypt-load"
    out=$(cat "$work/load.json")
    hs=$(jnum handshakes "$out")
    if [ "${hs:-0}" -eq 0 ] || [ "$(jnum errors "$out")" != 0 ]; then
        kill -KILL "$hp" 2>/dev/null
        wait "$hp"
        why="$ssl HAProxy, exit $? ($(grep -m1 -E 'FATAL|BUG' "$work/m.log" || tail -1 "$work/m.log")):"
        why="$why the load failed: $(tail -1 "$work/load.err")"
        return 1
    fi
    while read -r tid t1; do
        t0=$(awk -v t="$tid" '$1 == t { print $2 }' "$work/before")
        if [ "$(cat "/proc/$hp/task/$tid/wchan" 2>/dev/null)" = do_epoll_wait ]; then
            loop=$((loop + t1 - ${t0:-0}))
        else
            rest=$((rest + t1 - ${t0:-0}))
        fi
    done <"$work/after"
    kill -USR1 "$hp"
    wait_exit "$hp" 30 "haproxy soft stop"
    [ "$failures" -eq 0 ] || die "haproxy did not stop"
    hp_line=$(awk -v hs="$hs" -v s="$secs" -v tck="$tck" -v loop="$loop" -v rest="$rest" \
        -v c="$(jnum cpu_s "$out")" 'BEGIN {
        us = 1e6 / tck / hs
        printf "%d %.1f %.0f %.0f %.0f %.2f %.2f\n", hs, hs / s, (loop + rest) * us, loop * us, rest * us,
               (loop + rest) / tck / s, c / s }')
}

# echo_storm DIR SECONDS CONNECTIONS ECHO_ARGS...: a fresh ringcrypt-echo of build DIR (ECHO_ARGS,
# the RSA certificate of make_cert) under SECONDS of ringcrypt-load --mode mixed: CONNECTIONS
# connections doing full TLS 1.3 handshakes in a loop beside 8 echoing 64 bytes, on two client
# threads (the echo connections get one to themselves). Sets $load (the client's JSON),
# $server_s (the server's CPU seconds over the load, from /proc) and $final (its line at exit).
echo_storm() {
    local dir=$1 secs=$2 conns=$3 t0 t1
    shift 3
    # echo_lib.sh's start_server runs $b's ringcrypt-echo: DIR's for the length of the call.
    b=$dir start_server storm "$@" --cert "$work/rsa.crt" --key "$work/rsa.key" ||
        die "ringcrypt-echo $* did not start"
    t0=$(ticks "/proc/$server/stat")
    load=$("$b/ringcrypt-load" --port "$port" --mode mixed --connections "$conns" --threads 2 \
        --echo-conns 8 --duration "$secs" --json 2>"$work/load.err") ||
        die "ringcrypt-load against ringcrypt-echo $* failed: $(tail -5 "$work/load.err")"
    t1=$(ticks "/proc/$server/stat")
    stop_server storm
    [ "$failures" -eq 0 ] || die "ringcrypt-echo $* did not stop cleanly"
    [ -n "$(jnum handshakes_per_s "$load")" ] && [ -n "$(jnum echo_p99_us "$load")" ] ||
        die "ringcrypt-load printed no numbers: $load"
    server_s=$(awk -v d=$((t1 - t0)) -v t="$tck" 'BEGIN { printf "%.3f", d / t }')
}

# idle_kib DIR CONNECTIONS ECHO_ARGS...: what each of CONNECTIONS idle TLS 1.3 connections adds
# to the resident memory (VmRSS) of a fresh ringcrypt-echo of build DIR (ECHO_ARGS, the RSA
# certificate), in KiB, in $kib. A warm-up first (the first handshakes' one-time allocations); then the
# connections handshake, echo 64 bytes once and wait 10 s for their next echo. The size is read
# once the server holds them all and has used no CPU for half a second.
idle_kib() {
    local dir=$1 conns=$2 fds rss0 rss1 client t0 t1 out
    shift 2
    b=$dir start_server idle "$@" --cert "$work/rsa.crt" --key "$work/rsa.key" ||
        die "ringcrypt-echo $* did not start"
    timeout 60 "$b/ringcrypt-load" --port "$port" --mode echo --connections 8 --duration 0.5 >/dev/null 2>&1 ||
        die "the warm-up load against ringcrypt-echo $* failed"
    fds=$(($(fd_count "$server") + conns))
    rss0=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$server/status")
    "$b/ringcrypt-load" --port "$port" --mode echo --connections "$conns" --echo-interval 10000000 \
        --duration 120 --json >"$work/idle.json" 2>"$work/idle.err" &
    client=$!
    pids+=("$client")
    for _ in $(seq 1200); do
        [ "$(fd_count "$server")" -ge "$fds" ] || ! kill -0 "$client" 2>/dev/null && break
        sleep 0.1
    done
    t0=$(ticks "/proc/$server/stat")
    for _ in $(seq 120); do
        sleep 0.5
        t1=$(ticks "/proc/$server/stat")
        [ "$t1" = "$t0" ] && break
        t0=$t1
    done
    rss1=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$server/status")
    [ "$(fd_count "$server")" -ge "$fds" ] || die "ringcrypt-echo $* never held $conns connections"
    kill -TERM "$client"
    wait_exit "$client" 60 "ringcrypt-load --mode echo --connections $conns"
    out=$(cat "$work/idle.json")
    [ "$(jnum handshakes "$out")" -ge "$conns" ] 2>/dev/null && [ "$(jnum errors "$out")" = 0 ] ||
        die "the idle connections failed: $out $(tail -3 "$work/idle.err")"
    stop_server idle
    [ "$failures" -eq 0 ] || die "ringcrypt-echo $* did not stop cleanly"
    kib=$(awk -v a="$rss0" -v z="$rss1" -v n="$conns" 'BEGIN { printf "%.1f", (z - a) / n }')
}

# Which side of the machine's shared CPUs bounded a server run, from SERVER_CPUS and CLIENT_CPUS
# used over it and CLIENT_THREADS: the client when its threads were busy, else the server when
# the two together kept nearly every CPU busy.
bound_side() {
    awk -v s="$1" -v c="$2" -v t="$3" -v n="$(nproc)" 'BEGIN {
        if (c >= 0.9 * t) print "client"; else if (s + c >= 0.9 * n) print "server"; else print "neither" }'
}
