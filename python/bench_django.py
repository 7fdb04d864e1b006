#!/usr/bin/python3
"""Django section of the memoized_prefetch benchmark.

Reads the books of the bench dataset (bench/bookstore.sql: tables author,
publisher, category, book, book_categories, review) in chunks of 10,000 and,
for every book, reads author, translator, publisher and categories once,
through:

  (a) prefetch_related       Django's own, per chunk
  (b) seed algorithm          django-memoized-prefetch's client-side algorithm,
                              reimplemented here: one in_bulk of the missing
                              ids per model per chunk, links through the
                              through model (stale after updates)
  (c) adapter                 memoized_prefetch.django, backed by the server

and prints, side by side: queries per chunk (first / later), milliseconds per
chunk (median; whole chunk, and beyond loading the books), peak Python memory
(tracemalloc, in a separate run) and whether an update made before a chunk
shows in it.

Usage: bench_django.py [--host H] [--port P] [--dbname D] [--user U]
                       [--chunk-size 10000] [--chunks 10] [--passes 3]
Connection defaults come from PGHOST, PGPORT, PGDATABASE, PGUSER.
"""

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections import OrderedDict, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import django  # noqa: E402
from django.conf import settings  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default=os.environ.get("PGHOST", ""))
    p.add_argument("--port", default=os.environ.get("PGPORT", ""))
    p.add_argument("--dbname", default=os.environ.get("PGDATABASE", "postgres"))
    p.add_argument("--user", default=os.environ.get("PGUSER", ""))
    p.add_argument("--chunk-size", type=int, default=10_000)
    p.add_argument("--chunks", type=int, default=10, help="chunks per run (0: every book)")
    p.add_argument("--passes", type=int, default=3, help="timed runs of each method")
    return p.parse_args()


ARGS = parse_args()

# The models below belong to an app that exists only in this process.
import types  # noqa: E402

from django.apps import AppConfig  # noqa: E402

_app = types.ModuleType("mp_bench")
_app.__file__ = os.path.abspath(__file__)
sys.modules["mp_bench"] = _app


class BenchConfig(AppConfig):
    name = "mp_bench"
    label = "bench"
    path = os.path.dirname(os.path.abspath(__file__))


_app.BenchConfig = BenchConfig
settings.configure(
    DATABASES={"default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": ARGS.dbname, "USER": ARGS.user, "HOST": ARGS.host, "PORT": ARGS.port,
    }},
    INSTALLED_APPS=["mp_bench.BenchConfig"],
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    USE_TZ=True,
)
django.setup()

from django.db import connection, models, transaction  # noqa: E402

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig  # noqa: E402


# The seed's models, mapped onto the bench tables.
class Author(models.Model):
    name = models.CharField(max_length=255)
    email = models.EmailField()

    class Meta:
        app_label = "bench"
        db_table = "author"
        managed = False


class Publisher(models.Model):
    name = models.CharField(max_length=255)
    country = models.CharField(max_length=100)

    class Meta:
        app_label = "bench"
        db_table = "publisher"
        managed = False


class Category(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        app_label = "bench"
        db_table = "category"
        managed = False


class Book(models.Model):
    title = models.CharField(max_length=255)
    isbn = models.CharField(max_length=13)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    translator = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="translations",
                                   null=True)
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="books")
    categories = models.ManyToManyField(Category, related_name="books", db_table="book_categories")

    class Meta:
        app_label = "bench"
        db_table = "book"
        managed = False


class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    rating = models.IntegerField()
    comment = models.TextField()

    class Meta:
        app_label = "bench"
        db_table = "review"
        managed = False


# ---------------------------------------------------------------------------
# (b) the seed package's algorithm (django-memoized-prefetch 0.x), with its
# LRU from lru-dict (Debian: python3-lru-dict) when installed, else an
# OrderedDict standing in for it (slower: a Python call per access).

