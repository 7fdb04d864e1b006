-- fk_flat() and m2m_flat(): the rows of fk() and m2m() with the target row
-- spread into the columns of a column definition list, in the same order;
-- the list is checked against the target table on every call.
\i test/fixtures/bookstore.sql
CREATE INDEX ON book_categories (category_id);

-- the same rows, in the same order, as fk() and as the plain join
SELECT * FROM memoized_prefetch.fk_flat('book', ARRAY[4, 1, 3, 99, NULL, 4], '{author_id,translator_id}', NULL::author)
    AS s(source_id int, attribute text, id bigint, name varchar, email varchar);
SELECT (SELECT array_agg(row(s.source_id, s.attribute, s.id, s.name, s.country)::text ORDER BY s.ord)
        FROM ROWS FROM (memoized_prefetch.fk_flat('review', ARRAY[13, 10, 11, 12], '{book_id.publisher_id}', NULL::publisher)
                        AS (source_id int, attribute text, id bigint, name varchar(255), country varchar(100)))
             WITH ORDINALITY s(source_id, attribute, id, name, country, ord))
     = (SELECT array_agg(row(s.source_id, s.attribute, (s.target).*)::text ORDER BY s.ord)
        FROM memoized_prefetch.fk('review', ARRAY[13, 10, 11, 12], '{book_id.publisher_id}', NULL::publisher)
             WITH ORDINALITY s(source_id, attribute, target, ord)) AS same_as_fk;
SELECT * FROM memoized_prefetch.m2m_flat('book_categories', ARRAY[3, 1, 2], NULL::category)
    AS s(source_id int, id bigint, name varchar(100));
SELECT (SELECT array_agg(s::text ORDER BY s::text)
        FROM memoized_prefetch.m2m_flat('book_categories', ARRAY[1, 2, 3], NULL::book)
             AS s(source_id int, id bigint, title varchar, isbn varchar, author_id bigint,
                  translator_id bigint, publisher_id bigint))
     = (SELECT array_agg(x::text ORDER BY x::text)
        FROM (SELECT l.category_id::int, b.* FROM book_categories l JOIN book b ON b.id = l.book_id
              WHERE l.category_id IN (1, 2, 3)) x) AS same_as_plain_join;

-- NULL and empty chunks; no attributes (the list is still checked)
SELECT count(*) FROM memoized_prefetch.m2m_flat('book_categories', NULL::int[], NULL::category)
    AS s(source_id int, id bigint, name varchar);
SELECT count(*) FROM memoized_prefetch.fk_flat('book', '{}'::int[], NULL, NULL::author)
    AS s(source_id int, attribute text, id bigint, name varchar, email varchar);
SELECT count(*) FROM memoized_prefetch.fk_flat('book', ARRAY[1, 2], '{}', NULL::author)
    AS s(source_id int, attribute text, id bigint, name varchar, email varchar);
SELECT count(*) FROM memoized_prefetch.fk_flat('book', ARRAY[1, 2], '{}', NULL::author)
    AS s(source_id int, attribute text, id bigint, name varchar);

-- a dropped column is left out; a column added with a default reads as it
ALTER TABLE author ADD COLUMN scratch int;
ALTER TABLE author DROP COLUMN scratch;
ALTER TABLE author ADD COLUMN country text NOT NULL DEFAULT 'unknown';
UPDATE author SET country = 'CZ' WHERE id = 2;
SELECT * FROM memoized_prefetch.fk_flat('book', ARRAY[2, 4], '{author_id,translator_id}', NULL::author)
    AS s(source_id int, attribute text, id bigint, name varchar, email varchar, country text);

-- the list no longer matches once the table changes
SELECT * FROM memoized_prefetch.fk_flat('book', ARRAY[2], '{author_id}', NULL::author)
    AS s(source_id int, attribute text, id bigint, name varchar, email varchar);
ALTER TABLE author DROP COLUMN country;

-- what the list must be: the chunk's element type, text, the target's types
SELECT * FROM memoized_prefetch.fk_flat('book', ARRAY[1], '{author_id}', NULL::author)
    AS s(source_id bigint, attribute text, id bigint, name varchar, email varchar);
SELECT * FROM memoized_prefetch.fk_flat('book', ARRAY[1], '{author_id}', NULL::author)
    AS s(source_id int, attribute name, id bigint, name varchar, email varchar);
SELECT * FROM memoized_prefetch.fk_flat('book', ARRAY[1], '{author_id}', NULL::author)
    AS s(source_id int, attribute text, id int, name varchar, email varchar);
SELECT * FROM memoized_prefetch.m2m_flat('book_categories', ARRAY[1], NULL::category)
    AS s(source_id int, id bigint, name varchar(10));
SELECT * FROM memoized_prefetch.m2m_flat('book_categories', ARRAY[1], NULL::category)
    AS s(source_id int, id bigint, name varchar(100), extra text);
SELECT * FROM memoized_prefetch.m2m_flat('book_categories', ARRAY[1], NULL::category);
-- a wrong target_type is reported as for m2m()
SELECT * FROM memoized_prefetch.m2m_flat('book_categories', ARRAY[1], NULL::int)
    AS s(source_id int, id bigint);
