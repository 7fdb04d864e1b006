"""Processing chunks: MemoizedPrefetch, the plan of each chunk model's
configs, and setting the fetched instances where Django looks for them (the
field cache for foreign keys and reverse one-to-one fields, the prefetch
cache for many-to-many attributes and reverse foreign keys)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from types import MappingProxyType
from typing import Dict, Sequence

from django.db import router
from django.db.models import Field, Model

from .attributes import M2M, MANY, ONE, REVERSE_ONE, ConfigPlan, cache_name, relation_keys
from .config import MemoizedPrefetchConfig
from .instances import Target, run_parts
from .results import assign_many, assign_one
from .sql import is_plain, pk_attname
from .server import ServerSession, server_stats

__all__ = ["MemoizedPrefetch"]

_MISSING = object()


class MemoizedPrefetch:
    """Prefetch the configured relations of chunks of model instances,
    reusing the instances of earlier chunks when the server returns them
    unchanged.

    Creating it makes queries only for configs with ``prefetch_all=True``.
    ``process_chunk`` makes one query for all configs (per database), one
    more for configs with nested attributes, plus one per intermediate hop
    of nested attributes whose objects the chunk lacks.

    ``lru_cache_size`` is also what the server keeps: the first statement
    on each connection (again after a reconnect) configures it, and a
    MemoizedPrefetchWarning says once when the server's settings cannot hold
    it.  ``stats()`` gives the server's counters; ``memoized_objects``,
    ``memoized_objects_configs`` and ``through_model_source_target_cache``
    are the seed package's attributes, read-only.

    ``pause_gc=True`` pauses the cyclic garbage collector while a chunk is
    processed: building a chunk's instances allocates a few container
    objects per row and frees none, so the collector would only scan the
    heap over and over (a third of the time of a 10,000-row chunk).  It is
    off by default because the collector's switch is process-wide.
    """

    def __init__(self, *configs: MemoizedPrefetchConfig, pause_gc: bool = False):
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
        self.pause_gc = pause_gc
        self._targets = [
            Target(c.model, c.get_queryset(), c.lru_cache_size, ordered=c.is_many_to_many)
            for c in configs]
        self._role_targets = {}  # (config index, role) -> Target, see _target_for
        self._plans: Dict[type, _Plan] = {}
        self._server = ServerSession()
        for target in self._targets:
            target.session = self._server
        self._links = {}  # seed's cache key -> the latest chunk's links
        self._tables = {}  # alias -> {table: model}, what stats() reports
        for config, target in zip(self.configs, self._targets):
            if config.prefetch_all:
                alias = router.db_for_read(config.model)
                self._configure(alias, [(config.model._meta.db_table, config.lru_cache_size,
                                         None)], {config.model._meta.db_table: config.model})
                target.load_all(alias)

    # -- django-memoized-prefetch's attributes (read-only) ------------------

    @property
    def memoized_objects(self):
        """{model: {primary key: instance}}: the instances kept between
        chunks, as the seed package exposes them; each mapping has
        ``get_size()`` (its lru_cache_size)."""
        return MappingProxyType({c.model: _InstancesView(self._targets_of(i), c.lru_cache_size)
                                 for i, c in enumerate(self.configs)})

    @property
    def memoized_objects_configs(self):
        """{model: config}."""
        return MappingProxyType({c.model: c for c in self.configs})

    @property
    def through_model_source_target_cache(self):
        """{"<Through>_<source_field>_<target_field>": {source id: [target
        ids]}}: the links of the latest chunk's many-to-many attributes,
        under the seed package's keys (links are asked of the server every
        chunk, so none are kept longer)."""
        return MappingProxyType({k: _LinksView(v, size) for k, (v, size) in self._links.items()})

    def stats(self, using=None):
        """The server's counters for this connection: {model: {"hits",
        "misses", "evictions"}} per target model and, for many-to-many, per
        link (through) model, from memoized_prefetch.stats; a model whose
        table is partitioned gets the sums over its leaf partitions."""
        if using is None:
            if not self._tables:
                return {}
            using = next(iter(self._tables))
        tables = self._tables.get(using, {})
        counts = server_stats(using, list(tables))
        return {tables[t]: v for t, v in counts.items()}

    def _target_for(self, index, role):
        """The Target of config ``index`` for attributes of ``role``
        (attributes.ROLE): the config's own, unless the attributes of the
        other role need other rows than it gives.  Without a queryset,
        a list of targets (many-to-many, reverse foreign key) comes from the
        default manager in its order, one target (foreign key, reverse
        one-to-one) from the base manager, as Django's descriptors have it;
        when those are not both the table's plain rows, the other role gets
        a Target (and instance cache) of its own."""
        key = (index, role)
        target = self._role_targets.get(key)
        if target is not None:
            return target
        config = self.configs[index]
        target = self._targets[index]
        if role != (MANY if config.is_many_to_many else ONE):
            queryset = config.get_queryset(many=role == MANY)
            plain = is_plain(queryset, role == MANY)
            same = plain == target.plain and (
                plain and queryset._db == target.queryset._db or config.queryset is not None)
            if not same:
                target = Target(config.model, queryset, config.lru_cache_size,
                                ordered=role == MANY)
                target.session = self._server
        self._role_targets[key] = target
        return target

    def _targets_of(self, index):
        targets = [self._targets[index]]
        for (i, _), t in self._role_targets.items():
            if i == index and all(t is not u for u in targets):
                targets.append(t)
        return targets

    def _configure(self, alias, tables, models):
        self._tables.setdefault(alias, {}).update(models)
        self._server.want(alias, tables)

    def process_chunk(self, objects: Sequence[Model]) -> None:
        """Set every configured attribute on the instances of ``objects``."""
        if not isinstance(objects, list):
            objects = list(objects)
        if not objects:
            return
        model = objects[0].__class__
        plan = self._plans.get(model)
        if plan is None:
            plan = self._plans[model] = _Plan(model, self.configs, self._target_for,
                                              self._server)
        first = objects[0]
        for alias, tables, models in plan.server_tables(first):
            self._configure(alias, tables, models)
        if not (self.pause_gc and gc.isenabled()):
            plan.run(objects, self._links)
            return
        gc.disable()
        try:
            plan.run(objects, self._links)
        finally:
            gc.enable()


class _InstancesView(Mapping):
    """A config's kept instances by primary key, read-only."""

    def __init__(self, targets, size):
        self._targets = targets
        self._size = size

    def _caches(self):
        for target in self._targets:
            yield from target._caches.values()

    def _merged(self):
        out = {}
        for cache in self._caches():
            for pk, entry in cache.items():
                out[pk] = entry[1]
        return out

    def __getitem__(self, pk):
        for cache in self._caches():
            entry = cache.get(pk)
            if entry is not None:
                return entry[1]
        raise KeyError(pk)

    def __iter__(self):
        return iter(self._merged())

    def __len__(self):
        return len(self._merged())

    def get_size(self):
        return self._size


