"""The seed's configuration API and its errors."""
from django.test import SimpleTestCase, TestCase

from memoized_prefetch.django import MemoizedPrefetch, MemoizedPrefetchConfig
from tests.bookshop.models import Author, Award, Book, Category, Publisher, Review


class Config(SimpleTestCase):
    def test_defaults(self):
        c = MemoizedPrefetchConfig(Author, ["author"])
        self.assertEqual((c.queryset, c.prefetch_all, c.lru_cache_size, c.is_many_to_many,
                          c.through_model, c.source_field, c.target_field),
                         (None, False, 10_000, False, None, None, None))
        self.assertEqual(c.get_queryset().model, Author)

    def test_unique_models(self):
        with self.assertRaisesMessage(ValueError, "Models have to be unique"):
            MemoizedPrefetch(MemoizedPrefetchConfig(Author, ["author"]),
                             MemoizedPrefetchConfig(Author, ["translator"]))

    def test_invalid(self):
        for kwargs, error in [
                (dict(model=Author, attributes="author"), TypeError),
                (dict(model=Author, attributes=["author"], lru_cache_size=-1), ValueError),
                (dict(model=Author, attributes=["author"], queryset=Book.objects.all()),
                 ValueError),
                (dict(model=Author, attributes=["author"],
                      queryset=Author.objects.values("name")), ValueError),
                (dict(model=Author, attributes=["author"], queryset=Author.objects.all()[:3]),
                 ValueError),
        ]:
            with self.subTest(kwargs=kwargs):
                with self.assertRaises(error):
                    MemoizedPrefetchConfig(**kwargs)


class Resolution(TestCase):
    def check(self, message, *configs, chunk_model=Book):
        memoized_prefetch = MemoizedPrefetch(*configs)
        with self.assertRaisesMessage(ValueError, message):
            memoized_prefetch.process_chunk([chunk_model(pk=1, author_id=1, publisher_id=1)]
                                            if chunk_model is Book else [chunk_model(pk=1)])

    def test_errors(self):
        self.check("Book has no field 'writer'", MemoizedPrefetchConfig(Author, ["writer"]))
        self.check("is not a forward ForeignKey, OneToOneField or composite ForeignObject "
                   "(use is_many_to_many=True)",
                   MemoizedPrefetchConfig(Category, ["categories"]))
        self.check("is not a forward ManyToManyField",
                   MemoizedPrefetchConfig(Author, ["author"], is_many_to_many=True))
        self.check("leads to Publisher, not to Author",
                   MemoizedPrefetchConfig(Author, ["publisher"]))
        # reverse relations: by their accessor, as prefetch_related names them,
        # at the end of a path, not many-to-many
        self.check("Author.award is a reverse relation, whose accessor is 'award_set'",
                   MemoizedPrefetchConfig(Award, ["author.award"]))
        self.check("Book.reviews is a reverse relation: only the last step of a path",
                   MemoizedPrefetchConfig(Review, ["reviews.book"]))
        self.check("leads to Review, not to Author", MemoizedPrefetchConfig(Author, ["reviews"]))
        self.check("reverse many-to-many relations are not supported",
                   MemoizedPrefetchConfig(Book, ["books"]), chunk_model=Category)
        self.check("is not the link table", MemoizedPrefetchConfig(
            Category, ["categories"], is_many_to_many=True, through_model=Book))
        self.check("is not 'book_id'", MemoizedPrefetchConfig(
            Category, ["categories"], is_many_to_many=True, source_field="category_id"))
        self.check("invalid attribute", MemoizedPrefetchConfig(Publisher, ["book..publisher"]),
                   chunk_model=Review)

    def test_through_fields_by_name_attname_or_omitted(self):
        for kwargs in [dict(source_field="book", target_field="category"),
                       dict(source_field="book_id", target_field="category_id"),
                       dict(through_model=Book.categories.through), {}]:
            memoized_prefetch = MemoizedPrefetch(MemoizedPrefetchConfig(
                Category, ["categories"], is_many_to_many=True, **kwargs))
            with self.assertNumQueries(1):
                memoized_prefetch.process_chunk([Book(pk=1, author_id=1, publisher_id=1)])
