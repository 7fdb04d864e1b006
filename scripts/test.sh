#!/usr/bin/env bash
# make test [PG=15|17|18]: from a fresh Debian 12 machine (as root) or a
# prepared one, provide the server (scripts/servers.sh), print its version,
# build with -Werror, install, and run every suite (regress, isolation, TAP)
# against temporary instances as an unprivileged user, then the Django
# adapter's tests (python/run-tests.sh).  PG=17 runs all of this inside a
# Debian 13 root.  Output goes to tmp/test (tmp/test-17, tmp/test-18 for the
# other majors).  The last line is "N passed, M failed"; exits non-zero when
# anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

# the suites' instances are UTF-8 (a test needs an ICU collation), whatever
# the caller's locale (pg_regress ignores LC_ALL)
export LANG=C.UTF-8
unset LC_ALL

ensure_server
if [ "$PG_SOURCE" = trixie ]; then
    in_trixie test.sh "$@"
    exit
fi
server_version
build_and_install

# The suites run in a copy of the tree when the unprivileged user cannot
# work here (a checkout owned by someone else, or below a directory closed to
# that user): all output then lands in that copy.
work=$PWD
if ! user_can_use "$PWD"; then
    work=$(mktemp -d /tmp/memoized_prefetch-test.XXXXXX)
    chmod 755 "$work"
    cp -r Makefile memoized_prefetch.control sql expected test python "$work"/
    mkdir -p "$work/scripts" && cp scripts/*.sh "$work/scripts/"
    chown -R "$RUN_USER" "$work"
    echo "running the suites in $work (the user $RUN_USER cannot work in $PWD)"
fi
testdir=$work/tmp/test$PG_SUFFIX
mkdir -p "$work/tmp"
[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$work/tmp"
[ "$(id -u)" -eq 0 ] && [ -d "$testdir" ] && chown -R "$RUN_USER" "$testdir"

log=$work/tmp/test$PG_SUFFIX.log
status=0
(cd "$work" && as_user make -s PG_CONFIG="$PG_CONFIG" TESTTMP="$testdir" installcheck) 2>&1 |
    tee "$log" || status=$?
[ "${PIPESTATUS[0]:-0}" -eq 0 ] || status=1

# the Django adapter's tests, against a throwaway cluster of their own, with
# each Django and driver of the matrix (python/run-tests.sh)
pylog=$work/tmp/python$PG_SUFFIX.log
bash "$work/python/run-tests.sh" 2>&1 | tee "$pylog" || status=1

for diffs in "$testdir"/*/regression.diffs; do
    [ -s "$diffs" ] && { echo "=== $diffs"; cat "$diffs"; }
done

# one closing line: regress and isolation tests, plus TAP assertions, plus
# the Django tests of every run of the matrix
suites_ok=$(grep -cE '\.\.\. ok|^ok [0-9]+ +[-+] ' "$log" || true)
suites_failed=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ +[-+] ' "$log" || true)
tap_tests=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+).*/\1/p' "$log" | tail -1)
# a TAP file that failed: its failed assertions, at least one (a file that
# died before its first assertion has none)
tap_failed=$(sed -nE 's/.*\(Wstat: [0-9]+.* Tests: [0-9]+ Failed: ([0-9]+)\)$/\1/p' "$log" |
    awk '{s += ($1 > 0 ? $1 : 1)} END {print s + 0}')
py_ran=$(sed -nE 's/^Ran ([0-9]+) tests? in .*/\1/p' "$pylog" | awk '{s += $1} END {print s + 0}')
py_failed=$(sed -nE 's/^FAILED \((failures=([0-9]+))?(, )?(errors=([0-9]+))?.*/\2 \5/p' "$pylog" |
    awk '{s += $1 + $2} END {print s + 0}')
passed=$((suites_ok + ${tap_tests:-0} - tap_failed + py_ran - py_failed))
failed=$((suites_failed + tap_failed + py_failed))
if grep -qE 'FAILED|^not ok|Result: FAIL' "$log"; then status=1; fi
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
server_version
echo "$passed passed, $failed failed"
exit "$status"
