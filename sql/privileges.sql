-- Privileges: fk() and m2m() need what the plain join needs (SELECT on the
-- table or on every column the join reads, USAGE on every schema), checked on
-- every call.  Each case runs both and shows both outcomes.
\i test/fixtures/bookstore.sql
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_mp_priv_reader;
RESET client_min_messages;
CREATE ROLE regress_mp_priv_reader;
GRANT USAGE ON SCHEMA memoized_prefetch TO regress_mp_priv_reader;
-- row count of a query, or its error
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE 'SELECT count(*) FROM (' || q || ') x' INTO n;
    RETURN n || ' rows';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- the calls and their plain joins
CREATE VIEW pg_temp.authors AS
SELECT pg_temp.try($$SELECT * FROM memoized_prefetch.fk('book', ARRAY[1, 2, 3], '{author_id}', NULL::author)$$) AS fk,
       pg_temp.try($$SELECT b.id, a FROM book b JOIN author a ON a.id = b.author_id WHERE b.id = ANY (ARRAY[1, 2, 3])$$) AS plain_join;
CREATE VIEW pg_temp.publishers AS
SELECT pg_temp.try($$SELECT * FROM memoized_prefetch.fk('review', ARRAY[10, 11, 13], '{book_id.publisher_id}', NULL::publisher)$$) AS fk,
       pg_temp.try($$SELECT r.id, p FROM review r JOIN book b ON b.id = r.book_id JOIN publisher p ON p.id = b.publisher_id
                     WHERE r.id = ANY (ARRAY[10, 11, 13])$$) AS plain_join;
CREATE VIEW pg_temp.categories AS
SELECT pg_temp.try($$SELECT * FROM memoized_prefetch.m2m('book_categories', ARRAY[1, 3], NULL::category)$$) AS m2m,
       pg_temp.try($$SELECT l.book_id, c FROM book_categories l JOIN category c ON c.id = l.category_id
                     WHERE l.book_id = ANY (ARRAY[1, 3])$$) AS plain_join;
GRANT SELECT ON pg_temp.authors, pg_temp.publishers, pg_temp.categories TO regress_mp_priv_reader;

-- no privilege on either table: the plain join names the source first
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.authors;
SELECT * FROM pg_temp.categories;
RESET ROLE;

-- no privilege on the target
GRANT SELECT ON book TO regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.authors;
RESET ROLE;

-- table privileges on both
GRANT SELECT ON author TO regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.authors;
RESET ROLE;

-- column privileges: the source's key and foreign-key column and every column
-- of the target are enough
REVOKE SELECT ON book, author FROM regress_mp_priv_reader;
GRANT SELECT (id, author_id) ON book TO regress_mp_priv_reader;
GRANT SELECT (id, name, email) ON author TO regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.authors;
RESET ROLE;

-- without the foreign-key column of the source
REVOKE SELECT (author_id) ON book FROM regress_mp_priv_reader;
GRANT SELECT (translator_id) ON book TO regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.authors;
RESET ROLE;

-- without the key column of the source
GRANT SELECT (author_id) ON book TO regress_mp_priv_reader;
REVOKE SELECT (id) ON book FROM regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.authors;
RESET ROLE;

-- without one column of the target: the target row is read whole
GRANT SELECT (id) ON book TO regress_mp_priv_reader;
REVOKE SELECT (email) ON author FROM regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.authors;
RESET ROLE;
REVOKE ALL ON book, author FROM regress_mp_priv_reader;

-- a path: the key and next foreign-key column of the table on the way
GRANT SELECT (id, book_id) ON review TO regress_mp_priv_reader;
GRANT SELECT (id, publisher_id) ON book TO regress_mp_priv_reader;
GRANT SELECT ON publisher TO regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.publishers;
RESET ROLE;
-- without the foreign-key column of the table on the way
REVOKE SELECT (publisher_id) ON book FROM regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.publishers;
RESET ROLE;
-- without the key column of the table on the way
GRANT SELECT (publisher_id) ON book TO regress_mp_priv_reader;
REVOKE SELECT (id) ON book FROM regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.publishers;
RESET ROLE;
REVOKE ALL ON review, book, publisher FROM regress_mp_priv_reader;

