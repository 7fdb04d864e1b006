"""The SQL the adapter sends: how a target's rows come back on a connection
(its Shape), the statements calling fk(), and m2m() or reverse_fk() (whose
rows are alike: the targets of each source), and the one loading a
table for prefetch_all, and the array parameters of source ids."""

from __future__ import annotations

from dataclasses import dataclass, field as _field
from itertools import groupby
from operator import itemgetter
from typing import Any, Callable, List, Optional

from django.db import connections
from django.db.models import Field, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.query import ModelIterable, get_related_populators

try:
    from django.core.exceptions import EmptyResultSet
except ImportError:  # Django < 4.0
    from django.db.models.sql.where import EmptyResultSet

SCHEMA = "memoized_prefetch"
_INTEGER_TYPES = frozenset({
    "AutoField", "BigAutoField", "SmallAutoField", "IntegerField",
    "BigIntegerField", "SmallIntegerField", "PositiveIntegerField",
    "PositiveBigIntegerField", "PositiveSmallIntegerField",
})


@dataclass
class Shape:
    """How the rows of a target come back on one connection: the columns of
    its table, read straight from the function's result (``plain``), or the
    rows of its queryset for the keys the function returned (``qs_sql``,
    ``qs_params``).  Every statement ends its rows with a NULL of the table's
    row type, whose type tells which table the server read."""

    alias: str
    connection: Any
    plain: bool
    type_sql: str  # the table's row type
    pk_columns: List[str]  # the primary key's columns (several: a composite key)
    empty: bool = False  # the queryset gives no rows whatever the keys
    ncols: int = 0  # the target's columns in a row
    pk_positions: tuple = (0,)  # where the primary key's columns are in a row
    converters: list = _field(default_factory=list)  # [(position, converters, expression)]
    pk_converted: bool = False
    columns: List[str] = _field(default_factory=list)  # plain: the table's columns
    qs_sql: str = ""
    qs_params: list = _field(default_factory=list)
    qs_aliases: str = ""  # names for the queryset's columns: "c0, c1, ..."
    # what makes an instance of a row: the model, its fields' attnames and
    # where their columns start, select_related() objects and annotations
    model: Optional[type] = None
    attnames: List[str] = _field(default_factory=list)
    start: int = 0
    related_populators: list = _field(default_factory=list)
    annotations: list = _field(default_factory=list)  # [(name, position)]
    # build() -> the function making an instance of a row, for one batch of
    # rows; set by instances.Target
    build: Optional[Callable] = None

    @property
    def composite(self) -> bool:
        return len(self.pk_columns) > 1

    def pk_getter(self, lo=0):
        """The primary key of a row whose target columns start at ``lo``: a
        value, or a tuple of values for a composite key (as ``instance.pk``
        gives it)."""
        return itemgetter(*(p + lo for p in self.pk_positions))

    def keys_sql(self, row: str) -> str:
        """The primary key of ``row`` (a row of the target's type) as the
        columns k0, k1, ... of a select list."""
        return ", ".join("(%s).%s AS k%d" % (row, c, i) for i, c in enumerate(self.pk_columns))

    def key_match(self, left: str, right: str) -> str:
        """``left`` (columns c<position>) holding the keys of ``right``
        (columns k0, k1, ...)."""
        return " AND ".join("%s.c%d = %s.k%d" % (left, p, right, i)
                            for i, p in enumerate(self.pk_positions))


def pk_fields(opts) -> list:
    """The fields of a model's primary key: several for a composite key
    (Django 5.2's CompositePrimaryKey), else the primary key itself."""
    return list(getattr(opts, "pk_fields", None) or [opts.pk])


def pk_attname(opts):
    """The attname of a model's primary key, or the tuple of its fields'
    attnames for a composite key: what a relation's key attname is when it
    points at the primary key (attributes.relation_keys)."""
    fields = pk_fields(opts)
    return fields[0].attname if len(fields) == 1 else tuple(f.attname for f in fields)


def is_plain(qs: QuerySet, ordered: bool) -> bool:
    """Whether the rows of ``qs`` are just the table's rows, so that the
    target's columns can be read straight from the function's result."""
    query = qs.query
    opts = qs.model._meta
    return (
        qs._iterable_class is ModelIterable
        and not qs._prefetch_related_lookups
        and not query.where
        and not query.select_related
        and query.deferred_loading == (frozenset(), True)
        and not query.annotations
        and not query.extra
        and not query.extra_tables
        and not query.distinct
        and not query.is_sliced
        and not query.combinator
        and not query.select_for_update
        and query.default_cols
        and not opts.parents
        and not (ordered and qs.ordered)
        and all(type(f).select_format is Field.select_format for f in opts.concrete_fields)
    )


