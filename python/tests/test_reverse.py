"""Reverse foreign keys (author.books.all(), author.award_set.all()) and
reverse one-to-one fields (author.profile) as attributes: one statement per
chunk with the other configs, no queries on access afterwards, the results
of prefetch_related, sources without related rows, rows changed between
chunks."""
import gc
import pickle
import weakref

from django.db import connection
from django.test import TestCase, TransactionTestCase
from django.test.utils import CaptureQueriesContext

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.bookshop.models import Author, AuthorProfile, Award, Book, Category, Publisher
from tests.helpers import chunkator_page, make_bookstore, statement_rows, values
from tests.test_server import reset_server, server_entries


def make_reverse_rows():
    """Profiles for two authors in three, 0-3 awards an author."""
    authors = list(Author.objects.order_by("pk"))
    AuthorProfile.objects.bulk_create(
        AuthorProfile(author=a, bio="Bio of %s" % a.name) for a in authors if a.pk % 3)
    Award.objects.bulk_create(
        Award(author=a, name="Award %d/%d" % (a.pk, n), year=2000 + n)
        for a in authors for n in range(a.pk % 4))


def reverse_configs(**extra):
    return (
        MemoizedPrefetchConfig(Book, ["books", "translations"], **extra),
        MemoizedPrefetchConfig(AuthorProfile, ["profile"], **extra),
        MemoizedPrefetchConfig(Award, ["award_set"], **extra),
    )


def profile_of(author):
    try:
        return author.profile
    except Author.profile.RelatedObjectDoesNotExist:
        return None


def author_snapshot(author):
    """What an author's reverse relations give, in a comparable form (the
    books in key order: neither Django nor the server promise another)."""
    return (values(author),
            sorted(map(values, author.books.all()), key=repr),
            sorted(map(values, author.translations.all()), key=repr),
            values(profile_of(author)),
            sorted(map(values, author.award_set.all()), key=repr))


