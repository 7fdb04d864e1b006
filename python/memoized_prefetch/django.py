"""django-memoized-prefetch's API, backed by the memoized_prefetch extension.

    from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig

    memoized_prefetch = MemoizedPrefetch(
        MemoizedPrefetchConfig(Author, ["author", "translator"]),
        MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True),
    )
    for chunk in chunks:
        memoized_prefetch.process_chunk(chunk)

How a chunk is processed
------------------------
For every config, one SQL statement calls ``memoized_prefetch.fk()`` (foreign
keys, also along paths such as ``book_id.publisher_id``) or
``memoized_prefetch.m2m()`` (many-to-many, through the link table).  The rows
come back with the target's columns; each is probed in a per-config cache of
model instances by primary key and reused only when the cached row's values
equal the returned ones, so an instance is never older than what the server
returned for this chunk.  Instances are placed where Django looks for
prefetched objects: the field cache for forward foreign keys and one-to-one
fields (``book.author`` makes no query), the prefetch cache for many-to-many
fields (``book.categories.all()`` is a QuerySet with its result cache filled,
as ``prefetch_related`` leaves it).

Foreign keys are matched by the values the chunk's own instances hold, as
``prefetch_related`` matches them: a source row changed since the chunk was
loaded leaves its attribute unset, and Django loads it on access.  Because of
that, the server only needs one source row per distinct foreign-key value,
which is all the adapter sends.

Nested attributes (``book.publisher`` on a Review) are set on the
intermediate objects (``review.book``).  Intermediate objects the chunk
already holds (``select_related``, ``prefetch_related``, an earlier config)
are used as they are; missing ones are loaded with one ``fk()`` call per hop
and chunk, shared by every config that needs them.
"""

from __future__ import annotations

import dataclasses
import gc
import re
import weakref
from collections import OrderedDict
from operator import attrgetter, itemgetter
from typing import Dict, List, Optional, Sequence

from django.db import connections, router
from django.db.models import (
    Field, ManyToManyField, Model, QuerySet, prefetch_related_objects,
)
from django.db.models.expressions import RawSQL
from django.db.models.query import ModelIterable, get_related_populators

try:
    from django.core.exceptions import EmptyResultSet
except ImportError:  # Django < 4.0
    from django.db.models.sql.where import EmptyResultSet

__all__ = ["MemoizedPrefetch", "MemoizedPrefetchConfig"]

_SCHEMA = "memoized_prefetch"
_PATH_SEP = re.compile(r"\.|__")
_MISSING = object()
_INTEGER_TYPES = frozenset({
    "AutoField", "BigAutoField", "SmallAutoField", "IntegerField",
    "BigIntegerField", "SmallIntegerField", "PositiveIntegerField",
    "PositiveBigIntegerField", "PositiveSmallIntegerField",
})


@dataclasses.dataclass
class MemoizedPrefetchConfig:
    """What to prefetch for a chunk: the instances of ``model`` that the
    chunk's ``attributes`` point at.

    - ``attributes``: forward ForeignKey / OneToOneField names of the chunk's
      model, or paths of them separated by ``.`` or ``__``
      (``"book.publisher"``); with ``is_many_to_many=True``, ManyToManyField
      names (the last step of a path may be one).
    - ``queryset``: the rows to use for ``model`` (filters, ``only()``,
      ``select_related()``, annotations, ``prefetch_related()``).  An
      attribute whose target the queryset excludes is left unset, so Django
      loads it on access as it would without prefetching.  Default: the base
      manager for foreign keys, the default manager for many-to-many, as
      Django's own descriptors use.
    - ``prefetch_all``: load up to ``lru_cache_size`` rows of the queryset
      into the instance cache when the MemoizedPrefetch is created.  Every
      chunk still asks the server, so nothing is ever stale; the rows found
      unchanged are reused without building instances.
    - ``lru_cache_size``: how many instances to keep between chunks.  It
      bounds memory only: a chunk always gets every target it needs.
    - ``is_many_to_many``, ``through_model``, ``source_field``,
      ``target_field``: many-to-many attributes.  The last three are found
      from the field when omitted; when given they must describe the field's
      own link table (names, attnames or column names are accepted).
    """

    model: type
    attributes: List[str]
    queryset: Optional[QuerySet] = None
    prefetch_all: bool = False
    lru_cache_size: int = 10_000
    is_many_to_many: bool = False
    through_model: Optional[type] = None
    source_field: Optional[str] = None
    target_field: Optional[str] = None

    def __post_init__(self):
        if not (isinstance(self.model, type) and issubclass(self.model, Model)):
            raise TypeError("model must be a Django model class, not %r" % (self.model,))
        if isinstance(self.attributes, str) or not all(
                isinstance(a, str) and a for a in self.attributes):
            raise TypeError("attributes must be a list of attribute names")
        self.attributes = list(self.attributes)
        if not isinstance(self.lru_cache_size, int) or self.lru_cache_size < 0:
            raise ValueError("lru_cache_size must be a non-negative integer")
        if self.queryset is not None:
            if not isinstance(self.queryset, QuerySet):
                raise TypeError("queryset must be a QuerySet")
            if self.queryset.model._meta.concrete_model is not self.model._meta.concrete_model:
                raise ValueError("queryset must be a queryset of %s" % self.model.__name__)
            if self.queryset._iterable_class is not ModelIterable:
                raise ValueError("queryset must return model instances (no values(), values_list())")
            if self.queryset.query.is_sliced:
                raise ValueError("queryset must not be sliced")
        if not self.is_many_to_many and (
                self.through_model or self.source_field or self.target_field):
            raise ValueError("through_model, source_field and target_field are only for "
                             "is_many_to_many=True")

    def get_queryset(self) -> QuerySet:
        """The queryset of the target rows, as the seed package defines it."""
        if self.queryset is not None:
            return self.queryset._chain()
        manager = self.model._default_manager if self.is_many_to_many else self.model._base_manager
        return manager.all()


