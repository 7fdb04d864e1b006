"""Resolving a config's attributes against the chunk's model: the fields
along each path, the columns the server follows, the keys Django caches the
results under, and the calls that give the targets of each source for
many-to-many attributes (m2m(), through the link table) and reverse
relations (reverse_fk(), through the target's foreign key)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, List, Optional

from django.db.models import Field, ForeignObject, ManyToManyField

from .config import MemoizedPrefetchConfig
from .sql import SCHEMA, pk_attname, pk_fields

if TYPE_CHECKING:
    from .instances import Target

_PATH_SEP = re.compile(r"\.|__")

# What an attribute is, and so how its targets come and where they go:
FK = "fk"  # forward ForeignKey / OneToOneField: fk(), the field cache
M2M = "m2m"  # forward ManyToManyField: m2m(), the prefetch cache
REVERSE_FK = "reverse_fk"  # reverse ForeignKey: reverse_fk(), the prefetch cache
REVERSE_ONE = "reverse_one"  # reverse OneToOneField: reverse_fk(), the field cache
# Which instances a kind's targets are, as Django's descriptors and
# prefetch_related pick them: a list of them (the default manager, in its
# order) or one (the base manager).
MANY, ONE = "many", "one"
ROLE = {FK: ONE, M2M: MANY, REVERSE_FK: MANY, REVERSE_ONE: ONE}


def cache_name(field) -> str:
    """The key of a relation in the field cache (Django 5.1 renamed the
    accessor)."""
    name = getattr(field, "cache_name", None)
    return name if isinstance(name, str) else field.get_cache_name()


def reverse_relation(model, name):
    """The reverse relation of ``model`` whose accessor is ``name``
    (``book_set``, or the related_name), as prefetch_related names it."""
    for rel in model._meta.related_objects:
        if rel.get_accessor_name() == name:
            return rel
    return None


def forward_relation(field) -> bool:
    """Whether ``field`` is a forward relation that fk() follows: a
    ForeignKey or OneToOneField, or a ForeignObject of several columns (a
    composite foreign key, as Django 5.2 relates models with a
    CompositePrimaryKey), which needs a FOREIGN KEY constraint of those
    columns in the database."""
    if field.many_to_many or not (field.many_to_one or field.one_to_one) or (
            field.related_model is None or not isinstance(field, ForeignObject)):
        return False
    return field.concrete or len(field.local_related_fields) > 1


def relation_keys(field):
    """(attname, key attname, column) of a forward relation: where its value
    is on the source, the target's field that value is a key of, and the
    column fk() is given.  For a composite foreign key the attnames are
    tuples, and the column names its FOREIGN KEY constraint to the server:
    one of its columns that no other relation of the model has (author_id
    of (tenant_id, author_id)), else one that no other relation to the same
    table has."""
    if field.concrete:
        return field.attname, field.target_field.attname, field.column
    mine = [f.column for f in field.local_related_fields]
    table = field.related_model._meta.db_table
    anywhere, to_table = set(), set()
    for f in field.model._meta.get_fields():
        if f is not field and not f.auto_created and isinstance(f, ForeignObject) and (
                f.related_model is not None):
            columns = {g.column for g in f.local_related_fields}
            anywhere |= columns
            if f.related_model._meta.db_table == table:
                to_table |= columns
    own = [c for c in mine if c not in anywhere] or [c for c in mine if c not in to_table]
    if not own:
        raise ValueError("%s.%s: every column of (%s) is also a column of another relation to "
                         "%s, so none names its foreign key" % (
                             field.model.__name__, field.name, ", ".join(mine), table))
    return (tuple(f.attname for f in field.local_related_fields),
            tuple(f.attname for f in field.foreign_related_fields), own[0])


@dataclass
class Attr:
    """One attribute of a config, resolved from the chunk's model."""

    text: str
    prefix: tuple  # the fields of the path before the last
    # the last: a ForeignKey, OneToOneField or ManyToManyField, or the
    # relation (ManyToOneRel, OneToOneRel) of a reverse one
    field: Field
    cache_name: str  # where the result goes (field cache, or prefetch cache)
    source_model: type  # the model of the table the server starts from
    kind: str = FK
    # reverse relations: the key, in the field cache of each target, of the
    # forward foreign key back to its source
    back_cache_name: Optional[str] = None
    # foreign keys only (tuples of attnames for a composite foreign key)
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
            rel = reverse_relation(current, name)
            if rel is not None:
                if not last:
                    raise ValueError("attribute %r: %s.%s is a reverse relation: only the last "
                                     "step of a path may be one" % (text, current.__name__, name))
                if rel.many_to_many or not forward_relation(rel.field):
                    raise ValueError("attribute %r: %s.%s is not the reverse side of a ForeignKey, "
                                     "OneToOneField or composite ForeignObject (reverse "
                                     "many-to-many relations are not supported)"
                                     % (text, current.__name__, name))
                fields.append(rel)
                current = rel.related_model
                continue
            try:
                field = current._meta.get_field(name)
            except Exception:
                raise ValueError("%s has no field %r (attribute %r)"
                                 % (current.__name__, name, text)) from None
            if field.auto_created and not field.concrete and hasattr(field, "get_accessor_name"):
                raise ValueError("attribute %r: %s.%s is a reverse relation, whose accessor "
                                 "is %r" % (text, current.__name__, name,
                                            field.get_accessor_name()))
            if last and many_to_many:
                if not isinstance(field, ManyToManyField):
                    raise ValueError("attribute %r: %s.%s is not a forward ManyToManyField"
                                     % (text, current.__name__, name))
            else:
                if not forward_relation(field):
                    hint = " (use is_many_to_many=True)" if field.many_to_many else ""
                    raise ValueError("attribute %r: %s.%s is not a forward ForeignKey, "
                                     "OneToOneField or composite ForeignObject%s"
                                     % (text, current.__name__, name, hint))
                column = relation_keys(field)[2]
                if "." in column or "__" in column:
                    raise ValueError("attribute %r: column %r cannot be named in a path"
                                     % (text, column))
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
        if rel is not None:
            kind = REVERSE_ONE if rel.one_to_one else REVERSE_FK
            return cls(text, prefix, rel, cache_name(rel), rel.model, kind=kind,
                       back_cache_name=cache_name(rel.field))
        if many_to_many:
            return cls(text, prefix, field, field.name, field.model, kind=M2M)
        attname, key_attname, _ = relation_keys(field)
        return cls(text, prefix, field, cache_name(field), fields[0].model,
                   attname=attname,
                   column_path=".".join(relation_keys(f)[2] for f in fields),
                   key_attname=key_attname,
                   reverse_cache_name=(cache_name(field.remote_field)
                                       if field.one_to_one else None))