class Reverse(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_bookstore()
        make_reverse_rows()

    def test_one_query_per_chunk_none_on_access(self):
        mp = MemoizedPrefetch(*reverse_configs())
        chunks = list(chunkator_page(Author.objects.all(), 7))
        self.assertGreater(len(chunks), 3)
        for i, chunk in enumerate(chunks):
            with CaptureQueriesContext(connection) as ctx:
                mp.process_chunk(chunk)
            sql = [q["sql"] for q in ctx.captured_queries]
            self.assertEqual(len(sql), 1, sql)
            self.assertEqual(sql[0].count("memoized_prefetch.reverse_fk("), 4)
            with self.assertNumQueries(0):
                for author in chunk:
                    author_snapshot(author)
                    for book in author.books.all():
                        self.assertIs(book.author, author)
                    for book in author.translations.all():
                        self.assertIs(book.translator, author)
                    for award in author.award_set.all():
                        self.assertIs(award.author, author)
                    profile = profile_of(author)
                    if profile is not None:
                        self.assertIs(profile.author, author)
                    # what prefetched results answer without a query
                    self.assertEqual(author.books.count(), len(author.books.all()))
                    self.assertEqual(author.award_set.exists(), bool(author.award_set.all()))

    def test_same_as_prefetch_related(self):
        mp = MemoizedPrefetch(*reverse_configs())
        for chunk in chunkator_page(Author.objects.all(), 8):
            mp.process_chunk(chunk)
            expected = Author.objects.filter(pk__in=[a.pk for a in chunk]).order_by(
                "pk").prefetch_related("books", "translations", "profile", "award_set")
            self.assertEqual([author_snapshot(a) for a in chunk],
                             [author_snapshot(a) for a in expected])
            # the cache keys Django itself uses
            for mine, theirs in zip(chunk, expected):
                self.assertEqual(sorted(mine._prefetched_objects_cache),
                                 sorted(theirs._prefetched_objects_cache))
                self.assertEqual("profile" in mine._state.fields_cache,
                                 "profile" in theirs._state.fields_cache)

    def test_cache_sizes(self):
        for size in (0, 1, 10_000):
            mp = MemoizedPrefetch(*reverse_configs(lru_cache_size=size))
            for _ in range(2):
                for chunk in chunkator_page(Author.objects.all(), 9):
                    with self.assertNumQueries(1):
                        mp.process_chunk(chunk)
                    expected = Author.objects.filter(pk__in=[a.pk for a in chunk]).order_by(
                        "pk").prefetch_related("books", "translations", "profile", "award_set")
                    self.assertEqual([author_snapshot(a) for a in chunk],
                                     [author_snapshot(a) for a in expected], size)
            self.assertLessEqual(len(mp.memoized_objects[Book]), size)

    def test_sources_without_rows(self):
        lonely = Author.objects.create(name="Lonely", email="lonely@example.com")
        self.assertFalse(AuthorProfile.objects.filter(author=lonely).exists())
        mp = MemoizedPrefetch(*reverse_configs())
        chunk = [Author.objects.get(pk=lonely.pk)]
        with self.assertNumQueries(1):
            mp.process_chunk(chunk)
        author = chunk[0]
        with self.assertNumQueries(0):
            self.assertEqual(list(author.books.all()), [])
            self.assertEqual(author.award_set.count(), 0)
            self.assertFalse(author.translations.exists())
            with self.assertRaises(Author.profile.RelatedObjectDoesNotExist):
                author.profile
            with self.assertRaises(AuthorProfile.DoesNotExist):
                author.profile

    def test_unsaved_sources_skipped(self):
        mp = MemoizedPrefetch(*reverse_configs())
        saved = list(Author.objects.order_by("pk")[:3])
        with self.assertNumQueries(1):
            mp.process_chunk(saved + [Author(name="new", email="new@example.com")])
        with self.assertNumQueries(0):
            for author in saved:
                author_snapshot(author)

    def test_changed_rows_between_chunks(self):
        mp = MemoizedPrefetch(*reverse_configs())
        first = list(Author.objects.order_by("pk")[:10])
        mp.process_chunk(first)
        books = {a.pk: [b.pk for b in a.books.all()] for a in first}
        mover = next(pk for pk, ids in books.items() if ids and pk % 3)  # with a profile
        receiver = next(pk for pk in books if pk != mover)
        moved = books[mover][0]
        Book.objects.filter(pk=moved).update(author_id=receiver, title="Moved")
        AuthorProfile.objects.filter(author_id=receiver).delete()
        AuthorProfile.objects.filter(author_id=mover).update(bio="changed")
        Award.objects.create(author_id=mover, name="New award", year=2024)

        second = list(Author.objects.order_by("pk")[:10])
        with self.assertNumQueries(1):
            mp.process_chunk(second)
        expected = list(Author.objects.order_by("pk")[:10].prefetch_related(
            "books", "translations", "profile", "award_set"))
        with self.assertNumQueries(0):
            self.assertEqual([author_snapshot(a) for a in second],
                             [author_snapshot(a) for a in expected])
            by_pk = {a.pk: a for a in second}
            self.assertNotIn(moved, [b.pk for b in by_pk[mover].books.all()])
            self.assertIn((moved, "Moved"), [(b.pk, b.title) for b in by_pk[receiver].books.all()])
            self.assertIsNone(profile_of(by_pk[receiver]))
            self.assertEqual(by_pk[mover].profile.bio, "changed")
            self.assertIn("New award", [w.name for w in by_pk[mover].award_set.all()])
        # the first chunk's results are left as they were
        old = {a.pk: a for a in first}
        self.assertIn(moved, [b.pk for b in old[mover].books.all()])
        for author in first:
            for book in author.books.all():
                self.assertIs(book.author, author)

    def test_instances_handed_out_are_copies(self):
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Book, ["books"]))
        first = list(Author.objects.order_by("pk")[:5])
        mp.process_chunk(first)
        again = list(Author.objects.order_by("pk")[:5])
        mp.process_chunk(again)
        for a, b in zip(first, again):
            for x, y in zip(a.books.all(), b.books.all()):
                self.assertIsNot(x, y)
                self.assertEqual(values(x), values(y))
                self.assertIs(x.author, a)
                self.assertIs(y.author, b)
        # the kept instances have no source in their field cache
        kept = mp.memoized_objects[Book]
        self.assertTrue(kept)
        for book in kept.values():
            self.assertNotIn("author", book._state.fields_cache)

    def test_chunks_not_kept(self):
        # the kept instances hold no source, so a dropped chunk is freed (its
        # objects and their relations' form cycles, as in Django: by the
        # collector)
        mp = MemoizedPrefetch(*reverse_configs())
        chunk = list(Author.objects.order_by("pk")[:10])
        mp.process_chunk(chunk)
        refs = [weakref.ref(a) for a in chunk]
        refs += [weakref.ref(b) for a in chunk for b in a.books.all()]
        del chunk
        gc.collect()
        self.assertEqual([r for r in refs if r() is not None], [])
        self.assertTrue(mp.memoized_objects[Book])

    def test_filtered_queryset_leaves_absent_one_to_one_unset(self):
        # a queryset that filters may leave out a row that exists: Django
        # loads it on access, as without prefetching; without a filter, an
        # absent row is known absent
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(
            AuthorProfile, ["profile"], queryset=AuthorProfile.objects.filter(author_id__lt=5)))
        chunk = list(Author.objects.order_by("pk")[:10])
        with self.assertNumQueries(1):
            mp.process_chunk(chunk)
        for author in chunk:
            has = AuthorProfile.objects.filter(author=author).exists()
            with self.assertNumQueries(0 if has and author.pk < 5 else 1):
                self.assertEqual(profile_of(author) is not None, has)

    def test_queryset_operations_on_results(self):
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Book, ["books"]))
        chunk = list(Author.objects.order_by("pk")[:6])
        mp.process_chunk(chunk)
        author = max(chunk, key=lambda a: len(a.books.all()))
        self.assertGreater(len(author.books.all()), 1)
        with self.assertNumQueries(1):
            filtered = list(author.books.filter(pk__gt=0).order_by("-pk"))
        self.assertEqual([b.pk for b in filtered],
                         sorted((b.pk for b in Book.objects.filter(author=author, pk__gt=0)),
                                reverse=True))
        with self.assertNumQueries(0):  # the source, as Django knows it
            for book in filtered:
                self.assertIs(book.author, author)
        copy = pickle.loads(pickle.dumps(author.books.all()))
        self.assertEqual([b.pk for b in copy], [b.pk for b in author.books.all()])
        # changing the relation clears the prefetched results, as in Django
        book = Book.objects.create(title="New", isbn="1", author=author, publisher_id=0)
        author.books.add(book)
        self.assertIn(book.pk, [b.pk for b in author.books.all()])

    def test_nested(self):
        # the profile of each book's author: the authors first, then profiles
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(AuthorProfile, ["author.profile"]),
                              MemoizedPrefetchConfig(Award, ["author__award_set"]))
        for chunk in chunkator_page(Book.objects.all(), 50):
            with self.assertNumQueries(2):
                mp.process_chunk(chunk)
            with self.assertNumQueries(0):
                got = [(values(profile_of(b.author)),
                        sorted(map(values, b.author.award_set.all()), key=repr)) for b in chunk]
            expected = Book.objects.filter(pk__in=[b.pk for b in chunk]).order_by(
                "pk").prefetch_related("author__profile", "author__award_set")
            self.assertEqual(got, [(values(profile_of(b.author)),
                                    sorted(map(values, b.author.award_set.all()), key=repr))
                                   for b in expected])

    def test_with_forward_configs(self):
        # forward, many-to-many and reverse configs in one statement
        mp = MemoizedPrefetch(
            MemoizedPrefetchConfig(Publisher, ["publisher"]),
            MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True),
            MemoizedPrefetchConfig(Author, ["author"]),
        )
        from tests.bookshop.models import Review
        mp2 = MemoizedPrefetch(MemoizedPrefetchConfig(Review, ["reviews"]))
        for chunk in chunkator_page(Book.objects.all(), 60):
            with self.assertNumQueries(1):
                mp.process_chunk(chunk)
            with self.assertNumQueries(1):
                mp2.process_chunk(chunk)
            expected = Book.objects.filter(pk__in=[b.pk for b in chunk]).order_by(
                "pk").prefetch_related("reviews")
            with self.assertNumQueries(0):
                got = [sorted(map(values, b.reviews.all()), key=repr) for b in chunk]
                for b in chunk:
                    for r in b.reviews.all():
                        self.assertIs(r.book, b)
            self.assertEqual(got, [sorted(map(values, b.reviews.all()), key=repr)
                                   for b in expected])