class OrderedDictLRU:
    def __init__(self, size):
        self.size = size
        self.d = OrderedDict()

    def __contains__(self, key):
        return key in self.d

    def __getitem__(self, key):
        self.d.move_to_end(key)
        return self.d[key]

    def get(self, key, default=None):
        if key in self.d:
            return self[key]
        return default

    def __setitem__(self, key, value):
        self.d[key] = value
        self.d.move_to_end(key)
        while len(self.d) > self.size:
            self.d.popitem(last=False)

    def update(self, other):
        if other is not self:
            for k, v in list(other.items()):
                self[k] = v

    def items(self):
        return self.d.items()

    def keys(self):
        return self.d.keys()

    def values(self):
        return self.d.values()

    def get_size(self):
        return self.size

    def set_size(self, size):
        self.size = size
        while len(self.d) > self.size:
            self.d.popitem(last=False)


try:
    from lru import LRU
    LRU_IMPL = "lru-dict"
except ImportError:
    LRU = OrderedDictLRU
    LRU_IMPL = "OrderedDict stand-in for lru-dict (install python3-lru-dict)"


def dotted_getattr(obj, name):
    key_to_use = "__" if "__" in name else "."
    keys = name.split(key_to_use)
    for i, key in enumerate(keys):
        if i != len(keys) - 1 and getattr(obj, f"{key}_id") is None:
            return None
        obj = getattr(obj, key)
    return obj


class SeedMemoizedPrefetch:
    def __init__(self, *configs):
        self.memoized_objects = {}
        self.memoized_objects_configs = {}
        self.through_model_source_target_cache = {}
        for config in configs:
            self.memoized_objects_configs[config.model] = config
            self.memoized_objects[config.model] = LRU(config.lru_cache_size)
            if config.prefetch_all:
                self.memoized_objects[config.model].update(
                    {x.id: x for x in config.model.objects.all()[: config.lru_cache_size]})

    def _get_m2m_related_ids(self, obj_ids, config):
        cache_key = f"{config.through_model.__name__}_{config.source_field}_{config.target_field}"
        if cache_key not in self.through_model_source_target_cache:
            self.through_model_source_target_cache[cache_key] = LRU(config.lru_cache_size)
        if all(obj_id in self.through_model_source_target_cache[cache_key] for obj_id in obj_ids):
            return self.through_model_source_target_cache[cache_key]
        unseen_ids = set(obj_ids) - set(self.through_model_source_target_cache[cache_key].keys())
        through_objects = config.through_model.objects.filter(
            **{f"{config.source_field}__in": unseen_ids}).values_list(
            config.source_field, config.target_field)
        mapping = self.through_model_source_target_cache[cache_key]
        for source_id, target_id in through_objects:
            if source_id not in mapping:
                mapping[source_id] = []
            mapping[source_id].append(target_id)
        self.through_model_source_target_cache[cache_key].update(mapping)
        return mapping

    def process_chunk(self, objects):
        need_objects = defaultdict(set)
        obj_ids = [obj.id for obj in objects]
        for config in self.memoized_objects_configs.values():
            if config.is_many_to_many:
                related_ids = self._get_m2m_related_ids(obj_ids, config)
                for target_ids in related_ids.values():
                    need_objects[config.model].update(target_ids)
            else:
                for obj in objects:
                    for attribute in config.attributes:
                        if pk := dotted_getattr(obj, f"{attribute}_id"):
                            need_objects[config.model].add(pk)
        need_to_prefetch = {}
        for cls, need_ids in need_objects.items():
            need_ids = need_ids - set(self.memoized_objects[cls].keys())
            if need_ids:
                need_to_prefetch[cls] = need_ids
        for cls, need_ids in need_to_prefetch.items():
            new_objects = cls.objects.in_bulk(need_ids)
            self.memoized_objects[cls].set_size(
                self.memoized_objects[cls].get_size() + len(new_objects))
            self.memoized_objects[cls].update(new_objects)
        for obj in objects:
            for config in self.memoized_objects_configs.values():
                if config.is_many_to_many:
                    self._assign_m2m(config, obj)
                else:
                    self._assign_fk(config, obj)
        for cls, config in self.memoized_objects_configs.items():
            self.memoized_objects[cls].set_size(config.lru_cache_size)

    def _assign_m2m(self, config, obj):
        cache_key = f"{config.through_model.__name__}_{config.source_field}_{config.target_field}"
        related_ids = self.through_model_source_target_cache[cache_key].get(obj.id, [])
        related_objects = [self.memoized_objects[config.model][pk] for pk in related_ids
                           if pk in self.memoized_objects[config.model]]
        for attribute in config.attributes:
            if hasattr(obj, "_prefetched_objects_cache") and \
                    attribute in obj._prefetched_objects_cache:
                existing_cache = obj._prefetched_objects_cache[attribute]
                existing_ids = {existing.id for existing in existing_cache}
                for related_obj in related_objects:
                    if related_obj.id not in existing_ids:
                        existing_cache.add(related_obj)
            else:
                if not hasattr(obj, "_prefetched_objects_cache"):
                    obj._prefetched_objects_cache = {}
                obj._prefetched_objects_cache[attribute] = set(related_objects)

    def _assign_fk(self, config, obj):
        for attribute in config.attributes:
            if not (pk := dotted_getattr(obj, f"{attribute}_id")):
                continue
            value = self.memoized_objects[config.model][pk]
            setattr(obj, attribute, value)