class _LinksView(Mapping):
    """A many-to-many attribute's links of the latest chunk, read-only."""

    def __init__(self, links, size):
        self._links = links
        self._size = size

    def __getitem__(self, key):
        return list(self._links[key])

    def __iter__(self):
        return iter(self._links)

    def __len__(self):
        return len(self._links)

    def get_size(self):
        return self._size


@dataclass
class _Hop:
    """An intermediate level of nested attributes: the objects ``field``
    points at, and those it set in earlier chunks."""

    target: Target
    field: Field
    loaded: weakref.WeakValueDictionary


class _Plan:
    """The configs resolved for one chunk model, and the intermediate objects
    their nested attributes need."""

    def __init__(self, model, configs, target_for, session):
        self.model = model
        self.configs = [plan for i, c in enumerate(configs) for plan in ConfigPlan.resolve(
            model, c, lambda role, i=i: target_for(i, role))]
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
            self.hops[p] = _Hop(Target(rel, rel._base_manager.all(), 0, memoize=False), f,
                                weakref.WeakValueDictionary())
        self.session = session
        for hop in self.hops.values():
            hop.target.session = self.session

    def server_tables(self, first):
        """[(alias, [(table, cache_size, link source column)], {table:
        model})]: what the server is asked to keep for these configs."""
        by_alias = {}
        for c in self.configs:
            config = c.config
            alias = c.target.alias_for(first)
            tables, models = by_alias.setdefault(alias, ({}, {}))
            table = config.model._meta.db_table
            tables[table] = (table, config.lru_cache_size, None)
            models[table] = config.model
            if c.linked:
                # link tables; for reverse relations the target table, whose
                # entries are the rows of one source value each
                for link in c.links:
                    tables[link.table] = (link.table, config.lru_cache_size, link.source_column)
                    models[link.table] = link.model
        return [(alias, list(t.values()), m) for alias, (t, m) in by_alias.items()]

    def run(self, objects, links=None):
        """One statement (per database) for the direct configs; nested ones
        follow, after the intermediate levels are loaded, in one more."""
        first = objects[0]
        handed_out = set()
        for found in _run_configs(self.direct, objects, first, None, links):
            if self.nested:
                handed_out.update(map(id, found))
        if not self.nested:
            return
        levels = {(): objects}
        for p in self.prefixes:
            hop = self.hops[p]
            parents = levels[p[:-1]]
            _load_hop(hop.target, hop.field, parents, handed_out if len(p) > 1 else None,
                      hop.loaded)
            seen = set()
            level = []
            name = hop.field.name
            for parent in parents:
                child = parent._state.fields_cache.get(name)
                if child is not None and id(child) not in seen:
                    seen.add(id(child))
                    level.append(child)
            levels[p] = level
        _run_configs(self.nested, objects, first, levels, links)