def make_shape(model, queryset: QuerySet, plain: bool, alias: str) -> Shape:
    connection = connections[alias]
    qn = connection.ops.quote_name
    opts = model._meta
    keys = pk_fields(opts)
    shape = Shape(alias, connection, plain, _esc(qn(opts.db_table)),
                  [_esc(qn(f.column)) for f in keys])
    key_attnames = [f.attname for f in keys]
    if plain:
        fields = opts.concrete_fields
        shape.ncols = len(fields)
        shape.columns = [_esc(qn(f.column)) for f in fields]
        shape.model = model
        shape.attnames = [f.attname for f in fields]
        shape.pk_positions = tuple(map(shape.attnames.index, key_attnames))
        for i, f in enumerate(fields):
            col = f.get_col(opts.db_table)
            convs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if convs:
                shape.converters.append((i, convs, col))
        shape.pk_converted = any(i in shape.pk_positions for i, _, _ in shape.converters)
        return shape

    # The queryset restricted to the keys the statement's CTE mp_keys
    # holds, so that its ORDER BY applies to those rows.
    if not shape.composite:
        restricted = queryset.filter(pk__in=RawSQL("SELECT k0 FROM mp_keys", ()))
    else:
        table = qn(opts.db_table)
        restricted = queryset.extra(where=["(%s) IN (SELECT %s FROM mp_keys)" % (
            ", ".join("%s.%s" % (table, qn(f.column)) for f in keys),
            ", ".join("k%d" % i for i in range(len(keys))))])
    compiler = restricted.query.get_compiler(using=alias)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        shape.empty = True
        return shape
    select, klass_info = compiler.select, compiler.klass_info
    n = shape.ncols = compiler.col_count
    shape.qs_sql = sql
    shape.qs_params = list(params)
    shape.qs_aliases = ", ".join("c%d" % i for i in range(n))
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    shape.attnames = [s[0].target.attname for s in select[start:end]]
    if not set(key_attnames) <= set(shape.attnames):
        raise ValueError("the queryset of %s must select its primary key" % model.__name__)
    shape.start = start
    shape.pk_positions = tuple(start + shape.attnames.index(a) for a in key_attnames)
    converters = compiler.get_converters([s[0] for s in select[:n]])
    shape.converters = [(pos, convs, expression)
                        for pos, (convs, expression) in converters.items()]
    shape.pk_converted = any(p in converters for p in shape.pk_positions)
    shape.related_populators = get_related_populators(klass_info, select, alias)
    shape.model = klass_info["model"]
    shape.annotations = list(compiler.annotation_col_map.items())
    return shape


def fk_statement(shape: Shape, source_model, source_ids, column_paths, wrap=False):
    """The statement (and its parameters) of the targets that the paths lead
    to from the rows of ``source_model`` with these primary keys.  With
    ``wrap``, the ids are read through the CTE mp_cfg (see with_session)."""
    connection = shape.connection
    ids_sql, ids = _id_array(source_ids, source_model._meta.pk, connection, wrap)
    call = "%s.fk(%%s::regclass, %s, %%s::text[], NULL::%s)" % (
        SCHEMA, ids_sql, shape.type_sql)
    params = [connection.ops.quote_name(source_model._meta.db_table)] + ids + [list(column_paths)]
    if shape.plain:
        sql = "SELECT %s, NULL::%s FROM %s s" % (
            ", ".join("(s.target).%s" % c for c in shape.columns), shape.type_sql, call)
    else:
        sql = "WITH mp_keys AS (SELECT %s FROM %s s) SELECT %s, NULL::%s " \
            "FROM (%s) AS q(%s)" % (
                shape.keys_sql("s.target"), call, ", ".join("q.c%d" % i for i in range(shape.ncols)),
                shape.type_sql, shape.qs_sql, shape.qs_aliases)
        params = params + shape.qs_params
    return sql, params


def digest_sql(row: str) -> str:
    """The digest of a row as the server outputs it: SHA-256 of its text
    (in the server's encoding), in base64."""
    return "encode(sha256(textsend(%s::text)), 'base64')" % row


