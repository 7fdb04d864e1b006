"""Building and reusing instances: Target, the instances of one model that a
config (or a hop of nested attributes) fetches, and the cache that keeps them
between chunks, reusing an instance only while the server returns the very
row it was built from."""

from __future__ import annotations

from collections import OrderedDict
from operator import attrgetter, itemgetter

from django.db import router
from django.db.models import Model, QuerySet, prefetch_related_objects, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute

from .sql import (
    Shape, execute, execute_merged, fk_delta_statement, fk_statement, is_plain,
    _INTEGER_TYPES, m2m_delta_statement, load_all_statement, m2m_statement,
    make_shape, merged_statement, pk_attname, with_session,
)

_MISSING = object()


def builder(shape: Shape):
    """``shape.build``: called for each batch of rows (a statement's), the
    function making an instance of a row of ``shape`` as the queryset's
    iterator would (converters, ``from_db``, select_related() objects,
    annotations)."""
    alias = shape.alias
    connection = shape.connection
    model = shape.model
    attnames = shape.attnames
    converters = shape.converters
    n = shape.ncols
    def converted(values):
        row = list(values[:n])
        for pos, convs, expression in converters:
            v = row[pos]
            for conv in convs:
                v = conv(v, expression, connection)
            row[pos] = v
        return row

    if shape.plain:
        plain = _plain_init(model, attnames)

        def batch():
            make = plain_from_db(model, alias, attnames, plain)
            if converters:
                return lambda values: make(converted(values))
            return lambda values: make(values[:n])
        return batch

    start = shape.start
    end = start + len(attnames)
    related_populators = shape.related_populators
    annotations = shape.annotations

    def build(values):
        row = converted(values)
        obj = model.from_db(alias, attnames, row[start:end])
        for populator in related_populators:
            populator.populate(row, obj)
        for attr_name, col_pos in annotations:
            setattr(obj, attr_name, row[col_pos])
        return obj
    return lambda: build


def _plain_init(model, attnames) -> bool:
    """Whether ``Model.__init__`` of ``model`` does nothing for a row of
    every concrete field beyond setting ``_state`` and the fields' values in
    the instance dict: neither the model nor a class after Model in its MRO
    has an ``__init__`` of its own, ``from_db`` is Model's, and each field's
    attribute is a plain deferred attribute (a foreign key's clears a field
    cache that a new instance does not have)."""
    if model._meta.abstract or model.__init__ is not Model.__init__ or (
            model.from_db.__func__ is not Model.from_db.__func__):
        return False
    mro = model.__mro__
    if any("__init__" in k.__dict__ for k in mro[mro.index(Model) + 1:] if k is not object):
        return False
    for name in attnames:
        attr = next((k.__dict__[name] for k in mro if name in k.__dict__), None)
        if type(attr) not in (DeferredAttribute, ForeignKeyDeferredAttribute):
            return False
    return True


def plain_from_db(model, alias, attnames, plain=None):
    """``lambda values: model.from_db(alias, attnames, values)`` for values
    of every concrete field, in their order, while the signal receivers
    stay those listening now.  Where ``_plain_init`` holds (``plain``, if
    known) and no ``pre_init``/``post_init`` receiver listens, the instance
    is made as ``Model.__init__`` makes it, without its per-field
    ``setattr`` calls and signals: 5.5 ms for 10,000 rows of three columns
    instead of 14.2."""
    if plain is None:
        plain = _plain_init(model, attnames)
    if not plain or signals.pre_init.has_listeners(model) or (
            signals.post_init.has_listeners(model)):
        return lambda values: model.from_db(alias, attnames, values)
    new = object.__new__

    def make(values):
        obj = new(model)
        state = ModelState()
        state.adding = False
        state.db = alias
        d = obj.__dict__
        d["_state"] = state
        d.update(zip(attnames, values))
        return obj
    return make


def clone(inst):
    """A copy of an instance, as ``from_db`` would build it of the same row:
    its field values (deferred ones deferred too) and the objects in its
    field cache, without its prefetch cache and related managers.  The
    instances a reverse relation hands out are copies of the cached ones,
    since each holds its own source in its field cache."""
    cls = inst.__class__
    new = cls.__new__(cls)
    d = new.__dict__
    d.update(inst.__dict__)
    d.pop("_prefetched_objects_cache", None)
    old_state = inst._state
    state = object.__new__(old_state.__class__)
    state.__dict__.update(old_state.__dict__)
    state.__dict__.pop("related_managers_cache", None)
    state.fields_cache = dict(old_state.fields_cache)
    d["_state"] = state
    return new


