#!/usr/bin/env bash
# The manual pages in docs/man: every RC_API function of ringcrypt.h has a
# section-3 page file (a page, or a .so link to the page that documents it
# with others, which `man 3 NAME` then finds), whose NAME line names it and
# whose RETURN VALUE mentions every errno the header's comment gives it;
# section-3 pages have the sections the project asks for; every page renders
# with no warning from groff -ww and mandoc -Tlint -W warning. The checker is
# then run on doctored copies (a bad macro, a missing page, a dangling .so, an
# errno dropped): each must be caught, so that a passing run means something.
# Installed as $b/tests/man; exit 0 pass, 1 fail.
set -u
b=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$b/.." && pwd)
cd "$root" || exit 1

. "$root/tests/echo_lib.sh"

header=runtime/include/ringcrypt.h
for tool in groff mandoc man; do
    command -v "$tool" >/dev/null || { echo "FAIL: no $tool: run tools/setup"; exit 1; }
done

# "function errno errno ..." per RC_API function: the errnos the header's
# comments name since the previous RC_API declaration.
errnos=$(awk '/^RC_API/ {
        name = $0; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name)
        print name seen; seen = ""; next
    }
    { while (match($0, /-E[A-Z0-9]+/)) {
        e = substr($0, RSTART + 1, RLENGTH - 1)
        if (index(seen " ", " " e " ") == 0) seen = seen " " e
        $0 = substr($0, RSTART + RLENGTH) } }' "$header")
[ "$(wc -l <<<"$errnos")" -ge 20 ] || { echo "FAIL: too few RC_API functions found in $header"; exit 1; }

# check DIR: prints one line per problem of the pages in DIR (a man tree's
# files, flat, as docs/man holds them); prints nothing when all is well.
check() {
    local dir=$1 tree f page name sec target fn es e out
    # man(1) and .so resolve links from the root of a man tree.
    tree=$(mktemp -d "$work/tree.XXXXXX")
    mkdir -p "$tree/man1" "$tree/man3" "$tree/man7"
    for f in "$dir"/*.[137]; do
        cp "$f" "$tree/man${f##*.}/"
    done
    for f in "$tree"/man?/*; do
        page=${f#"$tree"/}
        target=$(sed -n 's/^\.so //p' "$f")
        if [ -n "$target" ]; then
            [ "$(wc -l <"$f")" -eq 1 ] || echo "$page: a .so link holds more than the link"
            [ -f "$tree/$target" ] || { echo "$page: .so $target: no such page"; continue; }
        fi
        out=$(cd "$tree" && groff -ww -man -Tutf8 -z "$page" 2>&1)
        [ -z "$out" ] || echo "$page: groff: $out"
        # mandoc's one complaint about a .so link is that it is one (it
        # prefers ln(1)); the page it points to is linted on its own.
        [ -n "$target" ] && continue
        out=$(cd "$tree" && mandoc -Tlint -W warning "$page" 2>&1)
        [ -z "$out" ] || echo "$page: mandoc: $out"
    done
    while read -r fn es; do
        f=$tree/man3/$fn.3
        [ -f "$f" ] || { echo "$fn: no page man3/$fn.3"; continue; }
        target=$(sed -n 's/^\.so //p' "$f")
        [ -z "$target" ] || f=$tree/$target
        [ -f "$f" ] || continue
        # man-db answers with the page a .so link leads to.
        page=$(MANPATH="$tree" man -w 3 "$fn" 2>/dev/null)
        [ "$page" = "$f" ] || echo "$fn: man -w 3 $fn finds '$page', not $f"
        name=$(sed -n '/^\.SH NAME/{n;p;q}' "$f")
        grep -qw -- "$fn" <<<"$name" || echo "$fn: the NAME line of ${f#"$tree"/} does not name it"
        for e in $es; do
            sed -n '/^\.SH RETURN VALUE/,/^\.SH /p' "$f" | grep -qw "$e" ||
                echo "$fn: $e (in the header) missing from the RETURN VALUE of ${f#"$tree"/}"
        done
    done <<<"$errnos"
    for f in "$tree"/man3/*.3; do
        grep -q '^\.so ' "$f" && continue
        for sec in NAME SYNOPSIS DESCRIPTION "RETURN VALUE" THREADS "SEE ALSO"; do
            grep -qx "\.SH $sec" "$f" || echo "${f#"$tree"/}: no $sec section"
        done
    done
}

problems=$(check docs/man)
[ -z "$problems" ] || fail "docs/man:"$'\n'"$problems"
pages=$(ls docs/man/*.[137] | wc -l)
echo "checked $pages pages, $(wc -l <<<"$errnos") functions"

# expect_caught WHAT PATTERN: the doctored copy in $work/bad must give a
# problem matching PATTERN; the copy is then reset.
expect_caught() {
    local out
    out=$(check "$work/bad")
    grep -q -- "$2" <<<"$out" || fail "a doctored copy ($1) was not caught: got '$out'"
    rm -rf "$work/bad"
    cp -r docs/man "$work/bad"
}
cp -r docs/man "$work/bad"
printf '.BRR rc_init\n' >>"$work/bad/rc_init.3"
expect_caught "an unknown macro" "man3/rc_init.3: groff:"
# An empty paragraph: groff says nothing, mandoc warns.
printf '.PP\n.PP\n' >>"$work/bad/ringcrypt.7"
expect_caught "an empty paragraph" "man7/ringcrypt.7: mandoc:"
rm "$work/bad/rc_core_fd.3"
expect_caught "a missing page" "rc_core_fd: no page man3/rc_core_fd.3"
echo '.so man3/rc_nothing.3' >"$work/bad/rc_core_poll.3"
expect_caught "a dangling .so" "rc_core_poll.3: .so man3/rc_nothing.3: no such page"
sed -i 's/EBADFD/EBADF/' "$work/bad/rc_core_run.3"
expect_caught "a dropped errno" "rc_core_run: EBADFD (in the header) missing"
sed -i '/^\.SH THREADS/d' "$work/bad/rc_offload.3"
expect_caught "a missing section" "man3/rc_offload.3: no THREADS section"

[ "$failures" -eq 0 ] || exit 1
echo "man: ok"