def fk_delta_statement(shape: Shape, source_model, source_ids, column_paths, held,
                       wrap=False):
    """fk_statement for a plain shape, sending only what changed: ``held``
    is [(primary key, digest, row type)] of rows the adapter holds, each
    built from a row of that row type (a table of one schema).  A row comes
    as (key columns..., digest, columns..., marker): the digest (SHA-256 of the row's text, which no one can make
    two different rows share) and columns of a row that
    is new or differs from the one held, or NULL and NULLs for a row whose
    text is the one held (so that the instance built from it is the one
    this row would build)."""
    connection = shape.connection
    ids_sql, ids = _id_array(source_ids, source_model._meta.pk, connection, wrap)
    # the held keys, one array per key column
    arrays = _key_arrays(pk_fields(shape.model._meta), [h[0] for h in held], connection)
    nk = len(arrays)
    ks = ", ".join("k%d" % i for i in range(nk))
    call = "%s.fk(%%s::regclass, %s, %%s::text[], NULL::%s)" % (
        SCHEMA, ids_sql, shape.type_sql)
    sql = ("SELECT %s, CASE WHEN x.same THEN NULL ELSE x.d END, %s, NULL::%s FROM ("
           "SELECT %s, y.t, y.d, coalesce(h.d = y.d, false) AS same FROM "
           "(SELECT DISTINCT ON (%s) %s, s.target AS t, %s AS d FROM %s s ORDER BY %s) y "
           "LEFT JOIN unnest(%s, %%s::text[], %%s::oid[]) h(%s, d, r) "
           "ON %s AND h.r = pg_typeof(y.t)::oid) x" % (
               ", ".join("x.k%d" % i for i in range(nk)),
               ", ".join("(CASE WHEN x.same THEN NULL ELSE x.t END).%s" % c
                         for c in shape.columns),
               shape.type_sql, ", ".join("y.k%d" % i for i in range(nk)), ks,
               shape.keys_sql("s.target"), digest_sql("s.target"), call, ks,
               ", ".join(a[0] for a in arrays), ks,
               " AND ".join("h.k%d = y.k%d" % (i, i) for i in range(nk))))
    params = ([connection.ops.quote_name(source_model._meta.db_table)] + ids
              + [list(column_paths)] + [a[1] for a in arrays]
              + [[h[1] for h in held], [int(h[2]) for h in held]])
    return sql, params


def m2m_delta_statement(shape: Shape, link, values, held, wrap=False):
    """m2m_statement for a plain shape and one link (an m2m() or
    reverse_fk() call), sending only what
    changed (see fk_delta_statement), and each target once: a row is (key,
    digest, the source values linked to it, columns..., marker), in key
    order, so that appending a target to each of its sources in turn gives
    every source its targets in m2m()'s order.

    Where many sources share a target (``link.shared_targets``: m2m()), the
    call gives only the targets' keys, and each target row is read once by
    fk() on the target table (from its cache), in the same statement and
    snapshot, rather than aggregated from every link's copy of it; not when
    the target's primary key is itself a relation (multi-table inheritance),
    which fk() would follow."""
    connection = shape.connection
    qn = connection.ops.quote_name
    ids_sql, ids = _id_array(values, link.source_key, connection, wrap)
    pk = shape.model._meta.pk
    keys_sql, keys = _id_array([h[0] for h in held], pk, connection)
    call, call_params = link.call(qn, shape.type_sql, ids_sql, ids)
    extra = []
    if link.shared_targets and not pk.is_relation:
        targets = ("WITH mp_g AS MATERIALIZED (SELECT (s.target).%s AS k, "
                   "array_agg(s.source_id) AS s FROM %s s GROUP BY 1), "
                   "mp_t AS MATERIALIZED (SELECT (f.target).%s AS k, f.target AS t FROM "
                   "%s.fk(%%s::regclass, (SELECT array_agg(k) FROM mp_g), %%s::text[], "
                   "NULL::%s) f) "
                   "SELECT g.k, t.t, g.s FROM mp_g g JOIN mp_t t ON t.k = g.k" % (
                       shape.pk_columns[0], call, shape.pk_columns[0], SCHEMA, shape.type_sql))
        extra = [qn(shape.model._meta.db_table), [pk.column]]
    else:
        targets = ("SELECT (s.target).%s AS k, (array_agg(s.target))[1] AS t, "
                   "array_agg(s.source_id) AS s FROM %s s GROUP BY 1" % (shape.pk_columns[0], call))
    sql = ("WITH mp_a AS MATERIALIZED (%s) "
           "SELECT x.k, CASE WHEN x.same THEN NULL ELSE x.d END, x.s, %s, NULL::%s FROM "
           "(SELECT a.k, a.t, a.s, a.d, coalesce(h.d = a.d, false) AS same FROM "
           "(SELECT b.k, b.t, b.s, %s AS d FROM mp_a b) a "
           "LEFT JOIN unnest(%s, %%s::text[], %%s::oid[]) h(k, d, r) "
           "ON h.k = a.k AND h.r = pg_typeof(a.t)::oid) x ORDER BY x.k" % (
               targets,
               ", ".join("(CASE WHEN x.same THEN NULL ELSE x.t END).%s" % c
                         for c in shape.columns),
               shape.type_sql, digest_sql("b.t"), keys_sql))
    params = call_params + extra + keys + [[h[1] for h in held], [int(h[2]) for h in held]]
    return sql, params


