-- A backend's memory stays within the settings: the state of relations that
-- were dropped goes (temporary tables, indexes replaced by REINDEX
-- CONCURRENTLY), and live tables' own state counts against
-- max_backend_memory.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS memoized_prefetch;
RESET client_min_messages;
CREATE VIEW cache_memory AS
    SELECT sum(total_bytes) AS bytes FROM pg_backend_memory_contexts
    WHERE name LIKE 'memoized_prefetch%';
CREATE FUNCTION churn(n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        CREATE TEMP TABLE churn_target (id int PRIMARY KEY, name text);
        CREATE TEMP TABLE churn_source (id int PRIMARY KEY, target_id int REFERENCES churn_target);
        INSERT INTO churn_target VALUES (1, 'a');
        INSERT INTO churn_source VALUES (1, 1);
        PERFORM count(*) FROM memoized_prefetch.fk('churn_source', ARRAY[1], NULL, NULL::churn_target);
        PERFORM memoized_prefetch.configure('churn_target', 5);
        DROP TABLE churn_source, churn_target;
    END LOOP;
END $$;

CREATE TABLE kept (id int PRIMARY KEY, name text);
CREATE TABLE keeper (id int PRIMARY KEY, kept_id int REFERENCES kept, other int);
INSERT INTO kept SELECT g, 'k' || g FROM generate_series(1, 10) g;
INSERT INTO keeper SELECT g, g, g FROM generate_series(1, 10) g;

-- dropped temporary tables: nothing of them stays
SELECT churn(100);
SELECT bytes AS after_100 FROM cache_memory \gset
SELECT churn(400);
SELECT count(*) FROM memoized_prefetch.fk('keeper', ARRAY[1, 2, 3], '{kept_id}', NULL::kept);
SELECT count(*) AS other_tables FROM memoized_prefetch.stats
WHERE pid = pg_backend_pid() AND relation <> 'kept'::regclass;
SELECT bytes - :after_100 < 65536 AS bounded FROM cache_memory;

-- an index replaced again and again by REINDEX CONCURRENTLY
REINDEX TABLE CONCURRENTLY kept;
SELECT count(*) FROM memoized_prefetch.fk('keeper', ARRAY[1, 2, 3], '{kept_id}', NULL::kept);
REINDEX TABLE CONCURRENTLY kept;
SELECT count(*) FROM memoized_prefetch.fk('keeper', ARRAY[1, 2, 3], '{kept_id}', NULL::kept);
SELECT count(*) AS kept_tables FROM memoized_prefetch.stats
WHERE pid = pg_backend_pid() AND relation = 'kept'::regclass;

-- reset() gives the tables back too
SELECT memoized_prefetch.reset();
SELECT count(*) AS tables_after_reset FROM memoized_prefetch.stats WHERE pid = pg_backend_pid();

-- live tables count against max_backend_memory: with room for a few, the
-- rest are read without a cache, and every result is still the plain join's
SET memoized_prefetch.max_backend_memory = '32kB';
CREATE FUNCTION many(n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    same int := 0;
BEGIN
    FOR i IN 1..n LOOP
        EXECUTE format('CREATE TEMP TABLE many_%s (id int PRIMARY KEY, name text)', i);
        EXECUTE format('INSERT INTO many_%s VALUES (1, %L), (2, %L)', i, 'x' || i, 'y' || i);
        EXECUTE format($q$SELECT count(*) FROM memoized_prefetch.fk('keeper', ARRAY[1, 2],
                          '{other}', NULL::many_%s) s
                          WHERE (s.target).name = 'x' || %s AND s.source_id = 1
                             OR (s.target).name = 'y' || %s AND s.source_id = 2$q$, i, i, i)
            INTO STRICT same;
        IF same <> 2 THEN
            RAISE EXCEPTION 'table %: % rows', i, same;
        END IF;
    END LOOP;
    RETURN n;
END $$;
SELECT many(40);
SELECT count(*) <= 8 AS tables_bounded FROM memoized_prefetch.stats WHERE pid = pg_backend_pid();
RESET memoized_prefetch.max_backend_memory;

DROP FUNCTION many(int);
DROP TABLE keeper, kept;
DROP FUNCTION churn(int);
DROP VIEW cache_memory;