-- m2m: the link table's two columns and the whole target
GRANT SELECT (book_id, category_id) ON book_categories TO regress_mp_priv_reader;
GRANT SELECT ON category TO regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.categories;
RESET ROLE;
-- without the link table's target column
REVOKE SELECT (category_id) ON book_categories FROM regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.categories;
RESET ROLE;
-- without the target
GRANT SELECT (category_id) ON book_categories TO regress_mp_priv_reader;
REVOKE SELECT ON category FROM regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.categories;
RESET ROLE;
REVOKE ALL ON book_categories, category FROM regress_mp_priv_reader;

-- privileges are checked on every call, not when the call is first resolved:
-- resolved and cached by the superuser, then called by the reader
GRANT SELECT ON book TO regress_mp_priv_reader;
SELECT * FROM pg_temp.authors;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.authors;
RESET ROLE;
GRANT SELECT ON author TO regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.authors;
RESET ROLE;
REVOKE SELECT ON author FROM regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.authors;
RESET ROLE;

-- the same in one PL/pgSQL function called by both roles
CREATE FUNCTION pg_temp.author_count(ids bigint[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    SELECT count(*) INTO n FROM memoized_prefetch.fk('book', ids, '{author_id}', NULL::author);
    RETURN n || ' rows';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.author_count(ARRAY[1, 2]);
SET ROLE regress_mp_priv_reader;
SELECT pg_temp.author_count(ARRAY[1, 2]);
RESET ROLE;
-- in a SECURITY DEFINER function the definer's privileges apply, as to the
-- plain join there
CREATE FUNCTION public.regress_mp_definer_count(ids bigint[]) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = public
    AS $$ SELECT count(*) FROM memoized_prefetch.fk('book', ids, '{author_id}', NULL::author) $$;
SET ROLE regress_mp_priv_reader;
SELECT public.regress_mp_definer_count(ARRAY[1, 2, 3]);
RESET ROLE;
DROP FUNCTION public.regress_mp_definer_count(bigint[]);
REVOKE ALL ON book FROM regress_mp_priv_reader;

-- schema USAGE: a table on the path in a schema the reader cannot use
CREATE SCHEMA priv_open;
CREATE SCHEMA priv_hidden;
CREATE TABLE priv_hidden.shelf (id bigint PRIMARY KEY, publisher_id bigint REFERENCES publisher);
CREATE TABLE priv_open.item (id bigint PRIMARY KEY, shelf_id bigint REFERENCES priv_hidden.shelf);
INSERT INTO priv_hidden.shelf VALUES (1, 1), (2, 2);
INSERT INTO priv_open.item VALUES (1, 1), (2, 2), (3, NULL);
GRANT SELECT ON priv_hidden.shelf, priv_open.item, publisher TO regress_mp_priv_reader;
GRANT USAGE ON SCHEMA priv_open TO regress_mp_priv_reader;
CREATE VIEW pg_temp.shelves AS
SELECT pg_temp.try($$SELECT * FROM memoized_prefetch.fk('priv_open.item', ARRAY[1, 2, 3], '{shelf_id.publisher_id}', NULL::publisher)$$) AS fk,
       pg_temp.try($$SELECT i.id, p FROM priv_open.item i JOIN priv_hidden.shelf s ON s.id = i.shelf_id
                     JOIN publisher p ON p.id = s.publisher_id WHERE i.id = ANY (ARRAY[1, 2, 3])$$) AS plain_join;
GRANT SELECT ON pg_temp.shelves TO regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.shelves;
RESET ROLE;
GRANT USAGE ON SCHEMA priv_hidden TO regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT * FROM pg_temp.shelves;
RESET ROLE;
-- the source's schema, when the source is passed by OID (naming it would
-- already fail)
REVOKE USAGE ON SCHEMA priv_open FROM regress_mp_priv_reader;
SET ROLE regress_mp_priv_reader;
SELECT pg_temp.try($$SELECT * FROM memoized_prefetch.fk(
           (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'priv_open' AND c.relname = 'item')::regclass,
           ARRAY[1, 2, 3], '{shelf_id.publisher_id}', NULL::publisher)$$) AS fk,
       pg_temp.try($$SELECT * FROM priv_open.item$$) AS plain_join;
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA priv_open, priv_hidden CASCADE;
DROP OWNED BY regress_mp_priv_reader;
DROP ROLE regress_mp_priv_reader;
RESET client_min_messages;
