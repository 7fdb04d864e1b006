"""Every example of the seed's README, run as written (with the adapter's
import), printing what Django's own prefetch_related prints."""
import contextlib
import io

from django.test import TestCase

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.bookshop.models import Author, Book, Category, Publisher, Review
from tests.helpers import chunkator_page, make_bookstore


def output(fn):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn()
    return buf.getvalue().splitlines()


class ReadmeExamples(TestCase):
    chunk_size = 10_000

    @classmethod
    def setUpTestData(cls):
        make_bookstore()

    def test_basic(self):
        chunk_size = self.chunk_size

        def naive():
            for chunk in chunkator_page(
                    Book.objects.all().prefetch_related("author", "translator", "publisher"),
                    chunk_size):
                for book in chunk:
                    print(book.author.name,
                          book.translator.name if book.translator is not None else None)
                    print(book.publisher.name)

        def memoized():
            memoized_prefetch = MemoizedPrefetch(
                MemoizedPrefetchConfig(Author, ["author", "translator"]),
                MemoizedPrefetchConfig(Publisher, ["publisher"], prefetch_all=True),
            )

            for chunk in chunkator_page(Book.objects.all(), chunk_size):
                memoized_prefetch.process_chunk(chunk)

                for book in chunk:
                    print(book.author.name,
                          book.translator.name if book.translator is not None else None)
                    print(book.publisher.name)

        expected = output(naive)
        self.assertEqual(len(expected), 2 * Book.objects.count())
        self.assertIn("None", " ".join(expected))
        self.assertEqual(output(memoized), expected)

    def test_nested(self):
        chunk_size = self.chunk_size

        def body(review):
            print(review.pk, review.book.publisher.name, review.book.author.name)

        def naive():
            for chunk in chunkator_page(
                    Review.objects.prefetch_related("book__publisher", "book__author"), chunk_size):
                for review in chunk:
                    body(review)

        def memoized():
            memoized_prefetch = MemoizedPrefetch(
                MemoizedPrefetchConfig(Publisher, ["book.publisher"]),
                MemoizedPrefetchConfig(Author, ["book__author"]),
            )

            for chunk in chunkator_page(Review.objects.all(), chunk_size):
                memoized_prefetch.process_chunk(chunk)
                with self.assertNumQueries(0):
                    for review in chunk:
                        body(review)

        expected = output(naive)
        self.assertEqual(len(expected), Review.objects.count())
        self.assertEqual(output(memoized), expected)

    def test_m2m(self):
        chunk_size = self.chunk_size

        def body(book):
            category_names = [cat.name for cat in book.categories.all()]
            print(f"Book: {book.title}, Categories: {', '.join(category_names)}")

        def naive():
            for chunk in chunkator_page(Book.objects.prefetch_related("categories"), chunk_size):
                for book in chunk:
                    body(book)

        def memoized():
            # Configure for many-to-many relationships
            memoized_prefetch = MemoizedPrefetch(
                MemoizedPrefetchConfig(
                    model=Category,
                    attributes=["categories"],
                    is_many_to_many=True,
                    through_model=Book.categories.through,
                    source_field="book_id",
                    target_field="category_id",
                )
            )

            # Process books with their categories
            for chunk in chunkator_page(Book.objects.all(), chunk_size):
                memoized_prefetch.process_chunk(chunk)

                with self.assertNumQueries(0):
                    for book in chunk:
                        # Categories are prefetched and available
                        body(book)

        def unordered(lines):
            # the relation has no order: compare each book's names as a set
            out = []
            for line in lines:
                head, _, names = line.partition("Categories: ")
                out.append((head, sorted(names.split(", "))))
            return out

        expected = output(naive)
        self.assertEqual(len(expected), Book.objects.count())
        self.assertTrue(any(line.endswith("Categories: ") for line in expected))
        self.assertEqual(unordered(output(memoized)), unordered(expected))

    def test_outside_chunked_processing(self):
        # "multiple foreign keys to the same table": one query for both
        books = list(Book.objects.filter(translator__isnull=False).order_by("pk"))
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Author, ["author", "translator"]))
        with self.assertNumQueries(1):
            memoized_prefetch.process_chunk(books)
        with self.assertNumQueries(0):
            got = [(b.author.name, b.translator.name) for b in books]
        expected = [(b.author.name, b.translator.name) for b in
                    Book.objects.filter(translator__isnull=False).select_related(
                        "author", "translator").order_by("pk")]
        self.assertEqual(got, expected)

    def test_advanced_configuration(self):
        # Custom queryset with select_related
        config = MemoizedPrefetchConfig(
            model=Author,
            attributes=["author"],
            queryset=Author.objects.select_related(),
            lru_cache_size=5000,
        )

        # Prefetch all objects at startup (useful for small, frequently accessed tables)
        config2 = MemoizedPrefetchConfig(
            model=Publisher,
            attributes=["publisher"],
            prefetch_all=True,
        )
        with self.assertNumQueries(1):
            memoized_prefetch = MemoizedPrefetch(config, config2)
        for chunk in chunkator_page(Book.objects.all(), self.chunk_size):
            with self.assertNumQueries(1):
                memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                got = [(b.author.name, b.publisher.name) for b in chunk]
            self.assertEqual(got, [(b.author.name, b.publisher.name) for b in Book.objects.filter(
                pk__in=[b.pk for b in chunk]).order_by("pk").select_related("author", "publisher")])


class ReadmeExamplesSmallChunks(ReadmeExamples):
    """The same with many chunks, so that instances are reused across them."""
    chunk_size = 23
