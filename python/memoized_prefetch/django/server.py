"""What the adapter asks of the server for its session: the cache_size of
each target table (and link table) set with memoized_prefetch.configure()
to the config's lru_cache_size, on every connection it uses and again after
a reconnect; a warning, once, when the server's memory settings cannot hold
that many rows; and the server's counters for those tables."""

from __future__ import annotations

import warnings
from typing import Dict, List, Tuple

from django.db import connections

SCHEMA = "memoized_prefetch"

# What an entry of the server's cache costs besides its rows (its header, a
# tuple header per row, allocation rounding): the README's sizing rule.
ENTRY_BYTES = 64
ROW_BYTES = 24


class MemoizedPrefetchWarning(RuntimeWarning):
    """The server cannot keep what the configs ask for."""


class ServerSession:
    """The tables of one MemoizedPrefetch and their sizes, configured once
    per connection (a reconnect makes a new one, configured again).  No
    statement of its own: the first statement of a chunk on a connection
    that needs it starts with the CTE of ``pending()``."""

    def __init__(self):
        self._wanted: Dict[str, Dict[str, Tuple[str, int, str]]] = {}  # alias -> table -> spec
        self._configured: Dict[str, Tuple[object, set]] = {}  # alias -> (raw connection, specs)
        self._warned = set()  # (alias, setting)
        self._checked = set()  # (alias, specs)

    def want(self, alias: str, tables: List[Tuple[str, int, str]]):
        """Ask for ``tables`` ([(table, cache_size, link source column or
        None)]) on the connection of ``alias``."""
        self._wanted.setdefault(alias, {}).update((t[0], t) for t in tables)

    def pending(self, alias: str):
        """None when the connection of ``alias`` is set up, else (sql,
        params, done): the CTE's query, whose one value ``i`` is the
        settings and row sizes the check needs, and done(info, ran), to call
        with that value once the statement ran."""
        wanted = self._wanted.get(alias)
        if not wanted:
            return None
        connection = connections[alias]
        connection.ensure_connection()
        raw = connection.connection
        seen = self._configured.get(alias)
        if seen is None or seen[0] is not raw:
            seen = self._configured[alias] = (raw, set())
        specs = tuple(sorted(wanted.values()))
        todo = [t for t in specs if t not in seen[1]]
        check = (alias, specs) not in self._checked
        if not todo and not check:
            return None
        qn = connection.ops.quote_name
        params = []  # of the values, then of the source
        source_params = []
        if todo:
            source = "(VALUES %s) v(t, n), LATERAL %s.configure(v.t::regclass, v.n) c" % (
                ", ".join(["(%s, %s)"] * len(todo)), SCHEMA)
            for table, size, _ in todo:
                source_params += [qn(table), size]
        else:
            source = "(VALUES (1)) v(t)"
        values = ["count(*)::text"]
        if check:
            values += ["(SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries')",
                       "pg_size_bytes(current_setting('%s.max_backend_memory', true))::text" % SCHEMA,
                       "pg_size_bytes(current_setting('%s.shared_memory', true))::text" % SCHEMA,
                       "current_setting('%s.enabled', true)" % SCHEMA]
            for table, size, source_column in specs:
                # a partitioned table's rows come from its partitions (the
                # sample reads them through it, in the partitioned table's
                # row type); the number of its leaves, whose caches each
                # get the cache_size, is only reported
                values.append("(SELECT coalesce(avg(pg_column_size(x.*)), 0)::text FROM "
                              "(SELECT * FROM %s LIMIT 100) x)" % _esc(qn(table)))
                values.append("(SELECT count(*)::text FROM pg_partition_tree(%s::regclass) p "
                              "WHERE p.isleaf AND p.level > 0)")
                params.append(qn(table))
                if source_column is None:
                    values.append("'1'")
                else:
                    # rows per source value (NULLs are no source's: a
                    # reverse relation's nullable foreign key)
                    values.append("(SELECT (count(x.s)::float8 / greatest(count(DISTINCT x.s), 1))"
                                  "::text FROM (SELECT %s AS s FROM %s LIMIT 1000) x)" % (
                                      _esc(qn(source_column)), _esc(qn(table))))
        sql = "SELECT ARRAY[%s] AS i FROM %s" % (", ".join(values), source)
        params += source_params

        def done(info, ran):
            if ran or info is not None:
                seen[1].update(todo)
            if check and info is not None:
                self._checked.add((alias, specs))
                self._check(alias, specs, info[1:])
        return sql, params, done

    def _check(self, alias, tables, info):
        """Warn once per setting when the tables' sizes exceed it."""
        preload, backend_cap, pool, enabled = info[:4]
        backend_cap = None if backend_cap is None else int(backend_cap)
        pool = None if pool is None else int(pool)
        needed = 0
        detail = []
        for i, (table, size, _) in enumerate(tables):
            width, leaves, per_entry = info[4 + 3 * i:7 + 3 * i]
            width, leaves, per_entry = float(width or 0), int(leaves or 0), float(per_entry or 1)
            entry = int(ENTRY_BYTES + per_entry * (ROW_BYTES + width))
            # a partitioned table: cache_size is each leaf partition's cap,
            # so its caches together may hold more than size entries; the
            # estimate is of the size entries the config asks for (the
            # instances the adapter keeps), which any leaves may hold
            needed += size * entry
            detail.append("%s: %d entries of about %d bytes%s" % (
                table, size, entry,
                " (partitioned: at most %d in each of its %d leaf partitions)" % (size, leaves)
                if leaves else ""))
        if not needed:
            return
        detail = "; ".join(detail)
        preloaded = preload is not None and "memoized_prefetch" in preload
        if preload is not None and not preloaded:
            self._warn(alias, "shared_preload_libraries",
                       "memoized_prefetch is not in shared_preload_libraries on database %r: "
                       "the server keeps rows only within a snapshot, not across the chunks of "
                       "a job (%s)" % (alias, detail))
        if enabled == "off":
            self._warn(alias, "memoized_prefetch.enabled",
                       "memoized_prefetch.enabled is off on database %r: the server keeps no "
                       "rows" % alias)
        if backend_cap is not None and needed > backend_cap:
            self._warn(alias, "memoized_prefetch.max_backend_memory",
                       "memoized_prefetch.max_backend_memory (%d bytes) cannot hold the "
                       "lru_cache_size of the configs on database %r: about %d bytes are "
                       "needed (%s)" % (backend_cap, alias, needed, detail))
        if pool is not None and preloaded and needed > pool:
            self._warn(alias, "memoized_prefetch.shared_memory",
                       "memoized_prefetch.shared_memory (%d bytes) cannot hold the "
                       "lru_cache_size of the configs on database %r: about %d bytes are "
                       "needed (%s)" % (pool, alias, needed, detail))

    def _warn(self, alias, setting, message):
        if (alias, setting) in self._warned:
            return
        self._warned.add((alias, setting))
        warnings.warn(message, MemoizedPrefetchWarning, stacklevel=6)