class Target:
    """The instances of one model that a config (or a hop of nested
    attributes) fetches, with the cache that keeps them between chunks.

    The cache is keyed by database alias and by the row type of the table
    the server read (so two schemas on the search_path, as django-tenants
    switches them, never share instances), then by primary key, and holds the
    row the instance was built from.
    """

    def __init__(self, model, queryset: QuerySet, lru_cache_size, ordered=False, memoize=True):
        self.model = model
        self.queryset = queryset
        self.lru_cache_size = lru_cache_size
        self.memoize = memoize and not queryset._prefetch_related_lookups
        self.ordered = ordered
        self.plain = is_plain(queryset, ordered)
        # whether the queryset gives every row of the table (no filter), so
        # that a key without a row has none in the table
        query = queryset.query
        self.complete = self.plain or not (
            query.where or query.select_related or query.distinct or query.combinator
            or query.is_sliced)
        self._shapes = {}
        self._caches = {}
        self._prefetch_lookups = queryset._prefetch_related_lookups
        self.session = None  # server.ServerSession, set by MemoizedPrefetch
        self._m2m_rows = {}  # alias -> links of its latest m2m statement sending changes

    def alias_for(self, source):
        return self.queryset._db or router.db_for_read(self.model, instance=source)

    def _shape(self, alias) -> Shape:
        shape = self._shapes.get(alias)
        if shape is None:
            shape = make_shape(self.model, self.queryset, self.plain, alias)
            if not shape.empty:
                shape.build = builder(shape)
            self._shapes[alias] = shape
        return shape

    # -- fetching ------------------------------------------------------------

    def fk_part(self, alias, source_model, source_ids, column_paths):
        """The Part fetching the instances (by primary key) that the paths
        lead to from the rows of ``source_model`` with these primary keys;
        None when the queryset gives none."""
        shape = self._shape(alias)
        if shape.empty:
            return None
        return Part(self, shape, lambda wrap: fk_statement(
            shape, source_model, source_ids, column_paths, wrap),
            shape.ncols + 1, lambda rows, rowtype: self._instances(shape, rows, rowtype))

    def fk_delta_part(self, alias, source_model, source_ids, column_paths, keys):
        """fk_part, sending only what changed for the rows of ``keys`` (the
        primary keys the paths lead to) that the cache holds; None when the
        shape does not allow it (a queryset, converted keys)."""
        shape = self._shape(alias)
        if shape.empty or not shape.plain or shape.pk_converted or not self.memoize:
            return None
        held = self._held(alias, keys)

        def finish(rows, rowtype):
            found = self._resolve_delta(shape, rowtype, rows)
            if found is None:  # an instance the server found unchanged is gone
                return self.fetch_fk(alias, source_model, source_ids, column_paths)
            return found
        return Part(self, shape, lambda wrap: fk_delta_statement(
            shape, source_model, source_ids, column_paths, held, wrap),
            shape.ncols + 2 + len(shape.pk_columns), finish)

    def _resolve_delta(self, shape, rowtype, rows):
        """{primary key: instance} of fk_delta_statement's rows; None when a
        row found unchanged has no instance here any more."""
        cache = self._cache(shape.alias, rowtype)
        build = shape.build()
        get = cache.get
        move = cache.move_to_end
        found = {}
        nk = len(shape.pk_columns)
        key = itemgetter(*range(nk))  # a value, or a tuple of a composite key's
        for row in rows:
            pk = key(row)
            digest = row[nk]
            if digest is None:
                entry = get(pk)
                if entry is None:
                    return None
                inst = entry[1]
                move(pk)
            else:
                inst = build(row[nk + 1:])
                cache[pk] = (digest, inst)
            found[pk] = inst
        self._trim(cache)
        self._prefetch(found)
        return found

    def fetch_fk(self, alias, source_model, source_ids, column_paths):
        """fk_part's instances, in a statement of their own."""
        part = self.fk_part(alias, source_model, source_ids, column_paths)
        return run_parts([part])[0] if part else {}

    def m2m_part(self, alias, parts):
        """The Part fetching, for each (link, source values), {source value:
        [instances]} in the order the queryset gives them; None when there
        is nothing to ask (its result is then ``m2m_empty(parts)``)."""
        shape = self._shape(alias)
        live = [(i, link, values) for i, (link, values) in enumerate(parts) if values]
        if not live or shape.empty:
            return None
        tag = len(live) > 1
        lo = 2 if tag else 1
        if not tag and shape.plain and not shape.pk_converted and self.memoize and (
                not shape.composite) and (
                live[0][1].source_key.get_internal_type() in _INTEGER_TYPES):
            part = self._m2m_delta_part(alias, shape, parts, live[0])
            if part is not None:
                return part

        # a composite source's key, a record in the rows, is the target's
        # foreign key (what reverse_fk() matched it with)
        own_keys = {i: attrgetter(*link.target_attnames) for i, link, _ in live
                    if link.target_attnames}

        def finish(rows, rowtype):
            groups = [{} for _ in parts]
            pks = list(map(shape.pk_getter(lo), rows))
            found = self._resolve(shape, rowtype, dict(zip(pks, rows)), lo)
            instances = map(found.__getitem__, pks)
            if tag:
                for (a, src), inst in zip(map(itemgetter(0, 1), rows), instances):
                    if a in own_keys:
                        src = own_keys[a](inst)
                    groups[a].setdefault(src, []).append(inst)
            else:
                # the rows of a source come together (always, without a queryset)
                group = groups[live[0][0]]
                last = append = _MISSING
                sources = map(itemgetter(0), rows)
                if own_keys:
                    instances = list(instances)
                    sources = map(own_keys[live[0][0]], instances)
                for src, inst in zip(sources, instances):
                    if src != last:
                        last = src
                        lst = group.get(src)
                        if lst is None:
                            lst = group[src] = []
                        append = lst.append
                    append(inst)
            return found.values(), groups
        return Part(self, shape, lambda wrap: m2m_statement(shape, live, wrap),
                    lo + shape.ncols + 1, finish)

    def _m2m_delta_part(self, alias, shape, parts, live):
        """m2m_part sending only what changed, for one link: the statement
        carries every instance held (the links are not known beforehand),
        so it is used while they are no more than the links of the previous
        statement; None otherwise."""
        held = self._held(alias, None)
        previous = self._m2m_rows.get(alias)
        if previous is not None and len(held) > previous:
            return None
        index, link, values = live

        def finish(rows, rowtype):
            self._m2m_rows[alias] = sum(len(row[2]) for row in rows)  # links
            cache = self._cache(alias, rowtype)
            build = shape.build()
            get = cache.get
            move = cache.move_to_end
            found = {}
            groups = [{} for _ in parts]
            group = groups[index]
            for row in rows:
                pk = row[0]
                digest = row[1]
                if digest is None:
                    entry = get(pk)
                    if entry is None:  # gone since: ask again, whole rows
                        self._m2m_rows[alias] = -1
                        return run_parts([self.m2m_part(alias, parts)])[0]
                    inst = entry[1]
                    move(pk)
                else:
                    inst = build(row[3:])
                    cache[pk] = (digest, inst)
                found[pk] = inst
                for src in row[2]:
                    lst = group.get(src)
                    if lst is None:
                        group[src] = [inst]
                    else:
                        lst.append(inst)
            self._trim(cache)
            self._prefetch(found)
            return found.values(), groups
        return Part(self, shape, lambda wrap: m2m_delta_statement(
            shape, link, values, held, wrap), shape.ncols + 4, finish)

    def _held(self, alias, keys):
        """[(key, digest, row type)] of the instances held for ``alias``
        (of ``keys`` only, unless None) whose row's digest is known."""
        held = []
        for (a, rowtype), cache in self._caches.items():
            if a != alias:
                continue
            entries = cache.items() if keys is None else (
                (k, cache.get(k)) for k in keys)
            for k, entry in entries:
                if entry is None:
                    continue
                if entry[0].__class__ is str:
                    held.append((k, entry[0], rowtype))
                elif len(entry) > 2:  # loaded by load_all
                    held.append((k, entry[2], rowtype))
        return held

    @staticmethod
    def m2m_empty(parts):
        return (), [{} for _ in parts]

    def load_all(self, alias):
        """prefetch_all: fill the cache with up to lru_cache_size rows."""
        if not self.memoize or self.lru_cache_size == 0:
            return
        shape = self._shape(alias)
        if shape.empty:
            return
        statement = load_all_statement(shape, self.queryset, self.lru_cache_size)
        if statement is None:
            return
        pending = self.session.pending(alias) if self.session else None
        if not pending:
            rows, rowtype = execute(shape.connection, *statement)
        else:
            sql, params, done = pending
            rows, rowtype, info = execute(
                shape.connection, *with_session(shape, statement, sql, params), session=True)
            done(info, False)  # the CTE ran only if a row came
        if not shape.plain:
            self._instances(shape, rows, rowtype)
            return
        # entries (row as fk_statement returns it, instance, digest), for
        # both kinds of statements
        n = shape.ncols
        cache = self._cache(alias, rowtype)
        build = shape.build()
        key = shape.pk_getter()
        for row in rows:
            values = row[:n] + row[n + 1:]
            cache[key(row)] = (values, build(values), row[n])
        self._trim(cache)

    # -- instances -----------------------------------------------------------

    def _cache(self, alias, rowtype):
        if not self.memoize:
            return None
        key = (alias, rowtype)
        cache = self._caches.get(key)
        if cache is None:
            cache = self._caches[key] = OrderedDict()
        return cache

    def _trim(self, cache):
        if cache is not None:
            excess = len(cache) - self.lru_cache_size
            if excess > 0:
                popitem = cache.popitem
                for _ in range(excess):
                    popitem(last=False)

    def _instances(self, shape, rows, rowtype):
        """{primary key: instance} for rows of the target's columns (and the
        row type marker)."""
        found = self._resolve(shape, rowtype, dict(zip(map(shape.pk_getter(), rows), rows)))
        if shape.pk_converted:
            found = {inst.pk: inst for inst in found.values()}
        return found

    def _resolve(self, shape, rowtype, rows, lo=0):
        """{primary key: instance} for {primary key: row}, whose target
        columns start at ``lo``: cached instances whose row is unchanged,
        else new ones, which replace them in the cache."""
        build = shape.build()
        cache = self._cache(shape.alias, rowtype)
        if cache is None:
            found = {pk: build(row[lo:] if lo else row) for pk, row in rows.items()}
        else:
            found = {}
            get = cache.get
            move = cache.move_to_end
            for pk, row in rows.items():
                values = row[lo:] if lo else row
                entry = get(pk)
                if entry is not None and entry[0] == values:
                    inst = entry[1]
                    move(pk)
                else:
                    inst = build(values)
                    cache[pk] = (values, inst)
                found[pk] = inst
            self._trim(cache)
        self._prefetch(found)
        return found

    def _prefetch(self, found):
        # A queryset's own prefetch_related() lookups, on this chunk's
        # instances (never memoized: their prefetched relations could change
        # without their row changing).
        if self._prefetch_lookups and found:
            prefetch_related_objects(list(found.values()), *self._prefetch_lookups)

    def by_key(self, found, key_attname):
        """The instances by the field foreign keys point at (the primary key
        unless to_field says otherwise), or by the tuple of fields a
        composite foreign key points at (``key_attname`` a tuple)."""
        if key_attname == pk_attname(self.model._meta):
            return found
        if isinstance(key_attname, tuple):
            get = attrgetter(*key_attname)
            return {get(inst): inst for inst in found.values()}
        return {getattr(inst, key_attname): inst for inst in found.values()}


