-- Source ids and foreign-key values made into keys: implicit casts, untyped
-- literals, numeric, text, domain and (with ICU) nondeterministic keys.
\i test/fixtures/bookstore.sql
CREATE SCHEMA coercion_test;
-- an int primary key
CREATE TABLE coercion_test.int_src (id int PRIMARY KEY, author_id bigint REFERENCES author);
INSERT INTO coercion_test.int_src VALUES (1, 1), (2, 2), (3, NULL);
-- a numeric primary key
CREATE TABLE coercion_test.num_src (id numeric PRIMARY KEY, author_id bigint REFERENCES author);
INSERT INTO coercion_test.num_src VALUES (1, 1), (2.5, 2), (3, 3);
-- a text primary key, and a varchar foreign key to it
CREATE TABLE coercion_test.text_src (code text PRIMARY KEY, author_id bigint REFERENCES author);
INSERT INTO coercion_test.text_src VALUES ('a', 1), ('b', 2), ('B', 3), ('c', NULL);
CREATE TABLE coercion_test.code_ref (id int PRIMARY KEY, code varchar(10) REFERENCES coercion_test.text_src);
INSERT INTO coercion_test.code_ref VALUES (1, 'b'), (2, 'B'), (3, NULL), (4, 'a');
-- an int foreign-key column referencing the bigint key of author
CREATE TABLE coercion_test.int_ref (id int PRIMARY KEY, author_id int REFERENCES author);
INSERT INTO coercion_test.int_ref VALUES (1, 4), (2, NULL), (3, 2);
-- a key of a domain type, and a domain-typed foreign key to it
CREATE DOMAIN coercion_test.posint AS int CHECK (VALUE > 0);
CREATE TABLE coercion_test.dom_src (id coercion_test.posint PRIMARY KEY, author_id bigint REFERENCES author);
INSERT INTO coercion_test.dom_src VALUES (1, 3), (2, 4);
CREATE TABLE coercion_test.dom_ref (id int PRIMARY KEY, dom_id coercion_test.posint REFERENCES coercion_test.dom_src);
INSERT INTO coercion_test.dom_ref VALUES (10, 2), (11, 1), (12, NULL);

-- int[], int2[] and bigint[] chunks for a bigint key; source_id keeps the
-- chunk's element type
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('book', ARRAY[2, 1]::int[], '{author_id}', NULL::author) s;
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('book', ARRAY[2, 1]::int2[], '{author_id}', NULL::author) s;
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('book', ARRAY[2, 1]::bigint[], '{author_id}', NULL::author) s;

-- int[], int2[] and bigint[] for an int key: a bigint out of the key's range
-- matches nothing, as with the plain join's cross-type comparison
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.int_src', ARRAY[3, 2, 1]::int[], '{author_id}', NULL::author) s;
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.int_src', ARRAY[3, 2, 1]::int2[], '{author_id}', NULL::author) s;
SELECT * FROM memoized_prefetch.fk('coercion_test.int_src', ARRAY[3, 2, 1]::bigint[], '{author_id}', NULL::author);
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.int_src', ARRAY[5000000000, 2, -5000000000, 4294967298]::bigint[], '{author_id}', NULL::author) s;

