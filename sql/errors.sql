-- Every argument fk(), m2m() and reverse_fk() refuse, with its SQLSTATE and message.
\i test/fixtures/bookstore.sql
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE SCHEMA errors_test;
SET search_path = errors_test, public;
-- a table with an inheritance child, also as a link table and a referenced table
CREATE TABLE parent (id int PRIMARY KEY, author_id bigint REFERENCES author, book_id bigint REFERENCES book);
CREATE INDEX ON parent (book_id);
CREATE TABLE child () INHERITS (parent);
CREATE TABLE to_parent (id int PRIMARY KEY, parent_id int REFERENCES parent);
-- relations that are not tables
CREATE VIEW book_view AS SELECT * FROM book;
CREATE MATERIALIZED VIEW book_matview AS SELECT * FROM book;
CREATE TYPE book_type AS (id bigint, author_id bigint);
CREATE FOREIGN DATA WRAPPER errors_fdw;
CREATE SERVER errors_server FOREIGN DATA WRAPPER errors_fdw;
CREATE FOREIGN TABLE book_foreign (id bigint, author_id bigint) SERVER errors_server;
CREATE SEQUENCE book_seq;
-- composite keys
CREATE TABLE pair (a int, b int, author_id bigint REFERENCES author, PRIMARY KEY (a, b));
CREATE TABLE to_pair_nofk (id int PRIMARY KEY, pair_a int);
-- no usable primary key: none, or a deferrable one
CREATE TABLE nopk (id int, author_id bigint REFERENCES author);
CREATE TABLE deferpk (id int PRIMARY KEY DEFERRABLE, author_id bigint REFERENCES author);
CREATE TABLE to_nopk (id int PRIMARY KEY, nopk_id int, deferpk_id int);
-- a foreign key to a unique column whose index is descending
CREATE TABLE coded_desc (id int PRIMARY KEY, code int NOT NULL);
CREATE UNIQUE INDEX coded_desc_code ON coded_desc (code DESC);
CREATE TABLE to_coded_desc (id int PRIMARY KEY, c int REFERENCES coded_desc (code));
-- a column with foreign keys to two different columns of one table
CREATE TABLE coded (id int PRIMARY KEY, code int UNIQUE);
CREATE TABLE to_coded (id int PRIMARY KEY, c int REFERENCES coded (id) REFERENCES coded (code));
-- link tables: without an index on the source column, with only a hash or a
-- partial index, with an index of another collation, with three foreign keys
CREATE TABLE link_noindex (book_id bigint REFERENCES book, category_id bigint REFERENCES category);
CREATE TABLE link_hash (book_id bigint REFERENCES book, category_id bigint REFERENCES category);
CREATE INDEX ON link_hash USING hash (book_id);
CREATE TABLE link_partial (book_id bigint REFERENCES book, category_id bigint REFERENCES category);
CREATE INDEX ON link_partial (book_id) WHERE book_id > 0;
CREATE TABLE link_desc (book_id bigint REFERENCES book, category_id bigint REFERENCES category);
CREATE INDEX ON link_desc (book_id DESC);
CREATE TABLE coded_text (code text PRIMARY KEY);
CREATE TABLE link_collation (code text REFERENCES coded_text, category_id bigint REFERENCES category);
CREATE INDEX ON link_collation (code COLLATE "C");
CREATE TABLE link_three (book_id bigint REFERENCES book, author_id bigint REFERENCES author,
                         category_id bigint REFERENCES category);
CREATE INDEX ON link_three (book_id);
CREATE INDEX ON link_three (author_id);

-- the full error of a few
SELECT * FROM memoized_prefetch.fk('parent', ARRAY[1], '{author_id}', NULL::author);
SELECT * FROM memoized_prefetch.fk('book_view', ARRAY[1], '{author_id}', NULL::author);
SELECT * FROM memoized_prefetch.fk('review', ARRAY[1], '{rating.x}', NULL::author);
SELECT * FROM memoized_prefetch.m2m('link_noindex', ARRAY[1], NULL::category);
SELECT * FROM memoized_prefetch.fk('book', ARRAY[1]::numeric[], '{author_id}', NULL::author);

-- tables with inheritance children (0A000): source, link table, referenced
-- table, target; the child alone has no primary key of its own (55000)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('parent', ARRAY[1], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('parent', ARRAY[1], NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('to_parent', ARRAY[1], '{parent_id.author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('to_parent', ARRAY[1], '{parent_id}', NULL::parent)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('child', ARRAY[1], '{author_id}', NULL::author)$$);

-- not a table (42809): view, materialized view, foreign table, sequence,
-- composite type, as source, as link table and as target
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book_view', ARRAY[1], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book_matview', ARRAY[1], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book_foreign', ARRAY[1], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book_seq', ARRAY[1], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book_type', ARRAY[1], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('book_view', ARRAY[1], NULL::author, 'id', 'author_id')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('book_view', ARRAY[1], NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('book_foreign', ARRAY[1], NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], '{author_id}', NULL::book_view)$$);

-- target_type that is not the row type of a table (42804)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], '{author_id}', NULL::int)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], '{author_id}', NULL::book_type)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('book_categories', ARRAY[1], NULL::text)$$);