def _esc(sql: str) -> str:
    return sql.replace("%", "%%")


def server_stats(alias, tables):
    """{table: {"hits", "misses", "evictions"}} of this connection's caches
    of ``tables``, from memoized_prefetch.stats (zeros for a table the
    server has not cached yet).  A partitioned table's counters are the sums
    over its partitions (the server caches each leaf partition on its own,
    and the view shows the leaves): the partitions it has now, at any
    depth, found with pg_partition_tree (which gives no rows for a table
    that is neither partitioned nor a partition)."""
    connection = connections[alias]
    qn = connection.ops.quote_name
    out = {t: {"hits": 0, "misses": 0, "evictions": 0} for t in tables}
    if not tables:
        return out
    sql = ("SELECT v.t, coalesce(sum(s.hits), 0), coalesce(sum(s.misses), 0), "
           "coalesce(sum(s.evictions), 0) FROM (VALUES %s) v(t, q) "
           "CROSS JOIN LATERAL (SELECT v.q::regclass AS relid UNION "
           "SELECT p.relid FROM pg_partition_tree(v.q::regclass) p) r "
           "LEFT JOIN %s.stats s ON s.relid = r.relid AND s.pid = pg_backend_pid() "
           "GROUP BY v.t" % (", ".join(["(%s, %s)"] * len(tables)), SCHEMA))
    params = []
    for t in tables:
        params += [t, qn(t)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for t, hits, misses, evictions in cursor.fetchall():
            out[t] = {"hits": int(hits), "misses": int(misses), "evictions": int(evictions)}
    return out