def m2m_statement(shape: Shape, live, wrap=False):
    """The statement (and its parameters) of the targets linked to the source
    values of each (index, link, values) of ``live`` (a link makes the call:
    m2m() or reverse_fk(), both giving (source_id, target) rows), in the
    queryset's order.  A row holds the source value, preceded by the index when there
    are several links."""
    connection = shape.connection
    qn = connection.ops.quote_name
    calls = []
    params = []
    for i, link, values in live:
        ids_sql, ids = _id_array(values, link.source_key, connection, wrap)
        call, call_params = link.call(qn, shape.type_sql, ids_sql, ids)
        calls.append((i, call))
        params += call_params
    tag = len(live) > 1
    if shape.plain:
        cols = ", ".join("(s.target).%s" % c for c in shape.columns)
        sql = " UNION ALL ".join(
            "SELECT %s s.source_id, %s, NULL::%s FROM %s s" % (
                "%d," % i if tag else "", cols, shape.type_sql, call)
            for i, call in calls)
    else:
        links = " UNION ALL ".join(
            "SELECT %s s.source_id, %s FROM %s s" % (
                "%d AS a," % i if tag else "", shape.keys_sql("s.target"), call)
            for i, call in calls)
        # the queryset's rows for the linked keys, numbered in its order
        sql = ("WITH mp_keys AS MATERIALIZED (%s) "
               "SELECT %s l.source_id, %s, NULL::%s FROM mp_keys l JOIN "
               "(SELECT %s, row_number() OVER () AS mp_n FROM (%s) AS qq(%s)) q "
               "ON %s ORDER BY q.mp_n" % (
                   links, "l.a," if tag else "",
                   ", ".join("q.c%d" % i for i in range(shape.ncols)), shape.type_sql,
                   ", ".join("qq.c%d" % i for i in range(shape.ncols)),
                   shape.qs_sql, shape.qs_aliases, shape.key_match("q", "l")))
        params = params + shape.qs_params
    return sql, params


def load_all_statement(shape: Shape, queryset: QuerySet, limit: int):
    """The statement (and its parameters) of up to ``limit`` rows of the
    queryset, or None when it gives none."""
    if shape.plain:
        # with each row's digest before the marker (see fk_delta_statement)
        sql = "SELECT %s, %s, NULL::%s FROM %s t LIMIT %d" % (
            ", ".join("t.%s" % c for c in shape.columns), digest_sql("t"), shape.type_sql,
            shape.type_sql, limit)
        return sql, []
    compiler = queryset.query.chain().get_compiler(using=shape.alias)
    try:
        qs_sql, params = compiler.as_sql()
    except EmptyResultSet:
        return None
    sql = "SELECT %s, NULL::%s FROM (%s) AS q(%s) LIMIT %d" % (
        ", ".join("q.c%d" % i for i in range(shape.ncols)), shape.type_sql,
        qs_sql, shape.qs_aliases, limit)
    return sql, params


def with_session(shape: Shape, statement, session_sql, session_params):
    """A statement that first sets the session up: the CTE mp_cfg
    (``session_sql``), which the ids of every call read (so that it is
    evaluated before any call runs) and whose one value ends every row, after
    the row type marker."""
    sql, params = statement
    marker = "NULL::%s FROM" % shape.type_sql
    sql = sql.replace(marker, "NULL::%s, (SELECT i FROM mp_cfg) AS mp_cfg FROM" % shape.type_sql)
    cte = "mp_cfg AS MATERIALIZED (%s)" % session_sql
    if sql.startswith("WITH "):
        sql = "WITH %s, %s" % (cte, sql[len("WITH "):])
    else:
        sql = "WITH %s %s" % (cte, sql)
    return sql, list(session_params) + list(params)


