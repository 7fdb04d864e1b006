"""The prefetched results of many-to-many attributes and reverse foreign
keys: the QuerySets put in the sources' prefetch caches, as
``prefetch_related`` leaves them, but built from one template per chunk and
holding their source weakly; and the instances of reverse one-to-one fields,
put in the sources' field caches."""

from __future__ import annotations

import weakref
from typing import Dict

from .attributes import REVERSE_FK
from .instances import clone


def assign_many(attr, sources, values, groups, queryset, duplicates, copy):
    """Give each source the QuerySet ``prefetch_related`` would leave in its
    prefetch cache for a many-to-many attribute or a reverse foreign key
    (``attr``), with ``values``, the sources' values of the field the link
    table or the foreign key refers to, and ``groups``, the instances linked
    to each value, built from one template per chunk.  A reverse foreign
    key's instances get their foreign key cached back to their source, as
    Django sets it; with ``copy`` (instances kept between chunks) each
    source gets copies of them, so that no instance handed out is changed
    later and no chunk keeps another alive."""
    reverse = attr.kind == REVERSE_FK
    name = attr.cache_name
    manager = getattr(sources[0], attr.field.get_accessor_name() if reverse else attr.field.name)
    base = queryset._chain() if queryset is not None else super(
        manager.__class__, manager).get_queryset()
    template = manager._apply_rel_filters(base)
    cls = _prefetched_queryset_class(template.__class__)
    tdict = dict(template.__dict__)
    hints = tdict.pop("_hints")
    hints.pop("instance", None)
    negate, args, kwargs = tdict["_deferred_filter"]
    if reverse:
        # the core filter {"<foreign key>": source}, which the source's value
        # of the field it refers to does as well; the known related objects
        # {foreign key: {value: source}}, built on first use (see below)
        fk = attr.field.field
        if list(kwargs) != [fk.name]:
            raise ValueError("%s: unexpected filter %r of the related manager" % (attr.text, kwargs))
        tdict.pop("_known_related_objects", None)
        tdict["_mp_known"] = fk
    else:
        # the core filters {"<query name>__<field>": <source's value of that
        # field>}: the field is the one the link table refers to
        attnames = [rh.attname for lh, rh in manager.source_field.related_fields]
        if len(attnames) != 1 or attnames[0] != manager.source_field.target_field.attname:
            raise ValueError("%s: composite relations are not supported" % attr.field)
    tdict.update(_deferred_filter=None, _prefetch_done=True, _mp_hints=hints,
                 _mp_filter=(negate, args, tuple(kwargs)))
    new = object.__new__
    ref = weakref.ref
    back = attr.back_cache_name
    # each source gets its own result list (sources with equal values, copies)
    take = groups.get if duplicates else groups.pop
    for obj, v in zip(sources, values):
        qs = new(cls)
        qd = qs.__dict__
        qd.update(tdict)
        qd["_mp_source"] = ref(obj)
        qd["_mp_key"] = v
        result = take(v, None)
        if result is None:
            result = []
        elif reverse:
            if copy:
                result = list(map(clone, result))
            elif duplicates:
                result = list(result)
            for inst in result:
                inst._state.fields_cache[back] = obj
        elif duplicates:
            result = list(result)
        qd["_result_cache"] = result
        d = obj.__dict__
        cache = d.get("_prefetched_objects_cache")
        if cache is None:
            d["_prefetched_objects_cache"] = {name: qs}
        else:
            cache[name] = qs


def assign_one(attr, sources, values, groups, complete, copy):
    """Put each source's one instance of a reverse one-to-one field (``attr``)
    in its field cache, with the forward field cached back to the source, as
    ``prefetch_related`` does (copies with ``copy``, see assign_many).  A
    source without one gets None, so that the descriptor raises
    RelatedObjectDoesNotExist without a query, when the queryset gives every
    row (``complete``); otherwise it is left to Django to load on access."""
    name = attr.cache_name
    back = attr.back_cache_name
    get = groups.get
    for obj, v in zip(sources, values):
        cache = obj._state.fields_cache
        found = get(v)
        if found:
            inst = clone(found[0]) if copy else found[0]
            inst._state.fields_cache[back] = obj
            cache[name] = inst
        elif complete:
            cache[name] = None
        else:
            cache.pop(name, None)


# The prefetched results of a chunk are instances of a subclass of the
# related manager's QuerySet class that differs in two lazy attributes:
#
# - the Query is shared by all results of the chunk until one is used (to
#   filter, count without results, print the SQL...); it is copied then, and
#   this result's own filter added (``_mp_filter`` with the source's value,
#   ``_mp_key``), which Django keeps in ``_deferred_filter`` until then.
#   Building each result as Django does costs a Query and a copy of it.
# - ``_hints`` (``{"instance": source}``), and for reverse foreign keys
#   ``_known_related_objects`` (``{foreign key: {value: source}}``), are
#   built on first use from a weak reference to the source, so that a source
#   and its prefetched results form no reference cycle and a chunk is freed
#   as soon as it is dropped.
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


def _related_id(fk, source):
    """The key of ``source`` in a related manager's known related objects of
    foreign key ``fk``, as Django makes it: the value of the field it
    refers to, or the tuple of the values of a composite one's fields."""
    value = fk.get_foreign_related_value(source)
    return value[0] if len(value) == 1 else value


def _realize(qs):
    """A prefetched result's ``_hints`` ({"instance": source}) and, for a
    reverse foreign key, its ``_known_related_objects`` ({foreign key:
    {value: source}}), made of the weak reference to the source."""
    d = qs.__dict__
    hints = dict(d.pop("_mp_hints", ()))
    ref = d.pop("_mp_source", None)
    source = ref() if ref is not None else None
    if source is not None:
        hints["instance"] = source
    d.setdefault("_hints", hints)
    fk = d.pop("_mp_known", None)
    if "_known_related_objects" not in d:
        d["_known_related_objects"] = {} if fk is None or source is None else {
            fk: {_related_id(fk, source): source}}


class _FromSource:
    """An attribute of a prefetched result made of its source, until
    something reads it."""

    def __init__(self, name):
        self.name = name

    def __get__(self, qs, cls=None):
        if qs is None:
            return self
        _realize(qs)
        return qs.__dict__[self.name]


def _rebuild_queryset(cls, state):
    qs = cls.__new__(cls)
    qs.__setstate__(state)
    return qs


def _prefetched_reduce_ex(self, protocol):
    self.query  # noqa: B018 -- this result's own Query
    _realize(self)
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
            "_hints": _FromSource("_hints"),
            "_known_related_objects": _FromSource("_known_related_objects"),
            "__reduce_ex__": _prefetched_reduce_ex,
            "__copy__": _prefetched_copy,
        })
        _prefetched_classes[base] = cls
    return cls