# ---------------------------------------------------------------------------

def configs(authors=10_000):
    m2m = dict(through_model=Book.categories.through, source_field="book_id",
               target_field="category_id")
    return (
        MemoizedPrefetchConfig(Author, ["author", "translator"], lru_cache_size=authors),
        MemoizedPrefetchConfig(Publisher, ["publisher"], prefetch_all=True),
        MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True, **m2m),
    )


def chunks(prefetch=False):
    """Keyset pagination over books by primary key, as chunkator does."""
    last = 0
    n = 0
    while not ARGS.chunks or n < ARGS.chunks:
        qs = Book.objects.filter(pk__gt=last).order_by("pk")[:ARGS.chunk_size]
        if prefetch:
            qs = qs.prefetch_related("author", "translator", "publisher", "categories")
        t0 = time.perf_counter()
        chunk = list(qs)
        t1 = time.perf_counter()
        if not chunk:
            return
        last = chunk[-1].pk
        n += 1
        yield chunk, t1 - t0


def read(chunk):
    n = 0
    for book in chunk:
        n += len(book.author.name)
        if book.translator is not None:
            n += len(book.translator.name)
        n += len(book.publisher.name)
        for category in book.categories.all():
            n += len(category.name)
    return n


def run_prefetch_related():
    for chunk, t_load in chunks(prefetch=True):
        t0 = time.perf_counter()
        read(chunk)
        yield t_load, 0.0, time.perf_counter() - t0


def run_with(prefetcher):
    for chunk, t_load in chunks():
        t0 = time.perf_counter()
        prefetcher.process_chunk(chunk)
        t1 = time.perf_counter()
        read(chunk)
        yield t_load, t1 - t0, time.perf_counter() - t1


METHODS = {
    "(a) prefetch_related": lambda: run_prefetch_related(),
    "(b) seed algorithm": lambda: run_with(SeedMemoizedPrefetch(*configs())),
    "(c) adapter": lambda: run_with(MemoizedPrefetch(*configs())),
    "(d) adapter, pause_gc=True": lambda: run_with(MemoizedPrefetch(*configs(), pause_gc=True)),
}


class QueryCounter:
    def __init__(self):
        self.n = 0

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        return execute(sql, params, many, context)


def measure(name, make):
    """One run over the chunks: per chunk (queries, load, prefetch, read)."""
    counter = QueryCounter()
    out = []
    with connection.execute_wrapper(counter):
        gen = make()
        while True:
            before = counter.n
            try:
                t_load, t_prefetch, t_read = next(gen)
            except StopIteration:
                break
            out.append((counter.n - before, t_load, t_prefetch, t_read))
    return out