def merged_statement(statements, widths, session=None):
    """One statement of several parts' statements: each a materialized CTE
    mp_q<k>, whose rows come in the union's branch k, tagged k in the first
    column, with typed NULLs in the other parts' columns (a LEFT JOIN on
    false gives them).  With ``session`` ((sql, params) of the session's
    CTE mp_cfg), its value ends every row."""
    n = len(statements)
    ctes = []
    params = []
    if session is not None:
        ctes.append("mp_cfg AS MATERIALIZED (%s)" % session[0])
        params += list(session[1])
    for k, (sql, p) in enumerate(statements):
        ctes.append("mp_q%d AS MATERIALIZED (%s)" % (k, sql))
        params += list(p)
    cols = ", ".join("mp_q%d.*" % j for j in range(n))
    if session is not None:
        cols += ", (SELECT i FROM mp_cfg)"
    branches = []
    for k in range(n):
        joins = "".join(" LEFT JOIN mp_q%d ON false" % j for j in range(n) if j != k)
        branches.append("SELECT %d AS mp_part, %s FROM mp_q%d%s" % (k, cols, k, joins))
    return "WITH %s %s" % (", ".join(ctes), " UNION ALL ".join(branches)), params


def execute_merged(connection, sql, params, widths, session=False):
    """[(rows, rowtype)] per part of a merged statement, and the session's
    value (None without it, or without rows)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        description = cursor.description
    info = rows[0][-1] if session and rows else None
    bounds = []
    start = 1
    for w in widths:
        bounds.append((start, start + w, description[start + w - 1][1]))
        start += w
    by_part = [[] for _ in widths]
    for k, group in groupby(rows, itemgetter(0)):
        lo, hi, _ = bounds[k]
        by_part[k].extend(r[lo:hi] for r in group)
    return [(part, bounds[k][2]) for k, part in enumerate(by_part)], info


def execute(connection, sql, params, session=False):
    """The rows, and the type of their row type marker (the last column, or
    the one before the session's value with ``session``, which is returned
    too, None without rows)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        if not session:
            return rows, cursor.description[-1][1]
        rowtype = cursor.description[-2][1]
    info = rows[0][-1] if rows else None
    return [r[:-1] for r in rows], rowtype, info


def _esc(sql: str) -> str:
    """SQL text embedded in a statement that also has %s parameters."""
    return sql.replace("%", "%%")


def _id_array(values, field, connection, wrap=False):
    """The SQL of an array of the column type of ``field`` and its
    parameters: integers as one array literal (cheap to send and to parse),
    other types adapted by the driver.  A composite primary key's values
    (tuples) are an array of records, made of one array per column.  With
    ``wrap``, read through the CTE mp_cfg."""
    fields = getattr(field, "fields", None) if field.primary_key else None
    if fields and len(fields) > 1:
        arrays = _key_arrays(fields, values, connection)
        names = ", ".join("u.k%d" % i for i in range(len(fields)))
        sql = "(SELECT array_agg(ROW(%s)) FROM %sunnest(%s) u(%s))" % (
            names, "mp_cfg, " if wrap else "", ", ".join(a[0] for a in arrays),
            names.replace("u.", ""))
        return sql, [a[1] for a in arrays]
    sql, param = _column_array(field, values, connection)
    return ("(SELECT %s FROM mp_cfg)" % sql if wrap else sql), [param]


def _key_arrays(fields, values, connection):
    """[(SQL, parameter)] of one array per key column of ``fields``, of
    ``values`` (keys of one column, or tuples of a composite key's)."""
    if len(fields) == 1:
        return [_column_array(fields[0], values, connection)]
    columns = list(zip(*values)) if values else [()] * len(fields)
    return [_column_array(f, c, connection) for f, c in zip(fields, columns)]


def _column_array(field, values, connection):
    db_type = field.rel_db_type(connection)
    if field.get_internal_type() in _INTEGER_TYPES or db_type in ("integer", "bigint", "smallint"):
        return "%%s::%s[]" % db_type, "{%s}" % ",".join(map(str, map(int, values)))
    prep = field.get_db_prep_value
    return "%%s::%s[]" % _esc(db_type), [prep(v, connection) for v in values]