-- composite keys: ids of a composite primary key that are not records or
-- have another number of fields (42804), a composite key reached without a
-- foreign key (42830)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('pair', ARRAY[ROW(1, 2, 3)], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('pair', ARRAY[1], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('to_pair_nofk', ARRAY[1], '{pair_a}', NULL::pair)$$);

-- no usable primary key (55000): none, a deferrable one, on the source or on
-- a target reached without a foreign key
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('nopk', ARRAY[1], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('deferpk', ARRAY[1], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('to_nopk', ARRAY[1], '{nopk_id}', NULL::nopk)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('to_nopk', ARRAY[1], '{deferpk_id}', NULL::deferpk)$$);

-- a key index that cannot be used (55000)
SELECT * FROM memoized_prefetch.fk('to_coded_desc', ARRAY[1], '{c}', NULL::coded_desc);

-- no usable index on the link table's source column (55000)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('link_noindex', ARRAY[1], NULL::category)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('link_hash', ARRAY[1], NULL::category)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('link_partial', ARRAY[1], NULL::category)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('link_desc', ARRAY[1], NULL::category)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('link_collation', ARRAY['a'], NULL::category)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('book_categories', ARRAY[1], NULL::book)$$);

-- paths: another table (22023), unknown column (42703), a step that is not
-- the last without a foreign key (42830), malformed (22023)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], '{publisher_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('review', ARRAY[1], '{book_id.publisher_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], '{writer_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], '{Author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], '{ctid}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('review', ARRAY[1], '{book_id.writer_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('review', ARRAY[1], '{rating.author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], '{title.id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('review', ARRAY[1], '{book_id..author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('review', ARRAY[1], '{.book_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('review', ARRAY[1], '{book_id.}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('review', ARRAY[1], '{book_id____author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('review', ARRAY[1], '{""}', NULL::author)$$);
-- a column with foreign keys to two columns of the target (42702)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('to_coded', ARRAY[1], '{c}', NULL::coded)$$);
-- attributes NULL without a foreign key to the target (42704)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], NULL, NULL::category)$$);

-- link table columns: ambiguous (42702), missing (42704), unknown (42703),
-- the same column twice (22023)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('link_three', ARRAY[1], NULL::category)$$);
-- (naming source_field resolves it)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('link_three', ARRAY[1], NULL::category, 'book_id')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('book_categories', ARRAY[1], NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('review', ARRAY[1], NULL::book)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('book_categories', ARRAY[1], NULL::category, 'bookid')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('book_categories', ARRAY[1], NULL::category, 'book_id', 'categoryid')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('book_categories', ARRAY[1], NULL::category, 'category_id', 'category_id')$$);

-- reverse_fk: several foreign keys to the source (42702), none (42704), an
-- unknown column (42703), no usable index on the column (55000), NULL source
-- (22004), a source or target that is not a table (42809), a catalog (0A000),
-- ids of no implicit cast (42804), a source OID no table has (42P01)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('author', ARRAY[1], NULL::book)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('category', ARRAY[1], NULL::book)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('author', ARRAY[1], NULL::book, 'writer_id')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('book', ARRAY[1], NULL::link_noindex)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('book', ARRAY[1], NULL::link_hash)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('book', ARRAY[1], NULL::link_partial)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('book', ARRAY[1], NULL::link_desc)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk(NULL, ARRAY[1], NULL::book)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('book_view', ARRAY[1], NULL::review, 'book_id')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('book', ARRAY[1], NULL::book_view, 'author_id')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('book', ARRAY[1], NULL::int, 'author_id')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('pg_class', ARRAY[1], NULL::pg_index, 'indrelid')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('book', ARRAY[now()], NULL::link_three)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk(999999::oid::regclass, ARRAY[1], NULL::link_three, 'book_id')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('book', ARRAY[[1], [2]], NULL::link_three)$$);

-- multi-dimensional arrays (2202E)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[[1, 2], [3, 4]], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], '{{author_id},{translator_id}}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('book_categories', ARRAY[[1], [2]], NULL::category)$$);

-- NULL source or through, NULL attributes (22004)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk(NULL, ARRAY[1], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m(NULL, ARRAY[1], NULL::category)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], ARRAY['author_id', NULL], NULL::author)$$);

-- ids with no implicit cast to the key type (42804)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1.5], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[true], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('book_categories', ARRAY[now()], NULL::category)$$);

