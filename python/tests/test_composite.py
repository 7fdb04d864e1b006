"""Models with composite keys (Django 5.2's CompositePrimaryKey, tests.composite):
chunks whose primary key is composite, composite foreign keys
(ForeignObject) to targets keyed by (tenant, id), reverse foreign keys whose
targets have a composite key, the reverse sides of composite foreign keys,
paths through a composite foreign key, a
queryset on a composite target, prefetch_all; each against Django's own
prefetching, with one statement per chunk and no query on access; the
refusals."""
import random
import unittest

import django
from django.db import DatabaseError, connection
from django.test import TestCase, TransactionTestCase
from django.test.utils import CaptureQueriesContext

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.helpers import chunkator_page, statement_rows, values
from tests.test_server import reset_server

COMPOSITE = django.VERSION >= (5, 2)  # tests.composite is installed
if COMPOSITE:
    from tests.composite.models import CAuthor, CBook, CLoose, CPublisher, CReview, Tenant
needs_composite = unittest.skipUnless(COMPOSITE, "composite primary keys need Django 5.2")


def make_composite(seed=5, tenants=3, authors=20, publishers=4, books=80, reviews=150):
    """Every tenant with authors and books numbered from 0 (the same ids in
    every tenant, so that only the tenant tells them apart), skewed authors,
    30% translators, reviews on random books."""
    rnd = random.Random(seed)
    Tenant.objects.bulk_create(Tenant(id=t, name="Tenant %d" % t) for t in range(tenants))
    CPublisher.objects.bulk_create(CPublisher(id=p, name="Publisher %d" % p)
                                   for p in range(publishers))
    CAuthor.objects.bulk_create(CAuthor(tenant_id=t, id=i, name="Author %d/%d" % (t, i))
                                for t in range(tenants) for i in range(authors))
    CBook.objects.bulk_create(
        CBook(tenant_id=t, id=i, title="Book %d/%d" % (t, i),
              author_id=int(authors * rnd.random() ** 2),
              translator_id=rnd.randrange(authors) if rnd.random() < 0.3 else None,
              publisher_id=rnd.randrange(publishers))
        for t in range(tenants) for i in range(books))
    CReview.objects.bulk_create(
        CReview(tenant_id=t, book_id=rnd.randrange(books), rating=1 + n % 5)
        for n in range(reviews) for t in [rnd.randrange(tenants)])


def book_snapshot(book):
    return (values(book), values(book.author), values(book.translator), values(book.publisher))


def expected_books(chunk):
    return [book_snapshot(b) for b in CBook.objects.filter(pk__in=[b.pk for b in chunk]).order_by(
        "pk").select_related("author", "translator", "publisher")]


def sqlstate(error):
    cause = error.__cause__
    return getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)


