"""Instances are reused across chunks for the same row, never when the
server returned another version of it, and never across schemas; they are
built as Model.from_db builds them."""
from django.db import connection
from django.db.models import signals
from django.test import TestCase

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from memoized_prefetch.django.instances import _plain_init, plain_from_db
from tests.bookshop.models import Author, Book, Category, Publisher
from tests.helpers import make_bookstore


class InstanceReuse(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_bookstore()

    def setUp(self):
        self.memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Author, ["author", "translator"]),
            MemoizedPrefetchConfig(Publisher, ["publisher"], prefetch_all=True),
            MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True))

    def chunk(self, **filters):
        chunk = list(Book.objects.filter(**filters).order_by("pk"))
        self.memoized_prefetch.process_chunk(chunk)
        return chunk

    def test_same_row_same_instance(self):
        first = self.chunk(pk__lt=100)
        second = self.chunk(pk__gte=100)
        authors = {b.author.pk: b.author for b in first}
        categories = {c.pk: c for b in first for c in b.categories.all()}
        publishers = {b.publisher.pk: b.publisher for b in first}
        shared = 0
        for book in second:
            if book.author.pk in authors:
                self.assertIs(book.author, authors[book.author.pk])
                shared += 1
            self.assertIs(book.publisher, publishers.get(book.publisher.pk, book.publisher))
            for c in book.categories.all():
                self.assertIs(c, categories.get(c.pk, c))
        self.assertGreater(shared, 10)

    def test_prefetch_all_instances_are_served(self):
        # the instances loaded when the MemoizedPrefetch was created
        publishers = {e[1].pk: e[1] for cache in self.memoized_prefetch._targets[1]._caches.values()
                      for e in cache.values()}
        self.assertEqual(len(publishers), Publisher.objects.count())
        for book in self.chunk():
            self.assertIs(book.publisher, publishers[book.publisher_id])

    def test_changed_row_new_instance(self):
        first = self.chunk(pk__lt=100)
        book = first[0]
        author, publisher = book.author, book.publisher
        category = next(b.categories.all()[0] for b in first if b.categories.all())
        Author.objects.filter(pk=author.pk).update(email="new@example.com")
        Publisher.objects.filter(pk=publisher.pk).update(country="FR")
        Category.objects.filter(pk=category.pk).update(name="Renamed")
        again = self.chunk(pk__lt=100)
        self.assertEqual(again[0].author.email, "new@example.com")
        self.assertIsNot(again[0].author, author)
        self.assertNotEqual(author.email, "new@example.com")
        self.assertEqual(again[0].publisher.country, "FR")
        self.assertIsNot(again[0].publisher, publisher)
        renamed = [c for b in again for c in b.categories.all() if c.pk == category.pk]
        self.assertTrue(renamed)
        for c in renamed:
            self.assertEqual(c.name, "Renamed")
            self.assertIsNot(c, category)
        # unchanged rows keep their instances
        other = next(b for b in again if b.author_id != author.pk)
        self.assertIs(other.author, next(b.author for b in first if b.pk == other.pk))

    def test_update_back_and_forth(self):
        first = self.chunk(pk__lt=50)
        author = first[0].author
        Author.objects.filter(pk=author.pk).update(name="X")
        self.assertEqual(self.chunk(pk__lt=50)[0].author.name, "X")
        Author.objects.filter(pk=author.pk).update(name=author.name)
        again = self.chunk(pk__lt=50)[0].author
        self.assertEqual(again.name, author.name)

    def test_changed_foreign_key_after_loading(self):
        # the chunk's instance says author 1, the row now says author 2: the
        # attribute follows the instance, as prefetch_related does
        book = Book.objects.get(pk=5)
        other = Author.objects.exclude(pk=book.author_id).first()
        Book.objects.filter(pk=5).update(author=other)
        self.memoized_prefetch.process_chunk([book])
        with self.assertNumQueries(1):
            self.assertEqual(book.author.pk, book.author_id)


