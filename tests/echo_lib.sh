# Sourced by the end-to-end tests (echo_e2e, echo_churn, haproxy, stock_tools,
# sserver_storm, sserver_www) and by tools/demo and tools/bench-haproxy: a
# failure counter; starting, stopping and
# reading ringcrypt-echo; stock servers with the module (where they link its
# libcrypto); file descriptors, exits and the runtime's counters. Needs $b
# (the build directory) and $root set. A test that has not set $work (and
# $server) itself gets them here, with a cleanup at exit that kills $server
# and every pid in $pids.

# Clock ticks (utime + stime) in a stat file of /proc (a process's: all its
# threads; a task's: that thread): fields 14 and 15, counted after the name.
ticks() { sed 's/^.*) //' "$1" 2>/dev/null | awk '{ print $12 + $13 }'; }

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

if [ -z "${work:-}" ]; then
    work=$(mktemp -d)
    server=
    pids=()
    trap 'for pid in $server "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done; rm -rf "$work"' EXIT
fi

# Sanitized apps find their suppressions wherever the script is run from.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$root/tests/lsan.supp"
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}suppressions=$root/tests/tsan.supp"

# A number from a flat JSON object: jnum KEY JSON.
jnum() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" <<<"$2"; }

# Starts ringcrypt-echo --port 0 ARGS with stdout in $work/NAME.out; sets $server and $port.
start_server() {
    local name=$1
    shift
    "$b/ringcrypt-echo" --port 0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
    server=$!
    port=
    # TSan builds take a while to make the certificate.
    for _ in $(seq 600); do
        if [ "$(wc -l <"$work/$name.out")" -ge 1 ]; then
            port=$(sed -n '1s/^listening on 127\.0\.0\.1:\([0-9]\{1,5\}\)$/\1/p' "$work/$name.out")
            [ -n "$port" ] && return 0
            break
        fi
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    fail "$name: no 'listening on 127.0.0.1:PORT' first line: $(head -c 300 "$work/$name.out") $(tail -5 "$work/$name.err")"
    kill -KILL "$server" 2>/dev/null
    wait "$server"
    server=
    return 1
}