-- a bigint column referencing an int key: with a foreign key, and without
-- one (a value out of the key's range then matches nothing)
CREATE TABLE coercion_test.small (id int PRIMARY KEY, name text);
INSERT INTO coercion_test.small VALUES (1, 'one'), (2, 'two');
CREATE TABLE coercion_test.wide_ref (
    id int PRIMARY KEY,
    small_id bigint REFERENCES coercion_test.small,
    loose_id bigint);
INSERT INTO coercion_test.wide_ref VALUES (1, 1, 2), (2, 2, 5000000001), (3, NULL, 4294967297);
SELECT s.source_id, s.attribute, (s.target).*
FROM memoized_prefetch.fk('coercion_test.wide_ref', ARRAY[1, 2, 3], '{small_id,loose_id}', NULL::coercion_test.small) s;
SELECT (SELECT array_agg(x ORDER BY x::text) FROM (
          SELECT s.source_id, s.attribute, s.target
          FROM memoized_prefetch.fk('coercion_test.wide_ref', ARRAY[1, 2, 3], '{small_id,loose_id}', NULL::coercion_test.small) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text) FROM (
          SELECT w.id, 'small_id'::text, t FROM coercion_test.wide_ref w JOIN coercion_test.small t ON t.id = w.small_id
          UNION ALL
          SELECT w.id, 'loose_id', t FROM coercion_test.wide_ref w JOIN coercion_test.small t ON t.id = w.loose_id) x)
       AS same;
SELECT * FROM memoized_prefetch.fk('coercion_test.int_src', ARRAY[1.0], '{author_id}', NULL::author);

-- an untyped literal is text, read by the key type's input function;
-- an invalid element fails as the plain join's literal would
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('book', '{4,NULL,2,04}', '{author_id}', NULL::author) s;
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.int_src', ARRAY['2', '1'], '{author_id}', NULL::author) s;
SELECT * FROM memoized_prefetch.fk('book', '{1,x}', '{author_id}', NULL::author);
SELECT * FROM book WHERE id = ANY ('{1,x}');

-- numeric: 1, 1.0 and 1.00 are one key, counted once under its first spelling
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.num_src', ARRAY[1.0, 2.50, 1.00, 1, 2.5, 7], '{author_id}', NULL::author) s;
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.num_src', ARRAY[3, 1, 3]::int[], '{author_id}', NULL::author) s;
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.num_src', '{2.500,3.0}', '{author_id}', NULL::author) s;

-- text keys: case matters; varchar[] and name[] chunks
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.text_src', ARRAY['B', 'b', 'c', 'a', 'b', 'z'], '{author_id}', NULL::author) s;
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.text_src', ARRAY['b', 'a']::varchar[], '{author_id}', NULL::author) s;
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.text_src', ARRAY['b', 'a']::name[], '{author_id}', NULL::author) s;

-- a varchar foreign key to a text key
SELECT s.source_id, (s.target).code, (s.target).author_id
FROM memoized_prefetch.fk('coercion_test.code_ref', ARRAY[4, 3, 2, 1], '{code}', NULL::coercion_test.text_src) s;
SELECT s.source_id, s.attribute, (s.target).id
FROM memoized_prefetch.fk('coercion_test.code_ref', ARRAY[4, 3, 2, 1], '{code.author_id}', NULL::author) s;

-- an int foreign-key column referencing a bigint key
SELECT s.source_id, (s.target).id, (s.target).name
FROM memoized_prefetch.fk('coercion_test.int_ref', ARRAY[3, 2, 1], '{author_id}', NULL::author) s;

-- a domain-typed key: chunks of the base type and of the domain
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.dom_src', ARRAY[2, 1, 5], '{author_id}', NULL::author) s;
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.dom_src', ARRAY[2, 1]::coercion_test.posint[], '{author_id}', NULL::author) s;
-- a domain-typed foreign key, then on to author
SELECT s.source_id, s.attribute, (s.target).id
FROM memoized_prefetch.fk('coercion_test.dom_ref', ARRAY[12, 11, 10], '{dom_id__author_id,dom_id.author_id}', NULL::author) s;
SELECT s.source_id, (s.target).id, (s.target).author_id
FROM memoized_prefetch.fk('coercion_test.dom_ref', ARRAY[12, 11, 10], '{dom_id}', NULL::coercion_test.dom_src) s;

-- keys equal under the key type's equality without being identical count once
-- and find the row: -0 and 0, NaN, intervals of the same length, jsonb
CREATE TABLE coercion_test.float_src (id float8 PRIMARY KEY, author_id bigint REFERENCES author);
INSERT INTO coercion_test.float_src VALUES (0, 1), ('NaN', 2), ('Infinity', 3), (1.5, 4);
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.float_src', ARRAY['-0'::float8, 'NaN', 'NaN', 0, 'Infinity', 1.5, 1.50000000001],
                          '{author_id}', NULL::author) s;