class SchemaSwitching(TestCase):
    """django-tenants switches schemas with search_path: the same table names
    in two schemas must never share instances."""

    tables = ["author", "publisher", "category", "book", "book_categories", "review"]

    @classmethod
    def setUpTestData(cls):
        make_bookstore(books=50, reviews=10)
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute("CREATE SCHEMA tenant_b")
            for t in cls.tables:
                name = qn("bookshop_" + t)
                cursor.execute("CREATE TABLE tenant_b.%s (LIKE public.%s INCLUDING ALL)"
                               % (name, name))
                cursor.execute("INSERT INTO tenant_b.%s SELECT * FROM public.%s" % (name, name))
            for table, column, target in [
                    ("book", "author_id", "author"), ("book", "translator_id", "author"),
                    ("book", "publisher_id", "publisher"),
                    ("book_categories", "book_id", "book"),
                    ("book_categories", "category_id", "category"),
                    ("review", "book_id", "book")]:
                cursor.execute("ALTER TABLE tenant_b.%s ADD FOREIGN KEY (%s) REFERENCES "
                               "tenant_b.%s DEFERRABLE INITIALLY DEFERRED"
                               % (qn("bookshop_" + table), column, qn("bookshop_" + target)))
            # tenant B: the same rows, one author renamed, one link removed
            cursor.execute("UPDATE tenant_b.bookshop_author SET name = 'Tenant B' "
                           "WHERE id = (SELECT author_id FROM public.bookshop_book WHERE id = 0)")
            cursor.execute("DELETE FROM tenant_b.bookshop_book_categories WHERE book_id = "
                           "(SELECT min(book_id) FROM public.bookshop_book_categories)")

    def set_schema(self, schema):
        with connection.cursor() as cursor:
            cursor.execute("SET search_path TO %s" % schema)

    def tearDown(self):
        self.set_schema("public")

    def snapshot(self, books):
        return [(b.author.name, b.publisher.name, sorted(c.name for c in b.categories.all()))
                for b in books]

    def test_tenants_never_mix(self):
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Author, ["author", "translator"]),
            MemoizedPrefetchConfig(Publisher, ["publisher"]),
            MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True))
        results = {}
        for schema in ["public", "tenant_b", "public", "tenant_b"]:
            self.set_schema(schema)
            chunk = list(Book.objects.order_by("pk"))
            memoized_prefetch.process_chunk(chunk)
            got = self.snapshot(chunk)
            expected = self.snapshot(Book.objects.order_by("pk").prefetch_related(
                "author", "publisher", "categories"))
            self.assertEqual(got, expected)
            instances = {id(b.author) for b in chunk} | {id(b.publisher) for b in chunk} | {
                id(c) for b in chunk for c in b.categories.all()}
            if schema in results:
                # the same schema again: its own instances, reused
                self.assertEqual(instances, results[schema])
            else:
                for other in results.values():
                    self.assertFalse(instances & other)
                results[schema] = instances
        self.assertEqual(results.keys(), {"public", "tenant_b"})
        self.set_schema("tenant_b")
        self.assertEqual(Book.objects.get(pk=0).author.name, "Tenant B")


class CountingAuthor(Author):
    """An author whose __init__ does more than Model's."""

    class Meta:
        proxy = True
        app_label = "bookshop"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.counted = True


class InstancesAsFromDb(TestCase):
    """The instances the adapter builds are those Model.from_db builds of
    the same rows, with Model's signals sent for each."""

    @classmethod
    def setUpTestData(cls):
        make_bookstore()

    def chunk(self):
        prefetcher = MemoizedPrefetch(
            MemoizedPrefetchConfig(Author, ["author", "translator"]),
            MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True))
        chunk = list(Book.objects.order_by("pk")[:60])
        prefetcher.process_chunk(chunk)
        return chunk

    @staticmethod
    def fields(obj):
        return {k: v for k, v in obj.__dict__.items() if k != "_state"}

    def test_same_as_from_db(self):
        chunk = self.chunk()
        built = [b.author for b in chunk] + [b.translator for b in chunk if b.translator_id]
        built += [c for b in chunk for c in b.categories.all()]
        self.assertGreater(len(built), 60)
        for inst in built:
            plain = type(inst).objects.get(pk=inst.pk)
            self.assertIs(type(inst), type(plain))
            self.assertEqual(self.fields(inst), self.fields(plain))
            self.assertEqual((inst._state.db, inst._state.adding),
                             (plain._state.db, plain._state.adding))
            self.assertEqual(inst, plain)

    def test_init_signals_sent(self):
        seen = []

        def pre(sender, args, **kwargs):
            seen.append(("pre", args[0]))

        def post(sender, instance, **kwargs):
            seen.append(("post", instance.pk))
        signals.pre_init.connect(pre, sender=Author)
        signals.post_init.connect(post, sender=Author)
        try:
            chunk = self.chunk()
        finally:
            signals.pre_init.disconnect(pre, sender=Author)
            signals.post_init.disconnect(post, sender=Author)
        authors = {b.author_id for b in chunk} | {b.translator_id for b in chunk if b.translator_id}
        self.assertEqual(sorted(pk for kind, pk in seen if kind == "post"), sorted(authors))
        self.assertEqual(sorted(pk for kind, pk in seen if kind == "pre"), sorted(authors))

    def test_own_init_is_run(self):
        attnames = [f.attname for f in CountingAuthor._meta.concrete_fields]
        author = Author.objects.order_by("pk").first()
        values = [getattr(author, a) for a in attnames]
        self.assertFalse(_plain_init(CountingAuthor, attnames))
        self.assertTrue(_plain_init(Author, attnames))
        made = plain_from_db(CountingAuthor, "default", attnames)(values)
        self.assertTrue(made.counted)
        self.assertEqual(made, CountingAuthor.objects.get(pk=author.pk))