-- text ids against a char(n) key: the plain join compares them as text
-- (trailing spaces count), the key's index as char(n) (42804), for every
-- function; ids of the key's type are served, as the plain join serves them
CREATE TABLE char_target (id char(4) PRIMARY KEY);
CREATE TABLE char_source (id int PRIMARY KEY, f char(4) REFERENCES char_target);
CREATE INDEX ON char_source (f);
INSERT INTO char_target VALUES ('c1'), ('c2');
INSERT INTO char_source VALUES (1, 'c1'), (2, 'c2');
SELECT count(*) AS plain_rows FROM char_source WHERE f = ANY (ARRAY['c1 ', 'c2']::text[]);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('char_target', ARRAY['c1 ', 'c2']::text[], NULL::char_source, 'f')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('char_target', ARRAY['c1 ', 'c2']::text[], '{id}', NULL::char_target)$$);
SELECT count(*) FROM memoized_prefetch.reverse_fk('char_target', ARRAY['c1 ', 'c2']::char(4)[], NULL::char_source, 'f');
SELECT count(*) AS plain_rows FROM char_source WHERE f = ANY (ARRAY['c1 ', 'c2']::char(4)[]);

-- relations named by an OID that no table has (42P01), for every function
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk(999999::oid::regclass, ARRAY[1], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m(999999::oid::regclass, ARRAY[1], NULL::category)$$);
SELECT pg_temp.err($$SELECT memoized_prefetch.track(999999::oid::regclass)$$);
SELECT pg_temp.err($$SELECT memoized_prefetch.configure(999999::oid::regclass, 10)$$);
-- NULL tables for track() and untrack() (22004)
SELECT pg_temp.err($$SELECT memoized_prefetch.track(NULL)$$);
SELECT pg_temp.err($$SELECT memoized_prefetch.untrack(NULL)$$);

-- system catalogs, updated in place, as targets, sources and link tables (0A000)
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('pg_index', ARRAY['pg_class'::regclass::oid], '{indrelid}', NULL::pg_class)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('pg_attribute', ARRAY[1], '{attrelid}', NULL::pg_class)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('pg_depend', ARRAY[1], NULL::pg_class, 'objid', 'refobjid')$$);

-- a text column against a char(n) key: the plain join compares them as
-- text (trailing spaces count), the key's index as char(n) (42804)
CREATE TABLE char_key (k char(3) PRIMARY KEY);
CREATE TABLE text_ref (id int PRIMARY KEY, code text REFERENCES char_key);
INSERT INTO char_key VALUES ('ab');
INSERT INTO text_ref VALUES (1, 'ab'), (2, 'ab '), (3, 'ab  ');
SELECT count(*) AS plain_join_rows FROM text_ref JOIN char_key ON char_key.k = text_ref.code;
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('text_ref', ARRAY[1, 2, 3], '{code}', NULL::char_key)$$);
-- the same types the other way round compare as text on both sides: allowed
CREATE TABLE label (k text PRIMARY KEY);
CREATE TABLE labelled (id int PRIMARY KEY, label char(3) REFERENCES label);
INSERT INTO label VALUES ('ab'), ('ab ');
INSERT INTO labelled VALUES (1, 'ab'), (2, 'ab ');
SELECT (SELECT array_agg(x ORDER BY x::text) FROM (
          SELECT s.source_id, (s.target).k FROM memoized_prefetch.fk('labelled', ARRAY[1, 2], '{label}', NULL::label) s) x)
       IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text) FROM (
          SELECT l.id, t.k FROM labelled l JOIN label t ON t.k = l.label WHERE l.id = ANY (ARRAY[1, 2])) x) AS same;

-- a chunk too large to follow, whatever its product wraps to in 32 bits
-- (54000): 4096 attributes of 1048576 ids, and 1024 of them
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book',
    (SELECT array_agg(g) FROM generate_series(1, 1048576) g), array_fill('author_id'::text, ARRAY[4096]), NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book',
    (SELECT array_agg(g) FROM generate_series(1, 1048576) g), array_fill('author_id'::text, ARRAY[1024]), NULL::author)$$);
-- and a large one that fits is answered
SELECT count(*) FROM memoized_prefetch.fk('book', (SELECT array_agg(g) FROM generate_series(1, 100000) g),
                                          array_fill('author_id'::text, ARRAY[64]), NULL::author);

-- a NULL chunk is checked like any other before it returns no rows, as the
-- plain join's arguments and privileges are
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('book_view', NULL::int[], '{author_id}', NULL::author)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.m2m('pg_depend', NULL::int[], NULL::pg_class, 'objid', 'refobjid')$$);
SELECT count(*) FROM memoized_prefetch.fk('book', NULL::int[], '{author_id}', NULL::author);

-- a failed call leaves nothing behind: the same call site works afterwards
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('review', ARRAY[10], '{book_id.publisher_id}', NULL::author)$$),
       (SELECT count(*) FROM memoized_prefetch.fk('review', ARRAY[10], '{book_id.author_id}', NULL::author));

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA errors_test CASCADE;
DROP SERVER errors_server;
DROP FOREIGN DATA WRAPPER errors_fdw;
RESET client_min_messages;
