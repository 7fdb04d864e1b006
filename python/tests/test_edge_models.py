"""Primary keys not named id (text, integer, UUID, a key of 0), db_column,
to_field, one-to-one, multi-table inheritance, a filtering default manager,
Meta.ordering: the same results as prefetch_related."""
import uuid

from django.test import TestCase

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.edge.models import (
    Chapter, Note, Parcel, Shelf, SpecialVolume, Tag, Volume, VolumeDetail, Writer,
)
from tests.helpers import chunkator_page, values


class EdgeModels(TestCase):
    @classmethod
    def setUpTestData(cls):
        Shelf.objects.bulk_create(Shelf(code="S%d" % i, label="Shelf %d" % i) for i in range(4))
        Writer.objects.bulk_create(
            Writer(writer_no=i, name="Writer %d" % i, handle="w%d" % i, active=i % 3 != 2)
            for i in range(7))
        Tag.objects.bulk_create(Tag(tag_id=i, word="word %d" % (9 - i)) for i in range(6))
        for i in range(40):
            cls_ = SpecialVolume if i % 4 == 0 else Volume
            extra = {"edition": "E%d" % i} if cls_ is SpecialVolume else {}
            v = cls_.objects.create(
                number=i, title="Volume %d" % i,
                shelf_id=None if i % 5 == 0 else "S%d" % (i % 4),
                writer_id=None if i % 6 == 0 else "w%d" % (i % 7),
                editor_id=None if i % 3 == 0 else (i * 5) % 7, **extra)
            v.tags.set([t for t in range(6) if (i + t) % 3 == 0])
            if i % 2:
                VolumeDetail.objects.create(volume=v, pages=100 + i)
        for i, detail in enumerate(VolumeDetail.objects.order_by("pk")):
            Note.objects.create(detail=detail, text="Note %d" % i)
            Note.objects.create(detail=detail, text="Other note %d" % i)
        for i in range(25):
            p = Parcel.objects.create(id=uuid.UUID(int=i), shelf_id="S%d" % (i % 4),
                                      special_id=(i % 10) * 4 if i % 3 else None)
            p.tags.set([i % 6, (i + 1) % 6])

    def configs(self, lru_cache_size=10_000):
        return (
            MemoizedPrefetchConfig(Shelf, ["shelf"], lru_cache_size=lru_cache_size),
            MemoizedPrefetchConfig(Writer, ["writer", "editor"], lru_cache_size=lru_cache_size),
            MemoizedPrefetchConfig(Tag, ["tags"], is_many_to_many=True,
                                   lru_cache_size=lru_cache_size),
        )

    @staticmethod
    def volume(v):
        return (values(v), values(v.shelf), values(v.writer), values(v.editor),
                [values(t) for t in v.tags.all()])

    def test_volumes(self):
        expected = {v.pk: self.volume(v) for v in Volume.objects.prefetch_related(
            "shelf", "writer", "editor", "tags")}
        # inactive writers (not in the default manager) are reachable, as by Django
        self.assertIn(2, {e[3][1] for e in expected.values() if e[3] is not None})
        for lru_cache_size in (1, 10_000):
            memoized_prefetch = MemoizedPrefetch(*self.configs(lru_cache_size))
            for chunk in chunkator_page(Volume.objects.all(), 9):
                with self.assertNumQueries(1):
                    memoized_prefetch.process_chunk(chunk)
                with self.assertNumQueries(0):
                    for v in chunk:
                        # Tag has Meta.ordering: the order is Django's
                        self.assertEqual(self.volume(v), expected[v.pk])

    def test_writer_by_handle_and_by_key_share_instances(self):
        memoized_prefetch = MemoizedPrefetch(*self.configs())
        chunk = list(Volume.objects.all())
        memoized_prefetch.process_chunk(chunk)
        writers = {}
        for v in chunk:
            for w in (v.writer, v.editor):
                if w is not None:
                    self.assertIs(writers.setdefault(w.pk, w), w)
        self.assertEqual(chunk[1].writer.handle, chunk[1].writer_id)

    def test_inherited_chunk(self):
        # attributes declared on the parent of the chunk's model
        expected = {v.pk: self.volume(v) for v in SpecialVolume.objects.prefetch_related(
            "shelf", "writer", "editor", "tags")}
        memoized_prefetch = MemoizedPrefetch(*self.configs())
        chunk = list(SpecialVolume.objects.all())
        with self.assertNumQueries(1):
            memoized_prefetch.process_chunk(chunk)
        with self.assertNumQueries(0):
            self.assertEqual({v.pk: self.volume(v) for v in chunk}, expected)

    def test_inherited_target_and_uuid_keys(self):
        expected = {p.pk: (values(p.shelf), values(p.special), sorted(map(values, p.tags.all())))
                    for p in Parcel.objects.prefetch_related("shelf", "special", "tags")}
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Shelf, ["shelf"]),
            MemoizedPrefetchConfig(SpecialVolume, ["special"]),
            MemoizedPrefetchConfig(Tag, ["tags"], is_many_to_many=True))
        for chunk in chunkator_page(Parcel.objects.all(), 10):
            with self.assertNumQueries(1):
                memoized_prefetch.process_chunk(chunk)
            with self.assertNumQueries(0):
                for p in chunk:
                    self.assertEqual((values(p.shelf), values(p.special),
                                      sorted(map(values, p.tags.all()))), expected[p.pk])
                    if p.special is not None:
                        self.assertEqual(p.special.edition, "E%d" % p.special.pk)

    def test_one_to_one(self):
        memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(Volume, ["volume"]))
        chunk = list(VolumeDetail.objects.all())
        with self.assertNumQueries(1):
            memoized_prefetch.process_chunk(chunk)
        with self.assertNumQueries(0):
            for d in chunk:
                self.assertEqual(d.volume.pk, d.pk)
                self.assertIs(d.volume.detail, d)  # the reverse side, as Django sets it

    def test_nested_through_one_to_one(self):
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(Writer, ["volume.writer", "volume__editor"]),
            MemoizedPrefetchConfig(Tag, ["volume.tags"], is_many_to_many=True))
        chunk = list(VolumeDetail.objects.all())
        with self.assertNumQueries(2):
            memoized_prefetch.process_chunk(chunk)
        expected = {d.pk: (values(d.volume.writer), values(d.volume.editor),
                           [values(t) for t in d.volume.tags.all()])
                    for d in VolumeDetail.objects.prefetch_related(
                        "volume__writer", "volume__editor", "volume__tags")}
        with self.assertNumQueries(0):
            self.assertEqual({d.pk: (values(d.volume.writer), values(d.volume.editor),
                                     [values(t) for t in d.volume.tags.all()]) for d in chunk},
                             expected)

    def test_two_intermediate_levels_are_never_stale(self):
        # the details are memoized by their config; the volumes under them
        # (a second level of intermediates) are loaded again every chunk
        memoized_prefetch = MemoizedPrefetch(
            MemoizedPrefetchConfig(VolumeDetail, ["detail"]),
            MemoizedPrefetchConfig(Shelf, ["detail.volume.shelf"]))
        first = list(Note.objects.order_by("pk"))
        with self.assertNumQueries(3):
            memoized_prefetch.process_chunk(first)
        moved = next(n for n in first if n.detail.volume.shelf is not None)
        old_shelf = moved.detail.volume.shelf
        new_shelf = Shelf.objects.exclude(pk=old_shelf.pk).first()
        Volume.objects.filter(pk=moved.detail.pk).update(shelf=new_shelf)
        second = list(Note.objects.order_by("pk"))
        with self.assertNumQueries(3):
            memoized_prefetch.process_chunk(second)
        again = next(n for n in second if n.pk == moved.pk)
        self.assertIs(again.detail, moved.detail)  # the detail row did not change
        with self.assertNumQueries(0):
            self.assertEqual(again.detail.volume.shelf.pk, new_shelf.pk)
        expected = {n.pk: values(n.detail.volume.shelf) for n in Note.objects.select_related(
            "detail__volume__shelf")}
        with self.assertNumQueries(0):
            self.assertEqual({n.pk: values(n.detail.volume.shelf) for n in second}, expected)