class MemoizedPrefetch:
    """Prefetch the configured relations of chunks of model instances,
    reusing the instances of earlier chunks when the server returns them
    unchanged.

    Creating it makes queries only for configs with ``prefetch_all=True``.
    ``process_chunk`` makes at most one query per config (plus one per
    intermediate hop of nested attributes whose objects the chunk lacks).
    """

    def __init__(self, *configs: MemoizedPrefetchConfig):
        seen = set()
        for config in configs:
            if not isinstance(config, MemoizedPrefetchConfig):
                raise TypeError("expected MemoizedPrefetchConfig, not %r" % (config,))
            if config.model in seen:
                raise ValueError(
                    "Models have to be unique. If you need to fetch the same model for multiple "
                    "attributes, put the multiple attributes in the list of attributes.")
            seen.add(config.model)
        self.configs = list(configs)
        self._targets = [
            _Target(c.model, c.get_queryset(), c.lru_cache_size, ordered=c.is_many_to_many)
            for c in configs]
        self._plans: Dict[type, _Plan] = {}
        for config, target in zip(self.configs, self._targets):
            if config.prefetch_all:
                target.load_all(router.db_for_read(config.model))

    def process_chunk(self, objects: Sequence[Model]) -> None:
        """Set every configured attribute on the instances of ``objects``."""
        if not isinstance(objects, list):
            objects = list(objects)
        if not objects:
            return
        model = objects[0].__class__
        plan = self._plans.get(model)
        if plan is None:
            plan = self._plans[model] = _Plan(model, self.configs, self._targets)
        # A chunk allocates a few container objects per row and frees none:
        # the cyclic collector would only scan the whole heap over and over
        # (a third of the time of a 10,000-row chunk).  Pause it meanwhile.
        collecting = gc.isenabled()
        if collecting:
            gc.disable()
        try:
            plan.run(objects)
        finally:
            if collecting:
                gc.enable()


# ---------------------------------------------------------------------------
# Resolving attributes against the chunk's model

