-- A call made while another call of this backend runs (here from a row-level
-- security policy) must not evict or free the cached rows the outer call
-- still holds, nor may reset() drop them.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS memoized_prefetch;
DROP ROLE IF EXISTS regress_mp_nest;
CREATE ROLE regress_mp_nest;
GRANT USAGE ON SCHEMA memoized_prefetch TO regress_mp_nest;
CREATE SCHEMA nest AUTHORIZATION regress_mp_nest;
-- a role that owns the tables and is subject to their policies
SET ROLE regress_mp_nest;
SET search_path = nest, public;
CREATE TABLE c (id int PRIMARY KEY, v text);
CREATE TABLE a (id int PRIMARY KEY, c_id int REFERENCES c);
CREATE TABLE b (id int PRIMARY KEY, c_id int REFERENCES c);
CREATE TABLE s (id int PRIMARY KEY, a_id int REFERENCES a, b_id int REFERENCES b);
INSERT INTO c SELECT g, 'c' || g FROM generate_series(1, 100) g;
INSERT INTO a SELECT g, g FROM generate_series(1, 100) g;
INSERT INTO b SELECT g, 101 - g FROM generate_series(1, 100) g;
INSERT INTO s SELECT g, g, g FROM generate_series(1, 100) g;
SELECT memoized_prefetch.track(t) FROM unnest('{a,c}'::regclass[]) t;
-- a holds 4 entries: the nested call below fills it with 4 other keys
SELECT memoized_prefetch.configure('a', 4);

-- the policy on b runs a call that reads a, for keys the outer call does not use
CREATE FUNCTION nested_calls(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF what = 'fk' THEN
        PERFORM count(*) FROM memoized_prefetch.fk('nest.s', '{51,52,53,54}'::int[], '{a_id}', NULL::nest.a);
    ELSIF what = 'reset' THEN
        PERFORM memoized_prefetch.reset();
    END IF;
    RETURN true;
END $$;
ALTER TABLE b ENABLE ROW LEVEL SECURITY;
ALTER TABLE b FORCE ROW LEVEL SECURITY;
CREATE POLICY b_nested ON b USING (nested_calls(current_setting('nest.what')));

-- both paths are resolved together: a's rows are held while b's policy runs
CREATE FUNCTION check_nested() RETURNS TABLE (source_id bigint, attribute text, id int, v text, same boolean)
LANGUAGE sql AS $$
    WITH f AS (
        SELECT s.source_id, s.attribute, (s.target).*
        FROM memoized_prefetch.fk('nest.s', '{1,2,3,4}'::int[], '{a_id.c_id,b_id.c_id}', NULL::nest.c) s),
    j AS (
        SELECT s.id::bigint AS source_id, 'a_id.c_id' AS attribute, c.* FROM s JOIN a ON a.id = s.a_id JOIN c ON c.id = a.c_id WHERE s.id IN (1, 2, 3, 4)
        UNION ALL
        SELECT s.id, 'b_id.c_id', c.* FROM s JOIN b ON b.id = s.b_id JOIN c ON c.id = b.c_id WHERE s.id IN (1, 2, 3, 4))
    SELECT f.*, (SELECT count(*) FROM j) = (SELECT count(*) FROM f)
        AND NOT EXISTS (SELECT * FROM j EXCEPT SELECT * FROM f)
    FROM f ORDER BY 1, 2
$$;

SET nest.what = 'fk';
SELECT * FROM check_nested();
SELECT * FROM check_nested();
-- reset() inside a call is refused
SET nest.what = 'reset';
SELECT * FROM check_nested();
-- a call ended by an error is forgotten with its subtransaction
BEGIN;
DO $$
BEGIN
    PERFORM * FROM check_nested();
EXCEPTION WHEN object_in_use THEN
    RAISE WARNING 'refused: %', SQLERRM;
END $$;
SELECT memoized_prefetch.reset();
COMMIT;
-- and with its transaction
SELECT * FROM check_nested();
SELECT memoized_prefetch.reset();
RESET nest.what;

RESET ROLE;
DROP SCHEMA nest CASCADE;
REVOKE USAGE ON SCHEMA memoized_prefetch FROM regress_mp_nest;
DROP ROLE regress_mp_nest;
RESET search_path;
