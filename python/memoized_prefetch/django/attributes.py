"""Resolving a config's attributes against the chunk's model: the fields
along each path, the columns the server follows, the keys Django caches the
results under, and the link tables of many-to-many attributes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional

from django.db.models import Field, ManyToManyField

from .config import MemoizedPrefetchConfig

if TYPE_CHECKING:
    from .instances import Target

_PATH_SEP = re.compile(r"\.|__")


def cache_name(field) -> str:
    """The key of a relation in the field cache (Django 5.1 renamed the
    accessor)."""
    name = getattr(field, "cache_name", None)
    return name if isinstance(name, str) else field.get_cache_name()


@dataclass
class Attr:
    """One attribute of a config, resolved from the chunk's model."""

    text: str
    prefix: tuple  # the fields of the path before the last
    field: Field  # the last: a ForeignKey, OneToOneField or ManyToManyField
    cache_name: str  # where the result goes (field cache, or prefetch cache)
    source_model: type  # the model of the table the server starts from
    # foreign keys only
    attname: Optional[str] = None
    column_path: Optional[str] = None  # for fk(): "book_id.publisher_id"
    key_attname: Optional[str] = None  # the target field the values are keys of
    reverse_cache_name: Optional[str] = None  # one-to-one: the reverse side

    @classmethod
    def resolve(cls, model, text, many_to_many, target_model) -> Attr:
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
        prefix = tuple(fields[:-1])
        if many_to_many:
            return cls(text, prefix, field, field.name, field.model)
        return cls(text, prefix, field, cache_name(field), fields[0].model,
                   attname=field.attname,
                   column_path=".".join(f.column for f in fields),
                   key_attname=field.target_field.attname,
                   reverse_cache_name=(cache_name(field.remote_field)
                                       if field.one_to_one else None))


@dataclass
class M2MLink:
    """The link table of a many-to-many attribute, checked against what the
    config says about it."""

    table: str
    source_column: str
    target_column: str
    source_key: Field  # what the link rows hold of the source
    source_attname: str

    @classmethod
    def resolve(cls, attr: Attr, config: MemoizedPrefetchConfig) -> M2MLink:
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
        return cls(through._meta.db_table, source.column, target.column,
                   source.target_field, source.target_field.attname)


@dataclass
class ConfigPlan:
    """A config resolved against one chunk model, with the target that
    fetches its instances."""

    config: MemoizedPrefetchConfig
    target: Target
    many_to_many: bool
    attrs: List[Attr]
    nested: bool  # some attribute is a path
    links: Optional[List[M2MLink]] = None  # many-to-many: one per attribute
    source_model: Optional[type] = None  # foreign keys: the table they all start from
    # foreign keys: which target field each attribute's values are keys of,
    # when they are not all the same field (to_field)
    key_groups: Optional[List[str]] = None
    # foreign keys: every attribute a column of the chunk's own table whose
    # values are primary keys of the target, so that the chunk's values are
    # the keys of the rows it gets (and the server sends only changed rows)
    delta: bool = False

    @classmethod
    def resolve(cls, chunk_model, config: MemoizedPrefetchConfig, target: Target) -> ConfigPlan:
        many_to_many = config.is_many_to_many
        attrs = [Attr.resolve(chunk_model, a, many_to_many, config.model)
                 for a in config.attributes]
        plan = cls(config, target, many_to_many, attrs, any(a.prefix for a in attrs))
        if many_to_many:
            plan.links = [M2MLink.resolve(a, config) for a in attrs]
        else:
            sources = {a.source_model._meta.db_table for a in attrs}
            if len(sources) > 1:
                raise ValueError("the attributes of a config must start from one table, not %s"
                                 % ", ".join(sorted(sources)))
            plan.source_model = attrs[0].source_model
            keys = [a.key_attname for a in attrs]
            plan.key_groups = keys if len(set(keys)) > 1 else None
            plan.delta = not plan.nested and set(keys) == {config.model._meta.pk.attname}
        return plan
