#!/bin/sh
# tests/lib/run-cmocka.sh -- run a cmocka test program in TAP mode.
#
# cmocka 1.1 prints a skipped case as "not ok N # SKIP name", which TAP
# consumers read as a failure; TAP says a skip is "ok N # SKIP reason".
# This wrapper rewrites exactly that line shape and keeps the exit status.
CMOCKA_MESSAGE_OUTPUT=TAP
export CMOCKA_MESSAGE_OUTPUT
out=$(mktemp) || exit 99
"$@" >"$out" 2>&1
rc=$?
sed -e 's/^not ok \([0-9][0-9]*\) # SKIP/ok \1 # SKIP/' "$out"
rm -f "$out"
exit $rc
