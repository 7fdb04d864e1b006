-- reverse_fk(): the rows that reference each of a chunk of source ids,
-- through a discovered or named column; ordering, refusals, privileges,
-- the _flat form, and the cache per source id.
\i test/fixtures/bookstore.sql
CREATE INDEX ON book (author_id);
CREATE INDEX ON book (publisher_id);
CREATE INDEX ON review (book_id);
CREATE VIEW my_stats AS
    SELECT relation, entries, hits, misses
    FROM memoized_prefetch.stats WHERE pid = pg_backend_pid() ORDER BY relation::text;

-- discovered: book has one foreign key to publisher; order: first position
-- of each id, then the target's primary key; duplicates once, NULLs and ids
-- nothing references skipped
SELECT s.source_id, (s.target).id, (s.target).title
FROM memoized_prefetch.reverse_fk('publisher', ARRAY[2, NULL, 99, 1, 2], NULL::book) s;
SELECT s.source_id, (s.target).id, (s.target).rating
FROM memoized_prefetch.reverse_fk('book', ARRAY[5, 2, 1, 3], NULL::review) s;

-- named: book has two foreign keys to author
SELECT * FROM memoized_prefetch.reverse_fk('author', ARRAY[1], NULL::book);
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.reverse_fk('author', ARRAY[4, 1, 3, 2], NULL::book, 'author_id') s;
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.reverse_fk('author', ARRAY[4, 1, 3, 2], NULL::book, fk_column => 'author_id') s;
-- a column with no index: the error names the index to create
SELECT * FROM memoized_prefetch.reverse_fk('author', ARRAY[1], NULL::book, 'translator_id');
-- no foreign key to the source, and a column that does not exist
SELECT * FROM memoized_prefetch.reverse_fk('category', ARRAY[1], NULL::book);
SELECT * FROM memoized_prefetch.reverse_fk('author', ARRAY[1], NULL::book, 'writer_id');
-- NULL arguments
SELECT * FROM memoized_prefetch.reverse_fk(NULL, ARRAY[1], NULL::book);
SELECT count(*) FROM memoized_prefetch.reverse_fk('publisher', NULL::int[], NULL::book);
SELECT count(*) FROM memoized_prefetch.reverse_fk('publisher', '{}'::int[], NULL::book);
-- a source and a target that are not tables
CREATE VIEW author_view AS SELECT * FROM author;
SELECT * FROM memoized_prefetch.reverse_fk('author_view', ARRAY[1], NULL::book, 'author_id');
SELECT * FROM memoized_prefetch.reverse_fk('author', ARRAY[1], NULL::author_view, 'id');

-- source_id has the type of the chunk's elements, coerced to the column's
SELECT pg_typeof(s.source_id), count(*)
FROM memoized_prefetch.reverse_fk('publisher', ARRAY[1, 2]::int[], NULL::book) s GROUP BY 1;
SELECT pg_typeof(s.source_id), count(*)
FROM memoized_prefetch.reverse_fk('publisher', '{1,2}', NULL::book) s GROUP BY 1;
SELECT * FROM memoized_prefetch.reverse_fk('publisher', '{x}', NULL::book);

-- a column that holds source keys without a foreign key, on a target with a
-- composite primary key (rows ordered by both of its columns) and on one
-- with none (one row per match, in no particular order)
CREATE SCHEMA reverse_test;
CREATE TABLE reverse_test.edition (
    book_id bigint NOT NULL, lang text NOT NULL, region int NOT NULL, year int,
    PRIMARY KEY (lang, region));
CREATE INDEX ON reverse_test.edition (book_id);
INSERT INTO reverse_test.edition VALUES
    (1, 'fr', 2, 1990), (1, 'de', 1, 1991), (2, 'en', 1, 1992), (1, 'de', 0, 1993),
    (3, 'cs', 1, 1994), (2, 'ab', 9, 1995);
