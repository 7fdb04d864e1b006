"""book.categories.all() behaves as after Django's own prefetch_related."""
import copy
import pickle

from django.db import connection
from django.db.models import QuerySet
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.bookshop.models import Book, Category
from tests.helpers import make_bookstore


class PrefetchedResults(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_bookstore()

    def setUp(self):
        self.chunk = list(Book.objects.order_by("pk"))
        MemoizedPrefetch(MemoizedPrefetchConfig(
            Category, ["categories"], is_many_to_many=True)).process_chunk(self.chunk)
        self.reference = {b.pk: b for b in Book.objects.prefetch_related("categories")}
        self.book = next(b for b in self.chunk if b.categories.count() >= 2)
        self.ref = self.reference[self.book.pk]

    def test_reads_without_queries(self):
        with self.assertNumQueries(0):
            for book in self.chunk:
                qs = book.categories.all()
                ref = self.reference[book.pk].categories.all()
                self.assertIsInstance(qs, QuerySet)
                self.assertIsInstance(qs, type(ref))
                self.assertEqual(sorted(qs, key=lambda c: c.pk), sorted(ref, key=lambda c: c.pk))
                self.assertEqual(len(qs), len(ref))
                self.assertEqual(qs.count(), ref.count())
                self.assertEqual(qs.exists(), ref.exists())
                self.assertEqual(bool(qs), bool(ref))
                self.assertEqual(set(qs), set(book.categories.all()))
                if ref:
                    self.assertIn(qs[0], list(ref))

    def test_filtering_queries_this_book_only(self):
        name = self.book.categories.all()[1].name
        with self.assertNumQueries(1):
            got = list(self.book.categories.filter(name=name))
        self.assertEqual(got, list(self.ref.categories.filter(name=name)))
        last = self.ref.categories.order_by("-name").first()
        with self.assertNumQueries(1):
            self.assertEqual(self.book.categories.all().order_by("-name").first(), last)
        self.assertEqual(str(self.book.categories.all().query),
                         str(self.ref.categories.all().query))
        # the other books' results were not touched by that
        with self.assertNumQueries(0):
            for book in self.chunk:
                list(book.categories.all())
        self.assertEqual(
            sorted(c.pk for c in self.book.categories.exclude(name=name)),
            sorted(c.pk for c in self.ref.categories.exclude(name=name)))

    def test_queries_of_all_books_are_their_own(self):
        for book in self.chunk[:30]:
            self.assertEqual(str(book.categories.all().query),
                             str(self.reference[book.pk].categories.all().query))
            self.assertEqual(sorted(c.pk for c in book.categories.all().filter(pk__gte=0)),
                             sorted(c.pk for c in self.reference[book.pk].categories.all()))

    def test_writes_invalidate_as_in_django(self):
        new = Category.objects.create(name="Added")
        self.book.categories.add(new)
        with self.assertNumQueries(1):
            self.assertIn(new, list(self.book.categories.all()))
        self.book.categories.remove(new)
        with self.assertNumQueries(1):
            self.assertNotIn(new, list(self.book.categories.all()))

    def test_hints_and_db(self):
        qs = self.book.categories.all()
        self.assertIs(qs._hints["instance"], self.book)
        self.assertEqual(qs._hints, self.ref.categories.all()._hints | {"instance": self.book})
        self.assertEqual(qs.db, "default")

    def test_pickle_and_copy(self):
        restored = pickle.loads(pickle.dumps(self.book))
        with self.assertNumQueries(0):
            self.assertEqual(sorted(c.pk for c in restored.categories.all()),
                             sorted(c.pk for c in self.book.categories.all()))
        qs = pickle.loads(pickle.dumps(self.book.categories.all()))
        self.assertEqual(type(qs), QuerySet)
        self.assertEqual(sorted(c.pk for c in qs), sorted(c.pk for c in self.ref.categories.all()))
        self.assertEqual(str(qs.query), str(self.ref.categories.all().query))
        for how in (copy.copy, copy.deepcopy):
            # as Django's: a copy keeps the results, a deep copy drops them
            ref = how(self.ref.categories.all())
            other = how(self.book.categories.all())
            with CaptureQueriesContext(connection) as ctx:
                n = len(ref)
            with self.assertNumQueries(len(ctx.captured_queries)):
                self.assertEqual(len(other), n)
            self.assertEqual(str(other.query), str(self.ref.categories.all().query))

    def test_prefetch_related_on_top(self):
        # Django's prefetch_related_objects sees the results as prefetched
        from django.db.models import prefetch_related_objects
        with self.assertNumQueries(1):
            prefetch_related_objects(self.chunk, "categories__books")
        with self.assertNumQueries(0):
            for c in self.book.categories.all():
                self.assertIn(self.book.pk, [b.pk for b in c.books.all()])
