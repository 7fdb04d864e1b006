-- Partitioned tables as sources, targets, link tables and middle steps of
-- paths: hash, list and range partitioning, a sub-partitioned partition, a
-- default partition, partitions with another column order and with dropped
-- columns.  Each check compares a call with the plain join over random chunks
-- in one statement (as differential.sql does), cold, warm (tracked tables),
-- after writes that move rows between partitions, after ATTACH, DETACH and a
-- partition's TRUNCATE, and in the session's own transaction.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS memoized_prefetch;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;
CREATE SCHEMA parts_test;
SET search_path = parts_test, public;
SELECT setseed(0.577);

-- authors by hash of id; one partition with its columns in another order,
-- one with a dropped column
CREATE TABLE author (id bigint PRIMARY KEY, name text NOT NULL, born int) PARTITION BY HASH (id);
CREATE TABLE author_0 PARTITION OF author FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE author_1 (born int, name text NOT NULL, id bigint NOT NULL);
ALTER TABLE author ATTACH PARTITION author_1 FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE author_2 (junk text, id bigint NOT NULL, name text NOT NULL, born int);
ALTER TABLE author_2 DROP COLUMN junk;
ALTER TABLE author ATTACH PARTITION author_2 FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE author_3 PARTITION OF author FOR VALUES WITH (MODULUS 4, REMAINDER 3);
-- categories by list of ids, with a default partition
CREATE TABLE category (id int PRIMARY KEY, name text NOT NULL) PARTITION BY LIST (id);
CREATE TABLE category_low PARTITION OF category FOR VALUES IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
CREATE TABLE category_even PARTITION OF category FOR VALUES IN (12, 14, 16, 18, 20);
CREATE TABLE category_other PARTITION OF category DEFAULT;
-- books by range of id; one range sub-partitioned by hash of author_id (a
-- level that does not route ids), and a default partition
CREATE TABLE book (
    id bigint NOT NULL, title text NOT NULL,
    author_id bigint REFERENCES author, translator_id bigint REFERENCES author,
    PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE book_1 PARTITION OF book FOR VALUES FROM (MINVALUE) TO (300);
CREATE TABLE book_2 PARTITION OF book FOR VALUES FROM (300) TO (600)
    PARTITION BY HASH (id);
CREATE TABLE book_2a PARTITION OF book_2 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE book_2b PARTITION OF book_2 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE book_3 PARTITION OF book FOR VALUES FROM (600) TO (900);
CREATE TABLE book_rest PARTITION OF book DEFAULT;
CREATE INDEX ON book (author_id);
-- a plain table whose foreign key references the partitioned book
CREATE TABLE review (id bigint PRIMARY KEY, book_id bigint REFERENCES book, rating int);
-- a partitioned link table
CREATE TABLE book_categories (
    book_id bigint NOT NULL REFERENCES book, category_id int NOT NULL REFERENCES category,
    PRIMARY KEY (book_id, category_id)) PARTITION BY RANGE (book_id);
CREATE TABLE book_categories_1 PARTITION OF book_categories FOR VALUES FROM (0) TO (500);
CREATE TABLE book_categories_2 PARTITION OF book_categories FOR VALUES FROM (500) TO (MAXVALUE);
CREATE INDEX ON book_categories (category_id);

INSERT INTO author SELECT i, 'author ' || i, 1900 + i % 100 FROM generate_series(1, 400) i;
INSERT INTO category SELECT i, 'category ' || i FROM generate_series(1, 30) i;
INSERT INTO book
SELECT i, 'book ' || i,
       CASE WHEN random() < 0.9 THEN 1 + floor(random() * 400) END,
       CASE WHEN random() < 0.4 THEN 1 + floor(random() * 400) END
FROM generate_series(1, 1000) i;
INSERT INTO review
SELECT i, CASE WHEN random() < 0.95 THEN 1 + floor(random() * 1000) END, floor(random() * 5)
FROM generate_series(1, 1500) i;
INSERT INTO book_categories
SELECT DISTINCT b, 1 + floor(random() * 30)::int
FROM generate_series(1, 1000) b, generate_series(1, 3) k WHERE random() < 0.4 + 0 * k;
ANALYZE author, category, book, review, book_categories;

-- every leaf has rows
SELECT tableoid::regclass AS partition, count(*) > 0 AS has_rows
FROM (SELECT tableoid FROM author UNION ALL SELECT tableoid FROM category
      UNION ALL SELECT tableoid FROM book UNION ALL SELECT tableoid FROM book_categories) t
GROUP BY 1 ORDER BY partition::text COLLATE "C";

-- chunks: size 0..60, ids up to 1.2 times the largest, NULLs, duplicates
CREATE TABLE chunk (kind text, n int, ids bigint[], PRIMARY KEY (kind, n));
INSERT INTO chunk
SELECT kind, c,
       coalesce((SELECT array_agg(CASE WHEN random() < 0.05 THEN NULL
                                       ELSE 1 + floor(random() * maxid * 1.2)::bigint + 0 * g END)
                 FROM generate_series(1, floor(random() * 61)::int + 0 * c) g), '{}')
FROM (VALUES ('book', 1000), ('review', 1500), ('author', 400), ('category', 30)) k(kind, maxid),
     generate_series(1, 60) c;

CREATE TABLE checks (name text PRIMARY KEY, kind text NOT NULL, call text NOT NULL, plain text NOT NULL);
INSERT INTO checks VALUES
('fk book authors', 'book',
 $$SELECT s.source_id, s.attribute, s.target FROM memoized_prefetch.fk('book', $1, '{author_id,translator_id}', NULL::author) s$$,
 $$SELECT b.id, 'author_id', a FROM book b JOIN author a ON a.id = b.author_id WHERE b.id = ANY ($1)
   UNION ALL SELECT b.id, 'translator_id', a FROM book b JOIN author a ON a.id = b.translator_id WHERE b.id = ANY ($1)$$),
('fk review path', 'review',
 $$SELECT s.source_id, s.attribute, s.target FROM memoized_prefetch.fk('review', $1, '{book_id.author_id}', NULL::author) s$$,
 $$SELECT r.id, 'book_id.author_id', a FROM review r JOIN book b ON b.id = r.book_id JOIN author a ON a.id = b.author_id
   WHERE r.id = ANY ($1)$$),
('fk review book', 'review',
 $$SELECT s.source_id, s.attribute, s.target FROM memoized_prefetch.fk('review', $1, '{book_id}', NULL::book) s$$,
 $$SELECT r.id, 'book_id', b FROM review r JOIN book b ON b.id = r.book_id WHERE r.id = ANY ($1)$$),
('m2m book categories', 'book',
 $$SELECT s.source_id, s.target FROM memoized_prefetch.m2m('book_categories', $1, NULL::category) s$$,
 $$SELECT l.book_id, c FROM book_categories l JOIN category c ON c.id = l.category_id WHERE l.book_id = ANY ($1)$$),
('reverse author books', 'author',
 $$SELECT s.source_id, s.target FROM memoized_prefetch.reverse_fk('author', $1, NULL::book, 'author_id') s$$,
 $$SELECT b.author_id, b FROM book b WHERE b.author_id = ANY ($1)$$),
('flat fk book authors', 'book',
 $$SELECT s.* FROM memoized_prefetch.fk_flat('book', $1, '{author_id,translator_id}', NULL::author)
   AS s(source_id bigint, attribute text, id bigint, name text, born int)$$,
 $$SELECT b.id, 'author_id', a.* FROM book b JOIN author a ON a.id = b.author_id WHERE b.id = ANY ($1)
   UNION ALL SELECT b.id, 'translator_id', a.* FROM book b JOIN author a ON a.id = b.translator_id WHERE b.id = ANY ($1)$$),
('flat m2m category books', 'category',
 $$SELECT s.* FROM memoized_prefetch.m2m_flat('book_categories', $1, NULL::book)
   AS s(source_id bigint, id bigint, title text, author_id bigint, translator_id bigint)$$,
 $$SELECT l.category_id::bigint, b.* FROM book_categories l JOIN book b ON b.id = l.book_id WHERE l.category_id = ANY ($1)$$);

CREATE FUNCTION pg_temp.same(call text, plain text, ids bigint[], OUT same boolean, OUT n int)
LANGUAGE plpgsql AS $$
DECLARE a text[]; b text[];
BEGIN
    EXECUTE format('SELECT (SELECT array_agg(x::text ORDER BY x::text COLLATE "C") FROM (%s) x),
                           (SELECT array_agg(x::text ORDER BY x::text COLLATE "C") FROM (%s) x)', call, plain)
        INTO a, b USING ids;
    same := a IS NOT DISTINCT FROM b;
    n := coalesce(cardinality(a), 0);
END $$;
CREATE FUNCTION pg_temp.results()
RETURNS TABLE (name text, mismatches bigint, chunks bigint, enough_rows boolean) LANGUAGE sql AS $$
SELECT k.name, count(*) FILTER (WHERE NOT r.same), count(*), sum(r.n) > 100
FROM checks k JOIN chunk c ON c.kind = k.kind, LATERAL pg_temp.same(k.call, k.plain, c.ids) r
GROUP BY k.name ORDER BY k.name COLLATE "C" $$;

-- cold, untracked
SELECT * FROM pg_temp.results();

-- the order: first position of each id, then the target's key
SELECT count(*) FILTER (WHERE got IS DISTINCT FROM documented) AS reverse_order_mismatches
FROM (SELECT (SELECT array_agg(row(s.source_id, (s.target).id)::text ORDER BY s.ord)
              FROM memoized_prefetch.reverse_fk('author', c.ids, NULL::book, 'author_id')
                   WITH ORDINALITY s(source_id, target, ord)) AS got,
             (SELECT array_agg(row(b.author_id, b.id)::text ORDER BY array_position(c.ids, b.author_id), b.id)
              FROM book b WHERE b.author_id = ANY (c.ids)) AS documented
      FROM chunk c WHERE c.kind = 'author') x;

-- a key of a routing level is looked up in one partition only: ten
-- distinct authors are ten misses over the four partitions of author
CREATE VIEW my_stats AS
    SELECT relation, entries, hits, misses FROM memoized_prefetch.stats
    WHERE pid = pg_backend_pid() ORDER BY relation::text COLLATE "C";
SELECT memoized_prefetch.reset();
SELECT count(*) FROM memoized_prefetch.fk('review', ARRAY[1, 2, 3], '{book_id}', NULL::book);
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY(SELECT id FROM book WHERE author_id IS NOT NULL ORDER BY id LIMIT 10),
                                          '{author_id}', NULL::author);
SELECT sum(misses) AS author_misses FROM my_stats WHERE relation::text LIKE 'author\_%';

-- tracked: track() on a partitioned table tracks every leaf
SELECT memoized_prefetch.track(t) FROM unnest('{author,category,book,book_categories}'::regclass[]) t;
SELECT c.relname, memoized_prefetch.tracked(c.oid) AS tracked
FROM pg_partition_tree('book') p JOIN pg_class c ON c.oid = p.relid WHERE p.isleaf ORDER BY 1;
-- warm: every check twice, the second served from the leaves' caches
SELECT memoized_prefetch.reset();
SELECT name, mismatches FROM pg_temp.results();
SELECT name, mismatches FROM pg_temp.results();
SELECT sum(hits) > 0 AS author_hits, count(*) AS author_caches
FROM my_stats WHERE relation::text LIKE 'author\_%';

-- writes that move rows between partitions: authors re-keyed (another hash
-- partition; their books re-pointed), books moved to another range (their
-- links with them), renames
UPDATE book SET author_id = NULL WHERE author_id % 7 = 0;
UPDATE book SET translator_id = NULL WHERE translator_id % 7 = 0;
UPDATE author SET id = id + 1000 WHERE id % 7 = 0;
UPDATE book SET author_id = 1000 + 7 * (1 + id % 50) WHERE id % 9 = 0;
DELETE FROM book_categories WHERE book_id % 11 = 0;
UPDATE review SET book_id = NULL WHERE book_id % 11 = 0;
UPDATE book SET id = id + 2000 WHERE id % 11 = 0;
INSERT INTO book_categories SELECT id, 1 + id % 30 FROM book WHERE id > 2000;
UPDATE author SET name = name || ' (new)' WHERE id % 3 = 0;
SELECT count(*) > 0 AS moved FROM book_rest WHERE id > 2000;
SELECT name, mismatches FROM pg_temp.results();

-- a partition detached, a new one attached with rows, a partition's TRUNCATE
ALTER TABLE book_categories DETACH PARTITION book_categories_2;
SELECT name, mismatches FROM pg_temp.results() WHERE name LIKE '%categor%';
DROP TABLE book_categories_2;
CREATE TABLE book_categories_mid (category_id int NOT NULL, book_id bigint NOT NULL);
INSERT INTO book_categories_mid (book_id, category_id)
SELECT b, 1 + b % 30 FROM generate_series(500, 700) b WHERE b % 11 <> 0;
ALTER TABLE book_categories ATTACH PARTITION book_categories_mid FOR VALUES FROM (500) TO (800);
SELECT name, mismatches FROM pg_temp.results() WHERE name LIKE '%categor%';
SELECT memoized_prefetch.tracked('book_categories_mid') AS attached_is_tracked;
CREATE TABLE book_categories_late PARTITION OF book_categories FOR VALUES FROM (800) TO (1000);
SELECT memoized_prefetch.tracked('book_categories_late') AS created_is_tracked;
SELECT memoized_prefetch.tracked('book_categories') AS partitioned_is_tracked;
TRUNCATE book_categories_1;
SELECT name, mismatches FROM pg_temp.results() WHERE name LIKE '%categor%';

-- the session's own changes, rolled back
BEGIN;
UPDATE author SET name = 'mine' WHERE id % 4 = 1;
UPDATE book SET id = id + 5000 WHERE id % 13 = 0 AND id NOT IN (SELECT book_id FROM review WHERE book_id IS NOT NULL)
    AND id NOT IN (SELECT book_id FROM book_categories);
INSERT INTO book_categories SELECT id, 1 FROM book WHERE id BETWEEN 500 AND 510 ON CONFLICT DO NOTHING;
SELECT name, mismatches FROM pg_temp.results();
ROLLBACK;
SELECT name, mismatches FROM pg_temp.results();

-- row-level security of the partitioned table (not of its partitions)
CREATE ROLE regress_mp_parts;
GRANT USAGE ON SCHEMA parts_test, memoized_prefetch TO regress_mp_parts;
GRANT SELECT ON ALL TABLES IN SCHEMA parts_test TO regress_mp_parts;
ALTER TABLE author ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON author USING (id % 3 <> 0);
ALTER TABLE book_1 ENABLE ROW LEVEL SECURITY;	-- not applied through book
SET ROLE regress_mp_parts;
SELECT name, mismatches FROM pg_temp.results();
-- a partition's own privileges and policies apply to it alone
SELECT count(*) FROM memoized_prefetch.fk('book_1', ARRAY[1, 2], '{author_id}', NULL::author);
RESET ROLE;
REVOKE SELECT ON book_1 FROM regress_mp_parts;
SET ROLE regress_mp_parts;
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 2], '{author_id}', NULL::author);
SELECT count(*) FROM memoized_prefetch.fk('book_1', ARRAY[1, 2], '{author_id}', NULL::author);
RESET ROLE;

