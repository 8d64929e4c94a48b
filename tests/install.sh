#!/usr/bin/env bash
# tools/install into a temporary DESTDIR with a PREFIX: the versioned library
# with its soname and dev links, a program built outside the tree with only
# `pkg-config --cflags --libs ringcrypt` runs and reports the header's version,
# stock `openssl list -providers` loads the installed module, the epoll example
# built the same way offloads through it, HAProxy (ssl-mode-async) runs with it
# through the installed openssl.cnf, and uninstall
# leaves no file behind. Negative: a second uninstall is harmless, an install
# from a directory without a build fails and says so. The real modules
# directory is never written (MODULESDIR points into DESTDIR too).
# Installed as $b/tests/install; exit 0 pass, 1 fail (liburing's codes).
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$root/tests/echo_lib.sh"
require_module_libcrypto openssl

dest=$work/dest
prefix=/opt/rc
modulesdir=/usr/lib/ossl-modules-test
header=$root/runtime/include/ringcrypt.h
version=$(sed -n 's/^#define RINGCRYPT_VERSION_STRING "\(.*\)"$/\1/p' "$header")
[ -n "$version" ] || { echo "FAIL: no RINGCRYPT_VERSION_STRING in $header"; exit 1; }
major=${version%%.*}
inst() { DESTDIR=$dest PREFIX=$prefix MODULESDIR=$modulesdir "$root/tools/install" "$@"; }

# The build's own soname link, which its programs and module need.
[ "$(readlink "$b/libringcrypt.so.$major")" = libringcrypt.so ] || fail "$b/libringcrypt.so.$major is not a link to libringcrypt.so"
soname=$(readelf -d "$b/libringcrypt.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libringcrypt.so.$major" ] || fail "soname is '$soname', not libringcrypt.so.$major"

inst install "$b" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "install failed"; }
lib=$dest$prefix/lib
[ -f "$lib/libringcrypt.so.$version" ] && [ ! -L "$lib/libringcrypt.so.$version" ] || fail "no file $lib/libringcrypt.so.$version"
[ "$(readlink "$lib/libringcrypt.so.$major")" = "libringcrypt.so.$version" ] || fail "libringcrypt.so.$major does not link to the versioned file"
[ "$(readlink "$lib/libringcrypt.so")" = "libringcrypt.so.$major" ] || fail "libringcrypt.so does not link to the soname"
cmp -s "$header" "$dest$prefix/include/ringcrypt.h" || fail "installed header differs from $header"
for f in bin/ringcrypt-echo bin/ringcrypt-load bin/ringcrypt-bench share/ringcrypt/openssl-ringcrypt.cnf; do
    [ -f "$dest$prefix/$f" ] || fail "not installed: $prefix/$f"
done
[ -x "$dest$prefix/bin/ringcrypt-echo" ] || fail "ringcrypt-echo is not executable"
[ -f "$dest$modulesdir/ringcrypt.so" ] || fail "module not installed in $modulesdir"

# The outside program: pkg-config's answer only, the DESTDIR as its sysroot.
export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
[ "$(pkg-config --modversion ringcrypt)" = "$version" ] || fail "pkg-config --modversion: '$(pkg-config --modversion ringcrypt)', not $version"
cat >"$work/outside.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <ringcrypt.h>

int main(void)
{
    struct rc_info info;
    memset(&info, 0, sizeof(info));
    if (rc_info(&info) != 0)
        return 1;
    printf("%s\n", rc_version());
    rc_shutdown();
    return 0;
}
EOF
flags=$(pkg-config --cflags --libs ringcrypt) || fail "pkg-config --cflags --libs ringcrypt failed"
# shellcheck disable=SC2086 # pkg-config's flags are words
if gcc -Wall -Werror -std=c11 -o "$work/outside" "$work/outside.c" $flags 2>"$work/cc.log"; then
    got=$(LD_LIBRARY_PATH=$lib "${stock[@]}" "$work/outside" 2>&1) || fail "outside program failed: $got"
    [ "$got" = "$version" ] || fail "outside program printed '$got', not $version"
    ldd_lib=$(LD_LIBRARY_PATH=$lib ldd "$work/outside" | awk '$1 == "libringcrypt.so.'"$major"'" { print $3 }')
    [ "$ldd_lib" = "$lib/libringcrypt.so.$major" ] || fail "outside program loads '$ldd_lib', not the installed library"
