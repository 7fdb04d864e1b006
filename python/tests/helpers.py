"""Shared by the tests: the seed README's chunking helper, generated data,
and comparable snapshots of what a chunk's attributes give."""
import random

from django.db import connection

from tests.bookshop.models import Author, Book, Category, Publisher, Review


def chunkator_page(source, chunk_size):
    """django-chunkator's chunkator_page (not packaged by Debian): pages of
    a queryset by primary key, each a list."""
    queryset = source.order_by("pk")
    last = None
    while True:
        page = list(queryset.filter(pk__gt=last)[:chunk_size] if last is not None
                    else queryset[:chunk_size])
        if not page:
            return
        last = page[-1].pk
        yield page
        if len(page) < chunk_size:
            return


def make_bookstore(seed=7, authors=30, publishers=5, categories=8, books=200, reviews=300):
    """A bookstore with skewed authors, 30% translators, 0-4 categories a
    book (some books none), reviews on random books.  Keys start at 0."""
    rnd = random.Random(seed)
    Author.objects.bulk_create(
        Author(id=i, name="Author %d" % i, email="a%d@example.com" % i) for i in range(authors))
    Publisher.objects.bulk_create(
        Publisher(id=i, name="Publisher %d" % i, country=rnd.choice(["CZ", "DE", "GB"]))
        for i in range(publishers))
    Category.objects.bulk_create(
        Category(id=i, name="Category %d" % i) for i in range(categories))
    Book.objects.bulk_create(
        Book(id=i, title="Book %d" % i, isbn="%013d" % i,
             author_id=int(authors * rnd.random() ** 2),
             translator_id=int(authors * rnd.random() ** 2) if rnd.random() < 0.3 else None,
             publisher_id=rnd.randrange(publishers))
        for i in range(books))
    through = Book.categories.through
    links = []
    for b in range(books):
        for c in rnd.sample(range(categories), rnd.choice([0, 0, 1, 2, 3, 4])):
            links.append(through(book_id=b, category_id=c))
    through.objects.bulk_create(links)
    Review.objects.bulk_create(
        Review(id=i, book_id=rnd.randrange(books), rating=1 + i % 5, comment="Review %d" % i)
        for i in range(reviews))
    # bulk_create with explicit keys leaves the sequences behind
    with connection.cursor() as cursor:
        for model in (Author, Publisher, Category, Book, Review):
            table = model._meta.db_table
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                           "(SELECT max(id) FROM " + connection.ops.quote_name(table) + "))",
                           [table])


def statement_rows(test, mp, chunk):
    """``mp.process_chunk(chunk)``, which ``test`` checks makes one statement,
    and the rows that statement returns, run again as it was sent."""
    statements = []

    def record(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)
    with connection.execute_wrapper(record):
        mp.process_chunk(chunk)
    test.assertEqual(len(statements), 1)
    with connection.cursor() as cursor:
        cursor.execute(*statements[0])
        return cursor.fetchall()


def values(obj):
    """A model instance as (class, field values), None as None."""
    if obj is None:
        return None
    return (type(obj).__name__,) + tuple(
        getattr(obj, f.attname) for f in obj._meta.concrete_fields)


def book_snapshot(book):
    return (values(book), values(book.author), values(book.translator),
            values(book.publisher), sorted(map(values, book.categories.all()), key=repr))


def review_snapshot(review):
    return (values(review), values(review.book), values(review.book.publisher),
            values(review.book.author))
