-- DDL between calls in one session: the cached plan follows it, and rows
-- written before a column was added read that column's default, as the plain
-- join does.
\i test/fixtures/bookstore.sql

SELECT s.source_id, (s.target).* FROM memoized_prefetch.fk('book', ARRAY[1, 2]::bigint[], '{author_id}', NULL::author) s;

-- a column with a default, without a rewrite: old rows read the default
ALTER TABLE author ADD COLUMN country text NOT NULL DEFAULT 'unknown';
SELECT s.source_id, (s.target).* FROM memoized_prefetch.fk('book', ARRAY[1, 2]::bigint[], '{author_id}', NULL::author) s;

-- a foreign-key column added with a default: old rows follow the default
ALTER TABLE book ADD COLUMN editor_id bigint NOT NULL DEFAULT 4 REFERENCES author;
SELECT s.source_id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('book', ARRAY[1, 2]::bigint[], '{editor_id}', NULL::author) s;
SELECT (SELECT array_agg(x ORDER BY x::text) FROM (
          SELECT s.source_id, s.attribute, s.target
          FROM memoized_prefetch.fk('book', ARRAY[1, 2, 3]::bigint[], '{author_id,editor_id}', NULL::author) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text) FROM (
          SELECT b.id, 'author_id'::text, a FROM book b JOIN author a ON a.id = b.author_id WHERE b.id IN (1, 2, 3)
          UNION ALL
          SELECT b.id, 'editor_id', a FROM book b JOIN author a ON a.id = b.editor_id WHERE b.id IN (1, 2, 3)) x)
       AS same;

-- a dropped column disappears from the target
ALTER TABLE author DROP COLUMN email;
SELECT s.source_id, (s.target).* FROM memoized_prefetch.fk('book', ARRAY[1]::bigint[], '{author_id}', NULL::author) s;

-- a changed column type rewrites the table; the result follows
ALTER TABLE author ALTER COLUMN name TYPE text;
SELECT s.source_id, (s.target).* FROM memoized_prefetch.fk('book', ARRAY[1]::bigint[], '{author_id}', NULL::author) s;

-- VACUUM FULL and CLUSTER move every row
VACUUM FULL author;
CLUSTER book USING book_pkey;
SELECT s.source_id, (s.target).name FROM memoized_prefetch.fk('book', ARRAY[2, 1]::bigint[], '{author_id}', NULL::author) s;

-- the foreign key dropped: the last step then joins to the primary key
ALTER TABLE book DROP CONSTRAINT book_editor_id_fkey;
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 2]::bigint[], '{editor_id}', NULL::author);

-- the link table's index dropped: m2m says which index it needs
DROP INDEX book_categories_book_id_idx;
SELECT count(*) FROM memoized_prefetch.m2m('book_categories', ARRAY[1]::bigint[], NULL::category);
ALTER TABLE book_categories DROP CONSTRAINT book_categories_book_id_category_id_key;
SELECT count(*) FROM memoized_prefetch.m2m('book_categories', ARRAY[1]::bigint[], NULL::category);
