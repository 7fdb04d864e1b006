-- fk() on the bookstore models: the README's usage, ordering, duplicates,
-- missing ids, NULL foreign keys, several attributes to one target.
\i test/fixtures/bookstore.sql

-- the README's example
SELECT s.source_id, s.attribute, (s.target).*
FROM memoized_prefetch.fk('book', ARRAY[4, 2, 1], '{author_id,translator_id}', NULL::author) s;

-- order: first position of each id, then the order of the attributes;
-- duplicates once, NULL elements and ids without a row skipped
SELECT s.source_id, s.attribute, (s.target).id
FROM memoized_prefetch.fk('book', ARRAY[3, NULL, 99, 1, 3, 2, 1], '{translator_id,author_id}', NULL::author) s;

-- NULL foreign keys give no row; a chunk of only such books gives none
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 5], '{translator_id}', NULL::author);

-- the same attribute twice is returned twice, as UNION ALL would
SELECT s.source_id, s.attribute, (s.target).id
FROM memoized_prefetch.fk('book', ARRAY[2], '{author_id,author_id}', NULL::author) s;

-- empty inputs
SELECT count(*) FROM memoized_prefetch.fk('book', '{}'::bigint[], '{author_id}', NULL::author);
SELECT count(*) FROM memoized_prefetch.fk('book', NULL::bigint[], '{author_id}', NULL::author);
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 2], '{}', NULL::author);

-- another target table
SELECT s.source_id, (s.target).name
FROM memoized_prefetch.fk('book', ARRAY[1, 2], '{publisher_id}', NULL::publisher) s;

-- as a multiset it is the plain join, under the same snapshot
SELECT (SELECT array_agg(x ORDER BY x::text) FROM (
          SELECT s.source_id, s.attribute, s.target
          FROM memoized_prefetch.fk('book', ARRAY[1, 2, 3, 4, 5]::bigint[], '{author_id,translator_id}', NULL::author) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text) FROM (
          SELECT b.id, 'author_id'::text, a FROM book b JOIN author a ON a.id = b.author_id WHERE b.id = ANY (ARRAY[1, 2, 3, 4, 5])
          UNION ALL
          SELECT b.id, 'translator_id', a FROM book b JOIN author a ON a.id = b.translator_id WHERE b.id = ANY (ARRAY[1, 2, 3, 4, 5])) x)
       AS same;

-- the session's own uncommitted writes are seen, as by the plain join
BEGIN;
UPDATE author SET name = 'Ann (updated)' WHERE id = 1;
SELECT (s.target).name FROM memoized_prefetch.fk('book', ARRAY[1], '{author_id}', NULL::author) s;
ROLLBACK;
SELECT (s.target).name FROM memoized_prefetch.fk('book', ARRAY[1], '{author_id}', NULL::author) s;

-- from PL/pgSQL, repeatedly (the plan is reused)
DO $$
DECLARE n int := 0; r record;
BEGIN
    FOR i IN 1..3 LOOP
        FOR r IN SELECT * FROM memoized_prefetch.fk('book', ARRAY[i, i + 1], '{author_id}', NULL::author) LOOP
            n := n + 1;
        END LOOP;
    END LOOP;
    RAISE NOTICE 'rows: %', n;
END $$;
