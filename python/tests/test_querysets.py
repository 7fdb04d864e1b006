"""A config's queryset (select_related, only, filters, annotations,
prefetch_related, ordering): what that queryset gives for the keys."""
from django.db.models import Count, Prefetch
from django.test import TestCase

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.bookshop.models import Author, Book, Category, Publisher, Review
from tests.helpers import chunkator_page, make_bookstore, values


class Querysets(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_bookstore()

    def test_select_related(self):
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
            Book, ["book"], queryset=Book.objects.select_related("publisher", "author")))
        for chunk in chunkator_page(Review.objects.all(), 80):
            with self.assertNumQueries(1):
                memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                got = [(values(r.book), values(r.book.publisher), values(r.book.author))
                       for r in chunk]
            ref = Review.objects.filter(pk__in=[r.pk for r in chunk]).order_by("pk") \
                .select_related("book__publisher", "book__author")
            self.assertEqual(got, [(values(r.book), values(r.book.publisher),
                                    values(r.book.author)) for r in ref])

    def test_only(self):
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
            Author, ["author"], queryset=Author.objects.only("name")))
        chunk = list(Book.objects.order_by("pk")[:50])
        memoized_prefetch.process_chunk(chunk)
        with self.assertNumQueries(0):
            names = [b.author.name for b in chunk]
        self.assertEqual(names, [b.author.name for b in Book.objects.order_by("pk")
                                 .select_related("author")[:50]])
        self.assertEqual(chunk[0].author.get_deferred_fields(), {"email"})
        email = Author.objects.get(pk=chunk[0].author_id).email
        with self.assertNumQueries(1):
            self.assertEqual(chunk[0].author.email, email)

    def test_annotations(self):
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
            Author, ["author", "translator"], queryset=Author.objects.annotate(n=Count("books"))))
        chunk = list(Book.objects.all())
        with self.assertNumQueries(1):
            memoized_prefetch.process_chunk(chunk)
        counts = dict(Author.objects.annotate(n=Count("books")).values_list("pk", "n"))
        with self.assertNumQueries(0):
            for b in chunk:
                self.assertEqual(b.author.n, counts[b.author_id])

    def test_filter_excludes_rows(self):
        qs = Author.objects.filter(pk__lt=10)
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
            Author, ["author", "translator"], queryset=qs))
        chunk = list(Book.objects.all())
        memoized_prefetch.process_chunk(chunk)
        authors = {a.pk: values(a) for a in Author.objects.all()}
        for b in chunk:
            with self.assertNumQueries(0 if b.author_id < 10 else 1):
                self.assertEqual(values(b.author), authors[b.author_id])

    def test_prefetch_related_in_queryset(self):
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
            Book, ["book"], queryset=Book.objects.prefetch_related("categories")))
        expected = {r.pk: sorted(c.pk for c in r.book.categories.all())
                    for r in Review.objects.prefetch_related("book__categories")}
        for chunk in chunkator_page(Review.objects.all(), 100):
            with self.assertNumQueries(2):
                memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                for r in chunk:
                    self.assertEqual(sorted(c.pk for c in r.book.categories.all()),
                                     expected[r.pk])

    def test_many_to_many_filtered_and_ordered(self):
        qs = Category.objects.filter(name__gte="Category 3").order_by("-name")
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
            Category, ["categories"], is_many_to_many=True, queryset=qs))
        for chunk in chunkator_page(Book.objects.all(), 70):
            with self.assertNumQueries(1):
                memoized_prefetch.process_chunk(chunk)
            ref = {b.pk: b for b in Book.objects.filter(pk__in=[b.pk for b in chunk])
                   .prefetch_related(Prefetch("categories", queryset=qs))}
            with self.assertNumQueries(0):
                for b in chunk:
                    # ordered: the same order as Django's
                    self.assertEqual([values(c) for c in b.categories.all()],
                                     [values(c) for c in ref[b.pk].categories.all()])
            self.assertEqual(str(chunk[0].categories.all().query),
                             str(ref[chunk[0].pk].categories.all().query))

    def test_many_to_many_select_related_only(self):
        qs = Category.objects.only("name")
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
            Category, ["categories"], is_many_to_many=True, queryset=qs))
        chunk = list(Book.objects.all())
        memoized_prefetch.process_chunk(chunk)
        with self.assertNumQueries(0):
            got = {b.pk: sorted((c.pk, c.name) for c in b.categories.all()) for b in chunk}
        self.assertEqual(got, {b.pk: sorted((c.pk, c.name) for c in b.categories.all())
                               for b in Book.objects.prefetch_related("categories")})

    def test_empty_queryset(self):
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Author, ["author"], queryset=Author.objects.none()),
            MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True,
                                   queryset=Category.objects.filter(pk__in=[])))
        chunk = list(Book.objects.all()[:10])
        with self.assertNumQueries(0):
            memoized_prefetch.process_chunk(chunk)
            for b in chunk:
                self.assertEqual(list(b.categories.all()), [])
        with self.assertNumQueries(1):
            chunk[0].author

    def test_prefetch_all_with_queryset(self):
        qs = Publisher.objects.filter(country="GB")
        with self.assertNumQueries(1):
            memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
                Publisher, ["publisher"], queryset=qs, prefetch_all=True, lru_cache_size=2))
        cached = [e[1] for c in memoized_prefetch._targets[0]._caches.values() for e in c.values()]
        self.assertEqual(len(cached), min(2, qs.count()))
        chunk = list(Book.objects.all())
        with self.assertNumQueries(1):
            memoized_prefetch.process_chunk(chunk)
        for b in chunk:
            if b.publisher_id in {p.pk for p in cached}:
                with self.assertNumQueries(0):
                    self.assertIn(b.publisher, cached)
                    self.assertTrue(any(b.publisher is p for p in cached))
            elif Publisher.objects.get(pk=b.publisher_id).country != "GB":
                with self.assertNumQueries(1):
                    self.assertNotEqual(b.publisher.country, "GB")
