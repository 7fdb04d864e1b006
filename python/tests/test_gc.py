"""The cyclic garbage collector during process_chunk: left alone by default,
paused with pause_gc=True and enabled again afterwards, even when the chunk
fails."""
import gc

from django.db import connection
from django.test import TestCase

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.bookshop.models import Author, Book, Category
from tests.helpers import make_bookstore


class GarbageCollector(TestCase):
    @classmethod
    def setUpTestData(cls):
        make_bookstore(books=20)

    def setUp(self):
        self.assertTrue(gc.isenabled())
        self.addCleanup(gc.enable)

    def collector_states(self, fail=False, **kwargs):
        """gc.isenabled() at each query of one chunk (one: the configs share
        it), and after it."""
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Author, ["author", "translator"]),
            MemoizedPrefetchConfig(Category, ["categories"], is_many_to_many=True),
            **kwargs)
        chunk = list(Book.objects.order_by("pk"))
        states = []

        def record(execute, sql, params, many, context):
            states.append(gc.isenabled())
            if fail:
                raise RuntimeError("query failed")
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            if fail:
                with self.assertRaisesMessage(RuntimeError, "query failed"):
                    memoized_prefetch.process_chunk(chunk)
            else:
                memoized_prefetch.process_chunk(chunk)
        return states, gc.isenabled()

    def test_default_leaves_it_enabled(self):
        self.assertEqual(MemoizedPrefetch().pause_gc, False)
        self.assertEqual(self.collector_states(), ([True], True))

    def test_opt_in_pauses_and_restores_it(self):
        self.assertEqual(self.collector_states(pause_gc=True), ([False], True))

    def test_opt_in_restores_it_on_error(self):
        self.assertEqual(self.collector_states(fail=True, pause_gc=True), ([False], True))

    def test_opt_in_keeps_it_disabled_when_it_was(self):
        gc.disable()
        self.assertEqual(self.collector_states(pause_gc=True), ([False], False))