class _Attr:
    """One attribute of a config, resolved from the chunk's model."""

    def __init__(self, model, text, many_to_many, target_model):
        names = _PATH_SEP.split(text)
        if not all(names):
            raise ValueError("invalid attribute %r" % text)
        fields = []
        current = model
        table = None
        for i, name in enumerate(names):
            last = i == len(names) - 1
            try:
                field = current._meta.get_field(name)
            except Exception:
                raise ValueError("%s has no field %r (attribute %r)"
                                 % (current.__name__, name, text)) from None
            if last and many_to_many:
                if not isinstance(field, ManyToManyField):
                    raise ValueError("attribute %r: %s.%s is not a forward ManyToManyField"
                                     % (text, current.__name__, name))
            else:
                if not ((field.many_to_one or field.one_to_one) and field.concrete
                        and field.related_model is not None):
                    hint = " (use is_many_to_many=True)" if field.many_to_many else ""
                    raise ValueError("attribute %r: %s.%s is not a forward ForeignKey or "
                                     "OneToOneField%s" % (text, current.__name__, name, hint))
                if "." in field.column or "__" in field.column:
                    raise ValueError("attribute %r: column %r cannot be named in a path"
                                     % (text, field.column))
                if table is not None and field.model._meta.db_table != table:
                    raise ValueError("attribute %r: %s is a column of another table than the one "
                                     "%s leads to (multi-table inheritance)"
                                     % (text, field.column, fields[-1].name))
                table = field.related_model._meta.db_table
            fields.append(field)
            current = field.related_model
        if current._meta.concrete_model is not target_model._meta.concrete_model:
            raise ValueError("attribute %r leads to %s, not to %s"
                             % (text, current.__name__, target_model.__name__))
        self.text = text
        self.prefix = tuple(fields[:-1])
        self.field = field = fields[-1]
        self.cache_name = _cache_name(field) if not many_to_many else field.name
        if many_to_many:
            self.source_model = field.model
        else:
            self.source_model = fields[0].model
            self.attname = field.attname
            self.column_path = ".".join(f.column for f in fields)
            self.key_attname = field.target_field.attname
            self.reverse_cache_name = (_cache_name(field.remote_field)
                                       if field.one_to_one else None)


class _M2MLink:
    """The link table of a many-to-many attribute, checked against what the
    config says about it."""

    def __init__(self, attr: _Attr, config: MemoizedPrefetchConfig):
        field = attr.field
        through = field.remote_field.through
        if config.through_model is not None and (
                config.through_model._meta.concrete_model is not through._meta.concrete_model):
            raise ValueError("through_model %s is not the link table of %s"
                             % (config.through_model.__name__, attr.text))
        source = through._meta.get_field(field.m2m_field_name())
        target = through._meta.get_field(field.m2m_reverse_field_name())
        for given, expected, what in ((config.source_field, source, "source_field"),
                                      (config.target_field, target, "target_field")):
            if given is not None and given not in (expected.name, expected.attname, expected.column):
                raise ValueError("%s %r is not %r, the %s of %s's link table"
                                 % (what, given, expected.attname, what, attr.text))
        self.table = through._meta.db_table
        self.source_column = source.column
        self.target_column = target.column
        self.source_key = source.target_field  # what the link rows hold of the source
        self.source_attname = self.source_key.attname


class _ConfigPlan:
    def __init__(self, chunk_model, config, target):
        self.config = config
        self.target = target
        self.many_to_many = config.is_many_to_many
        self.attrs = [_Attr(chunk_model, a, config.is_many_to_many, config.model)
                      for a in config.attributes]
        self.nested = any(a.prefix for a in self.attrs)
        if self.many_to_many:
            self.links = [_M2MLink(a, config) for a in self.attrs]
        else:
            sources = {a.source_model._meta.db_table for a in self.attrs}
            if len(sources) > 1:
                raise ValueError("the attributes of a config must start from one table, not %s"
                                 % ", ".join(sorted(sources)))
            self.source_model = self.attrs[0].source_model
            # which target field each attribute's values are keys of, when
            # they are not all the same field (to_field)
            keys = [a.key_attname for a in self.attrs]
            self.key_groups = keys if len(set(keys)) > 1 else None


class _Plan:
    """The configs resolved for one chunk model, and the intermediate objects
    their nested attributes need."""

    def __init__(self, model, configs, targets):
        self.model = model
        self.configs = [_ConfigPlan(model, c, t) for c, t in zip(configs, targets)]
        self.direct = [c for c in self.configs if not c.nested]
        self.nested = [c for c in self.configs if c.nested]
        prefixes = set()
        for c in self.nested:
            for a in c.attrs:
                for i in range(1, len(a.prefix) + 1):
                    prefixes.add(a.prefix[:i])
        self.prefixes = sorted(prefixes, key=len)
        self.hops = {}
        for p in self.prefixes:
            f = p[-1]
            rel = f.related_model
            # the hop's target, and the intermediates it set in earlier calls
            self.hops[p] = (_Target(rel, rel._base_manager.all(), 0, memoize=False), f,
                            weakref.WeakValueDictionary())

    def run(self, objects):
        first = objects[0]
        handed_out = set()
        for c in self.direct:
            found = _run_config(c, objects, first)
            if self.nested:
                handed_out.update(map(id, found))
        if not self.nested:
            return
        levels = {(): objects}
        for p in self.prefixes:
            target, field, loaded = self.hops[p]
            parents = levels[p[:-1]]
            _load_hop(target, field, parents, handed_out if len(p) > 1 else None, loaded)
            seen = set()
            level = []
            name = field.name
            for parent in parents:
                child = parent._state.fields_cache.get(name)
                if child is not None and id(child) not in seen:
                    seen.add(id(child))
                    level.append(child)
            levels[p] = level
        for c in self.nested:
            _run_config(c, objects, first, levels)