@needs_composite
class Composite(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_composite()

    def book_configs(self, **extra):
        return (MemoizedPrefetchConfig(CAuthor, ["author", "translator"], **extra),
                MemoizedPrefetchConfig(CPublisher, ["publisher"], **extra))

    def test_books_same_as_select_related(self):
        # composite source ids (the books), a composite foreign key to a
        # target keyed by (tenant, id), an ordinary one to the publishers
        mp = MemoizedPrefetch(*self.book_configs())
        chunks = list(chunkator_page(CBook.objects.all(), 35))
        self.assertGreater(len(chunks), 5)
        first = {}
        for _ in range(2):
            for chunk in chunks:
                with CaptureQueriesContext(connection) as ctx:
                    mp.process_chunk(chunk)
                sql = [q["sql"] for q in ctx.captured_queries]
                self.assertEqual(len(sql), 1, sql)
                self.assertEqual(sql[0].count("memoized_prefetch.fk("), 2, sql)
                with self.assertNumQueries(0):
                    mine = [book_snapshot(b) for b in chunk]
                self.assertEqual(mine, expected_books(chunk))
                for book in chunk:
                    self.assertEqual(book.author.pk, (book.tenant_id, book.author_id))
                    # the second pass reuses the first's instances
                    kept = first.setdefault(book.pk, (book.author, book.publisher))
                    self.assertIs(book.author, kept[0])
                    self.assertIs(book.publisher, kept[1])
        kept = mp.memoized_objects[CAuthor]
        self.assertTrue(kept)
        for pk, author in kept.items():
            self.assertEqual(pk, author.pk)
            self.assertIsInstance(pk, tuple)

    def test_writes_between_chunks(self):
        mp = MemoizedPrefetch(*self.book_configs())
        chunk = list(CBook.objects.filter(tenant_id=1).order_by("pk")[:30])
        mp.process_chunk(chunk)
        book = chunk[0]
        old = book.author
        CAuthor.objects.filter(pk=old.pk).update(name="Renamed")
        # another tenant's author of the same id is not this one
        CAuthor.objects.filter(tenant_id=2, id=old.id).update(name="Other tenant")
        CBook.objects.filter(pk=chunk[1].pk).update(author_id=(chunk[1].author_id + 1) % 20)
        chunk = list(CBook.objects.filter(tenant_id=1).order_by("pk")[:30])
        with self.assertNumQueries(1):
            mp.process_chunk(chunk)
        with self.assertNumQueries(0):
            mine = [book_snapshot(b) for b in chunk]
        self.assertEqual(mine, expected_books(chunk))
        self.assertEqual(chunk[0].author.name, "Renamed")
        self.assertIsNot(chunk[0].author, old)

    def test_unchanged_rows_not_sent_again(self):
        # rows of a composite-key target the adapter holds unchanged come
        # back as their key alone: (k0, k1, NULL digest, NULL columns...)
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(CAuthor, ["author"]))

        def rows_of(chunk):
            return statement_rows(self, mp, chunk)

        def chunk():
            return list(CBook.objects.order_by("pk")[:100])
        books = chunk()
        keys = {(b.tenant_id, b.author_id) for b in books}
        first = rows_of(books)
        self.assertEqual({r[:2] for r in first}, keys)
        self.assertTrue(all(r[2] is not None for r in first))
        instances = {b.author.pk: b.author for b in books}

        again = chunk()
        rows = rows_of(again)
        self.assertEqual({r[:2] for r in rows}, keys)
        self.assertTrue(all(v is None for r in rows for v in r[2:]), rows[:3])
        for b in again:
            self.assertIs(b.author, instances[(b.tenant_id, b.author_id)])

        changed = again[0].author.pk
        CAuthor.objects.filter(pk=changed).update(name="renamed")
        third = chunk()
        rows = rows_of(third)
        self.assertEqual([r[:2] for r in rows if r[2] is not None], [changed])
        for b in third:
            self.assertEqual(values(b.author), values(CAuthor.objects.get(pk=b.author.pk)))
            if b.author.pk == changed:
                self.assertEqual(b.author.name, "renamed")
            else:
                self.assertIs(b.author, instances[b.author.pk])

    def test_reverse_fk_to_composite_targets(self):
        # publisher.books: the targets' keys are (tenant, id)
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(CBook, ["books"]))
        for _ in range(2):
            for chunk in chunkator_page(CPublisher.objects.all(), 2):
                with self.assertNumQueries(1):
                    mp.process_chunk(chunk)
                with self.assertNumQueries(0):
                    mine = [(values(p), [values(b) for b in p.books.all()]) for p in chunk]
                    for p in chunk:
                        for b in p.books.all():
                            self.assertIs(b.publisher, p)
                expected = CPublisher.objects.filter(pk__in=[p.pk for p in chunk]).order_by(
                    "pk").prefetch_related("books")
                self.assertEqual(
                    [(v, sorted(bs, key=repr)) for v, bs in mine],
                    [(values(p), sorted(map(values, p.books.all()), key=repr)) for p in expected])

    def test_paths_through_a_composite_foreign_key(self):
        # review.book (composite), review.book.author (composite after
        # composite), review.book.publisher
        for configs, queries in (
                ((MemoizedPrefetchConfig(CAuthor, ["book.author"]),), 2),
                ((MemoizedPrefetchConfig(CBook, ["book"]),
                  MemoizedPrefetchConfig(CAuthor, ["book.author", "book.translator"]),
                  MemoizedPrefetchConfig(CPublisher, ["book.publisher"])), 2)):
            mp = MemoizedPrefetch(*configs)
            for chunk in chunkator_page(CReview.objects.all(), 40):
                with self.assertNumQueries(queries):
                    mp.process_chunk(chunk)
                with self.assertNumQueries(0):
                    mine = [(values(r), values(r.book), values(r.book.author)) for r in chunk]
                expected = CReview.objects.filter(pk__in=[r.pk for r in chunk]).order_by(
                    "pk").select_related("book__author")
                self.assertEqual(mine, [(values(r), values(r.book), values(r.book.author))
                                        for r in expected])

    def test_queryset_of_a_composite_target(self):
        # a queryset (not the table's plain rows): its rows for the keys the
        # server returned, with their select_related() objects
        queryset = CAuthor.objects.select_related("tenant").filter(name__contains="1")
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(CAuthor, ["author"], queryset=queryset))
        chunk = list(CBook.objects.order_by("pk"))
        with self.assertNumQueries(1):
            mp.process_chunk(chunk)
        inside = {a.pk for a in queryset}
        self.assertTrue(inside)
        for book in chunk:
            key = (book.tenant_id, book.author_id)
            if key in inside:
                with self.assertNumQueries(0):
                    self.assertEqual(book.author.pk, key)
                    self.assertEqual(book.author.tenant.id, book.tenant_id)
                self.assertIn("1", book.author.name)
            else:
                # outside the queryset: left to Django, which loads it
                with self.assertNumQueries(1):
                    self.assertEqual(book.author.pk, key)
        self.assertEqual({(b.tenant_id, b.author_id): values(b.author) for b in chunk},
                         {a.pk: values(a) for a in CAuthor.objects.filter(
                             pk__in=[(b.tenant_id, b.author_id) for b in chunk])})

    def test_prefetch_all_of_a_composite_target(self):
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(CAuthor, ["author", "translator"],
                                                     prefetch_all=True))
        loaded = dict(mp.memoized_objects[CAuthor])
        self.assertEqual(set(loaded), {a.pk for a in CAuthor.objects.all()})
        chunk = list(CBook.objects.order_by("pk"))
        with self.assertNumQueries(1):
            mp.process_chunk(chunk)
        for book in chunk:
            self.assertIs(book.author, loaded[(book.tenant_id, book.author_id)])

    def test_reverse_composite_relations(self):
        # author.books and author.translations, the reverse sides of two
        # composite foreign keys to the same table, and book.reviews: as
        # prefetch_related, one statement a chunk, no query on access, the
        # foreign key cached back to its source; over two passes
        for target, names, chunks in (
                (CBook, ["books", "translations"], lambda: chunkator_page(CAuthor.objects.all(), 7)),
                (CReview, ["reviews"], lambda: chunkator_page(CBook.objects.all(), 40))):
            back = {"books": "author", "translations": "translator", "reviews": "book"}
            mp = MemoizedPrefetch(MemoizedPrefetchConfig(target, names, lru_cache_size=1000))
            seen = 0
            for _ in range(2):
                for chunk in chunks():
                    with CaptureQueriesContext(connection) as ctx:
                        mp.process_chunk(chunk)
                    sql = [q["sql"] for q in ctx.captured_queries]
                    self.assertEqual(len(sql), 1, sql)
                    self.assertEqual(sql[0].count("memoized_prefetch.reverse_fk("), len(names), sql)
                    with self.assertNumQueries(0):
                        mine = [(values(s), [[values(t) for t in getattr(s, n).all()] for n in names])
                                for s in chunk]
                        for s in chunk:
                            for n in names:
                                for t in getattr(s, n).all():
                                    self.assertIs(getattr(t, back[n]), s)
                                    seen += 1
                    expected = type(chunk[0]).objects.filter(pk__in=[s.pk for s in chunk]).order_by(
                        "pk").prefetch_related(*names)
                    self.assertEqual(
                        [(v, [sorted(ts, key=repr) for ts in lists]) for v, lists in mine],
                        [(values(s), [sorted(map(values, getattr(s, n).all()), key=repr)
                                      for n in names]) for s in expected])
            self.assertGreater(seen, 0)

    def test_reverse_composite_relation_filtered_again(self):
        # the prefetched result is the related manager's queryset: filtering
        # it queries, with the composite foreign key's filter
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(CBook, ["books"]))
        chunk = list(CAuthor.objects.filter(tenant_id=1).order_by("pk"))
        mp.process_chunk(chunk)
        author = next(a for a in chunk if a.books.all())
        with self.assertNumQueries(1):
            titles = sorted(b.title for b in author.books.filter(id__gte=0))
        self.assertEqual(titles, sorted(b.title for b in CBook.objects.filter(
            tenant_id=author.tenant_id, author_id=author.id)))

    def test_composite_relation_without_a_foreign_key(self):
        CLoose.objects.create(tenant_id=0, author_id=1)
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(CAuthor, ["author"]))
        with self.assertRaises(DatabaseError) as cm:
            mp.process_chunk(list(CLoose.objects.all()))
        self.assertEqual(sqlstate(cm.exception), "42830", cm.exception)


