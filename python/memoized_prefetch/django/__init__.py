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
One SQL statement for all configs calls, per config, ``memoized_prefetch.fk()``
(foreign keys, also along paths such as ``book_id.publisher_id``),
``memoized_prefetch.m2m()`` (many-to-many, through the link table) or
``memoized_prefetch.reverse_fk()`` (reverse foreign keys and one-to-one
fields, through the target's foreign key); configs with nested attributes
come in a second one.  The first statement on a
connection also sets the server's cache_size of each target and link table
to the config's lru_cache_size (``memoized_prefetch.configure()``).  The rows
come back with the target's columns; each is probed in a per-config cache of
model instances by primary key and reused only when the cached row's values
equal the returned ones, so an instance is never older than what the server
returned for this chunk.  Instances are placed where Django looks for
prefetched objects: the field cache for forward foreign keys and one-to-one
fields (``book.author`` makes no query) and reverse one-to-one fields
(``author.profile``, None when there is none), the prefetch cache for
many-to-many fields and reverse foreign keys (``book.categories.all()``,
``author.books.all()`` are QuerySets with their result cache filled, as
``prefetch_related`` leaves them).  A reverse relation's objects have their
foreign key cached back to their source; since that makes them the source's
own, each source gets copies of the instances kept between chunks.

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

Modules
-------
Only the names below are the API; the modules are the adapter's own:

- ``config``: MemoizedPrefetchConfig and its checks;
- ``prefetch``: MemoizedPrefetch, a chunk's plan, setting the attributes;
- ``attributes``: resolving attribute names against the chunk's model;
- ``sql``: the statements sent and how their rows are laid out;
- ``instances``: building instances of rows, and the cache reusing them;
- ``results``: the QuerySets left in the prefetch caches of many-to-many
  and reverse foreign key sources, the reverse one-to-one instances;
- ``server``: the session's cache sizes on the server, its warnings, stats().
"""

from .config import MemoizedPrefetchConfig
from .prefetch import MemoizedPrefetch
from .server import MemoizedPrefetchWarning

__all__ = ["MemoizedPrefetch", "MemoizedPrefetchConfig", "MemoizedPrefetchWarning"]