def _run_configs(configs, objects, first, levels, links):
    """Fetch and set the attributes of configs, with one statement per
    database; returns the instances each config used."""
    prepared = [(_prepare_linked if c.linked else _prepare_fk)(c, objects, first, levels, links)
                for c in configs]
    by_alias = {}
    for i, (alias, part, _, _) in enumerate(prepared):
        if part is not None:
            by_alias.setdefault(alias, []).append(i)
    results = {}
    for indexes in by_alias.values():
        for i, result in zip(indexes, run_parts([prepared[i][1] for i in indexes])):
            results[i] = result
    return [apply(results[i] if i in results else empty)
            for i, (_, _, apply, empty) in enumerate(prepared)]


# ---------------------------------------------------------------------------
# Foreign keys

def _prepare_fk(c: ConfigPlan, objects, first, levels, links=None):
    """(alias, Part or None, apply(result), result without a statement)
    of a foreign-key config."""
    target = c.target
    alias = target.alias_for(first)

    # One source row per distinct key value the chunk's instances hold (per
    # target field, when the attributes point at different ones).
    ids = _pk_values(objects, c.source_model)
    saved = None not in ids
    reps = {}
    for a, group in zip(c.attrs, c.key_groups or [None] * len(c.attrs)):
        if a.prefix:
            values = [None if p is None else _value(p, a.attname)
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

    part = None
    if source_ids:
        paths = [a.column_path for a in c.attrs]
        if c.delta:
            # the keys are the values the chunk holds: send only what changed
            keys = set()
            for rep in reps.values():
                keys.update(rep)
            part = target.fk_delta_part(alias, c.source_model, list(source_ids), paths, keys)
        if part is None:
            part = target.fk_part(alias, c.source_model, list(source_ids), paths)

    def apply(found):
        by_key = {}
        for a in c.attrs:
            if a.key_attname not in by_key:
                by_key[a.key_attname] = target.by_key(found, a.key_attname)
        for a in c.attrs:
            parents = objects if not a.prefix else levels[a.prefix]
            _assign_fk(parents, a.attname, a.cache_name, by_key[a.key_attname],
                       a.reverse_cache_name)
        return found.values()
    return alias, part, apply, {}


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
    some, which Django then loads.  For a tuple of attnames (a composite
    key), the tuple of their values, or None where one of them is None
    (a composite foreign key then points at nothing)."""
    if isinstance(attname, tuple):
        return [None if None in t else t
                for t in zip(*(_values(objects, a) for a in attname))]
    try:
        return list(map(itemgetter(attname), map(_instance_dict, objects)))
    except KeyError:
        return [getattr(o, attname) for o in objects]


def _value(obj, attname):
    """_values of one object."""
    if isinstance(attname, tuple):
        t = tuple(getattr(obj, a) for a in attname)
        return None if None in t else t
    return getattr(obj, attname)


def _pk_values(objects, model):
    """The primary key of each object: a tuple for a composite key (None
    where a column is None: unsaved)."""
    return _values(objects, pk_attname(model._meta))


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
    attname, key_attname, column = relation_keys(field)
    need = []
    for parent in parents:
        child = parent._state.fields_cache.get(name, _MISSING)
        if child is _MISSING or (handed_out is not None and id(parent) in handed_out) or (
                child is not None and loaded.get(id(child)) is child):
            need.append(parent)
    if not need:
        return
    # one source row per distinct key value, as in _run_fk
    reps = dict(zip(_values(need, attname), _pk_values(need, field.model)))
    reps.pop(None, None)
    source_ids = [i for i in set(reps.values()) if i is not None]
    found = {}
    if source_ids:
        found = target.fetch_fk(target.alias_for(parents[0]), field.model, source_ids,
                                [column])
    for inst in found.values():
        loaded[id(inst)] = inst
    reverse_name = cache_name(field.remote_field) if field.one_to_one else None
    _assign_fk(need, attname, cache_name(field),
               target.by_key(found, key_attname), reverse_name)


# ---------------------------------------------------------------------------
# Many-to-many attributes and reverse relations: the targets of each source

def _prepare_linked(c: ConfigPlan, objects, first, levels, links=None):
    """(alias, Part or None, apply(result), result without a statement)
    of a config's many-to-many attributes and reverse relations (m2m() and
    reverse_fk() calls)."""
    target = c.target
    alias = target.alias_for(first)
    parts = []
    for a, link in zip(c.attrs, c.links):
        sources = objects if not a.prefix else levels[a.prefix]
        values = _values(sources, link.source_attname)
        if None in values:  # unsaved: Django refuses their relations (or has none)
            kept = [(o, v) for o, v in zip(sources, values) if v is not None]
            sources = [o for o, _ in kept]
            values = [v for _, v in kept]
        parts.append((sources, values))
    lookups = [(link, values) for link, (_, values) in zip(c.links, parts)]
    part = target.m2m_part(alias, lookups)

    def apply(result):
        found, groups = result
        if links is not None:
            # the seed's attribute, before assign_m2m takes the groups apart
            config = c.config
            pk = config.model._meta.pk.attname
            for a, link, group in zip(c.attrs, c.links, groups):
                if a.kind != M2M:
                    continue
                through = a.field.remote_field.through
                key = "%s_%s_%s" % (through.__name__, config.source_field or link.source_column,
                                    config.target_field or link.target_column)
                links[key] = ({s: [getattr(i, pk) for i in insts] for s, insts in group.items()},
                              config.lru_cache_size)
        # reverse relations: copies of instances the cache may keep
        copy = target.memoize and target.lru_cache_size > 0
        for a, (sources, values), group in zip(c.attrs, parts, groups):
            if not sources:
                continue
            if a.kind == REVERSE_ONE:
                assign_one(a, sources, values, group, target.complete, copy)
            else:
                assign_many(a, sources, values, group, c.config.queryset,
                            len(set(values)) != len(values), copy)
        return found
    return alias, part, apply, target.m2m_empty(lookups)