class Part:
    """One config's share of a statement: its target and shape, its
    statement (``statement(wrap)``, the ids read through the session's CTE
    with ``wrap``), the width of its rows and ``finish(rows, rowtype)``,
    which makes its result of them."""

    __slots__ = ("target", "shape", "statement", "width", "finish")

    def __init__(self, target, shape, statement, width, finish):
        self.target = target
        self.shape = shape
        self.statement = statement
        self.width = width
        self.finish = finish


def run_parts(parts):
    """The results of parts on one connection, in one statement: a part's
    own, or several merged (sql.merged_statement).  The first statement on a
    connection that the session has not set up sets it up too."""
    first = parts[0]
    session = first.target.session
    alias = first.shape.alias
    connection = first.shape.connection
    pending = session.pending(alias) if session else None
    if len(parts) == 1:
        statement = first.statement(bool(pending))
        if not pending:
            rows, rowtype = execute(connection, *statement)
        else:
            sql, params, done = pending
            rows, rowtype, info = execute(
                connection, *with_session(first.shape, statement, sql, params), session=True)
            done(info, True)  # the calls' ids read the CTE: it ran, rows or not
        return [first.finish(rows, rowtype)]
    statements = [p.statement(bool(pending)) for p in parts]
    widths = [p.width for p in parts]
    sql, params = merged_statement(statements, widths, pending[:2] if pending else None)
    results, info = execute_merged(connection, sql, params, widths, bool(pending))
    if pending:
        pending[2](info, True)
    return [p.finish(rows, rowtype) for p, (rows, rowtype) in zip(parts, results)]
