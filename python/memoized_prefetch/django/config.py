"""Configuration: MemoizedPrefetchConfig, what to prefetch for a chunk, with
django-memoized-prefetch's parameters, checked when it is made."""

from __future__ import annotations

import dataclasses
import warnings
from typing import List, Optional

from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable

__all__ = ["MemoizedPrefetchConfig"]


@dataclasses.dataclass
class MemoizedPrefetchConfig:
    """What to prefetch for a chunk: the instances of ``model`` that the
    chunk's ``attributes`` point at.

    - ``attributes``: forward ForeignKey / OneToOneField names of the chunk's
      model, or paths of them separated by ``.`` or ``__``
      (``"book.publisher"``); with ``is_many_to_many=True``, ManyToManyField
      names (the last step of a path may be one).  Reverse ForeignKey and
      OneToOneField relations by their accessor names, as prefetch_related
      takes them (``"books"``, ``"book_set"``, ``"profile"``; the last step
      of a path may be one), whatever ``is_many_to_many`` says.
    - ``queryset``: the rows to use for ``model`` (filters, ``only()``,
      ``select_related()``, annotations, ``prefetch_related()``).  An
      attribute whose target the queryset excludes is left unset, so Django
      loads it on access as it would without prefetching; the lists of
      many-to-many attributes and reverse foreign keys are what it gives.
      Default: the base manager for foreign keys and reverse one-to-one
      fields, the default manager for many-to-many and reverse foreign keys,
      as Django's own descriptors use.
    - ``prefetch_all``: load up to ``lru_cache_size`` rows of the queryset
      into the instance cache when the MemoizedPrefetch is created.  Every
      chunk still asks the server, so nothing is ever stale; the rows found
      unchanged are reused without building instances.
    - ``lru_cache_size``: how many instances to keep between chunks, and
      the server's ``cache_size`` for the target table (and the link table
      of many-to-many attributes) in the connections the adapter uses; for
      reverse relations the target table's entries hold the rows of one
      source each.  It bounds memory only: a chunk always gets every target
      it needs.
    - ``is_many_to_many``, ``through_model``, ``source_field``,
      ``target_field``: many-to-many attributes.  The last three are found
      from the field when omitted; when given they must describe the field's
      own link table (names, attnames or column names are accepted).  A
      foreign-key config given them is accepted, with a warning that they
      are ignored, as the seed package ignores them.
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
            # the seed package accepts them and uses them for nothing
            warnings.warn("through_model, source_field and target_field are ignored in the "
                          "config of %s: they are only for is_many_to_many=True"
                          % self.model.__name__, stacklevel=3)

    def get_queryset(self, many=None) -> QuerySet:
        """The queryset of the target rows, as the seed package defines it:
        without one given, the default manager's for lists of targets
        (``many``, by default ``is_many_to_many``; reverse foreign keys too),
        the base manager's for one target, as Django's descriptors use."""
        if self.queryset is not None:
            return self.queryset._chain()
        if many is None:
            many = self.is_many_to_many
        manager = self.model._default_manager if many else self.model._base_manager
        return manager.all()