def _run_config(c: _ConfigPlan, objects, first, levels=None):
    """Fetch and set one config's attributes; returns the instances used."""
    if c.many_to_many:
        return _run_m2m(c, objects, first, levels)
    return _run_fk(c, objects, first, levels)


# ---------------------------------------------------------------------------
# Foreign keys

def _run_fk(c: _ConfigPlan, objects, first, levels):
    target = c.target
    alias = target.alias_for(first)

    # One source row per distinct key value the chunk's instances hold (per
    # target field, when the attributes point at different ones).
    ids = _values(objects, c.source_model._meta.pk.attname)
    saved = None not in ids
    reps = {}
    for a, group in zip(c.attrs, c.key_groups or [None] * len(c.attrs)):
        if a.prefix:
            values = [None if p is None else getattr(p, a.attname)
                      for p in (_follow(o, a.prefix) for o in objects)]
        else:
            values = _values(objects, a.attname)
        pairs = zip(values, ids) if saved else (
            (v, i) for v, i in zip(values, ids) if i is not None)
        reps.setdefault(group, {}).update(pairs)
    source_ids = set()
    for rep in reps.values():
        rep.pop(None, None)
        source_ids.update(rep.values())

    found = {}
    if source_ids:
        found = target.fetch_fk(alias, c.source_model, list(source_ids),
                                [a.column_path for a in c.attrs])
    by_key = {}
    for a in c.attrs:
        if a.key_attname not in by_key:
            by_key[a.key_attname] = target.by_key(found, a.key_attname)
    for a in c.attrs:
        parents = objects if not a.prefix else levels[a.prefix]
        _assign_fk(parents, a.attname, a.cache_name, by_key[a.key_attname],
                   a.reverse_cache_name)
    return found.values()


def _assign_fk(parents, attname, name, found, reverse_name):
    """Put the instance each parent's foreign key value points at in its
    field cache, where the descriptor looks first.  A value without an
    instance (not among the rows the queryset gives for the chunk) is left
    to Django to load on access, as without prefetching."""
    get = found.get
    values = _values(parents, attname)
    caches = map(_fields_cache, parents)
    if reverse_name is None:
        for cache, v in zip(caches, values):
            inst = get(v)
            if inst is not None:
                cache[name] = inst
            elif v is None:
                cache[name] = None
            else:
                cache.pop(name, None)
    else:
        for obj, cache, v in zip(parents, caches, values):
            inst = get(v)
            if inst is not None:
                cache[name] = inst
                inst._state.fields_cache[reverse_name] = obj
            elif v is None:
                cache[name] = None
            else:
                cache.pop(name, None)


_instance_dict = attrgetter("__dict__")
_fields_cache = attrgetter("_state.fields_cache")


def _values(objects, attname):
    """The value of a concrete field on each object: read from the instance
    dicts (the attribute's descriptor is a Python call), unless deferred on
    some, which Django then loads."""
    try:
        return list(map(itemgetter(attname), map(_instance_dict, objects)))
    except KeyError:
        return [getattr(o, attname) for o in objects]


def _follow(obj, prefix):
    """The object a path of relations leads to, through cached ones only."""
    for f in prefix:
        obj = obj._state.fields_cache.get(f.name)
        if obj is None:
            return None
    return obj