def peak_memory(make):
    gc.collect()
    tracemalloc.start()
    for _ in make():
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def staleness(name):
    """Whether an update committed... (here: made in the transaction) before a
    chunk is processed shows in that chunk."""
    make = {"(b) seed algorithm": SeedMemoizedPrefetch,
            "(c) adapter": MemoizedPrefetch}.get(name)
    if make is None:
        return "never stale (no cache)"
    prefetcher = make(*configs())
    # a small chunk, so that every author it needs stays in any LRU
    size = 100
    first = list(Book.objects.order_by("pk")[:size])
    prefetcher.process_chunk(first)
    author_id = first[0].author_id
    with transaction.atomic():
        Author.objects.filter(pk=author_id).update(name="renamed for the staleness check")
        again = list(Book.objects.order_by("pk")[:size])
        prefetcher.process_chunk(again)
        fresh = again[0].author.name == "renamed for the staleness check"
        transaction.set_rollback(True)
    return "never stale" if fresh else "STALE after an update"


class ByteCounter:
    """A Unix-socket relay between Django and the server that counts the
    bytes the server sends (what the client receives)."""

    def __init__(self, host, port):
        import socket
        import tempfile
        import threading
        self.received = 0
        self.dir = tempfile.mkdtemp(prefix="mp-bench-relay-")
        self.target = os.path.join(host, ".s.PGSQL.%s" % (port or 5432))
        self.path = os.path.join(self.dir, ".s.PGSQL.%s" % (port or 5432))
        self._socket, self._threading = socket, threading
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen(4)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            server = self._socket.socket(self._socket.AF_UNIX)
            server.connect(self.target)
            for a, b, count in ((client, server, False), (server, client, True)):
                self._threading.Thread(target=self._pipe, args=(a, b, count), daemon=True).start()

    def _pipe(self, a, b, count):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if count:
                    self.received += len(data)
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(self._socket.SHUT_RDWR)
                except OSError:
                    pass


def bytes_per_chunk(relay, make):
    """Median bytes the client receives per chunk for prefetching (loading
    the chunk's books excluded), through the relay, on a new connection."""
    connection.close()
    saved = connection.settings_dict["HOST"]
    connection.settings_dict["HOST"] = relay.dir
    try:
        prefetcher = make()
        out = []
        for chunk, _ in chunks():
            before = relay.received
            prefetcher.process_chunk(chunk)
            out.append(relay.received - before)
        return statistics.median(out[1:] or out)
    finally:
        connection.close()
        connection.settings_dict["HOST"] = saved


def server_hit_rate():
    """Two passes over the chunks with the authors' lru_cache_size at the
    number of authors, max_backend_memory 256MB, the tables tracked: the
    server's author hits / lookups in the second pass."""
    with connection.cursor() as cursor:
        cursor.execute("SET memoized_prefetch.max_backend_memory = '256MB'")
        cursor.execute("SELECT memoized_prefetch.reset(NULL)")
        cursor.execute("SELECT count(*) FROM author")
        nauthors = cursor.fetchone()[0]
    prefetcher = MemoizedPrefetch(*configs(authors=nauthors))
    for chunk, _ in chunks():
        prefetcher.process_chunk(chunk)
    first = prefetcher.stats()[Author]
    queries = QueryCounter()
    with connection.execute_wrapper(queries):
        nchunks = 0
        for chunk, _ in chunks():
            before = queries.n
            prefetcher.process_chunk(chunk)
            nchunks += 1
            assert queries.n - before == 1, queries.n - before
    second = prefetcher.stats()[Author]
    hits = second["hits"] - first["hits"]
    misses = second["misses"] - first["misses"]
    with connection.cursor() as cursor:
        cursor.execute("RESET memoized_prefetch.max_backend_memory")
    return nauthors, hits, misses, second["evictions"] - first["evictions"], nchunks


