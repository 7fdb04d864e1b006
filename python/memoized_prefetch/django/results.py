"""The prefetched results of many-to-many attributes: the QuerySets put in
the sources' prefetch caches, as ``prefetch_related`` leaves them, but built
from one template per chunk and holding their source weakly."""

from __future__ import annotations

import weakref
from typing import Dict


def assign_m2m(field, sources, values, groups, queryset, duplicates):
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