def _load_hop(target, field, parents, handed_out, loaded):
    """Load the objects ``field`` points at for the parents that lack them,
    and again where the cached one may be older than this chunk: under
    parents that earlier chunks left cached (``handed_out``), or when an
    earlier call set it (``loaded``).  Intermediates the chunk brought
    (select_related, prefetch_related) are used as they are."""
    name = field.name
    attname = field.attname
    need = []
    for parent in parents:
        child = parent._state.fields_cache.get(name, _MISSING)
        if child is _MISSING or (handed_out is not None and id(parent) in handed_out) or (
                child is not None and loaded.get(id(child)) is child):
            need.append(parent)
    if not need:
        return
    # one source row per distinct key value, as in _run_fk
    reps = dict(zip(_values(need, attname), _values(need, field.model._meta.pk.attname)))
    reps.pop(None, None)
    source_ids = [i for i in set(reps.values()) if i is not None]
    found = {}
    if source_ids:
        found = target.fetch_fk(target.alias_for(parents[0]), field.model, source_ids,
                                [field.column])
    for inst in found.values():
        loaded[id(inst)] = inst
    reverse_name = _cache_name(field.remote_field) if field.one_to_one else None
    _assign_fk(need, attname, _cache_name(field),
               target.by_key(found, field.target_field.attname), reverse_name)


# ---------------------------------------------------------------------------
# Many-to-many

def _run_m2m(c: _ConfigPlan, objects, first, levels):
    target = c.target
    alias = target.alias_for(first)
    parts = []
    for a, link in zip(c.attrs, c.links):
        sources = objects if not a.prefix else levels[a.prefix]
        values = _values(sources, link.source_attname)
        if None in values:  # unsaved: Django refuses their relations
            kept = [(o, v) for o, v in zip(sources, values) if v is not None]
            sources = [o for o, _ in kept]
            values = [v for _, v in kept]
        parts.append((sources, values))
    found, groups = target.fetch_m2m(
        alias, [(link, values) for link, (_, values) in zip(c.links, parts)])
    for a, (sources, values), group in zip(c.attrs, parts, groups):
        if sources:
            _assign_m2m(a.field, sources, values, group, c.config.queryset,
                        len(set(values)) != len(values))
    return found


def _assign_m2m(field, sources, values, groups, queryset, duplicates):
    """Give each source the QuerySet ``prefetch_related`` would leave in its
    prefetch cache (with ``values``, the sources' values of the field the
    link table refers to, and ``groups``, the instances linked to each
    value), built from one template per chunk."""
    name = field.name
    manager = getattr(sources[0], name)
    base = queryset._chain() if queryset is not None else super(
        manager.__class__, manager).get_queryset()
    template = manager._apply_rel_filters(base)
    cls = _prefetched_queryset_class(template.__class__)
    tdict = dict(template.__dict__)
    hints = tdict.pop("_hints")
    hints.pop("instance", None)
    negate, args, kwargs = tdict["_deferred_filter"]
    # the core filters {"<query name>__<field>": <source's value of that
    # field>}: the field is the one the link table refers to
    attnames = [rh.attname for lh, rh in manager.source_field.related_fields]
    if len(attnames) != 1 or attnames[0] != manager.source_field.target_field.attname:
        raise ValueError("%s: composite relations are not supported" % field)
    tdict.update(_deferred_filter=None, _prefetch_done=True, _mp_hints=hints,
                 _mp_filter=(negate, args, tuple(kwargs)))
    new = object.__new__
    ref = weakref.ref
    # each source gets its own result list (sources with equal values, copies)
    take = groups.get if duplicates else groups.pop
    for obj, v in zip(sources, values):
        qs = new(cls)
        qd = qs.__dict__
        qd.update(tdict)
        qd["_mp_source"] = ref(obj)
        qd["_mp_key"] = v
        result = take(v, None)
        qd["_result_cache"] = [] if result is None else list(result) if duplicates else result
        d = obj.__dict__
        cache = d.get("_prefetched_objects_cache")
        if cache is None:
            d["_prefetched_objects_cache"] = {name: qs}
        else:
            cache[name] = qs


# The prefetched results of a chunk are instances of a subclass of the
# related manager's QuerySet class that differs in two lazy attributes:
#
# - the Query is shared by all results of the chunk until one is used (to
#   filter, count without results, print the SQL...); it is copied then, and
#   this result's own filter added (``_mp_filter`` with the source's value,
#   ``_mp_key``), which Django keeps in ``_deferred_filter`` until then.
#   Building each result as Django does costs a Query and a copy of it.
# - ``_hints`` (``{"instance": source}``) is built on first use from a weak
#   reference to the source, so that a source and its prefetched results form
#   no reference cycle and a chunk is freed as soon as it is dropped.
#
# Pickled and copied results are plain instances of the base class.

_prefetched_classes: Dict[type, type] = {}