CREATE TABLE coercion_test.numnan_src (id numeric PRIMARY KEY, author_id bigint REFERENCES author);
INSERT INTO coercion_test.numnan_src VALUES ('NaN', 1), (0, 2), ('Infinity', 3), ('-Infinity', 4);
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.numnan_src', ARRAY['NaN'::numeric, '0.000', '-0', 'NaN', '-Infinity', 'Infinity'],
                          '{author_id}', NULL::author) s;
CREATE TABLE coercion_test.interval_src (id interval PRIMARY KEY, author_id bigint REFERENCES author);
INSERT INTO coercion_test.interval_src VALUES ('1 day', 1), ('1 mon', 2);
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.interval_src', ARRAY['24 hours'::interval, '1 day', '30 days', '720 hours', '1 mon'],
                          '{author_id}', NULL::author) s;
CREATE TABLE coercion_test.jsonb_src (id jsonb PRIMARY KEY, author_id bigint REFERENCES author);
INSERT INTO coercion_test.jsonb_src VALUES ('{"a": 1, "b": 2}', 1), ('[1, 2]', 2), ('1.0', 3);
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.jsonb_src', ARRAY['{"b":2,"a":1}'::jsonb, '{"a":1,"b":2}', '1', '1.00', '[1,2]'],
                          '{author_id}', NULL::author) s;
-- a chunk of NULLs only
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[NULL, NULL]::bigint[], '{author_id}', NULL::author);

-- a chunk whose type is a domain over an array
CREATE DOMAIN coercion_test.idlist AS bigint[] CHECK (cardinality(VALUE) <= 3);
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('book', ARRAY[2, 1]::coercion_test.idlist, '{author_id}', NULL::author) s;
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.m2m('book_categories', ARRAY[3, 1]::coercion_test.idlist, NULL::category) s;

-- an enum key: enum elements, or text read by the enum's input function
CREATE TYPE coercion_test.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE coercion_test.mood_src (m coercion_test.mood PRIMARY KEY, author_id bigint REFERENCES author);
INSERT INTO coercion_test.mood_src VALUES ('happy', 1), ('sad', 2);
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.mood_src', '{happy,ok,sad,happy}', '{author_id}', NULL::author) s;
SELECT pg_typeof(s.source_id), s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_test.mood_src', ARRAY['sad', 'happy']::coercion_test.mood[], '{author_id}', NULL::author) s;
SELECT * FROM memoized_prefetch.fk('coercion_test.mood_src', '{glad}', '{author_id}', NULL::author);

-- as multisets, the plain joins
SELECT (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT s.source_id, s.target
          FROM memoized_prefetch.fk('coercion_test.num_src', ARRAY[1.0, 2.50, 1.00, 1, 2.5, 7, 3], '{author_id}', NULL::author) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT n.id, a FROM coercion_test.num_src n JOIN author a ON a.id = n.author_id
          WHERE n.id = ANY (ARRAY[1.0, 2.50, 1.00, 1, 2.5, 7, 3])) x)
       AS same_numeric,
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT s.source_id, s.target
          FROM memoized_prefetch.fk('coercion_test.text_src', ARRAY['B', 'b', 'c', 'a', 'b', 'z'], '{author_id}', NULL::author) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT t.code, a FROM coercion_test.text_src t JOIN author a ON a.id = t.author_id
          WHERE t.code = ANY (ARRAY['B', 'b', 'c', 'a', 'b', 'z'])) x)
       AS same_text,
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT s.source_id, s.target
          FROM memoized_prefetch.fk('coercion_test.int_ref', ARRAY[1, 2, 3, 4], '{author_id}', NULL::author) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT r.id, a FROM coercion_test.int_ref r JOIN author a ON a.id = r.author_id
          WHERE r.id = ANY (ARRAY[1, 2, 3, 4])) x)
       AS same_int_ref,
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT s.source_id, s.target
          FROM memoized_prefetch.fk('coercion_test.dom_ref', ARRAY[10, 11, 12], '{dom_id}', NULL::coercion_test.dom_src) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT r.id, d FROM coercion_test.dom_ref r JOIN coercion_test.dom_src d ON d.id = r.dom_id
          WHERE r.id = ANY (ARRAY[10, 11, 12])) x)
       AS same_domain,
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT s.target
          FROM memoized_prefetch.fk('coercion_test.interval_src', ARRAY['24 hours'::interval, '1 day', '30 days', '720 hours'],
                                    '{author_id}', NULL::author) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT a FROM coercion_test.interval_src i JOIN author a ON a.id = i.author_id
          WHERE i.id = ANY (ARRAY['24 hours'::interval, '1 day', '30 days', '720 hours'])) x)
       AS same_interval;