-- many leaves (more than a call first makes room for): 40 hash partitions
CREATE TABLE many (id bigint PRIMARY KEY, author_id bigint, v text) PARTITION BY HASH (id);
DO $$ BEGIN
    FOR r IN 0..39 LOOP
        EXECUTE format('CREATE TABLE many_%s PARTITION OF many FOR VALUES WITH (MODULUS 40, REMAINDER %s)', r, r);
    END LOOP;
END $$;
CREATE INDEX ON many (author_id);
INSERT INTO many SELECT i, i % 50, 'v' || i FROM generate_series(1, 2000) i;
SELECT pg_temp.same($$SELECT s.source_id, s.target FROM memoized_prefetch.reverse_fk('author', $1, NULL::many, 'author_id') s$$,
                    $$SELECT m.author_id, m FROM many m WHERE m.author_id = ANY ($1)$$, ARRAY[1, 7, 3, 49, 50, NULL]);
SELECT pg_temp.same($$SELECT s.source_id, s.attribute, s.target FROM memoized_prefetch.fk('many', $1, '{id}', NULL::many) s$$,
                    $$SELECT m.id, 'id', m FROM many m WHERE m.id = ANY ($1)$$, ARRAY(SELECT generate_series(1, 2100, 7)::bigint));

-- a leaf of its partitioned table's layout: the rows read through the
-- partitioned table are kept apart from those read from the leaf as a table
-- of its own (each in the row type it is returned as), both exact; once the
-- partitioned table is gone, the next call frees the former
CREATE TABLE vp (id bigint PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE vp_1 PARTITION OF vp FOR VALUES FROM (0) TO (100);
INSERT INTO vp SELECT i, 'v' || i FROM generate_series(1, 99) i;
CREATE TABLE vs (id bigint PRIMARY KEY, vp_id bigint);
INSERT INTO vs SELECT i, 100 - i FROM generate_series(1, 99) i;
SELECT memoized_prefetch.track(t) FROM unnest('{vp,vs}'::regclass[]) t;
SELECT pg_temp.same($$SELECT s.source_id, s.target FROM memoized_prefetch.fk('vs', $1, '{vp_id}', NULL::vp) s$$,
                    $$SELECT x.id, p FROM vs x JOIN vp p ON p.id = x.vp_id WHERE x.id = ANY ($1)$$, ARRAY[1, 2, 3, 4])
FROM generate_series(1, 2);
SELECT pg_temp.same($$SELECT s.source_id, s.target FROM memoized_prefetch.fk('vs', $1, '{vp_id}', NULL::vp_1) s$$,
                    $$SELECT x.id, p FROM vs x JOIN vp_1 p ON p.id = x.vp_id WHERE x.id = ANY ($1)$$, ARRAY[3, 4, 5])
FROM generate_series(1, 2);
SELECT entries, hits, misses FROM my_stats WHERE relation = 'vp_1'::regclass;
ALTER TABLE vp DETACH PARTITION vp_1;
DROP TABLE vp;
SELECT pg_temp.same($$SELECT s.source_id, s.target FROM memoized_prefetch.fk('vs', $1, '{vp_id}', NULL::vp_1) s$$,
                    $$SELECT x.id, p FROM vs x JOIN vp_1 p ON p.id = x.vp_id WHERE x.id = ANY ($1)$$, ARRAY[3, 4, 5]);
SELECT entries FROM my_stats WHERE relation = 'vp_1'::regclass;

-- refusals: a partition without the lookup index (a foreign table), a
-- partitioned index that is not valid
CREATE FOREIGN DATA WRAPPER parts_fdw;
CREATE SERVER parts_server FOREIGN DATA WRAPPER parts_fdw;
CREATE TABLE note (id int, book_id bigint) PARTITION BY RANGE (id);
CREATE TABLE note_1 PARTITION OF note FOR VALUES FROM (0) TO (10);
CREATE FOREIGN TABLE note_2 PARTITION OF note FOR VALUES FROM (10) TO (20) SERVER parts_server;
CREATE INDEX ON note (book_id);
SELECT * FROM memoized_prefetch.reverse_fk('book', ARRAY[1], NULL::note, 'book_id');
CREATE TABLE tag (id int, book_id bigint) PARTITION BY RANGE (id);
CREATE TABLE tag_1 PARTITION OF tag FOR VALUES FROM (0) TO (10);
CREATE INDEX tag_book_idx ON ONLY tag (book_id);
SELECT * FROM memoized_prefetch.reverse_fk('book', ARRAY[1], NULL::tag, 'book_id');

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA parts_test CASCADE;
DROP SERVER parts_server;
DROP FOREIGN DATA WRAPPER parts_fdw;
DROP OWNED BY regress_mp_parts;
DROP ROLE regress_mp_parts;
RESET client_min_messages;
RESET max_parallel_workers_per_gather;