def _prefetched_query(self):
    d = self.__dict__
    if "_mp_filter" in d:
        negate, args, names = d.pop("_mp_filter")
        key = d.pop("_mp_key")
        self._query = self._query.clone()
        self._filter_or_exclude_inplace(negate, args, dict.fromkeys(names, key))
    elif self._deferred_filter:
        negate, args, kwargs = self._deferred_filter
        self._filter_or_exclude_inplace(negate, args, kwargs)
        self._deferred_filter = None
    return self._query


class _SourceHints:
    """``_hints`` of a prefetched result, until something reads it."""

    def __get__(self, qs, cls=None):
        if qs is None:
            return self
        d = qs.__dict__
        hints = dict(d.pop("_mp_hints", ()))
        ref = d.pop("_mp_source", None)
        source = ref() if ref is not None else None
        if source is not None:
            hints["instance"] = source
        d["_hints"] = hints
        return hints


def _rebuild_queryset(cls, state):
    qs = cls.__new__(cls)
    qs.__setstate__(state)
    return qs


def _prefetched_reduce_ex(self, protocol):
    self.query  # noqa: B018 -- this result's own Query
    self._hints  # noqa: B018
    return (_rebuild_queryset, (self.__class__.__mro__[1], self.__getstate__()))


def _prefetched_copy(self):
    return _rebuild_queryset(*_prefetched_reduce_ex(self, 4)[1])


def _prefetched_queryset_class(base):
    cls = _prefetched_classes.get(base)
    if cls is None:
        cls = type(base.__name__, (base,), {
            "__module__": base.__module__,
            "__qualname__": base.__qualname__,
            "__doc__": base.__doc__,
            "query": property(_prefetched_query, base.query.fset),
            "_hints": _SourceHints(),
            "__reduce_ex__": _prefetched_reduce_ex,
            "__copy__": _prefetched_copy,
        })
        _prefetched_classes[base] = cls
    return cls


# ---------------------------------------------------------------------------
# Target rows: SQL, instance cache

class _Shape:
    """How the rows of a target come back on one connection: ``columns``
    (plain) or the queryset's SQL (``qs_sql``, ``qs_params``), ``ncols``,
    ``pk_pos``, and ``build(row)``, which makes an instance of a row."""


