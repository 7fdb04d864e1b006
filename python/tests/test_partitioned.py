"""Models whose tables are partitioned (tests.parted: authors by hash,
categories by list, books by range with a sub-partitioned range, the
many-to-many link table by range of the book): the results of
prefetch_related with one statement per chunk, forward foreign keys, paths
through a partitioned table, reverse foreign keys whose target is
partitioned, many-to-many through a partitioned link table; stats() of a
model as the sum over its table's leaf partitions; lru_cache_size as each
leaf's cache_size; rows moved between partitions between chunks."""
import random
import re
import warnings

from django.db import connection, transaction
from django.test import TestCase, TransactionTestCase
from django.test.utils import CaptureQueriesContext

from memoized_prefetch.django import (
    MemoizedPrefetch, MemoizedPrefetchConfig, MemoizedPrefetchWarning,
)
from tests.helpers import chunkator_page, values
from tests.parted.models import PAuthor, PBook, PCategory, PReview
from tests.test_server import reset_server

THROUGH = PBook.categories.through
MODELS = (PAuthor, PCategory, PBook, THROUGH)
TABLES = [m._meta.db_table for m in MODELS]  # partitioned
TRACKED = TABLES + [PReview._meta.db_table]


def make_parted(seed=11, authors=40, categories=8, books=300, reviews=400):
    """Rows in every leaf partition: the book ids span the ranges (and some
    the default partition, 1000 and above)."""
    rnd = random.Random(seed)
    book_ids = [i if i < books - 20 else 1000 + i for i in range(books)]
    PAuthor.objects.bulk_create(
        PAuthor(id=i, name="Author %d" % i, email="a%d@example.com" % i) for i in range(authors))
    PCategory.objects.bulk_create(PCategory(id=i, name="Category %d" % i)
                                  for i in range(categories))
    PBook.objects.bulk_create(
        PBook(id=i, title="Book %d" % i, author_id=int(authors * rnd.random() ** 2),
              translator_id=rnd.randrange(authors) if rnd.random() < 0.3 else None)
        for i in book_ids)
    THROUGH.objects.bulk_create(
        THROUGH(pbook_id=b, pcategory_id=c)
        for b in book_ids for c in rnd.sample(range(categories), rnd.choice([0, 1, 2, 3])))
    PReview.objects.bulk_create(PReview(id=i, book_id=rnd.choice(book_ids), rating=1 + i % 5)
                                for i in range(reviews))
    with connection.cursor() as cursor:
        for model in (PAuthor, PCategory, PBook, PReview):
            table = model._meta.db_table
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                           "(SELECT max(id) FROM " + connection.ops.quote_name(table) + "))",
                           [table])


def leaves(table):
    """The leaf partitions of ``table``, by name."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT relid::regclass::text FROM pg_partition_tree(%s::regclass) "
                       "WHERE isleaf ORDER BY 1", [table])
        return [r[0] for r in cursor.fetchall()]


def leaf_stats(table):
    """{leaf: (entries, hits, misses, evictions)} of this connection's
    caches of the leaves of ``table``, as the server's view shows them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.relid::regclass::text, coalesce(sum(s.entries), 0), "
            "coalesce(sum(s.hits), 0), coalesce(sum(s.misses), 0), "
            "coalesce(sum(s.evictions), 0) "
            "FROM pg_partition_tree(%s::regclass) p LEFT JOIN memoized_prefetch.stats s "
            "ON s.relid = p.relid AND s.pid = pg_backend_pid() WHERE p.isleaf GROUP BY 1",
            [table])
        return {r[0]: tuple(map(int, r[1:])) for r in cursor.fetchall()}


def book_snapshot(book):
    return (values(book), values(book.author), values(book.translator),
            sorted(map(values, book.categories.all()), key=repr),
            sorted(map(values, book.reviews.all()), key=repr))


def author_snapshot(author):
    return (values(author), sorted(map(values, author.books.all()), key=repr),
            sorted(map(values, author.translations.all()), key=repr))


def book_configs(**extra):
    return (MemoizedPrefetchConfig(PAuthor, ["author", "translator"], **extra),
            MemoizedPrefetchConfig(PCategory, ["categories"], is_many_to_many=True, **extra),
            MemoizedPrefetchConfig(PReview, ["reviews"], **extra))


