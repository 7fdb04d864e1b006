#!/usr/bin/env bash
# Tests of the Django adapter (python/), for "make test": with Debian's
# python3-django and python3-psycopg2, against a throwaway PostgreSQL 15
# cluster under tmp/python-pg with the extension preloaded and created in
# template1 (so in every database Django's test runner creates).
# Runs as root (the cluster then belongs to postgres) or as any user.
# Exits non-zero when a test fails; the last line is the unittest summary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
PYTHON=/usr/bin/python3
. "$top/scripts/common.sh"

# Debian packages: the server, Django 3.2 and a PostgreSQL driver.
ensure_packages python3-django python3-psycopg2

# The extension, built and installed unless it already is.
if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/memoized_prefetch.control" ] ||
   [ ! -f "$("$PG_CONFIG" --pkglibdir)/memoized_prefetch.so" ]; then
    (cd "$top" && build_and_install)
fi
run_user=$RUN_USER

# The cluster's directory: tmp/python-pg, or a fresh one under $TMPDIR for a
# user who cannot write there.
dir="$top/tmp/python-pg"
scratch=""
if ! { mkdir -p "$top/tmp" && rm -rf "$dir" && mkdir "$dir"; } 2>/dev/null; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/memoized_prefetch-python-pg.XXXXXX")
    scratch=$dir
fi
[ "$(id -u)" -eq 0 ] && chown "$run_user" "$dir"
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
    status=$?
    as_user "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir/data"
    # keep the logs of a failed run
    [ -n "$scratch" ] && [ "$status" -eq 0 ] && rm -rf "$scratch"
    return 0
}
trap cleanup EXIT

as_user "$PG_BIN/initdb" -D "$dir/data" -A trust -U "$run_user" -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
as_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses='' -k '$dir' -p $port -c fsync=off -c full_page_writes=off \
        -c shared_preload_libraries=memoized_prefetch" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
"$PG_BIN/psql" -X -q -h "$dir" -p "$port" -U "$run_user" -d template1 -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION IF NOT EXISTS memoized_prefetch"

cd "$here"
PYTHONDONTWRITEBYTECODE=1 PGHOST="$dir" PGPORT="$port" PGUSER="$run_user" \
    "$PYTHON" tests/runtests.py "$@"