SELECT s.source_id, (s.target).lang, (s.target).region
FROM memoized_prefetch.reverse_fk('book', ARRAY[2, 1, 3], NULL::reverse_test.edition, 'book_id') s;
CREATE TABLE reverse_test.note (book_id bigint, body text);
CREATE INDEX ON reverse_test.note (book_id);
INSERT INTO reverse_test.note VALUES (1, 'a'), (2, 'b'), (1, 'c'), (NULL, 'd');
SELECT s.source_id, (s.target).body
FROM memoized_prefetch.reverse_fk('book', ARRAY[1, 2, NULL], NULL::reverse_test.note, 'book_id') s
ORDER BY 1, 2;

-- a reverse one-to-one: a unique foreign-key column
CREATE TABLE reverse_test.profile (
    id bigint PRIMARY KEY, author_id bigint NOT NULL UNIQUE REFERENCES author, bio text);
INSERT INTO reverse_test.profile VALUES (10, 3, 'c'), (11, 1, 'a');
SELECT s.source_id, (s.target).id, (s.target).bio
FROM memoized_prefetch.reverse_fk('author', ARRAY[1, 2, 3], NULL::reverse_test.profile) s;

-- the _flat form: the same rows in the same order
SELECT * FROM memoized_prefetch.reverse_fk_flat('author', ARRAY[4, 1], NULL::book, 'author_id')
    AS s(source_id int, id bigint, title varchar, isbn varchar, author_id bigint,
         translator_id bigint, publisher_id bigint);
SELECT * FROM memoized_prefetch.reverse_fk_flat('author', ARRAY[1], NULL::book, 'author_id')
    AS s(source_id int, id bigint);

-- privileges: the plain query reads the target only
CREATE ROLE regress_mp_reverse;
GRANT USAGE ON SCHEMA reverse_test TO regress_mp_reverse;
GRANT SELECT ON book TO regress_mp_reverse;
SET ROLE regress_mp_reverse;
SELECT count(*) FROM memoized_prefetch.reverse_fk('author', ARRAY[1, 2], NULL::book, 'author_id');
SELECT count(*) FROM memoized_prefetch.reverse_fk('book', ARRAY[1, 2], NULL::review);
RESET ROLE;
-- column privileges: every column of the target is read
REVOKE SELECT ON book FROM regress_mp_reverse;
GRANT SELECT (id, author_id) ON book TO regress_mp_reverse;
SET ROLE regress_mp_reverse;
SELECT count(*) FROM memoized_prefetch.reverse_fk('author', ARRAY[1, 2], NULL::book, 'author_id');
RESET ROLE;

-- cached per source id: a second chunk finds the rows of the ids seen
SELECT memoized_prefetch.track('book');
SELECT memoized_prefetch.reset();
SELECT count(*) FROM memoized_prefetch.reverse_fk('author', ARRAY[1, 2], NULL::book, 'author_id');
SELECT count(*) FROM memoized_prefetch.reverse_fk('author', ARRAY[1, 2, 3], NULL::book, 'author_id');
SELECT * FROM my_stats;
-- a write moves a book to another author: the next call sees it
UPDATE book SET author_id = 2 WHERE id = 1;
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.reverse_fk('author', ARRAY[1, 2, 3], NULL::book, 'author_id') s;
-- and in the session's own transaction, rolled back
BEGIN;
INSERT INTO book VALUES (6, 'Six', '0000000000006', 3, NULL, 1);
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.reverse_fk('author', ARRAY[3], NULL::book, 'author_id') s;
ROLLBACK;
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.reverse_fk('author', ARRAY[3], NULL::book, 'author_id') s;

SET client_min_messages = warning;
DROP SCHEMA reverse_test CASCADE;
DROP VIEW author_view, my_stats;
DROP OWNED BY regress_mp_reverse;
DROP ROLE regress_mp_reverse;
RESET client_min_messages;
