#!/usr/bin/env bash
# Stock OpenSSL tools, unchanged, with the ringcrypt module: the provider
# listed and active, `openssl speed` with and without -async_jobs (offloads
# counted only with), `s_server -async` completing TLS 1.3 and 1.2 handshakes
# with the provider activated through OPENSSL_CONF, and the ENGINE adapter
# through `openssl engine` and `openssl speed -engine` (that part skipped,
# and said so, where openssl has no ENGINE: OpenSSL 4.0 removed it).
# Installed as $b/tests/stock_tools; exit 0 pass, 1 fail, 77 skip where the
# openssl program links another libcrypto than the module (liburing's codes).
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
work=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
server=
. "$root/tests/echo_lib.sh"
require_module_libcrypto openssl
# openssl is a stock program: with the sanitizer runtime first where the module has one.
openssl() { "${stock[@]}" openssl "$@"; }

# Counters of a run: RINGCRYPT_STATS writes one JSON line per process at exit.
submitted() { sed -n 's/.*"submitted":\([0-9]*\).*/\1/p' "$1" | tail -1; }

# speed's result lines, as OpenSSL 3.0 to 4.0 word them ("rsa 2048 bits", "rsa  2048 bits" and
# "rsa2048"; "256 bits ecdsa (nistp256)" and "256 bits EC (prime256v1)"), extended regexps.
rsa2048='rsa *2048( bits)?'
p256='256 bits (ecdsa|EC) \((nistp256|prime256v1)\)'
x25519='253 bits ecdh \(X25519\)'

# Speed output FILE has a result line for NAME (a regexp above) with a positive rate at its end.
speed_result() {
    awk -v re="^ *($2) " '$0 ~ re && $NF + 0 > 0 { found = 1 } END { exit !found }' "$1" ||
        fail "$3 printed no result for '$2': $(tail -5 "$1")"
}

prov=(-provider-path "$b" -provider ringcrypt)

echo "== openssl list -providers"
out=$(openssl list -providers "${prov[@]}" 2>&1)
echo "$out" | grep -A3 '^  ringcrypt' | grep -q 'status: active' || fail "ringcrypt not listed active: $out"

echo "== openssl speed -async_jobs 8 (fd mode)"
RINGCRYPT_STATS=$work/speed-async.json openssl speed -seconds 1 "${prov[@]}" -provider default \
    -async_jobs 8 rsa2048 ecdsap256 ecdhx25519 >"$work/speed-async.out" 2>&1 ||
    fail "speed -async_jobs exited $?: $(tail -5 "$work/speed-async.out")"
for alg in "$rsa2048" "$p256" "$x25519"; do
    speed_result "$work/speed-async.out" "$alg" "speed -async_jobs"
done
n=$(submitted "$work/speed-async.json")
[ "${n:-0}" -gt 0 ] || fail "speed -async_jobs offloaded nothing (submitted=${n:-none})"
echo "   offloaded $n operations"

echo "== openssl speed without jobs (synchronous path)"
RINGCRYPT_STATS=$work/speed-sync.json openssl speed -seconds 1 "${prov[@]}" -provider default \
    rsa2048 >"$work/speed-sync.out" 2>&1 || fail "speed exited $?: $(tail -5 "$work/speed-sync.out")"
speed_result "$work/speed-sync.out" "$rsa2048" speed
n=$(submitted "$work/speed-sync.json")
[ "${n:-0}" -eq 0 ] || fail "without jobs nothing may be offloaded (submitted=$n)"

echo "== openssl s_server -async with OPENSSL_CONF, s_client TLS 1.3 and 1.2"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
    -days 1 -subj /CN=ringcrypt-test >/dev/null 2>&1 || fail "cannot make a certificate"
# Port 0: the kernel picks a free one, which s_server's ACCEPT line names.
RINGCRYPT_STATS=$work/server.json "${with_ringcrypt[@]}" "${stock[@]}" openssl s_server -async \
    -accept 127.0.0.1:0 -key "$work/key.pem" -cert "$work/cert.pem" -naccept 2 -www \
    >"$work/server.out" 2>&1 &
server=$!
port=
# Sanitized, on a busy machine, s_server may take a while to load the module.
for _ in $(seq 600); do
    port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]\{1,5\}\)$/\1/p' "$work/server.out")
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    fail "s_server never said ACCEPT 127.0.0.1:PORT: $(tail -5 "$work/server.out")"
else
    for v in tls1_3 tls1_2; do
        out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 60 openssl s_client -connect "127.0.0.1:$port" \
              -"$v" -ign_eof 2>&1)
        echo "$out" | grep -q "^New, TLSv1.${v#tls1_}" || fail "no TLSv1.${v#tls1_} handshake: $(echo "$out" | tail -5)"
    done
fi
timeout 60 bash -c "while kill -0 $server 2>/dev/null; do sleep 0.1; done" || fail "s_server did not exit"
wait "$server" 2>/dev/null
server=
n=$(submitted "$work/server.json")
# TLS 1.2 offloads its X25519 key share, the exchange and the signature; TLS 1.3 at least the
# signature (OpenSSL 3.5+ agrees on X25519MLKEM768, which ringcrypt does not wrap).
[ "${n:-0}" -ge 4 ] || fail "s_server offloaded ${n:-nothing} operations for two handshakes"
echo "   s_server offloaded $n operations"

echo "== openssl engine -t -c, openssl speed -engine ringcrypt -async_jobs 8"
skipped=
if ! openssl list -commands | grep -qw engine; then
    skipped="openssl engine: $(openssl version) has no ENGINE support"
    echo "   SKIP: $skipped"
else
    out=$(openssl engine -t -c "$b/ringcrypt.so" 2>&1)
    echo "$out" | grep -q '(ringcrypt)' || fail "engine not bound: $out"
    # `engine -c` lists the methods: [RSA] on OpenSSL 3.0, [RSA, EC] where EC ones are named too.
    echo "$out" | grep -q '\[RSA[],]' || fail "engine lists no RSA method: $out"
    echo "$out" | grep -q '\[ available \]' || fail "engine not available: $out"
    OPENSSL_ENGINES=$b RINGCRYPT_STATS=$work/engine.json openssl speed -seconds 1 -engine ringcrypt \
        -async_jobs 8 rsa2048 >"$work/engine.out" 2>&1 ||
        fail "speed -engine exited $?: $(tail -5 "$work/engine.out")"
    speed_result "$work/engine.out" "$rsa2048" "speed -engine"
    n=$(submitted "$work/engine.json")
    [ "${n:-0}" -gt 0 ] || fail "speed -engine offloaded nothing (submitted=${n:-none})"
    echo "   engine offloaded $n operations"
fi

echo "$failures failures${skipped:+, skipped: $skipped}"
[ "$failures" -eq 0 ]