class ReverseEdgeModels(TestCase):
    """Reverse relations: through a to_field key (writer.volumes), to a
    model with Meta.ordering and a filtering default manager
    (volume.chapter_set), a one-to-one primary key (volume.detail), to and
    from models with multi-table inheritance."""

    @classmethod
    def setUpTestData(cls):
        EdgeModels.setUpTestData.__func__(cls)
        Chapter.objects.bulk_create(
            Chapter(volume_id=v, number=n, active=(v + n) % 4 != 0)
            for v in range(0, 40, 3) for n in range(v % 5))

    @staticmethod
    def volume(v):
        try:
            detail = values(v.detail)
        except Volume.detail.RelatedObjectDoesNotExist:
            detail = None
        return (values(v), [values(c) for c in v.chapter_set.all()], detail,
                sorted(map(values, v.parcels.all()), key=repr)
                if isinstance(v, SpecialVolume) else None)

    def test_same_as_prefetch_related(self):
        expected = {v.pk: self.volume(v) for v in Volume.objects.prefetch_related(
            "chapter_set", "detail")}
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Chapter, ["chapter_set"]),
                              MemoizedPrefetchConfig(VolumeDetail, ["detail"]))
        for chunk in chunkator_page(Volume.objects.all(), 9):
            with self.assertNumQueries(1):
                mp.process_chunk(chunk)
            with self.assertNumQueries(0):
                for v in chunk:
                    # Chapter's default manager filters, its Meta.ordering
                    # orders, as in Django's own results
                    self.assertEqual(self.volume(v), expected[v.pk])
                    for c in v.chapter_set.all():
                        self.assertIs(c.volume, v)
        self.assertTrue(any(c for v in expected.values() for c in v[1]))
        self.assertTrue(any(v[2] is None for v in expected.values()))

    def test_to_field(self):
        expected = {w.pk: (sorted(map(values, w.volumes.all()), key=repr),
                           sorted(map(values, w.edited.all()), key=repr))
                    for w in Writer.all_objects.prefetch_related("volumes", "edited")}
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Volume, ["volumes", "edited"]))
        chunk = list(Writer.all_objects.all())
        with self.assertNumQueries(1):
            mp.process_chunk(chunk)
        with self.assertNumQueries(0):
            self.assertEqual({w.pk: (sorted(map(values, w.volumes.all()), key=repr),
                                     sorted(map(values, w.edited.all()), key=repr))
                              for w in chunk}, expected)
            for w in chunk:
                for v in w.volumes.all():
                    self.assertIs(v.writer, w)
                    self.assertEqual(v.writer_id, w.handle)

    def test_inherited(self):
        # a reverse relation of the chunk model's parent, and one to a child
        expected = {v.pk: self.volume(v) for v in SpecialVolume.objects.prefetch_related(
            "chapter_set", "detail", "parcels")}
        mp = MemoizedPrefetch(MemoizedPrefetchConfig(Chapter, ["chapter_set"]),
                              MemoizedPrefetchConfig(VolumeDetail, ["detail"]),
                              MemoizedPrefetchConfig(Parcel, ["parcels"]))
        chunk = list(SpecialVolume.objects.all())
        with self.assertNumQueries(1):
            mp.process_chunk(chunk)
        with self.assertNumQueries(0):
            self.assertEqual({v.pk: self.volume(v) for v in chunk}, expected)
