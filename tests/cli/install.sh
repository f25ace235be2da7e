#!/bin/sh
# make install into a scratch prefix, then build a C program against the
# installed joule.pc and import the installed Python package.
# usage: install.sh BUILD_DIR
B=$1
. "$(dirname "$0")/lib.sh"
P="$TMP/prefix"
expect_exit 0 "cmake --install" -- cmake --install "$B" --prefix "$P"
for f in bin/joule include/joule.h; do
    if [ -e "$P/$f" ]; then ok; else bad "installed $f missing"; fi
done
pc=$(find "$P" -name joule.pc | head -1)
lib=$(dirname "$(find "$P" -name 'libjoule.so' | head -1)")
if [ -n "$pc" ] && [ -e "$lib/libjoule.a" ]; then ok; else bad "joule.pc or libjoule.a missing"; fi
cat >"$TMP/use.c" <<'C'
#include <joule.h>
#include <stdio.h>
int main(void)
{
    struct joule_meter_params p = joule_meter_default_params();
    p.sources = "estimate";
    struct joule_meter *m;
    if (joule_meter_open(&p, &m) != JOULE_OK)
        return 1;
    struct joule_reading r;
    joule_meter_begin(m, "w");
    if (joule_meter_end(m, "w", &r) != JOULE_OK)
        return 1;
    printf("%s %s\n", joule_version(), joule_provenance_str(r.domains[0].provenance));
    joule_meter_close(m);
    return 0;
}
C
export PKG_CONFIG_PATH="$(dirname "$pc")"
# shellcheck disable=SC2046
expect_exit 0 "compile against joule.pc" -- cc -o "$TMP/use" "$TMP/use.c" $(pkg-config --cflags --libs joule)
LD_LIBRARY_PATH="$lib" expect_exit 0 "run the program" -- "$TMP/use"
expect_in "$TMP/out" "estimated" "program output"
pydir=$(dirname "$(find "$P" -type d -name joule -path '*python3*' | head -1)")
PYTHONPATH="$pydir" expect_exit 0 "import installed binding" -- python3 -c 'import joule; print(joule.version())'
expect_in "$TMP/out" "0.1.0" "binding finds the installed library"
if [ -e "$P/share/doc/joule/methodology.md" ]; then ok; else bad "docs not installed"; fi
finish
