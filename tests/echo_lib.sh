# Sourced by the echo tests (echo_e2e, echo_churn): a failure counter and
# starting, stopping and reading ringcrypt-echo. Needs $b (the build
# directory), $root and $work set, and $server initialised.

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

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

# SIGTERM; the server must exit 0 within 10 s. Sets $final to its last stdout line, a JSON object.
stop_server() {
    local name=$1 rc
    final=
    kill -TERM "$server"
    for _ in $(seq 100); do
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server" 2>/dev/null; then
        fail "$name: still running 10 s after SIGTERM"
        kill -KILL "$server"
    fi
    wait "$server"
    rc=$?
    server=
    [ "$rc" -eq 0 ] || fail "$name: exit code $rc after SIGTERM: $(tail -40 "$work/$name.err")"
    final=$(tail -n 1 "$work/$name.out")
    case $final in
    '{'*'}') ;;
    *) fail "$name: last stdout line is not a JSON object: $final"; final= ;;
    esac
}

