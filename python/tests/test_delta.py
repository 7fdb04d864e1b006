"""Rows the adapter already holds unchanged are not sent again: the server
answers with the key alone; a changed row is sent whole and makes a new
instance."""
from django.test import TestCase

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.bookshop.models import Author, Book
from tests.helpers import make_bookstore, statement_rows


class Delta(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_bookstore()

    def test_unchanged_not_sent_changed_sent(self):
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Author, ["author", "translator"]))
        books = list(Book.objects.order_by("pk")[:60])
        first = statement_rows(self, mp, books)
        keys = {b.author_id for b in books} | {b.translator_id for b in books} - {None}
        self.assertEqual({r[0] for r in first}, keys)
        self.assertTrue(all(r[1] is not None and r[2] is not None for r in first))
        instances = {b.author_id: b.author for b in books}

        # the same rows again: keys only, the instances reused
        again = list(Book.objects.order_by("pk")[:60])
        rows = statement_rows(self, mp, again)
        self.assertEqual({r[0] for r in rows}, keys)
        self.assertTrue(all(v is None for r in rows for v in r[1:]), rows[:3])
        for b in again:
            self.assertIs(b.author, instances[b.author_id])

        # one row changed: sent whole, a new instance; the others keys only
        changed = again[0].author_id
        Author.objects.filter(pk=changed).update(name="renamed")
        third = list(Book.objects.order_by("pk")[:60])
        rows = statement_rows(self, mp, third)
        sent = [r for r in rows if r[1] is not None]
        self.assertEqual([r[0] for r in sent], [changed])
        self.assertIn("renamed", sent[0])
        for b in third:
            if b.author_id == changed:
                self.assertIsNot(b.author, instances[changed])
                self.assertEqual(b.author.name, "renamed")
            else:
                self.assertIs(b.author, instances[b.author_id])
        # and what the plain join returns
        for b in third:
            self.assertEqual(b.author.name, Author.objects.get(pk=b.author_id).name)

    def test_many_to_many(self):
        from tests.bookshop.models import Category
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Category, ["categories"],
                                                     is_many_to_many=True))
        books = list(Book.objects.order_by("pk")[:60])
        first = statement_rows(self, mp, books)
        self.assertTrue(first)
        self.assertTrue(all(r[1] is not None for r in first))
        # each target once, with the sources linked to it
        self.assertEqual(len({r[0] for r in first}), len(first))
        instances = {c.pk: c for b in books for c in b.categories.all()}

        again = list(Book.objects.order_by("pk")[:60])
        rows = statement_rows(self, mp, again)
        self.assertEqual(len(rows), len(first))
        self.assertTrue(all(r[1] is None for r in rows), rows[:3])
        self.assertTrue(all(v is None for r in rows for v in r[3:]), rows[:3])
        for b in again:
            for c in b.categories.all():
                self.assertIs(c, instances[c.pk])

        changed = rows[0][0]
        Category.objects.filter(pk=changed).update(name="renamed")
        third = list(Book.objects.order_by("pk")[:60])
        rows = statement_rows(self, mp, third)
        self.assertEqual({r[0] for r in rows if r[1] is not None}, {changed})
        for b in third:
            self.assertEqual(sorted((c.pk, c.name) for c in b.categories.all()),
                             sorted((c.pk, c.name) for c in Category.objects.filter(books=b)))
            for c in b.categories.all():
                if c.pk != changed:
                    self.assertIs(c, instances[c.pk])
