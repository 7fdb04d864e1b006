#!/usr/bin/env bash
# Tests of the Django adapter (python/), for "make test": against a
# throwaway cluster of the server chosen by PG (scripts/common.sh) under
# tmp/python-pg with the extension preloaded and created in template1 (so in
# every database Django's test runner creates), once per Django version and
# driver of DJANGO_MATRIX ("DJANGO/DRIVER ...", DRIVER psycopg2 or psycopg;
# by default every Django of scripts/servers.sh with both drivers on 15, a
# smaller matrix on the other majors).  /usr/bin/python3, Debian's.
# Runs as root (the cluster then belongs to postgres) or as any user.
# Exits non-zero when a test fails; each run ends with its unittest summary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
PYTHON=/usr/bin/python3
. "$top/scripts/common.sh"

# Debian packages: the server, the system's Django and the drivers.
ensure_server
if [ -n "${MEMOIZED_PREFETCH_IN_TRIXIE:-}" ]; then
    ensure_packages python3-django python3-psycopg2 python3-psycopg
    default_matrix="4.2/psycopg2 4.2/psycopg"
else
    ensure_packages python3-django python3-psycopg2
    case $PG in
        15) default_matrix="3.2/psycopg2 4.2/psycopg2 4.2/psycopg 5.2/psycopg2 5.2/psycopg" ;;
        *) default_matrix="3.2/psycopg2 5.2/psycopg" ;;
    esac
fi
matrix=${DJANGO_MATRIX:-$default_matrix}

# The extension, built and installed unless it already is.
if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/memoized_prefetch.control" ] ||
   [ ! -f "$("$PG_CONFIG" --pkglibdir)/memoized_prefetch.so" ]; then
    (cd "$top" && build_and_install)
fi
run_user=$RUN_USER

# The cluster's directory: tmp/python-pg, or a fresh one under $TMPDIR for a
# user who cannot write there, or when the user that runs the cluster cannot
# reach it.
dir="$top/tmp/python-pg"
scratch=""
if ! user_can_use "$top" || ! { mkdir -p "$top/tmp" && rm -rf "$dir" && mkdir "$dir"; } 2>/dev/null; then
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
status=0
for combo in $matrix; do
    pypath=$(django_env "${combo%/*}" "${combo#*/}")
    PYTHONPATH=$pypath "$PYTHON" -c 'import django
from django.db.backends.postgresql import base
print("Django %s with %s %s" % (django.get_version(), base.Database.__name__,
      base.Database.__version__.split()[0]))'
    PYTHONPATH=$pypath PYTHONDONTWRITEBYTECODE=1 PGHOST="$dir" PGPORT="$port" PGUSER="$run_user" \
        "$PYTHON" tests/runtests.py "$@" || status=1
done
exit "$status"