else
    fail "outside program does not build with '$flags': $(cat "$work/cc.log")"
fi

# Stock openssl loads the installed module, which finds the installed library.
out=$(LD_LIBRARY_PATH=$lib OPENSSL_MODULES=$dest$modulesdir "${stock[@]}" openssl list -providers -provider ringcrypt 2>&1)
grep -q 'status: active' <<<"$out" && grep -qi ringcrypt <<<"$out" || fail "openssl did not load the installed module: $out"

# The example, built outside the tree against the installed library (pkg-config), runs its
# offloaded signatures with the installed module, found by name.
installed=(env "LD_LIBRARY_PATH=$lib" "OPENSSL_MODULES=$dest$modulesdir")
# shellcheck disable=SC2086 # pkg-config's flags are words
if gcc -Wall -Werror -std=c11 -D_GNU_SOURCE -o "$work/epoll_loop" "$root/apps/examples/epoll_loop.c" \
    $flags $(pkg-config --libs libcrypto) 2>"$work/cc2.log"; then
    got=$("${installed[@]}" "${stock[@]}" "$work/epoll_loop" --count 8 2>&1) || fail "installed epoll_loop failed: $got"
    [[ "$got" == *"verified 8 offloaded 8 "*"errors 0"* ]] || fail "installed epoll_loop: $got"
else
    fail "apps/examples/epoll_loop.c does not build with pkg-config's flags: $(cat "$work/cc2.log")"
fi

# HAProxy with ssl-mode-async and the installed module, through the installed openssl.cnf,
# which names no folder (the staged modules directory stands for OpenSSL's own).
cnf=$dest$prefix/share/ringcrypt/openssl-ringcrypt.cnf
if grep -q "$b\|$root" "$cnf"; then
    fail "the installed openssl.cnf names the build: $(grep "$b\|$root" "$cnf")"
elif [ "$(libcrypto_of "$(command -v haproxy)")" != "$(libcrypto_of "$b/ringcrypt.so")" ]; then
    echo "SKIP (part): haproxy links $(libcrypto_of "$(command -v haproxy)"), the module another libcrypto"
elif make_cert rsa; then
    with_ringcrypt=("${installed[@]}" "OPENSSL_CONF=$cnf")
    if start_listening "$work/installed.log" start_haproxy installed 1 rsa ringcrypt; then
        out=$(timeout 60 "$b/ringcrypt-load" --port "$port" --mode http --connections 2 --duration 1 --json \
              2>"$work/installed.load.err")
        [ "$(jnum responses "$out")" -gt 0 ] 2>/dev/null && [ "$(jnum errors "$out")" = 0 ] ||
            fail "haproxy with the installed module: $out $(tail -3 "$work/installed.load.err")"
        # A soft stop: haproxy exits through exit(), so the runtime writes its line.
        kill -USR1 "$started"
        wait_exit "$started" 30 "haproxy with the installed module: soft stop"
        submitted=$(jnum submitted "$(cat "$work/installed.stats" 2>/dev/null)")
        [ "${submitted:-0}" -gt 0 ] || fail "haproxy offloaded nothing through the installed module (stats: $(cat "$work/installed.stats" 2>/dev/null))"
    fi
fi

inst uninstall >"$work/uninstall.log" 2>&1 || fail "uninstall failed: $(cat "$work/uninstall.log")"
left=$(find "$dest" ! -type d)
[ -z "$left" ] || fail "uninstall left files: $left"

# Negative: nothing left to remove is not an error; no build is, clearly.
inst uninstall >"$work/again.log" 2>&1 || fail "second uninstall failed: $(cat "$work/again.log")"
grep -q 'nothing to uninstall' "$work/again.log" || fail "second uninstall did not say so: $(cat "$work/again.log")"
mkdir "$work/empty"
if inst install "$work/empty" >"$work/nobuild.log" 2>&1; then
    fail "install from an empty build directory succeeded"
else
    grep -q "missing: build first" "$work/nobuild.log" || fail "no clear message without a build: $(cat "$work/nobuild.log")"
fi
left=$(find "$dest" ! -type d 2>/dev/null)
[ -z "$left" ] || fail "failed install left files: $left"

[ "$failures" -eq 0 ] || exit 1
echo "PASS: install, outside program, stock openssl, example, haproxy, uninstall ($version under $prefix)"
