"""On generated data, the attributes equal what prefetch_related gives:
foreign keys, nullable foreign keys, many-to-many, nested paths, for chunk
sizes and cache sizes above and below each other."""
from django.test import TestCase

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.bookshop.models import Author, Book, Category, Publisher, Review
from tests.helpers import (
    book_snapshot, chunkator_page, make_bookstore, review_snapshot, values,
)


class Equivalence(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_bookstore(seed=11, authors=40, publishers=6, categories=9, books=300, reviews=400)
        cls.books = {b.pk: book_snapshot(b) for b in Book.objects.prefetch_related(
            "author", "translator", "publisher", "categories")}
        cls.reviews = {r.pk: review_snapshot(r) + (values(r.book.translator),)
                       for r in Review.objects.prefetch_related(
                           "book__publisher", "book__author", "book__translator")}

    def check_books(self, chunk_size, lru_cache_size):
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Author, ["author", "translator"],
                                   lru_cache_size=lru_cache_size),
            MemoizedPrefetchConfig(Publisher, ["publisher"], lru_cache_size=lru_cache_size),
            MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True,
                                   lru_cache_size=lru_cache_size),
        )
        seen = 0
        for chunk in chunkator_page(Book.objects.all(), chunk_size):
            memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                for book in chunk:
                    self.assertEqual(book_snapshot(book), self.books[book.pk])
                    seen += 1
                # one instance per target row within a chunk
                authors = {}
                for book in chunk:
                    for a in (book.author, book.translator):
                        if a is not None:
                            self.assertIs(authors.setdefault(a.pk, a), a)
        self.assertEqual(seen, len(self.books))

    def test_books(self):
        for chunk_size in (1, 37, 10_000):
            for lru_cache_size in (0, 3, 10_000):
                with self.subTest(chunk_size=chunk_size, lru_cache_size=lru_cache_size):
                    self.check_books(chunk_size, lru_cache_size)

    def test_nullable_foreign_key(self):
        translated = sum(1 for s in self.books.values() if s[2] is not None)
        self.assertTrue(0 < translated < len(self.books))
        self.check_books(50, 10)

    def test_nested(self):
        for chunk_size in (1, 61, 10_000):
            with self.subTest(chunk_size=chunk_size):
                memoized_prefetch = MemoizedPrefetch(
                    MemoizedPrefetchConfig(Publisher, ["book.publisher"], lru_cache_size=2),
                    MemoizedPrefetchConfig(Author, ["book__author", "book__translator"]),
                )
                n = 0
                for chunk in chunkator_page(Review.objects.all(), chunk_size):
                    memoized_prefetch.process_chunk(chunk)
                    with self.assertNumQueries(0):
                        for review in chunk:
                            self.assertEqual(
                                review_snapshot(review) + (values(review.book.translator),),
                                self.reviews[review.pk])
                            n += 1
                self.assertEqual(n, len(self.reviews))

    def test_nested_many_to_many(self):
        expected = {r.pk: sorted(c.pk for c in r.book.categories.all())
                    for r in Review.objects.prefetch_related("book__categories")}
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Category, ["book.categories"], is_many_to_many=True))
        for chunk in chunkator_page(Review.objects.all(), 90):
            with self.assertNumQueries(2):
                memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                for review in chunk:
                    self.assertEqual(sorted(c.pk for c in review.book.categories.all()),
                                     expected[review.pk])

    def test_nested_same_chunk_again_after_a_change(self):
        # the intermediate books set by the first call are loaded again
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Publisher, ["book.publisher"]))
        chunk = list(Review.objects.order_by("pk")[:50])
        memoized_prefetch.process_chunk(chunk)
        review = chunk[0]
        other = Publisher.objects.exclude(pk=review.book.publisher_id).first()
        Book.objects.filter(pk=review.book_id).update(publisher=other)
        with self.assertNumQueries(2):
            memoized_prefetch.process_chunk(chunk)
        with self.assertNumQueries(0):
            self.assertEqual(review.book.publisher, other)