TRACKED = [Book._meta.db_table, AuthorProfile._meta.db_table, Award._meta.db_table]


class ReverseServer(TransactionTestCase):
    """With the target tables tracked, so that the server serves the rows of
    each source across statements (its cache warm), outside a transaction
    that writes them."""

    def setUp(self):
        make_bookstore()
        make_reverse_rows()
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

    def expected(self, chunk):
        return [author_snapshot(a) for a in Author.objects.filter(
            pk__in=[a.pk for a in chunk]).order_by("pk").prefetch_related(
            "books", "translations", "profile", "award_set")]

    def test_warm_cache_sees_changes(self):
        mp = MemoizedPrefetch(*reverse_configs())
        chunk = list(Author.objects.order_by("pk"))
        mp.process_chunk(chunk)
        self.assertEqual([author_snapshot(a) for a in chunk], self.expected(chunk))
        cold = mp.stats()
        self.assertEqual(set(cold), {Book, AuthorProfile, Award})
        self.assertGreater(cold[Book]["misses"], 0)

        # warm: every source's rows from the server's cache
        again = list(Author.objects.order_by("pk"))
        with self.assertNumQueries(1):
            mp.process_chunk(again)
        warm = mp.stats()
        for model in (Book, AuthorProfile, Award):
            self.assertGreater(warm[model]["hits"], cold[model]["hits"], model)
            self.assertEqual(warm[model]["misses"], cold[model]["misses"], model)
        self.assertEqual([author_snapshot(a) for a in again], self.expected(again))

        # changes, committed: a book moved, a profile deleted, one changed,
        # an award added
        book = Book.objects.filter(translator__isnull=False).order_by("pk")[0]
        target = Author.objects.exclude(pk=book.author_id).order_by("pk")[0]
        Book.objects.filter(pk=book.pk).update(author=target, translator=target)
        AuthorProfile.objects.filter(author=target).delete()
        AuthorProfile.objects.filter(author_id=book.author_id).update(bio="new bio")
        Award.objects.create(author_id=book.author_id, name="Late award", year=2025)
        third = list(Author.objects.order_by("pk"))
        with self.assertNumQueries(1):
            mp.process_chunk(third)
        by_pk = {a.pk: a for a in third}
        expected = self.expected(third)
        with self.assertNumQueries(0):
            self.assertEqual([author_snapshot(a) for a in third], expected)
            self.assertIn(book.pk, [b.pk for b in by_pk[target.pk].books.all()])
            self.assertIn(book.pk, [b.pk for b in by_pk[target.pk].translations.all()])
            self.assertNotIn(book.pk, [b.pk for b in by_pk[book.author_id].books.all()])
            self.assertIsNone(profile_of(by_pk[target.pk]))

    def test_lru_cache_size_is_the_target_tables_cache_size(self):
        # an entry of the target table's cache per source: lru_cache_size of
        # them at most
        chunk = list(Author.objects.order_by("pk"))
        self.assertGreater(len(chunk), 5)
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Award, ["award_set"], lru_cache_size=5))
        with CaptureQueriesContext(connection) as ctx:
            mp.process_chunk(chunk)
        self.assertEqual(len(ctx.captured_queries), 1)
        self.assertIn("memoized_prefetch.configure(", ctx.captured_queries[0]["sql"])
        self.assertLessEqual(server_entries(Award._meta.db_table), 5)
        self.assertEqual([sorted(map(values, a.award_set.all()), key=repr) for a in chunk],
                         [sorted(map(values, a.award_set.all()), key=repr)
                          for a in Author.objects.order_by("pk").prefetch_related("award_set")])
        reset_server()
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Award, ["award_set"], lru_cache_size=1000))
        mp.process_chunk(list(Author.objects.order_by("pk")))
        self.assertEqual(server_entries(Award._meta.db_table), len(chunk))

    def test_unchanged_rows_not_sent_again(self):
        # one reverse attribute with the default queryset: the rows held
        # unchanged come as keys alone, as for many-to-many
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Book, ["books"]))

        def rows(chunk):
            return statement_rows(self, mp, chunk)

        first = rows(list(Author.objects.order_by("pk")))
        self.assertTrue(first)
        self.assertTrue(all(r[1] is not None for r in first))
        changed = first[0][0]
        Book.objects.filter(pk=changed).update(title="Retitled")
        chunk = list(Author.objects.order_by("pk"))
        again = rows(chunk)
        self.assertEqual(len(again), len(first))
        self.assertEqual([r[0] for r in again if r[1] is not None], [changed])
        self.assertEqual([author_snapshot(a)[1] for a in chunk],
                         [author_snapshot(a)[1] for a in Author.objects.order_by(
                             "pk").prefetch_related("books")])
        self.assertIn("Retitled", [b.title for a in chunk for b in a.books.all()])