# Waits up to SECONDS for child PID to end (else fails, naming WHAT, and kills it); its exit code in $rc.
wait_exit() {
    local pid=$1 secs=$2 what=$3
    for _ in $(seq $((secs * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "$what: still running after $secs s"
        kill -KILL "$pid"
    fi
    wait "$pid"
    rc=$?
}

# SIGTERM; the server must exit 0 within 10 s. Sets $final to its last stdout line, a JSON object.
stop_server() {
    local name=$1 rc
    final=
    kill -TERM "$server"
    wait_exit "$server" 10 "$name: SIGTERM"
    server=
    [ "$rc" -eq 0 ] || fail "$name: exit code $rc after SIGTERM: $(tail -40 "$work/$name.err")"
    final=$(tail -n 1 "$work/$name.out")
    case $final in
    '{'*'}') ;;
    *) fail "$name: last stdout line is not a JSON object: $final"; final= ;;
    esac
}

# ---- stock servers (haproxy, openssl s_server) with the module ----------

# A sanitized module loads only into a process whose sanitizer runtime comes
# first; leaks and races inside the uninstrumented programs are not ours.
# Prefix a stock program with "${stock[@]}" (an exec: $! stays its pid).
# The module: the build's own, or another tree's build given as the test's argument (sourced
# with "$@"), an absolute path since the test runs from $root.
modules=${1:-$b}
case $modules in /*) ;; *) echo "FAIL: $modules: give the module's directory as an absolute path"; exit 1 ;; esac
san_runtime=$(ldd "$modules/ringcrypt.so" | awk '/lib(asan|tsan)\.so/ { print $3 }')
stock=(env)
[ -n "$san_runtime" ] && stock=(env "LD_PRELOAD=$san_runtime" ASAN_OPTIONS=detect_leaks=0
                                "TSAN_OPTIONS=$TSAN_OPTIONS:report_signal_unsafe=0:halt_on_error=0:exitcode=0")
# The provider beside default, as users activate it: through OPENSSL_CONF, found in OPENSSL_MODULES.
with_ringcrypt=(env "OPENSSL_CONF=$root/docs/openssl-ringcrypt.cnf" "OPENSSL_MODULES=$modules")

# The libcrypto FILE links, as the dynamic linker resolves it: "soname => file" (/lib or /usr/lib).
libcrypto_of() {
    local so
    so=($(ldd "$1" 2>/dev/null | awk '$1 ~ /^libcrypto\.so/ && $2 == "=>" { print $1, $3; exit }'))
    [ ${#so[@]} -eq 2 ] && echo "${so[0]} => $(readlink -f "${so[1]}")"
}

# A module built against one OpenSSL, loaded into a program linked to another, runs two
# libcryptos in one process: no test of either. Exits 77 (skip), saying why, unless stock
# program PROG links the libcrypto the module links (Debian's haproxy links OpenSSL 3 even
# where libssl-dev is 4.0).
require_module_libcrypto() {
    local path mine theirs
    path=$(command -v "$1") || { echo "FAIL: no $1: run tools/setup"; exit 1; }
    mine=$(libcrypto_of "$modules/ringcrypt.so")
    [ -n "$mine" ] || { echo "FAIL: $modules/ringcrypt.so links no libcrypto that ldd finds"; exit 1; }
    theirs=$(libcrypto_of "$path")
    [ "$theirs" = "$mine" ] && return 0
    echo "SKIP: $path links ${theirs:-no libcrypto}, $modules/ringcrypt.so links $mine:" \
         "the module cannot run in that program"
    exit 77
}

# A self-signed certificate and its key in one PEM file, $work/KIND.pem: KIND rsa (2048) or ec (P-256).
make_cert() {
    local kind=$1 opt
    case $kind in rsa) opt=(-newkey rsa:2048) ;; ec) opt=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;; esac
    openssl req -x509 "${opt[@]}" -nodes -keyout "$work/$kind.key" -out "$work/$kind.crt" -days 1 \
        -subj /CN=ringcrypt-test >/dev/null 2>&1 || { fail "cannot make a $kind certificate"; return 1; }
    cat "$work/$kind.crt" "$work/$kind.key" >"$work/$kind.pem"
}

# A TCP port of 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 60 s (sanitized start-ups are slow) for PID to accept on 127.0.0.1:PORT.
wait_listening() {
    local pid=$1 port=$2
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# START ARGS... starts a server in the background on $port, its pid in $started, its output in LOG;
# this calls it with a free port until the server listens. A port taken between free_port and the
# bind ends the server with a bind error: up to three ports are tried. Returns 1 if it never listens.
start_listening() {
    local log=$1
    shift
    for _ in 1 2 3; do
        port=$(free_port)
        "$@"
        wait_listening "$started" "$port" && return 0
        kill -KILL "$started" 2>/dev/null
        wait "$started"
        started=
        grep -qi bind "$log" || break
    done
    fail "$*: not listening within 60 s: $(tail -5 "$log")"
    return 1
}

fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# What a process's descriptors are, most common first (for failure messages).
fd_kinds() { ls -l "/proc/$1/fd" 2>/dev/null | tail -n +2 | awk '{ print $NF }' | sed 's/[0-9]\+/N/g' | sort | uniq -c | sort -rn | head -5 | tr '\n' ' '; }

# PID's descriptors must be back to BASELINE within 30 s of the last client. WHAT names it.
check_fds_back() {
    local pid=$1 baseline=$2 what=$3 now=
    for _ in $(seq 300); do
        now=$(fd_count "$pid")
        [ "$now" -le "$baseline" ] && break
        sleep 0.1
    done
    [ "$now" -le "$baseline" ] ||
        fail "$what: $now fds 30 s after the last client, $baseline before the load: $(fd_kinds "$pid")"
    echo "   $what: $now fds after the load (baseline $baseline)"
}

# The runtime's line at exit in FILE (RINGCRYPT_STATS): offloads made, all completed, each woken
# through the eventfd (fd mode), no errors or timeouts. WHAT names the process.
check_fd_stats() {
    local file=$1 what=$2 line submitted completed wakes errors timeouts
    line=$(tail -n 1 "$file" 2>/dev/null)
    submitted=$(jnum submitted "$line") completed=$(jnum completed "$line") wakes=$(jnum fd_wakes "$line")
    errors=$(jnum errors "$line") timeouts=$(jnum timeouts "$line")
    echo "   $what: $line"
    [ "${submitted:-0}" -gt 0 ] || { fail "$what offloaded nothing: '${line:-no RINGCRYPT_STATS line}'"; return; }
    [ "$completed" = "$submitted" ] || fail "$what: completed ($completed) != submitted ($submitted) at exit"
    [ "${wakes:-0}" -gt 0 ] || fail "$what: no fd wake-ups (fd_wakes=${wakes:-none})"
    [ "$errors" = 0 ] && [ "$timeouts" = 0 ] || fail "$what: errors=$errors timeouts=$timeouts"
}

# Starts haproxy NAME: nbthread THREADS, ssl-mode-async, TLS with the KIND certificate on
# 127.0.0.1:$port answering every request with `http-request return status 200`; OpenSSL as SSL
# says (ringcrypt: the provider beside default through OPENSSL_CONF; stock: the system's), and
# the extra haproxy ARGS. Sets $started and adds it to $pids. $work/NAME.cfg is its config,
# $work/NAME.log its output, $work/NAME.stats the runtime's line at exit.
start_haproxy() {
    local name=$1 threads=$2 kind=$3 conf=(env)
    [ "$4" = ringcrypt ] && conf=("${with_ringcrypt[@]}")
    shift 4
    # noreuseport: a port someone else holds is a start-up error here, never a shared listener.
    cat >"$work/$name.cfg" <<EOF
global
    nbthread $threads
    ssl-mode-async
    maxconn 4096
    noreuseport
defaults
    mode http
    timeout connect 10s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$port ssl crt $work/$kind.pem
    http-request return status 200
EOF
    RINGCRYPT_STATS=$work/$name.stats "${conf[@]}" "${stock[@]}" \
        haproxy -db -f "$work/$name.cfg" "$@" >"$work/$name.log" 2>&1 &
    started=$!
    pids+=("$started")
}