def expected_books(chunk):
    return PBook.objects.filter(pk__in=[b.pk for b in chunk]).order_by("pk").prefetch_related(
        "author", "translator", "categories", "reviews")


def expected_authors(chunk):
    return PAuthor.objects.filter(pk__in=[a.pk for a in chunk]).order_by(
        "pk").prefetch_related("books", "translations")


class Partitioned(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_parted()

    def test_tables_are_partitioned(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT relname, relkind FROM pg_class WHERE relname = ANY(%s)",
                           [TABLES])
            self.assertEqual(dict(cursor.fetchall()), dict.fromkeys(TABLES, "p"))
        self.assertEqual(len(leaves(PAuthor._meta.db_table)), 4)
        self.assertEqual(len(leaves(PBook._meta.db_table)), 5)
        # every leaf has rows
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute("SELECT count(DISTINCT tableoid) FROM "
                               + connection.ops.quote_name(table))
                self.assertEqual(cursor.fetchone()[0], len(leaves(table)), table)

    def test_books_same_as_prefetch_related(self):
        mp = MemoizedPrefetch(*book_configs())
        chunks = list(chunkator_page(PBook.objects.all(), 40))
        self.assertGreater(len(chunks), 5)
        first = {}
        for _ in range(2):
            for chunk in chunks:
                with CaptureQueriesContext(connection) as ctx:
                    mp.process_chunk(chunk)
                sql = [q["sql"] for q in ctx.captured_queries]
                self.assertEqual(len(sql), 1, sql)
                self.assertIn("memoized_prefetch.fk(", sql[0])
                self.assertIn("memoized_prefetch.m2m(", sql[0])
                self.assertIn("memoized_prefetch.reverse_fk(", sql[0])
                with self.assertNumQueries(0):
                    mine = [book_snapshot(b) for b in chunk]
                self.assertEqual(mine, [book_snapshot(b) for b in expected_books(chunk)])
                # the second pass reuses the instances of the first (the
                # server returned the same rows, from the leaves)
                for book in chunk:
                    kept = first.setdefault(book.pk, (book.author, list(book.categories.all())))
                    self.assertIs(book.author, kept[0])
                    self.assertEqual(len(book.categories.all()), len(kept[1]))
                    for mine_c, first_c in zip(book.categories.all(), kept[1]):
                        self.assertIs(mine_c, first_c)

    def test_prefetch_all_of_a_partitioned_table(self):
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(PAuthor, ["author", "translator"],
                                                     prefetch_all=True))
        loaded = dict(mp.memoized_objects[PAuthor])
        self.assertEqual(len(loaded), PAuthor.objects.count())
        chunk = list(PBook.objects.order_by("pk"))
        with self.assertNumQueries(1):
            mp.process_chunk(chunk)
        for book in chunk:
            self.assertIs(book.author, loaded[book.author_id])

    def test_reverse_fk_to_a_partitioned_table(self):
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(PBook, ["books", "translations"]))
        for chunk in chunkator_page(PAuthor.objects.all(), 7):
            with self.assertNumQueries(1):
                mp.process_chunk(chunk)
            with self.assertNumQueries(0):
                mine = [author_snapshot(a) for a in chunk]
                for author in chunk:
                    for book in author.books.all():
                        self.assertIs(book.author, author)
            self.assertEqual(mine, [author_snapshot(a) for a in expected_authors(chunk)])

    def test_paths_through_a_partitioned_table(self):
        # review.book (a partitioned target), review.book.author (a path
        # whose middle step is partitioned), with and without a config for
        # the books
        for configs, queries in (
                ((MemoizedPrefetchConfig(PAuthor, ["book.author", "book.translator"]),), 2),
                ((MemoizedPrefetchConfig(PBook, ["book"]),
                  MemoizedPrefetchConfig(PAuthor, ["book.author", "book.translator"])), 2)):
            mp = MemoizedPrefetch(*configs)
            for chunk in chunkator_page(PReview.objects.all(), 50):
                with self.assertNumQueries(queries):
                    mp.process_chunk(chunk)
                with self.assertNumQueries(0):
                    mine = [(values(r), values(r.book), values(r.book.author),
                             values(r.book.translator)) for r in chunk]
                expected = PReview.objects.filter(pk__in=[r.pk for r in chunk]).order_by(
                    "pk").select_related("book__author", "book__translator")
                self.assertEqual(mine, [(values(r), values(r.book), values(r.book.author),
                                         values(r.book.translator)) for r in expected])


    def test_many_to_many_at_the_end_of_a_path(self):
        # review.book.categories: the link table partitioned, and the
        # books (the path's step) too
        mp = MemoizedPrefetch(
            MemoizedPrefetchConfig(PBook, ["book"]),
            MemoizedPrefetchConfig(PCategory, ["book.categories"], is_many_to_many=True))
        for chunk in chunkator_page(PReview.objects.all(), 60):
            with self.assertNumQueries(2):
                mp.process_chunk(chunk)
            with self.assertNumQueries(0):
                mine = [(values(r), values(r.book),
                         sorted(values(c) for c in r.book.categories.all())) for r in chunk]
            expected = PReview.objects.filter(pk__in=[r.pk for r in chunk]).order_by(
                "pk").prefetch_related("book__categories")
            self.assertEqual(mine, [(values(r), values(r.book),
                                     sorted(values(c) for c in r.book.categories.all()))
                                    for r in expected])


