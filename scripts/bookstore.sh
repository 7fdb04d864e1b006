#!/usr/bin/env bash
# make demo / make bench: a throwaway cluster under ./tmp, run as an
# unprivileged user, with the bookstore dataset; every book processed in
# chunks by each method (plain joins, the extension's functions, the floor),
# timed by a libpq client that receives every row.
#
#   bash scripts/bookstore.sh demo    small dataset, chunks of 1,000
#   bash scripts/bookstore.sh bench   SCALE=1 (default): 100,000 authors,
#                                     2,000 publishers, 1,000 categories,
#                                     1,000,000 books, 2,000,000 reviews;
#                                     chunks of 10,000; then the Django
#                                     section (python/bench_django.py) over
#                                     DJANGO_CHUNKS chunks (10)
#   QUERIES=bench/parts.tsv               another query file (no Django section)
#   SECTIONS="main partitioned composite django replica"  which sections run
#                                     (default: all);
#                                     partitioned: author and book copied into
#                                     partitioned tables (bench/partitioned.sql),
#                                     bench/partitioned.tsv;
#                                     composite: author and book copied into
#                                     tables keyed by (tenant, id)
#                                     (bench/composite.sql), bench/composite.tsv;
#                                     replica: a streaming standby of the
#                                     cluster, then the cluster without the
#                                     preload (bench/replica.tsv)
#   PG=17, PG=18                          against that major (scripts/servers.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
mode=${1:-demo}

ensure_server
if [ "$PG_SOURCE" = trixie ]; then
    in_trixie bookstore.sh "$@"
    exit
fi
[ "$mode" = bench ] && ensure_packages python3-django python3-psycopg2 python3-lru-dict
server_version
build_and_install
mkdir -p tmp
gcc -O2 -Wall -o tmp/runner bench/runner.c -I"$("$PG_CONFIG" --includedir)" -lpq

if [ "$mode" = bench ]; then
    scale=${SCALE:-1}
    authors=$((100000 * scale)) publishers=$((2000 * scale)) categories=$((1000 * scale))
    books=$((1000000 * scale)) reviews=$((2000000 * scale)) chunk=${CHUNK:-10000}
    port=${PGPORT_BENCH:-55502} buffers=2GB
else
    authors=2000 publishers=50 categories=30 books=20000 reviews=40000 chunk=1000
    port=${PGPORT_DEMO:-55501} buffers=128MB
fi
# The cluster: tmp/demo-cluster (tmp/demo-cluster-18 for PG=18, ...), or, when
# the unprivileged user cannot reach this checkout, one under /tmp named after it.
if user_can_use "$PWD"; then
    dir=$PWD/tmp/$mode-cluster$PG_SUFFIX
else
    dir=/tmp/memoized_prefetch-$mode-cluster$PG_SUFFIX-$(printf %s "$PWD" | md5sum | cut -c1-8)
fi
user_dir "$dir"

if [ ! -f "$dir/PG_VERSION" ]; then
    as_user initdb -D "$dir" -A trust --no-sync >/dev/null
fi
grep -q "include_if_exists 'bookstore.conf'" "$dir/postgresql.conf" ||
    echo "include_if_exists 'bookstore.conf'" >>"$dir/postgresql.conf"
# bookstore.conf of cluster DIR on PORT: the extension preloaded, no durability
# (a throwaway cluster)
cluster_conf() {
    as_user tee "$1/bookstore.conf" >/dev/null <<CONF
port = $2
listen_addresses = ''
unix_socket_directories = '$1'
shared_preload_libraries = 'memoized_prefetch'
shared_buffers = $buffers
max_prepared_transactions = 10
memoized_prefetch.shared_memory = 1GB
memoized_prefetch.max_backend_memory = 512MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
}
cluster_conf "$dir" "$port"
# (re)start, so that the freshly installed library is the one loaded
as_user pg_ctl -D "$dir" status >/dev/null 2>&1 && as_user pg_ctl -D "$dir" -w stop >/dev/null
as_user pg_ctl -D "$dir" -l "$dir/server.log" -w start >/dev/null
trap 'as_user pg_ctl -D "$dir" -w stop >/dev/null' EXIT