SET client_min_messages = warning;
DROP SCHEMA coercion_test CASCADE;
RESET client_min_messages;

-- a nondeterministic (case-insensitive) ICU collation; skipped without ICU
SELECT count(*) > 0 AND getdatabaseencoding() <> 'SQL_ASCII' AS have_icu
FROM pg_collation WHERE collprovider = 'i' \gset
\if :have_icu
\else
\echo 'ICU is not available: skipping the nondeterministic collation tests'
\quit
\endif
CREATE SCHEMA coercion_icu;
CREATE COLLATION coercion_icu.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT 'Alpha' = 'ALPHA' COLLATE coercion_icu.ci AS ci_works;
CREATE TABLE coercion_icu.ci_src (code text COLLATE coercion_icu.ci PRIMARY KEY, author_id bigint REFERENCES author);
INSERT INTO coercion_icu.ci_src VALUES ('Alpha', 1), ('beta', 2), ('Gamma', NULL);
-- a foreign key whose values differ from the referenced key in case only
CREATE TABLE coercion_icu.ci_ref (id int PRIMARY KEY, code text COLLATE coercion_icu.ci REFERENCES coercion_icu.ci_src);
INSERT INTO coercion_icu.ci_ref VALUES (1, 'ALPHA'), (2, 'Beta'), (3, 'gamma'), (4, NULL);
-- ids equal under the collation count once, under their first spelling
SELECT s.source_id, (s.target).id
FROM memoized_prefetch.fk('coercion_icu.ci_src', ARRAY['BETA', 'alpha', 'Beta', 'ALPHA', 'delta', 'gamma'], '{author_id}', NULL::author) s;
-- the plain join finds the same rows
SELECT c.code, a.id FROM coercion_icu.ci_src c JOIN author a ON a.id = c.author_id
WHERE c.code = ANY (ARRAY['BETA', 'alpha', 'Beta', 'ALPHA', 'delta', 'gamma']) ORDER BY a.id;
SELECT s.source_id, (s.target).code, (s.target).author_id
FROM memoized_prefetch.fk('coercion_icu.ci_ref', ARRAY[4, 3, 2, 1], '{code}', NULL::coercion_icu.ci_src) s;
SELECT s.source_id, s.attribute, (s.target).id
FROM memoized_prefetch.fk('coercion_icu.ci_ref', ARRAY[4, 3, 2, 1], '{code.author_id}', NULL::author) s;
SELECT (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT s.source_id, s.target
          FROM memoized_prefetch.fk('coercion_icu.ci_ref', ARRAY[1, 2, 3, 4], '{code}', NULL::coercion_icu.ci_src) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT r.id, c FROM coercion_icu.ci_ref r JOIN coercion_icu.ci_src c ON c.code = r.code
          WHERE r.id = ANY (ARRAY[1, 2, 3, 4])) x)
       AS same_ci;
SET client_min_messages = warning;
DROP SCHEMA coercion_icu CASCADE;
RESET client_min_messages;
