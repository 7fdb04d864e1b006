"""What the adapter asks of the server: lru_cache_size as the session's
cache_size of each target and link table, on every connection and again
after a reconnect; the warning when the server cannot hold it; stats(); and
the seed package's attributes."""
import warnings

from django.db import connection
from django.test import TestCase, TransactionTestCase
from django.test.utils import CaptureQueriesContext

from memoized_prefetch.django import (
    MemoizedPrefetch, MemoizedPrefetchConfig, MemoizedPrefetchWarning,
)
from tests.bookshop.models import Author, Book, Category
from tests.helpers import book_snapshot, chunkator_page, make_bookstore


def server_entries(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(entries), 0) FROM memoized_prefetch.stats "
                       "WHERE pid = pg_backend_pid() AND relid = %s::regclass", [table])
        return cursor.fetchone()[0]


def reset_server():
    with connection.cursor() as cursor:
        cursor.execute("SELECT memoized_prefetch.reset(NULL)")


TRACKED = [Author._meta.db_table, Category._meta.db_table, Book.categories.through._meta.db_table]


class CacheSize(TransactionTestCase):
    """Outside a transaction that wrote the tables (the server caches no
    table its transaction may write), with the tables tracked, so that
    rows are reused across statements."""

    def setUp(self):
        make_bookstore()
        with connection.cursor() as cursor:
            for table in TRACKED:
                cursor.execute("SELECT memoized_prefetch.track(%s::regclass)", [table])
        reset_server()

    def tearDown(self):
        with connection.cursor() as cursor:
            for table in TRACKED:
                cursor.execute("SELECT memoized_prefetch.configure(%s::regclass, NULL), "
                               "memoized_prefetch.untrack(%s::regclass)", [table, table])
        reset_server()

    def test_lru_cache_size_is_the_servers_cache_size(self):
        chunk = list(Book.objects.order_by("pk"))
        needed = len({b.author_id for b in chunk} | {b.translator_id for b in chunk} - {None})
        self.assertGreater(needed, 5)
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Author, ["author", "translator"],
                                                     lru_cache_size=5))
        with CaptureQueriesContext(connection) as ctx:
            mp.process_chunk(chunk)
        self.assertEqual(len(ctx.captured_queries), 1)
        self.assertIn("memoized_prefetch.configure(", ctx.captured_queries[0]["sql"])
        self.assertLessEqual(server_entries(Author._meta.db_table), 5)
        # configured once per connection: later chunks send no configure()
        with CaptureQueriesContext(connection) as ctx:
            mp.process_chunk(chunk)
        self.assertNotIn("configure(", ctx.captured_queries[0]["sql"])
        for book in chunk:
            book_snapshot(book)

        reset_server()
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Author, ["author", "translator"],
                                                     lru_cache_size=1000))
        mp.process_chunk(chunk)
        self.assertEqual(server_entries(Author._meta.db_table), needed)

    def test_link_table_gets_the_size_too(self):
        chunk = list(Book.objects.order_by("pk"))
        through = Book.categories.through._meta.db_table
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Category, ["categories"],
                                                     is_many_to_many=True, lru_cache_size=7))
        mp.process_chunk(chunk)
        self.assertLessEqual(server_entries(through), 7)
        self.assertGreater(server_entries(through), 0)

    def test_warning_when_max_backend_memory_cannot_hold_it(self):
        chunk = list(Book.objects.order_by("pk")[:50])
        with connection.cursor() as cursor:
            cursor.execute("SET memoized_prefetch.max_backend_memory = '64kB'")
        try:
            mp = MemoizedPrefetch(MemoizedPrefetchConfig(Author, ["author"],
                                                         lru_cache_size=100_000))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                mp.process_chunk(chunk)
                mp.process_chunk(chunk)
            ours = [w for w in caught if issubclass(w.category, MemoizedPrefetchWarning)]
            self.assertEqual(len(ours), 1, [str(w.message) for w in caught])
            message = str(ours[0].message)
            self.assertIn("memoized_prefetch.max_backend_memory", message)
            self.assertIn("65536 bytes", message)
            self.assertIn("bytes are needed", message)
            # a size that fits says nothing
            mp = MemoizedPrefetch(MemoizedPrefetchConfig(Author, ["author"], lru_cache_size=10))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                mp.process_chunk(chunk)
            self.assertEqual([w for w in caught
                              if issubclass(w.category, MemoizedPrefetchWarning)], [])
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET memoized_prefetch.max_backend_memory")

    def test_stats(self):
        chunks = list(chunkator_page(Book.objects.all(), 50))
        mp = MemoizedPrefetch(
            MemoizedPrefetchConfig(Author, ["author", "translator"]),
            MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True))
        self.assertEqual(mp.stats(), {})
        for chunk in chunks:
            mp.process_chunk(chunk)
        stats = mp.stats()
        self.assertEqual(set(stats), {Author, Category, Book.categories.through})
        for counts in stats.values():
            self.assertEqual(set(counts), {"hits", "misses", "evictions"})
        # later chunks find the authors
        self.assertGreater(stats[Author]["hits"], 0)
        self.assertGreater(stats[Author]["misses"], 0)
        self.assertEqual(stats[Author]["evictions"], 0)