@needs_composite
class CompositeTracked(TransactionTestCase):
    """With the tables tracked and outside a transaction that wrote them,
    so that the server keeps rows of composite keys across statements."""

    def setUp(self):
        make_composite()
        self.tracked = [m._meta.db_table for m in (CAuthor, CPublisher, CBook)]
        with connection.cursor() as cursor:
            for table in self.tracked:
                cursor.execute("SELECT memoized_prefetch.track(%s::regclass)", [table])
        reset_server()

    def tearDown(self):
        with connection.cursor() as cursor:
            for table in self.tracked:
                cursor.execute("SELECT memoized_prefetch.configure(%s::regclass, NULL), "
                               "memoized_prefetch.untrack(%s::regclass)", [table, table])
        reset_server()

    def test_second_pass_served_by_the_server(self):
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(CAuthor, ["author", "translator"]),
                              MemoizedPrefetchConfig(CPublisher, ["publisher"]))
        chunks = list(chunkator_page(CBook.objects.all(), 35))
        for chunk in chunks:
            mp.process_chunk(chunk)
        before = mp.stats()
        self.assertGreater(before[CAuthor]["misses"], 0)
        # a committed write between the passes: the next statement sees it
        CAuthor.objects.filter(pk=(1, 0)).update(name="Renamed")
        for chunk in chunks:
            with self.assertNumQueries(1):
                mp.process_chunk(chunk)
            with self.assertNumQueries(0):
                mine = [book_snapshot(b) for b in chunk]
            self.assertEqual(mine, expected_books(chunk))
        after = mp.stats()
        hits = after[CAuthor]["hits"] - before[CAuthor]["hits"]
        misses = after[CAuthor]["misses"] - before[CAuthor]["misses"]
        # the renamed author looked up again, nearly every other one a hit
        self.assertGreaterEqual(misses, 1)
        self.assertGreater(hits, 10 * misses)
        self.assertGreater(after[CPublisher]["hits"], before[CPublisher]["hits"])
        renamed = [b.author for c in chunks for b in c if b.author.pk == (1, 0)]
        self.assertTrue(renamed)
        self.assertTrue(all(a.name == "Renamed" for a in renamed))

    def test_reverse_second_pass_served_by_the_server(self):
        # author.books: each author's books cached on the server by its
        # composite key; a committed update moving a book to another author
        # between the passes is seen by the next statement
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(CBook, ["books"], lru_cache_size=1000))
        chunks = list(chunkator_page(CAuthor.objects.all(), 7))
        for chunk in chunks:
            mp.process_chunk(chunk)
        before = mp.stats()
        moved = CBook.objects.filter(tenant_id=1).order_by("pk").first()
        CBook.objects.filter(pk=moved.pk).update(author_id=(moved.author_id + 1) % 20)
        chunks = list(chunkator_page(CAuthor.objects.all(), 7))
        for chunk in chunks:
            with self.assertNumQueries(1):
                mp.process_chunk(chunk)
            with self.assertNumQueries(0):
                mine = {a.pk: sorted(b.pk for b in a.books.all()) for a in chunk}
            self.assertEqual(mine, {a.pk: sorted(b.pk for b in a.books.all()) for a in
                                    CAuthor.objects.filter(pk__in=[a.pk for a in chunk])
                                    .prefetch_related("books")})
        after = mp.stats()
        self.assertGreater(after[CBook]["hits"], before[CBook]["hits"])
        owner = CAuthor.objects.get(pk=(1, (moved.author_id + 1) % 20))
        self.assertIn(moved.pk, [b.pk for c in chunks for a in c if a.pk == owner.pk
                                 for b in a.books.all()])
