"""The seed package's wrong-result and repeat-query bugs do not happen here."""
from django.test import TestCase

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.bookshop.models import Author, Book, Category, Publisher
from tests.helpers import chunkator_page, make_bookstore


class SeedBugs(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_bookstore()

    def links(self, books):
        return {b.pk: sorted(c.pk for c in b.categories.all()) for b in books}

    def test_chunk_larger_than_lru_cache_loses_no_links(self):
        # seed: links and targets live in LRUs of lru_cache_size, so a chunk
        # bigger than that loses some of them
        expected = self.links(Book.objects.prefetch_related("categories"))
        self.assertGreater(sum(map(len, expected.values())), 200)
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
            Category, ["categories"], is_many_to_many=True, lru_cache_size=3,
            through_model=Book.categories.through, source_field="book_id",
            target_field="category_id"))
        for chunk in chunkator_page(Book.objects.all(), 120):
            memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                self.assertEqual(self.links(chunk), {pk: expected[pk] for pk in
                                                     (b.pk for b in chunk)})

    def test_chunk_larger_than_lru_cache_foreign_keys(self):
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Author, ["author", "translator"], lru_cache_size=1))
        chunk = list(Book.objects.order_by("pk"))
        memoized_prefetch.process_chunk(chunk)
        with self.assertNumQueries(0):
            got = [(b.author.name, b.translator and b.translator.name) for b in chunk]
        self.assertEqual(got, [(b.author.name, b.translator and b.translator.name)
                               for b in Book.objects.select_related(
                                   "author", "translator").order_by("pk")])

    def test_sources_without_links_are_not_queried_again(self):
        # seed: sources without links never enter its link cache, so every
        # chunk that contains one queries the links again, per chunk; and a
        # source without links must read as empty without a query
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
            Category, ["categories"], is_many_to_many=True))
        chunk = list(Book.objects.filter(categories__isnull=True))
        self.assertGreater(len(chunk), 10)
        for _ in range(3):
            with self.assertNumQueries(1):
                memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                for book in chunk:
                    self.assertEqual(list(book.categories.all()), [])
                    self.assertEqual(book.categories.count(), 0)
                    self.assertFalse(book.categories.exists())

    def test_key_zero(self):
        # seed: "if pk := ..." skips a foreign key of 0
        books = list(Book.objects.filter(author_id=0))
        self.assertTrue(books)
        zero_category = Book.objects.filter(categories__id=0).first()
        self.assertIsNotNone(zero_category)
        books.append(Book.objects.get(pk=zero_category.pk))
        books.append(Book.objects.get(pk=0))
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Author, ["author", "translator"]),
            MemoizedPrefetchConfig(Publisher, ["publisher"]),
            MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True))
        memoized_prefetch.process_chunk(books)
        with self.assertNumQueries(0):
            self.assertEqual(books[0].author.pk, 0)
            self.assertIn(0, [c.pk for c in books[-2].categories.all()])
            self.assertEqual(books[-1].pk, 0)
            books[-1].author.name
            list(books[-1].categories.all())

    def test_filtered_queryset_leaves_attribute_to_django(self):
        # seed: a queryset that leaves out a needed row raises KeyError
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
            Author, ["author"], queryset=Author.objects.filter(name__endswith="1")))
        chunk = list(Book.objects.order_by("pk"))
        with self.assertNumQueries(1):
            memoized_prefetch.process_chunk(chunk)
        kept = [b for b in chunk if b.author_id % 10 == 1]
        left = [b for b in chunk if b.author_id % 10 != 1]
        self.assertTrue(kept and left)
        with self.assertNumQueries(0):
            for book in kept:
                self.assertTrue(book.author.name.endswith("1"))
        # as without prefetching: Django loads it on access
        expected = Author.objects.get(pk=left[0].author_id)
        with self.assertNumQueries(1):
            self.assertEqual(left[0].author, expected)
        self.assertEqual(left[0].author.name, expected.name)

    def test_updates_show_in_later_chunks(self):
        # seed: an instance, once cached, is served until evicted
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Author, ["author"]),
            MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True))
        chunk = list(Book.objects.filter(pk__lt=100))
        memoized_prefetch.process_chunk(chunk)
        book = chunk[0]
        old_author = book.author
        old_name = old_author.name
        Author.objects.filter(pk=book.author_id).update(name="Renamed")
        c = Category.objects.create(name="New")
        book.categories.add(c)
        Book.categories.through.objects.filter(book_id=chunk[1].pk).delete()

        again = list(Book.objects.filter(pk__lt=100))
        memoized_prefetch.process_chunk(again)
        self.assertEqual(again[0].author.name, "Renamed")
        self.assertIsNot(again[0].author, old_author)
        self.assertEqual(old_author.name, old_name)  # instances handed out stay as they were
        self.assertIn("New", [x.name for x in again[0].categories.all()])
        self.assertEqual(list(again[1].categories.all()), [])

    def test_same_chunk_again_after_a_change(self):
        # an instance set on a chunk by an earlier call is replaced or
        # removed, never kept, when the rows say otherwise
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
            Author, ["author"], queryset=Author.objects.filter(name__startswith="Author")))
        chunk = list(Book.objects.filter(pk__lt=60))
        memoized_prefetch.process_chunk(chunk)
        book = chunk[0]
        self.assertTrue(book.author.name.startswith("Author"))
        Author.objects.filter(pk=book.author_id).update(name="Gone")
        memoized_prefetch.process_chunk(chunk)
        with self.assertNumQueries(1):
            self.assertEqual(book.author.name, "Gone")