@dataclass
class M2MLink:
    """The link table of a many-to-many attribute, checked against what the
    config says about it: m2m() gives the targets of each source."""

    table: str
    source_column: str
    target_column: str
    source_key: Field  # what the link rows hold of the source
    source_attname: str
    model: type  # the link table's (through) model
    shared_targets = True  # many sources link to each target
    target_attnames = None  # a target's source comes in its row (see ReverseLink)

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
                   source.target_field, source.target_field.attname, through)

    def call(self, qn, type_sql, ids_sql, ids):
        """The call giving (source_id, target) rows, and its parameters."""
        return ("%s.m2m(%%s::regclass, %s, NULL::%s, %%s, %%s)" % (SCHEMA, ids_sql, type_sql),
                [qn(self.table)] + ids + [self.source_column, self.target_column])


@dataclass
class ReverseLink:
    """The foreign key of a reverse relation's targets: reverse_fk() gives
    the rows of the target table whose ``source_column`` holds each source's
    value of the field the key refers to (its primary key, or to_field).
    The server caches them in the target table's cache, an entry per source
    value: ``table`` and ``source_column`` are what the session configures
    and sizes (see server.py)."""

    table: str  # the target table
    source_column: str  # its foreign-key column (a composite one's naming column)
    source_table: str  # the table the key refers to
    source_key: Field  # the field of the source the key refers to
    source_attname: str  # (a tuple for a composite primary key)
    model: type  # the target model
    shared_targets = False  # a target row has one source value
    # a composite foreign key: the attnames of a target holding its source's
    # key, in the key's order (the rows' source_id, a record, is not read)
    target_attnames: Optional[tuple] = None

    @classmethod
    def resolve(cls, attr: Attr) -> ReverseLink:
        fk = attr.field.field
        if fk.concrete:
            key = fk.target_field
            return cls(fk.model._meta.db_table, fk.column, key.model._meta.db_table, key,
                       key.attname, fk.model)
        # a composite ForeignObject, which reverse_fk() follows through its
        # FOREIGN KEY constraint to the source's primary key
        opts = fk.related_model._meta
        local = {remote.attname: lh.attname for lh, remote in fk.related_fields}
        keys = pk_fields(opts)
        if set(local) != {f.attname for f in keys}:
            raise ValueError("attribute %r: %s.%s does not refer to the primary key of %s"
                             % (attr.text, fk.model.__name__, fk.name, opts.model.__name__))
        return cls(fk.model._meta.db_table, relation_keys(fk)[2], opts.db_table, opts.pk,
                   pk_attname(opts), fk.model,
                   target_attnames=tuple(local[f.attname] for f in keys))

    def call(self, qn, type_sql, ids_sql, ids):
        return ("%s.reverse_fk(%%s::regclass, %s, NULL::%s, %%s)" % (SCHEMA, ids_sql, type_sql),
                [qn(self.source_table)] + ids + [self.source_column])


