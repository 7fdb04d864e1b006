#!/usr/bin/env bash
# make test: from a fresh Debian 12 machine (as root) or a prepared one,
# install what is missing, build with -Werror, install, and run every suite
# (regress, isolation, TAP) against temporary instances as an unprivileged
# user, then the Django adapter's tests (python/run-tests.sh).  Exits non-zero
# when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

ensure_packages
build_and_install

# The suites run in a copy of the tree when the unprivileged user cannot
# write here (a root-owned checkout): all output then lands in that copy.
work=$PWD
if [ "$(id -u)" -eq 0 ] && ! runuser -u "$RUN_USER" -- test -r Makefile -a -x . ; then
    work=$(mktemp -d /tmp/memoized_prefetch-test.XXXXXX)
    cp -r Makefile memoized_prefetch.control sql expected test "$work"/
    chown -R "$RUN_USER" "$work"
fi
mkdir -p "$work/tmp"
[ "$(id -u)" -eq 0 ] && chown -R "$RUN_USER" "$work/tmp"
rm -rf "$work/tmp/test"

log="$work/tmp/test.log"
status=0
(cd "$work" && as_user make -s PG_CONFIG="$PG_CONFIG" installcheck) 2>&1 | tee "$log" || status=$?
[ "${PIPESTATUS[0]:-0}" -eq 0 ] || status=1

# the Django adapter's tests, against a throwaway cluster of their own
pylog="$work/tmp/python.log"
bash python/run-tests.sh 2>&1 | tee "$pylog" || status=1

for diffs in "$work"/tmp/test/*/regression.diffs; do
    [ -s "$diffs" ] && { echo "=== $diffs"; cat "$diffs"; }
done

# one closing line: regress and isolation tests, plus TAP assertions
suites_ok=$(grep -cE '\.\.\. ok' "$log" || true)
suites_failed=$(grep -cE '\.\.\. FAILED' "$log" || true)
tap_tests=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+).*/\1/p' "$log" | tail -1)
tap_failed=$(sed -nE 's/^Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
py_ran=$(sed -nE 's/^Ran ([0-9]+) tests? in .*/\1/p' "$pylog" | tail -1)
py_failed=$(sed -nE 's/^FAILED \((failures=([0-9]+))?(, )?(errors=([0-9]+))?.*/\2 \5/p' "$pylog" | awk '{print $1 + $2}' | tail -1)
passed=$((suites_ok + ${tap_tests:-0} - tap_failed + ${py_ran:-0} - ${py_failed:-0}))
failed=$((suites_failed + tap_failed + ${py_failed:-0}))
if grep -qE 'FAILED|^not ok|Result: FAIL' "$log"; then status=1; fi
echo "$passed passed, $failed failed"
exit "$status"