class PartitionedTracked(TransactionTestCase):
    """With the partitioned tables tracked (track() tracks every leaf) and
    outside a transaction that wrote them, so that the server keeps rows
    across statements."""

    def setUp(self):
        make_parted()
        with connection.cursor() as cursor:
            for table in TRACKED:
                cursor.execute("SELECT memoized_prefetch.track(%s::regclass)", [table])
            for table in TABLES:  # track() of a partitioned table tracks its leaves
                cursor.execute("SELECT bool_and(memoized_prefetch.tracked(relid)) "
                               "FROM pg_partition_tree(%s::regclass) WHERE isleaf", [table])
                self.assertTrue(cursor.fetchone()[0], table)
        reset_server()

    def tearDown(self):
        with connection.cursor() as cursor:
            for table in TRACKED:
                cursor.execute("SELECT memoized_prefetch.configure(%s::regclass, NULL), "
                               "memoized_prefetch.untrack(%s::regclass)", [table, table])
        reset_server()

    def test_stats_sum_the_leaves(self):
        mp = MemoizedPrefetch(*book_configs())
        chunks = list(chunkator_page(PBook.objects.all(), 40))
        for _ in range(2):
            for chunk in chunks:
                mp.process_chunk(chunk)
        stats = mp.stats()
        self.assertEqual(set(stats), {PAuthor, PCategory, PReview, THROUGH})
        for model in (PAuthor, PCategory, THROUGH):
            per_leaf = leaf_stats(model._meta.db_table)
            self.assertEqual(len(per_leaf), len(leaves(model._meta.db_table)))
            self.assertEqual(stats[model], {
                "hits": sum(v[1] for v in per_leaf.values()),
                "misses": sum(v[2] for v in per_leaf.values()),
                "evictions": sum(v[3] for v in per_leaf.values())}, model)
            # every leaf was read, and the second pass found its rows
            for leaf, (entries, hits, misses, _) in per_leaf.items():
                self.assertGreater(misses, 0, leaf)
                self.assertGreater(hits, 0, leaf)
        # the authors of the second pass are all hits
        self.assertGreater(stats[PAuthor]["hits"], stats[PAuthor]["misses"])
        self.assertGreater(stats[PReview]["hits"], 0)  # an ordinary table, as before

    def test_stats_of_a_reverse_relation_to_a_partitioned_table(self):
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(PBook, ["books"]))
        for _ in range(2):
            for chunk in chunkator_page(PAuthor.objects.all(), 10):
                mp.process_chunk(chunk)
        per_leaf = leaf_stats(PBook._meta.db_table)
        stats = mp.stats()[PBook]
        self.assertEqual(stats["hits"], sum(v[1] for v in per_leaf.values()))
        self.assertEqual(stats["misses"], sum(v[2] for v in per_leaf.values()))
        self.assertGreater(stats["hits"], 0)

    def test_lru_cache_size_reaches_every_leaf(self):
        chunk = list(PBook.objects.order_by("pk"))
        size = 3
        mp = MemoizedPrefetch(
            MemoizedPrefetchConfig(PAuthor, ["author", "translator"], lru_cache_size=size),
            MemoizedPrefetchConfig(PCategory, ["categories"], is_many_to_many=True,
                                   lru_cache_size=size))
        with CaptureQueriesContext(connection) as ctx:
            mp.process_chunk(chunk)
        self.assertEqual(len(ctx.captured_queries), 1)
        self.assertIn("memoized_prefetch.configure(", ctx.captured_queries[0]["sql"])
        for model in (PAuthor, PCategory, THROUGH):
            per_leaf = leaf_stats(model._meta.db_table)
            for leaf, (entries, _, _, _) in per_leaf.items():
                self.assertGreater(entries, 0, leaf)
                self.assertLessEqual(entries, size, leaf)
        # the cap is per leaf: the four author leaves hold more than size
        self.assertGreater(sum(v[0] for v in leaf_stats(PAuthor._meta.db_table).values()), size)
        # a size that holds every author: each leaf keeps all of its own
        reset_server()
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(PAuthor, ["author", "translator"],
                                                     lru_cache_size=1000))
        mp.process_chunk(chunk)
        needed = {b.author_id for b in chunk} | {b.translator_id for b in chunk} - {None}
        self.assertEqual(sum(v[0] for v in leaf_stats(PAuthor._meta.db_table).values()),
                         len(needed))

    def test_reverse_lru_cache_size_reaches_every_leaf(self):
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(PBook, ["books"], lru_cache_size=2))
        mp.process_chunk(list(PAuthor.objects.order_by("pk")))
        per_leaf = leaf_stats(PBook._meta.db_table)
        self.assertEqual(len(per_leaf), 5)
        for leaf, (entries, _, _, _) in per_leaf.items():
            self.assertGreater(entries, 0, leaf)
            self.assertLessEqual(entries, 2, leaf)

    def test_partition_created_later(self):
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(PBook, ["books"]))
        for chunk in chunkator_page(PAuthor.objects.all(), 10):
            mp.process_chunk(chunk)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE parted_pbook_late PARTITION OF parted_pbook "
                           "FOR VALUES FROM (3000) TO (4000)")
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT memoized_prefetch.tracked('parted_pbook_late')")
                self.assertTrue(cursor.fetchone()[0])
            PBook.objects.bulk_create(PBook(id=3000 + i, title="Late %d" % i, author_id=i)
                                      for i in range(10))
            for _ in range(2):
                for chunk in chunkator_page(PAuthor.objects.all(), 10):
                    mp.process_chunk(chunk)
                    self.assertEqual([author_snapshot(a) for a in chunk],
                                     [author_snapshot(a) for a in expected_authors(chunk)])
            per_leaf = leaf_stats(PBook._meta.db_table)
            self.assertEqual(len(per_leaf), 6)
            self.assertGreater(per_leaf["parted_pbook_late"][1], 0)  # hits
            self.assertEqual(mp.stats()[PBook]["hits"], sum(v[1] for v in per_leaf.values()))
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE parted_pbook DETACH PARTITION parted_pbook_late")
                cursor.execute("DROP TABLE parted_pbook_late")

    def test_warning_counts_the_rows_the_config_asks_for(self):
        chunk = list(PBook.objects.order_by("pk")[:50])
        with connection.cursor() as cursor:
            cursor.execute("SET memoized_prefetch.max_backend_memory = '64kB'")
        try:
            mp = MemoizedPrefetch(MemoizedPrefetchConfig(PAuthor, ["author"],
                                                         lru_cache_size=100_000))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                mp.process_chunk(chunk)
            ours = [str(w.message) for w in caught
                    if issubclass(w.category, MemoizedPrefetchWarning)]
            self.assertEqual(len(ours), 1, ours)
            self.assertIn("memoized_prefetch.max_backend_memory", ours[0])
            # the total the config asks for, whatever the number of leaves,
            # and the row size of the partitioned table's rows (not of an
            # empty parent)
            found = re.search(r"parted_pauthor\"?: (\d+) entries of about (\d+) bytes", ours[0])
            self.assertIsNotNone(found, ours[0])
            self.assertEqual(int(found.group(1)), 100_000)
            self.assertGreater(int(found.group(2)), 64 + 24 + 24)
            self.assertIn("partitioned: at most 100000 in each of its 4 leaf partitions", ours[0])
            # 200 authors of about 150 bytes fit in 64kB, though four
            # leaves of 200 would not: no warning
            mp = MemoizedPrefetch(MemoizedPrefetchConfig(PAuthor, ["author"],
                                                         lru_cache_size=200))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                mp.process_chunk(chunk)
            self.assertEqual([str(w.message) for w in caught
                              if issubclass(w.category, MemoizedPrefetchWarning)], [])
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET memoized_prefetch.max_backend_memory")

    def test_rows_moved_between_partitions(self):
        book_mp = MemoizedPrefetch(*book_configs())
        author_mp = MemoizedPrefetch(MemoizedPrefetchConfig(PBook, ["books", "translations"]))
        review_mp = MemoizedPrefetch(MemoizedPrefetchConfig(PBook, ["book"]))

        def check():
            for chunk in chunkator_page(PBook.objects.all(), 60):
                with self.assertNumQueries(1):
                    book_mp.process_chunk(chunk)
                self.assertEqual([book_snapshot(b) for b in chunk],
                                 [book_snapshot(b) for b in expected_books(chunk)])
            for chunk in chunkator_page(PAuthor.objects.all(), 9):
                with self.assertNumQueries(1):
                    author_mp.process_chunk(chunk)
                self.assertEqual([author_snapshot(a) for a in chunk],
                                 [author_snapshot(a) for a in expected_authors(chunk)])
            for chunk in chunkator_page(PReview.objects.all(), 80):
                with self.assertNumQueries(1):
                    review_mp.process_chunk(chunk)
                self.assertEqual(
                    [(values(r), values(r.book)) for r in chunk],
                    [(values(r), values(r.book)) for r in PReview.objects.filter(
                        pk__in=[r.pk for r in chunk]).select_related("book").order_by("pk")])

        check()
        check()  # warm
        hits = author_mp.stats()[PBook]["hits"]
        self.assertGreater(hits, 0)

        def partition(table, pk):
            with connection.cursor() as cursor:
                cursor.execute("SELECT tableoid::regclass::text FROM "
                               + connection.ops.quote_name(table) + " WHERE id = %s", [pk])
                return cursor.fetchone()[0]

        # books moved to another range (their reviews and links with them:
        # the link rows move between the link table's partitions too), an
        # author re-keyed into another hash partition, a title changed in
        # place
        moved = [5, 120, 151, 250]
        before = {pk: partition("parted_pbook", pk) for pk in moved}
        author = PBook.objects.get(pk=5).author_id
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE parted_pbook SET id = id + 2000 WHERE id = ANY(%s)", [moved])
            cursor.execute("UPDATE parted_preview SET book_id = book_id + 2000 "
                           "WHERE book_id = ANY(%s)", [moved])
            cursor.execute("UPDATE parted_pbook_categories SET pbook_id = pbook_id + 2000 "
                           "WHERE pbook_id = ANY(%s)", [moved])
            cursor.execute("UPDATE parted_pbook SET title = 'changed' WHERE id = 7")
        for pk in moved:
            self.assertNotEqual(partition("parted_pbook", pk + 2000), before[pk])
        old_leaf = partition("parted_pauthor", author)
        new_author = next(a for a in range(author + 100, author + 200)
                          if self._leaf_of_author(a) != old_leaf)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE parted_pauthor SET id = %s WHERE id = %s", [new_author, author])
            cursor.execute("UPDATE parted_pbook SET author_id = %s WHERE author_id = %s",
                           [new_author, author])
            cursor.execute("UPDATE parted_pbook SET translator_id = %s WHERE translator_id = %s",
                           [new_author, author])
        self.assertNotEqual(partition("parted_pauthor", new_author), old_leaf)
        check()
        # the moved rows were seen where they are now
        moved_books = PBook.objects.filter(pk__in=[pk + 2000 for pk in moved])
        self.assertEqual(len(moved_books), len(moved))
        chunk = list(PAuthor.objects.filter(pk=new_author))
        author_mp.process_chunk(chunk)
        self.assertIn(2005, [b.pk for b in chunk[0].books.all()])
        self.assertEqual(chunk[0].books.all()[0].author_id, new_author)

    @staticmethod
    def _leaf_of_author(pk):
        """The hash partition an author of key ``pk`` goes to."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT r FROM generate_series(0, 3) r WHERE satisfies_hash_partition("
                           "'parted_pauthor'::regclass, 4, r, %s::bigint)", [pk])
            return "parted_pauthor_%d" % cursor.fetchone()[0]