class SeedAttributes(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_bookstore()

    def test_attributes(self):
        author_config = MemoizedPrefetchConfig(Author, ["author", "translator"], lru_cache_size=50)
        category_config = MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True,
                                                 through_model=Book.categories.through,
                                                 source_field="book_id",
                                                 target_field="category_id", lru_cache_size=20)
        mp = MemoizedPrefetch(author_config, category_config)
        self.assertEqual(dict(mp.memoized_objects_configs),
                         {Author: author_config, Category: category_config})
        self.assertEqual(len(mp.memoized_objects[Author]), 0)
        chunk = list(Book.objects.order_by("pk")[:40])
        mp.process_chunk(chunk)
        objects = mp.memoized_objects[Author]
        self.assertEqual(objects.get_size(), 50)
        for book in chunk:
            self.assertIs(objects[book.author_id], book.author)
        self.assertEqual(set(objects), {b.author_id for b in chunk} | {
            b.translator_id for b in chunk if b.translator_id is not None})
        links = mp.through_model_source_target_cache["Book_categories_book_id_category_id"]
        self.assertEqual(links.get_size(), 20)
        for book in chunk:
            self.assertEqual(sorted(links.get(book.id, [])),
                             sorted(c.id for c in book.categories.all()))
        # read-only
        with self.assertRaises(TypeError):
            mp.memoized_objects[Author] = {}
        with self.assertRaises(TypeError):
            objects[1] = None
        with self.assertRaises(TypeError):
            mp.memoized_objects_configs[Author] = None
        with self.assertRaises(AttributeError):
            mp.memoized_objects = {}

    def test_foreign_key_config_with_through_model(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            config = MemoizedPrefetchConfig(Author, ["author"], through_model=Book,
                                            source_field="id", target_field="author_id")
        self.assertEqual(len(caught), 1)
        self.assertIn("ignored", str(caught[0].message))
        chunk = list(Book.objects.order_by("pk")[:20])
        MemoizedPrefetch(config).process_chunk(chunk)
        with self.assertNumQueries(0):
            for book in chunk:
                book.author.name


class Reconnect(TransactionTestCase):
    """A reconnect in the middle of a job: the new connection is configured
    again, and nothing the old one returned is served stale."""

    def setUp(self):
        make_bookstore()

    def tearDown(self):
        reset_server()

    def test_reconnect(self):
        chunks = list(chunkator_page(Book.objects.all(), 50))
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Author, ["author", "translator"],
                                                     lru_cache_size=4))
        mp.process_chunk(chunks[0])
        self.assertLessEqual(server_entries(Author._meta.db_table), 4)
        connection.close()
        author_id = chunks[1][0].author_id
        Author.objects.filter(pk=author_id).update(name="renamed")  # reconnects
        with CaptureQueriesContext(connection) as ctx:
            mp.process_chunk(chunks[1])
        self.assertEqual(len(ctx.captured_queries), 1)
        self.assertIn("memoized_prefetch.configure(", ctx.captured_queries[0]["sql"])
        self.assertLessEqual(server_entries(Author._meta.db_table), 4)
        self.assertEqual(chunks[1][0].author.name, "renamed")
        for book in chunks[1]:
            self.assertEqual(book.author.name, Author.objects.get(pk=book.author_id).name)
        with CaptureQueriesContext(connection) as ctx:
            mp.process_chunk(chunks[2])
        self.assertNotIn("configure(", ctx.captured_queries[0]["sql"])
