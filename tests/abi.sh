#!/usr/bin/env bash
# libringcrypt.so's ABI: the functions in version node RINGCRYPT_0.3 are
# exactly those declared RC_API in runtime/include/ringcrypt.h, every other
# exported symbol is in RINGCRYPT_PRIVATE (the module's and the tests' hooks),
# no header function sits there, the tests' hooks are in $b/testing/'s
# libraries only, and rc_version() returns the header's
# RINGCRYPT_VERSION_STRING. Negative: the comparison reports a doctored
# list (one function missing, one extra). Installed as $b/tests/abi; exit 0
# pass, 1 fail (liburing's codes).
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
lib="$b/libringcrypt.so"
header="$root/runtime/include/ringcrypt.h"
public=RINGCRYPT_0.3
private=RINGCRYPT_PRIVATE

. "$root/tests/echo_lib.sh"

# The names of the functions declared RC_API, comments and directives aside.
declared=$(perl -0777 -ne 's{/\*.*?\*/}{}gs; s{^\s*#.*$}{}mg;
    print "$1\n" while /\bRC_API\b[^;{]*?\b(\w+)\s*\(/g' "$header" | sort)
# "NAME VERSION" for every symbol the library defines in .dynsym (readelf
# prints NAME@@VERSION; version definitions themselves are ABS, skipped).
exported=$(readelf -W --dyn-syms "$lib" | awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && $7 != "ABS" && $5 != "LOCAL" && NF >= 8 {
    n = $8; v = "none"; i = index(n, "@"); if (i) { v = substr(n, i); sub(/^@+/, "", v); n = substr(n, 1, i - 1) }
    print n, v }' | sort)
in_node() { awk -v v="$1" '$2 == v { print $1 }' <<<"$exported" | sort; }

# same WHAT EXPECTED ACTUAL: 0 when the two lists are equal, else 1 with the difference.
same() {
    local d
    d=$(diff <(printf '%s\n' "$2") <(printf '%s\n' "$3")) && return 0
    echo "$1 differ (< expected, > actual):"
    printf '%s\n' "$d" | grep '^[<>]' | sed 's/^/    /'
    return 1
}

[ "$(wc -l <<<"$declared")" -ge 20 ] || fail "only $(wc -l <<<"$declared") RC_API functions parsed from $header"
grep -qx rc_version <<<"$declared" || fail "rc_version is not declared RC_API"

same "header functions and $public" "$declared" "$(in_node "$public")" || fail "$public is not the header's API"

outside=$(awk -v a="$public" -v p="$private" '$2 != a && $2 != p' <<<"$exported")
[ -z "$outside" ] || fail "exported outside $public and $private: $(tr '\n' ' ' <<<"$outside")"

leaked=$(comm -12 <(printf '%s\n' "$declared") <(in_node "$private"))
[ -z "$leaked" ] || fail "public functions in $private: $(tr '\n' ' ' <<<"$leaked")"
[ -n "$(in_node "$private")" ] || fail "$private is empty: the module and the tests need it"

# Test hooks (runtime/testing.h) are in the tests' builds of the libraries
# ($b/testing/), and in nothing that is installed.
hooks() { nm -D --defined-only "$1" | awk '$3 ~ /^rc_testing_/ { sub(/@.*/, "", $3); print $3 }' | sort; }
for f in "$lib" "$b/ringcrypt.so"; do
    [ -z "$(hooks "$f")" ] || fail "test hooks in $f: $(hooks "$f" | tr '\n' ' ')"
done
[ "$(hooks "$b/testing/libringcrypt.so")" = rc_testing_fail_msg_ring ] \
    || fail "$b/testing/libringcrypt.so's hooks: '$(hooks "$b/testing/libringcrypt.so")'"
[ "$(hooks "$b/testing/ringcrypt.so")" = rc_testing_forget_forwarder ] \
    || fail "$b/testing/ringcrypt.so's hooks: '$(hooks "$b/testing/ringcrypt.so")'"

# Negative: the same comparison catches a missing and an extra name.
doctored=$( (sed 1d <<<"$declared"; echo rc_not_in_the_header) | sort)
if out=$(same doctored "$declared" "$doctored"); then
    fail "a doctored list compared equal"
else
    grep -q "< $(head -1 <<<"$declared")\$" <<<"$out" && grep -q '> rc_not_in_the_header$' <<<"$out" \
        || fail "the comparison did not name both differences: $out"
fi

# rc_version at run time, from python (a stock program: "${stock[@]}" puts a
# sanitized build's runtime first). python crashes at start under TSan's
# runtime, so the TSan build checks the symbols only.
want=$(sed -n 's/^#define RINGCRYPT_VERSION_STRING "\(.*\)"$/\1/p' "$header")
[ -n "$want" ] || fail "no RINGCRYPT_VERSION_STRING in $header"
case $san_runtime in
*libtsan*) echo "rc_version() not called: python does not start under TSan" ;;
*)
    got=$("${stock[@]}" python3 -c 'import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.rc_version.restype = ctypes.c_char_p
print(lib.rc_version().decode())' "$lib")
    [ "$got" = "$want" ] || fail "rc_version() = '$got', header says '$want'" ;;
esac

[ "$failures" -eq 0 ] || exit 1
echo "PASS: $(wc -l <<<"$declared") functions in $public, $(in_node "$private" | wc -l) in $private, version $want"