@dataclass
class ConfigPlan:
    """A config's attributes of one path and role, resolved against one
    chunk model, with the target that fetches their instances: forward
    foreign keys (fk()), or attributes whose targets come through calls
    giving those of each source (``linked``: many-to-many attributes and
    reverse foreign keys, reverse one-to-one fields)."""

    config: MemoizedPrefetchConfig
    target: Target
    linked: bool
    attrs: List[Attr]
    nested: bool  # some attribute is a path
    links: Optional[list] = None  # linked: an M2MLink or ReverseLink per attribute
    source_model: Optional[type] = None  # foreign keys: the table they all start from
    # foreign keys: which target field each attribute's values are keys of,
    # when they are not all the same field (to_field)
    key_groups: Optional[List[str]] = None
    # foreign keys: every attribute a column of the chunk's own table whose
    # values are primary keys of the target, so that the chunk's values are
    # the keys of the rows it gets (and the server sends only changed rows)
    delta: bool = False

    @classmethod
    def resolve(cls, chunk_model, config: MemoizedPrefetchConfig,
                target_for: Callable[[str], Target]) -> List[ConfigPlan]:
        """The plans of a config's attributes: one for its forward foreign
        keys, one per role (``ROLE``) and source field for the others, each
        with the target ``target_for(role)`` gives."""
        attrs = [Attr.resolve(chunk_model, a, config.is_many_to_many, config.model)
                 for a in config.attributes]
        plans = []
        fks = [a for a in attrs if a.kind == FK]
        if fks:
            plan = cls(config, target_for(ONE), False, fks, any(a.prefix for a in fks))
            sources = {a.source_model._meta.db_table for a in fks}
            if len(sources) > 1:
                raise ValueError("the attributes of a config must start from one table, not %s"
                                 % ", ".join(sorted(sources)))
            plan.source_model = fks[0].source_model
            keys = [a.key_attname for a in fks]
            plan.key_groups = keys if len(set(keys)) > 1 else None
            plan.delta = not plan.nested and set(keys) == {pk_attname(config.model._meta)}
            plans.append(plan)
        # the others by role and by the source field their calls take values
        # of (one type of source_id in the rows of a plan's calls)
        groups = {}
        for a in attrs:
            if a.kind != FK:
                link = M2MLink.resolve(a, config) if a.kind == M2M else ReverseLink.resolve(a)
                groups.setdefault((ROLE[a.kind], link.source_key), []).append((a, link))
        for (role, _), group in groups.items():
            linked = [a for a, _ in group]
            plans.append(cls(config, target_for(role), True, linked,
                             any(a.prefix for a in linked), [link for _, link in group]))
        return plans
