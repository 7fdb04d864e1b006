"""How many queries a chunk costs: one for all its configs, for the first
chunk and for later ones, none when reading the attributes, through the extension."""
import re

from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.bookshop.models import Author, Book, Category, Publisher, Review
from tests.helpers import book_snapshot, chunkator_page, make_bookstore, review_snapshot


def configs(**extra):
    return (
        MemoizedPrefetchConfig(Author, ["author", "translator"], **extra),
        MemoizedPrefetchConfig(Publisher, ["publisher"], **extra),
        MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True, **extra),
    )


class QueryCounts(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_bookstore()

    def test_one_query_per_config_per_chunk(self):
        with self.assertNumQueries(0):
            memoized_prefetch = MemoizedPrefetch(*configs())
        chunks = list(chunkator_page(Book.objects.all(), 40))
        self.assertEqual(len(chunks), 5)
        for i, chunk in enumerate(chunks):
            with CaptureQueriesContext(connection) as ctx:
                memoized_prefetch.process_chunk(chunk)
            sql = [q["sql"] for q in ctx.captured_queries]
            # one statement for all configs (the first also sets the
            # session's cache sizes)
            self.assertEqual(len(sql), 1, "chunk %d: %s" % (i, sql))
            # an fk() call per foreign-key config, one m2m() call, and at
            # most the fk() reading that m2m() call's targets by key
            calls = re.findall(r"memoized_prefetch\.(fk|m2m)\('\"([^']*)\"'::regclass", sql[0])
            self.assertEqual(sql[0].count("memoized_prefetch.fk("), len(
                [c for c in calls if c[0] == "fk"]))
            targets = ("fk", Category._meta.db_table)
            self.assertEqual([c for c in calls if c != targets],
                             [("fk", Book._meta.db_table), ("fk", Book._meta.db_table),
                              ("m2m", Book.categories.through._meta.db_table)])
            self.assertLessEqual(calls.count(targets), 1)
            self.assertEqual("memoized_prefetch.configure(" in sql[0], i == 0)
            with self.assertNumQueries(0):
                for book in chunk:
                    book_snapshot(book)

    def test_prefetch_related_makes_more(self):
        # the baseline: Django's own prefetch_related, per chunk (books + 4)
        for chunk in chunkator_page(Book.objects.all(), 40):
            with self.assertNumQueries(5):
                Book.objects.filter(pk__in=[b.pk for b in chunk]).prefetch_related(
                    "author", "translator", "publisher", "categories")._fetch_all()

    def test_prefetch_all_queries_once_at_creation(self):
        with self.assertNumQueries(1):
            memoized_prefetch = MemoizedPrefetch(
                MemoizedPrefetchConfig(Author, ["author", "translator"]),
                MemoizedPrefetchConfig(Publisher, ["publisher"], prefetch_all=True))
        for chunk in chunkator_page(Book.objects.all(), 64):
            with self.assertNumQueries(1):
                memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                for book in chunk:
                    book.publisher.name

    def test_nested(self):
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Publisher, ["book.publisher"]),
            MemoizedPrefetchConfig(Author, ["book__author"]),
        )
        for chunk in chunkator_page(Review.objects.all(), 70):
            # the reviews' books (once, for both configs), then publishers
            # and authors in one statement
            with self.assertNumQueries(2):
                memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                for review in chunk:
                    review_snapshot(review)

    def test_nested_with_intermediates_loaded(self):
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Publisher, ["book.publisher"]),
            MemoizedPrefetchConfig(Author, ["book__author"]),
        )
        for chunk in chunkator_page(Review.objects.select_related("book"), 70):
            with self.assertNumQueries(1):
                memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                for review in chunk:
                    review_snapshot(review)

    def test_intermediate_config_serves_nested(self):
        # a config for the intermediate model loads it: no extra hop query
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Book, ["book"]),
            MemoizedPrefetchConfig(Publisher, ["book.publisher"]),
        )
        for chunk in chunkator_page(Review.objects.all(), 70):
            with self.assertNumQueries(2):
                memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                for review in chunk:
                    review.book.publisher.name

    def test_empty_chunk(self):
        memoized_prefetch = MemoizedPrefetch(*configs())
        with self.assertNumQueries(0):
            memoized_prefetch.process_chunk([])
            memoized_prefetch.process_chunk(Book.objects.none())

    def test_only_null_keys(self):
        books = list(Book.objects.filter(translator__isnull=True)[:20])
        self.assertEqual(len(books), 20)
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(Author, ["translator"]))
        with self.assertNumQueries(0):
            memoized_prefetch.process_chunk(books)
            self.assertEqual([b.translator for b in books], [None] * 20)

    def test_queryset_as_chunk(self):
        memoized_prefetch = MemoizedPrefetch(*configs())
        chunk = Book.objects.filter(pk__lt=50).order_by("pk")
        with self.assertNumQueries(2):  # the chunk's, then the configs' one
            memoized_prefetch.process_chunk(chunk)
        with self.assertNumQueries(0):
            for book in chunk:
                book_snapshot(book)

    def test_unsaved_objects_in_chunk(self):
        memoized_prefetch = MemoizedPrefetch(*configs())
        saved = list(Book.objects.order_by("pk")[:5])
        unsaved = Book(title="New", isbn="1", author_id=saved[0].author_id, publisher_id=1)
        lonely = Book(title="New", isbn="2", author_id=Author.objects.order_by("-pk")[0].pk,
                      publisher_id=1)
        with self.assertNumQueries(1):
            memoized_prefetch.process_chunk(saved + [unsaved, lonely])
        with self.assertNumQueries(0):
            for book in saved:
                book_snapshot(book)
            self.assertEqual(unsaved.author.pk, saved[0].author_id)
        with self.assertNumQueries(1):
            self.assertEqual(lonely.author.pk, lonely.author_id)
        memoized_prefetch.process_chunk([Book(title="x", isbn="x", author_id=0, publisher_id=0)])