def main():
    print("Django section: Django %s, chunks of %d books, %d timed passes per method; "
          "seed LRU: %s" % (django.get_version(), ARGS.chunk_size, ARGS.passes, LRU_IMPL))
    # rows of tracked tables are reused across statements (see the README)
    with connection.cursor() as cursor:
        for table in ("author", "publisher", "category", "book_categories"):
            cursor.execute("SELECT memoized_prefetch.track(%s::regclass)", [table])
    results = {name: [] for name in METHODS}
    names = list(METHODS)
    for p in range(ARGS.passes):
        # rotate the order so that no method always runs first
        for name in names[p % len(names):] + names[:p % len(names)]:
            results[name].append(measure(name, METHODS[name]))
    memory = {name: peak_memory(make) for name, make in METHODS.items()}

    rows = []
    parts = []
    for name in names:
        runs = results[name]
        nchunks = len(runs[0])
        first_q = runs[0][0][0]
        later_q = sorted({r[0] for run in runs for r in run[1:]}) or [first_q]
        totals = [sum(r[1:]) * 1000 for run in runs for r in run]
        beyond = [(r[2] + r[3]) * 1000 for run in runs for r in run]
        if name.startswith("(a)"):
            # loading and prefetching are one queryset evaluation: count what
            # goes beyond the plain load of the same books, as timed by (b)/(c)
            loads = [r[1] * 1000 for n2 in names[1:] for run in results[n2] for r in run]
            base = statistics.median(loads)
            beyond = [t - base for t in totals]
        rows.append((name, nchunks, first_q, later_q, statistics.median(totals),
                     statistics.median(beyond), memory[name], staleness(name)))
        parts.append("%s: load %.1f, prefetch %.1f, read %.1f" % (
            name[:3], *(statistics.median(r[i] * 1000 for run in runs for r in run)
                         for i in (1, 2, 3))))

    print()
    print("%-22s %6s %14s %12s %14s %10s  %s" % (
        "method", "chunks", "queries/chunk", "ms/chunk", "ms beyond load", "peak MiB", "updates"))
    for name, nchunks, fq, lq, total, beyond, mem, stale in rows:
        later = "/".join(map(str, lq))
        print("%-22s %6d %14s %12.1f %14.1f %10.1f  %s" % (
            name, nchunks, "%d first, %s later" % (fq, later) if nchunks > 1 else str(fq),
            total, beyond, mem / 2**20, stale))
    a, b, c = rows[:3]
    print("queries/chunk include the one that loads the chunk's books; "
          "ms beyond load: prefetching and reading, without loading the books")
    print("medians, ms per chunk: " + "; ".join(parts))
    print()
    print("adapter / seed algorithm:   %.2fx per chunk, %.2fx beyond load (target <= 0.5x)"
          % (c[4] / b[4], c[5] / b[5]))
    print("adapter / prefetch_related: %.2fx per chunk, %.2fx beyond load (target <= 0.15x)"
          % (c[4] / a[4], c[5] / a[5]))
    print()
    nauthors, hits, misses, evictions, nchunks = server_hit_rate()
    print("server, second pass, lru_cache_size %d for authors, max_backend_memory 256MB, "
          "tables tracked: author hit rate %.3f (%d hits, %d misses, %d evictions), "
          "1 statement per process_chunk over %d chunks"
          % (nauthors, hits / max(hits + misses, 1), hits, misses, evictions, nchunks))
    relay = ByteCounter(ARGS.host, ARGS.port)
    for name, make in (("(b) seed algorithm", lambda: SeedMemoizedPrefetch(*configs())),
                       ("(c) adapter", lambda: MemoizedPrefetch(*configs()))):
        print("%s: %.0f bytes received per chunk (median, later chunks)"
              % (name, bytes_per_chunk(relay, make)))


if __name__ == "__main__":
    main()
