#!/usr/bin/env bash
# Stock OpenSSL tools, unchanged, with the ringcrypt module: the provider
# listed and active, `openssl speed` with and without -async_jobs (offloads
# counted only with), `s_server -async` completing TLS 1.3 and 1.2 handshakes
# with the provider activated through OPENSSL_CONF, and the ENGINE adapter
# through `openssl engine` and `openssl speed -engine`.
# Installed as $b/tests/stock_tools; exit 0 pass, 1 fail (liburing's codes).
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
work=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
server=
. "$root/tests/echo_lib.sh"
# openssl is a stock program: with the sanitizer runtime first where the module has one.
openssl() { "${stock[@]}" openssl "$@"; }

# Counters of a run: RINGCRYPT_STATS writes one JSON line per process at exit.
submitted() { sed -n 's/.*"submitted":\([0-9]*\).*/\1/p' "$1" | tail -1; }

prov=(-provider-path "$b" -provider ringcrypt)

echo "== openssl list -providers"
out=$(openssl list -providers "${prov[@]}" 2>&1)
echo "$out" | grep -A3 '^  ringcrypt' | grep -q 'status: active' || fail "ringcrypt not listed active: $out"

echo "== openssl speed -async_jobs 8 (fd mode)"
RINGCRYPT_STATS=$work/speed-async.json openssl speed -seconds 1 "${prov[@]}" -provider default \
    -async_jobs 8 rsa2048 ecdsap256 ecdhx25519 >"$work/speed-async.out" 2>&1 ||
    fail "speed -async_jobs exited $?: $(tail -5 "$work/speed-async.out")"
for line in 'rsa 2048 bits' '256 bits ecdsa' '253 bits ecdh (X25519)'; do
    grep -q "$line" "$work/speed-async.out" || fail "speed -async_jobs printed no '$line'"
done
n=$(submitted "$work/speed-async.json")
[ "${n:-0}" -gt 0 ] || fail "speed -async_jobs offloaded nothing (submitted=${n:-none})"
echo "   offloaded $n operations"

echo "== openssl speed without jobs (synchronous path)"
RINGCRYPT_STATS=$work/speed-sync.json openssl speed -seconds 1 "${prov[@]}" -provider default \
    rsa2048 >"$work/speed-sync.out" 2>&1 || fail "speed exited $?: $(tail -5 "$work/speed-sync.out")"
grep -q 'rsa 2048 bits' "$work/speed-sync.out" || fail "speed printed no rsa 2048 line"
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
[ "${n:-0}" -ge 4 ] || fail "s_server offloaded ${n:-nothing} operations for two handshakes"
echo "   s_server offloaded $n operations"

echo "== openssl engine -t -c, openssl speed -engine ringcrypt -async_jobs 8"
out=$(openssl engine -t -c "$b/ringcrypt.so" 2>&1)
echo "$out" | grep -q '(ringcrypt)' || fail "engine not bound: $out"
# OpenSSL 3.0's `engine -c` names RSA, DSA, DH and RAND methods but not EC ones.
echo "$out" | grep -q '\[RSA\]' || fail "engine lists no [RSA]: $out"
echo "$out" | grep -q '\[ available \]' || fail "engine not available: $out"
OPENSSL_ENGINES=$b RINGCRYPT_STATS=$work/engine.json openssl speed -seconds 1 -engine ringcrypt \
    -async_jobs 8 rsa2048 >"$work/engine.out" 2>&1 || fail "speed -engine exited $?: $(tail -5 "$work/engine.out")"
grep -q 'rsa 2048 bits' "$work/engine.out" || fail "speed -engine printed no rsa 2048 line"
n=$(submitted "$work/engine.json")
[ "${n:-0}" -gt 0 ] || fail "speed -engine offloaded nothing (submitted=${n:-none})"
echo "   engine offloaded $n operations"

echo "$failures failures"
[ "$failures" -eq 0 ]
