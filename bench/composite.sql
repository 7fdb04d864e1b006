-- The multi-tenant bookstore of "make bench"'s composite section: the
-- authors once per tenant (2), keyed by (tenant, id), and the books keyed by
-- (tenant, id), a book's tenant being 1 + id % 2, whose author is the
-- author of the book's own tenant: a composite foreign key (tenant,
-- author_id).  Indexes as Django would create them, and one on the books'
-- id alone for the plain join's range.
DROP TABLE IF EXISTS book_t, author_t;
DROP TYPE IF EXISTS book_key;
CREATE TABLE author_t (
    tenant int NOT NULL,
    id bigint NOT NULL,
    name varchar(255) NOT NULL,
    email varchar(254) NOT NULL,
    PRIMARY KEY (tenant, id));
CREATE TABLE book_t (
    tenant int NOT NULL,
    id bigint NOT NULL,
    title varchar(255) NOT NULL,
    isbn varchar(13) NOT NULL,
    author_id bigint NOT NULL,
    publisher_id bigint NOT NULL,
    PRIMARY KEY (tenant, id));
INSERT INTO author_t SELECT t, a.id, a.name, a.email FROM generate_series(1, 2) t, author a;
INSERT INTO book_t SELECT 1 + id % 2, id, title, isbn, author_id, publisher_id FROM book;
ALTER TABLE book_t ADD FOREIGN KEY (tenant, author_id) REFERENCES author_t;
CREATE INDEX ON book_t (tenant, author_id);
CREATE INDEX ON book_t (id);
CREATE TYPE book_key AS (tenant int, id bigint);
VACUUM ANALYZE author_t, book_t;