export PGHOST=$dir PGPORT=$port PGUSER=$RUN_USER PGDATABASE=postgres PGOPTIONS="-c client_min_messages=warning"
psql() { command "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

want="$authors $publishers $categories $books $reviews"
have=$(psql -tAc "SELECT obj_description('book'::regclass)" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
    echo "loading the bookstore: $books books, $authors authors, $reviews reviews ..."
    psql -v authors="$authors" -v publishers="$publishers" -v categories="$categories" \
        -v books="$books" -v reviews="$reviews" -f bench/bookstore.sql >/dev/null
    psql -f bench/floor.sql >/dev/null
    psql -c "COMMENT ON TABLE book IS '$want'"
fi
psql -c "DROP EXTENSION IF EXISTS memoized_prefetch CASCADE" -c "CREATE EXTENSION memoized_prefetch" \
    -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" >/dev/null
psql -tAc "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')" >/dev/null

nchunks=$((books / chunk))
echo "$mode: $nchunks chunks of $chunk ids; times in ms per chunk, rows received by the client;"
echo "the first chunk of each method is cold, the median is over all chunks; the methods"
echo "take turns over ${ROUNDS:-10} slices of the chunks, so that drift affects them alike"
sections=${SECTIONS:-main partitioned composite django replica}
[ "$mode" = bench ] && [ -z "${QUERIES:-}" ] || sections=main
case " $sections " in *" main "*)
    tmp/runner "$chunk" "$nchunks" "${ROUNDS:-10}" "${QUERIES:-bench/queries.tsv}" ;;
esac

case " $sections " in *" partitioned "*)
    echo
    if [ "$(psql -tAc "SELECT obj_description(to_regclass('book_p'))" 2>/dev/null || true)" != "$want" ]; then
        echo "partitioned: copying author and book into partitioned tables ..."
        psql -v books="$books" -f bench/partitioned.sql >/dev/null
        psql -c "COMMENT ON TABLE book_p IS '$want'"
    fi
    psql -tAc "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')" >/dev/null
    echo "partitioned: author by hash of id (8 partitions), book by range of id (10)"
    tmp/runner "$chunk" "$nchunks" "${ROUNDS:-10}" bench/partitioned.tsv ;;
esac

case " $sections " in *" composite "*)
    echo
    if [ "$(psql -tAc "SELECT obj_description(to_regclass('book_t'))" 2>/dev/null || true)" != "$want" ]; then
        echo "composite: copying author and book into tables keyed by (tenant, id) ..."
        psql -f bench/composite.sql >/dev/null
        psql -c "COMMENT ON TABLE book_t IS '$want'"
    fi
    psql -tAc "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')" >/dev/null
    echo "composite: author once per tenant (2), book keyed by (tenant, id)"
    tmp/runner "$chunk" "$nchunks" "${ROUNDS:-10}" bench/composite.tsv ;;
esac

case " $sections " in *" django "*)
    echo
    # Django 3.2 from Debian, with /usr/bin/python3 (not another python first on PATH)
    /usr/bin/python3 python/bench_django.py --host "$dir" --port "$port" --dbname postgres \
        --user "$RUN_USER" --chunks "${DJANGO_CHUNKS:-10}" --passes "${DJANGO_PASSES:-3}" ;;
esac

# The replica sections: a streaming hot standby of this cluster, then this
# cluster restarted without shared_preload_libraries (and restarted with it
# again at the end).
case " $sections " in *" replica "*)
    sdir=$dir-standby sport=$((port + 1))
    as_user pg_ctl -D "$sdir" status >/dev/null 2>&1 && as_user pg_ctl -D "$sdir" -w -m fast stop >/dev/null
    rm -rf "$sdir"
    echo
    echo "replica: making a streaming standby of the bench cluster ..."
    as_user "$PG_BIN/pg_basebackup" -h "$dir" -p "$port" -D "$sdir" -R -X stream --checkpoint=fast --no-sync
    cluster_conf "$sdir" "$sport"
    as_user pg_ctl -D "$sdir" -l "$sdir/server.log" -w start >/dev/null
    PGHOST=$sdir PGPORT=$sport psql -tAc "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')" >/dev/null
    echo "replica: on the hot standby (in recovery: $(PGHOST=$sdir PGPORT=$sport psql -tAc 'SELECT pg_is_in_recovery()'))"
    PGHOST=$sdir PGPORT=$sport tmp/runner "$chunk" "$nchunks" "${ROUNDS:-10}" bench/replica.tsv
    as_user pg_ctl -D "$sdir" -w -m fast stop >/dev/null
    rm -rf "$sdir"

    echo
    # (the pool's size is a setting of the preloaded library only)
    as_user sed -i -e "s/^shared_preload_libraries = .*/shared_preload_libraries = ''/" \
        -e "s/^memoized_prefetch.shared_memory/#memoized_prefetch.shared_memory/" "$dir/bookstore.conf"
    as_user pg_ctl -D "$dir" -w restart >/dev/null
    echo "replica: on the primary without the preload (shared_preload_libraries = '$(psql -tAc 'SHOW shared_preload_libraries')')"
    tmp/runner "$chunk" "$nchunks" "${ROUNDS:-10}" bench/replica.tsv
    as_user sed -i -e "s/^shared_preload_libraries = .*/shared_preload_libraries = 'memoized_prefetch'/" \
        -e "s/^#memoized_prefetch.shared_memory/memoized_prefetch.shared_memory/" "$dir/bookstore.conf"
    as_user pg_ctl -D "$dir" -w restart >/dev/null ;;
esac