class _Target:
    """The instances of one model that a config (or a hop of nested
    attributes) fetches, with the cache that keeps them between chunks.

    The cache is keyed by database alias and by the row type of the table
    the server read (so two schemas on the search_path, as django-tenants
    switches them, never share instances), then by primary key, and holds the
    row the instance was built from.
    """

    def __init__(self, model, queryset, lru_cache_size, ordered=False, memoize=True):
        self.model = model
        self.queryset = queryset
        self.lru_cache_size = lru_cache_size
        self.memoize = memoize and not queryset._prefetch_related_lookups
        self.plain = _is_plain(queryset, ordered)
        self._shapes = {}
        self._caches = {}
        self._prefetch_lookups = queryset._prefetch_related_lookups

    def alias_for(self, source):
        return self.queryset._db or router.db_for_read(self.model, instance=source)

    # -- SQL -----------------------------------------------------------------

    def _shape(self, alias):
        shape = self._shapes.get(alias)
        if shape is None:
            shape = self._shapes[alias] = self._make_shape(alias)
        return shape

    def _make_shape(self, alias):
        connection = connections[alias]
        qn = connection.ops.quote_name
        shape = _Shape()
        shape.alias = alias
        shape.connection = connection
        opts = self.model._meta
        shape.type_sql = _esc(qn(opts.db_table))
        pk = opts.pk
        shape.pk_column = _esc(qn(pk.column))
        if self.plain:
            fields = opts.concrete_fields
            shape.ncols = len(fields)
            shape.columns = [_esc(qn(f.column)) for f in fields]
            shape.attnames = [f.attname for f in fields]
            shape.pk_pos = shape.attnames.index(pk.attname)
            converters = []
            for i, f in enumerate(fields):
                col = f.get_col(opts.db_table)
                convs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if convs:
                    converters.append((i, convs, col))
            shape.converters = converters
            shape.pk_converted = any(i == shape.pk_pos for i, _, _ in converters)
            model = self.model
            n = shape.ncols
            attnames = shape.attnames

            if converters:
                def build(values, alias=alias, connection=connection):
                    values = list(values[:n])
                    for i, convs, col in converters:
                        v = values[i]
                        for conv in convs:
                            v = conv(v, col, connection)
                        values[i] = v
                    return model.from_db(alias, attnames, values)
            else:
                def build(values, alias=alias):
                    return model.from_db(alias, attnames, values[:n])
            shape.build = build
            return shape

        # The queryset restricted to the keys the statement's CTE mp_keys
        # holds, so that its ORDER BY applies to those rows.
        restricted = self.queryset.filter(pk__in=RawSQL("SELECT k FROM mp_keys", ()))
        compiler = restricted.query.get_compiler(using=alias)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            shape.empty = True
            return shape
        shape.empty = False
        select, klass_info, annotation_col_map = (
            compiler.select, compiler.klass_info, compiler.annotation_col_map)
        n = compiler.col_count
        shape.ncols = n
        shape.qs_sql = sql
        shape.qs_params = list(params)
        shape.qs_aliases = ", ".join("c%d" % i for i in range(n))
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        init_list = [s[0].target.attname for s in select[start:end]]
        if pk.attname not in init_list:
            raise ValueError("the queryset of %s must select its primary key" % self.model.__name__)
        shape.pk_pos = start + init_list.index(pk.attname)
        converters = compiler.get_converters([s[0] for s in select[:n]])
        shape.converters = converters
        shape.pk_converted = shape.pk_pos in converters
        related_populators = get_related_populators(klass_info, select, alias)
        model_cls = klass_info["model"]
        converters = list(converters.items())
        annotations = list(annotation_col_map.items())

        def build(values, alias=alias, connection=connection):
            row = list(values[:n])
            for pos, (convs, expression) in converters:
                v = row[pos]
                for conv in convs:
                    v = conv(v, expression, connection)
                row[pos] = v
            obj = model_cls.from_db(alias, init_list, row[start:end])
            for populator in related_populators:
                populator.populate(row, obj)
            for attr_name, col_pos in annotations:
                setattr(obj, attr_name, row[col_pos])
            return obj
        shape.build = build
        return shape

    def fetch_fk(self, alias, source_model, source_ids, column_paths):
        """Instances (by primary key) that the paths lead to from the rows
        of ``source_model`` with these primary keys."""
        shape = self._shape(alias)
        if not self.plain and shape.empty:
            return {}
        connection = shape.connection
        ids_sql, ids = _id_array(source_ids, source_model._meta.pk, connection)
        call = "%s.fk(%%s::regclass, %s, %%s::text[], NULL::%s)" % (
            _SCHEMA, ids_sql, shape.type_sql)
        params = [connection.ops.quote_name(source_model._meta.db_table), ids, list(column_paths)]
        if self.plain:
            sql = "SELECT %s, NULL::%s FROM %s s" % (
                ", ".join("(s.target).%s" % c for c in shape.columns), shape.type_sql, call)
        else:
            sql = "WITH mp_keys AS (SELECT (s.target).%s AS k FROM %s s) SELECT %s, NULL::%s " \
                "FROM (%s) AS q(%s)" % (
                    shape.pk_column, call, ", ".join("q.c%d" % i for i in range(shape.ncols)),
                    shape.type_sql, shape.qs_sql, shape.qs_aliases)
            params = params + shape.qs_params
        rows, rowtype = _execute(connection, sql, params)
        return self._instances(shape, rows, rowtype)

    def fetch_m2m(self, alias, parts):
        """For each (link, source values): {source value: [instances]} in the
        order the queryset gives them."""
        shape = self._shape(alias)
        groups = [{} for _ in parts]
        live = [(i, link, values) for i, (link, values) in enumerate(parts) if values]
        if not live or (not self.plain and shape.empty):
            return (), groups
        connection = shape.connection
        qn = connection.ops.quote_name
        calls = []
        params = []
        for i, link, values in live:
            ids_sql, ids = _id_array(values, link.source_key, connection)
            calls.append((i, "%s.m2m(%%s::regclass, %s, NULL::%s, %%s, %%s)" % (
                _SCHEMA, ids_sql, shape.type_sql)))
            params += [qn(link.table), ids, link.source_column, link.target_column]
        tag = len(live) > 1
        if self.plain:
            cols = ", ".join("(s.target).%s" % c for c in shape.columns)
            sql = " UNION ALL ".join(
                "SELECT %s s.source_id, %s, NULL::%s FROM %s s" % (
                    "%d," % i if tag else "", cols, shape.type_sql, call)
                for i, call in calls)
        else:
            links = " UNION ALL ".join(
                "SELECT %s s.source_id, (s.target).%s AS k FROM %s s" % (
                    "%d AS a," % i if tag else "", shape.pk_column, call)
                for i, call in calls)
            # the queryset's rows for the linked keys, numbered in its order
            sql = ("WITH mp_keys AS MATERIALIZED (%s) "
                   "SELECT %s l.source_id, %s, NULL::%s FROM mp_keys l JOIN "
                   "(SELECT %s, row_number() OVER () AS mp_n FROM (%s) AS qq(%s)) q "
                   "ON q.c%d = l.k ORDER BY q.mp_n" % (
                       links, "l.a," if tag else "",
                       ", ".join("q.c%d" % i for i in range(shape.ncols)), shape.type_sql,
                       ", ".join("qq.c%d" % i for i in range(shape.ncols)),
                       shape.qs_sql, shape.qs_aliases, shape.pk_pos))
            params = params + shape.qs_params
        rows, rowtype = _execute(connection, sql, params)

        lo = 2 if tag else 1
        pks = list(map(itemgetter(shape.pk_pos + lo), rows))
        found = self._resolve(shape, rowtype, dict(zip(pks, rows)), lo)
        instances = map(found.__getitem__, pks)
        if tag:
            for (a, src), inst in zip(map(itemgetter(0, 1), rows), instances):
                groups[a].setdefault(src, []).append(inst)
        else:
            # the rows of a source come together (always, without a queryset)
            group = groups[live[0][0]]
            last = append = _MISSING
            for src, inst in zip(map(itemgetter(0), rows), instances):
                if src != last:
                    last = src
                    lst = group.get(src)
                    if lst is None:
                        lst = group[src] = []
                    append = lst.append
                append(inst)
        return found.values(), groups

    def load_all(self, alias):
        """prefetch_all: fill the cache with up to lru_cache_size rows."""
        if not self.memoize or self.lru_cache_size == 0:
            return
        shape = self._shape(alias)
        if not self.plain and shape.empty:
            return
        if self.plain:
            sql = "SELECT %s, NULL::%s FROM %s t LIMIT %d" % (
                ", ".join("t.%s" % c for c in shape.columns), shape.type_sql,
                shape.type_sql, self.lru_cache_size)
            params = []
        else:
            compiler = self.queryset.query.chain().get_compiler(using=alias)
            try:
                qs_sql, params = compiler.as_sql()
            except EmptyResultSet:
                return
            sql = "SELECT %s, NULL::%s FROM (%s) AS q(%s) LIMIT %d" % (
                ", ".join("q.c%d" % i for i in range(shape.ncols)), shape.type_sql,
                qs_sql, shape.qs_aliases, self.lru_cache_size)
        rows, rowtype = _execute(shape.connection, sql, params)
        self._instances(shape, rows, rowtype)

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
        found = self._resolve(shape, rowtype, dict(zip(map(itemgetter(shape.pk_pos), rows), rows)))
        if shape.pk_converted:
            found = {inst.pk: inst for inst in found.values()}
        return found

    def _resolve(self, shape, rowtype, rows, lo=0):
        """{primary key: instance} for {primary key: row}, whose target
        columns start at ``lo``: cached instances whose row is unchanged,
        else new ones, which replace them in the cache."""
        build = shape.build
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
        unless to_field says otherwise)."""
        if key_attname == self.model._meta.pk.attname:
            return found
        return {getattr(inst, key_attname): inst for inst in found.values()}


def _is_plain(qs: QuerySet, ordered: bool) -> bool:
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


def _cache_name(field):
    """The key of a relation in the field cache (Django 5.1 renamed the
    accessor)."""
    name = getattr(field, "cache_name", None)
    return name if isinstance(name, str) else field.get_cache_name()


def _esc(sql: str) -> str:
    """SQL text embedded in a statement that also has %s parameters."""
    return sql.replace("%", "%%")


def _id_array(values, field, connection):
    """An array parameter of the column type of ``field``: integers as one
    array literal (cheap to send and to parse), other types adapted by the
    driver."""
    db_type = field.rel_db_type(connection)
    if field.get_internal_type() in _INTEGER_TYPES or db_type in ("integer", "bigint", "smallint"):
        return "%%s::%s[]" % db_type, "{%s}" % ",".join(map(str, map(int, values)))
    prep = field.get_db_prep_value
    return "%%s::%s[]" % _esc(db_type), [prep(v, connection) for v in values]


def _execute(connection, sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        rowtype = cursor.description[-1][1]
    return rows, rowtype
