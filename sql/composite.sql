-- Composite keys: chunks of ids as arrays of records, composite primary keys
-- of sources and targets, composite foreign keys (their columns in another
-- order than the key's), NULL fields, coercion of fields, partitioned tables
-- keyed by (tenant, id), the cache after writes of tracked tables,
-- reverse_fk() of composite foreign keys, row-level security, and every
-- refusal with its SQLSTATE.  Results are compared with
-- the plain join on generated data.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS memoized_prefetch;
RESET client_min_messages;
SET max_parallel_workers_per_gather = 0;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE SCHEMA composite_test;
SET search_path = composite_test, public;
SELECT setseed(0.2718);

-- a multi-tenant schema: org (tenant, id), doc (tenant, id) referencing its
-- org by (org_id, tenant), a foreign key whose columns are in the other
-- order than org's key, and its reviewer by (tenant, reviewer_id); each is
-- named by a column only it has
CREATE TABLE org (tenant int, id bigint, name text NOT NULL, PRIMARY KEY (tenant, id));
CREATE TABLE doc (
    tenant int NOT NULL,
    id bigint NOT NULL,
    title text NOT NULL,
    org_id bigint,
    reviewer_id bigint,
    PRIMARY KEY (tenant, id),
    FOREIGN KEY (org_id, tenant) REFERENCES org (id, tenant),
    FOREIGN KEY (tenant, reviewer_id) REFERENCES org (tenant, id));
CREATE TABLE note (id int PRIMARY KEY, doc_tenant int, doc_id bigint, body text,
    FOREIGN KEY (doc_tenant, doc_id) REFERENCES doc);
INSERT INTO org SELECT t, i, 'org ' || t || '/' || i FROM generate_series(1, 3) t, generate_series(1, 220) i;
INSERT INTO doc
SELECT t, i, 'doc ' || t || '/' || i,
       CASE WHEN random() < 0.9 THEN 1 + floor(random() * 220) END,
       CASE WHEN random() < 0.5 THEN 1 + floor(random() * 200) END
FROM generate_series(1, 3) t, generate_series(1, 500) i;
INSERT INTO note
SELECT i, CASE WHEN random() < 0.95 THEN 1 + floor(random() * 3) END, 1 + floor(random() * 500), 'note ' || i
FROM generate_series(1, 1000) i;
ANALYZE org, doc, note;

-- a chunk of ids is an array of records, of a named type or anonymous
CREATE TYPE doc_key AS (tenant int, id bigint);
SELECT (s.source_id).tenant, (s.source_id).id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('doc', ARRAY[(1, 5), (2, 7)]::doc_key[], '{org_id,reviewer_id}', NULL::org) s
ORDER BY 1, 2, 3;
SELECT s.source_id, s.attribute, (s.target).tenant, (s.target).id
FROM memoized_prefetch.fk('doc', ARRAY[ROW(2, 7), ROW(1, 5)], '{org_id}', NULL::org) s;
SELECT pg_typeof(s.source_id) FROM memoized_prefetch.fk('doc', ARRAY[(1, 5)]::doc_key[], '{org_id}', NULL::org) s;
-- every foreign key to the target when no attribute is named, each by a
-- column of its own
SELECT s.attribute, count(*)
FROM memoized_prefetch.fk('doc', ARRAY(SELECT ROW(tenant, id)::doc_key FROM doc WHERE id <= 20), NULL, NULL::org) s
GROUP BY 1 ORDER BY 1;
-- duplicates, NULL elements, NULL fields and ids of no row: as the plain join
SELECT (s.source_id).tenant, (s.source_id).id, (s.target).id
FROM memoized_prefetch.fk('doc', ARRAY[(1, 3), NULL, (NULL, 3), (1, NULL), (1, 3), (9, 9)]::doc_key[],
                          '{org_id}', NULL::org) s;
-- fields are coerced as single keys are: int8 tenants out of int4's range
-- match nothing; text fields are read as keys
CREATE TYPE wide_key AS (t bigint, i bigint);
SELECT (s.source_id).t, (s.source_id).i, (s.target).id
FROM memoized_prefetch.fk('doc', ARRAY[(1, 4), (5000000000, 4)]::wide_key[], '{org_id}', NULL::org) s;
SELECT (s.target).id FROM memoized_prefetch.fk('doc', ARRAY[ROW('1', '4')], '{org_id}', NULL::org) s;
-- a path through composite keys, and a single key after a composite one
SELECT s.source_id, (s.target).tenant, (s.target).id
FROM memoized_prefetch.fk('note', ARRAY[1, 2, 3, 4, 5], '{doc_id.org_id}', NULL::org) s;
SELECT n.id, o.tenant, o.id
FROM note n JOIN doc d ON (d.tenant, d.id) = (n.doc_tenant, n.doc_id)
JOIN org o ON (o.id, o.tenant) = (d.org_id, d.tenant)
WHERE n.id IN (1, 2, 3, 4, 5) ORDER BY 1;

-- the differential check: random chunks, every attribute, against the
-- plain join (of each distinct id) under the same snapshot, cold, warm and
-- after writes
CREATE TABLE chunk (n int PRIMARY KEY, ids doc_key[]);
INSERT INTO chunk
SELECT c, coalesce((SELECT array_agg(CASE WHEN random() < 0.05 THEN NULL
                                          WHEN random() < 0.03 THEN ROW(NULL, 1)::doc_key
                                          ELSE ROW(1 + floor(random() * 3.3), 1 + floor(random() * 550))::doc_key END)
                    FROM generate_series(1, floor(random() * 60)::int + 0 * c) g), '{}')
FROM generate_series(1, 60) c;
CREATE FUNCTION pg_temp.differ() RETURNS int LANGUAGE sql AS $$
    SELECT count(*)::int FROM chunk c WHERE EXISTS (
        (SELECT s.source_id, s.attribute, s.target
         FROM memoized_prefetch.fk('doc', c.ids, '{org_id,reviewer_id}', NULL::org) s
         EXCEPT ALL
         SELECT ROW(u.tenant, u.id)::doc_key, a, o FROM (SELECT DISTINCT * FROM unnest(c.ids)) u
         JOIN doc d ON (d.tenant, d.id) = (u.tenant, u.id)
         CROSS JOIN (VALUES ('org_id'), ('reviewer_id')) v(a)
         JOIN org o ON CASE a WHEN 'org_id' THEN (o.id, o.tenant) = (d.org_id, d.tenant)
                              ELSE (o.tenant, o.id) = (d.tenant, d.reviewer_id) END)
        UNION ALL
        (SELECT ROW(u.tenant, u.id)::doc_key, a, o FROM (SELECT DISTINCT * FROM unnest(c.ids)) u
         JOIN doc d ON (d.tenant, d.id) = (u.tenant, u.id)
         CROSS JOIN (VALUES ('org_id'), ('reviewer_id')) v(a)
         JOIN org o ON CASE a WHEN 'org_id' THEN (o.id, o.tenant) = (d.org_id, d.tenant)
                              ELSE (o.tenant, o.id) = (d.tenant, d.reviewer_id) END
         EXCEPT ALL
         SELECT s.source_id, s.attribute, s.target
         FROM memoized_prefetch.fk('doc', c.ids, '{org_id,reviewer_id}', NULL::org) s))
$$;
SELECT memoized_prefetch.track(t) FROM unnest('{org,doc}'::regclass[]) t;
SELECT pg_temp.differ() AS cold;
SELECT pg_temp.differ() AS warm;
SELECT count(*) > 0 AS served_from_cache FROM memoized_prefetch.stats
WHERE pid = pg_backend_pid() AND relation = 'org'::regclass AND hits > 0;
-- writes of tracked tables: in this transaction, committed, and rolled back
BEGIN;
UPDATE org SET name = name || ' (renamed)' WHERE id % 7 = 0;
DELETE FROM note WHERE doc_tenant = 2;
DELETE FROM doc WHERE id % 11 = 0 AND tenant = 2;
SELECT pg_temp.differ() AS own_writes;
ROLLBACK;
SELECT pg_temp.differ() AS rolled_back;
UPDATE org SET name = name || ' (new)' WHERE id % 5 = 0;
INSERT INTO org SELECT t, i, 'late ' || i FROM generate_series(1, 3) t, generate_series(221, 240) i;
UPDATE doc SET org_id = org_id % 240 + 1 WHERE id % 3 = 0;
SELECT pg_temp.differ() AS after_writes;
SELECT pg_temp.differ() AS warm_again;

-- partitioned by tenant (the first key column: keys are routed), and by id
-- (every partition is looked in), with a default partition
CREATE TABLE porg (tenant int, id bigint, name text, PRIMARY KEY (tenant, id)) PARTITION BY LIST (tenant);
CREATE TABLE porg_1 PARTITION OF porg FOR VALUES IN (1);
CREATE TABLE porg_2 (name text, id bigint NOT NULL, tenant int NOT NULL);
ALTER TABLE porg ATTACH PARTITION porg_2 FOR VALUES IN (2);
CREATE TABLE porg_d PARTITION OF porg DEFAULT;
CREATE TABLE pdoc (tenant int, id bigint, org_id bigint, PRIMARY KEY (tenant, id),
    FOREIGN KEY (tenant, org_id) REFERENCES porg ON UPDATE CASCADE) PARTITION BY HASH (id);
CREATE TABLE pdoc_0 PARTITION OF pdoc FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE pdoc_1 PARTITION OF pdoc FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO porg SELECT tenant, id, name FROM org;
INSERT INTO pdoc SELECT tenant, id, org_id FROM doc;
SELECT memoized_prefetch.track(t) FROM unnest('{porg,pdoc}'::regclass[]) t;
CREATE FUNCTION pg_temp.pdiffer() RETURNS int LANGUAGE sql AS $$
    SELECT count(*)::int FROM chunk c WHERE EXISTS (
        (SELECT s.source_id, s.target
         FROM memoized_prefetch.fk('pdoc', c.ids, '{org_id}', NULL::porg) s
         EXCEPT ALL
         SELECT ROW(u.tenant, u.id)::doc_key, o FROM (SELECT DISTINCT * FROM unnest(c.ids)) u
         JOIN pdoc d ON (d.tenant, d.id) = (u.tenant, u.id)
         JOIN porg o ON (o.tenant, o.id) = (d.tenant, d.org_id))
        UNION ALL
        (SELECT ROW(u.tenant, u.id)::doc_key, o FROM (SELECT DISTINCT * FROM unnest(c.ids)) u
         JOIN pdoc d ON (d.tenant, d.id) = (u.tenant, u.id)
         JOIN porg o ON (o.tenant, o.id) = (d.tenant, d.org_id)
         EXCEPT ALL
         SELECT s.source_id, s.target
         FROM memoized_prefetch.fk('pdoc', c.ids, '{org_id}', NULL::porg) s))
$$;
SELECT pg_temp.pdiffer() AS partitioned_cold;
SELECT pg_temp.pdiffer() AS partitioned_warm;
-- a row moved between partitions by an update of the partition key
UPDATE porg SET tenant = 4 WHERE tenant = 2 AND id % 10 = 0;
UPDATE porg SET name = 'moved' WHERE tenant = 1 AND id = 12;
SELECT pg_temp.pdiffer() AS partitioned_after_writes;

-- reverse_fk() of a composite key: the rows whose composite foreign key to
-- the source's key holds each id, found through an index whose first
-- columns are the foreign key's in the order of the key's, named by any
-- column of the foreign key; ordered by the id's first position, then the
-- target's key, against the plain query
CREATE FUNCTION pg_temp.rdiffer(source regclass, target anyelement, fk_column name, plain text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
    EXECUTE format($q$
        SELECT count(*)::int FROM chunk c WHERE
            (SELECT array_agg(ROW(s.source_id, s.target)::text)
             FROM memoized_prefetch.reverse_fk(%L, c.ids, NULL::%s, %L) s)
            IS DISTINCT FROM
            (SELECT array_agg(ROW(ROW(u.tenant, u.id)::doc_key, t)::text ORDER BY u.pos, (t.tenant, t.id))
             FROM (SELECT tenant, id, min(o) AS pos FROM unnest(c.ids) WITH ORDINALITY u(tenant, id, o)
                   GROUP BY 1, 2) u
             JOIN %s t ON %s)$q$,
        source, pg_typeof(target), fk_column, pg_typeof(target), plain) INTO n;
    RETURN n;
END $$;
-- doc has two foreign keys to org, both with column tenant; no index yet,
-- then one whose columns are in the foreign key's order, not the key's
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('org', ARRAY[(1, 1)]::doc_key[], NULL::doc)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('org', ARRAY[(1, 1)]::doc_key[], NULL::doc, 'tenant')$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('org', ARRAY[(1, 1)]::doc_key[], NULL::doc, 'org_id')$$);
CREATE INDEX ON doc (org_id, tenant);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('org', ARRAY[(1, 1)]::doc_key[], NULL::doc, 'org_id')$$);
CREATE INDEX ON doc (tenant, org_id);
CREATE INDEX ON doc (tenant, reviewer_id, title);
SELECT (s.source_id).tenant, (s.source_id).id, (s.target).tenant, (s.target).id, (s.target).org_id
FROM memoized_prefetch.reverse_fk('org', ARRAY[(2, 7), NULL, (1, 3), (NULL, 3), (2, 7)]::doc_key[], NULL::doc, 'org_id') s;
SELECT pg_temp.rdiffer('org', NULL::doc, 'org_id', '(t.org_id, t.tenant) = (u.id, u.tenant)') AS by_org;
SELECT pg_temp.rdiffer('org', NULL::doc, 'reviewer_id', '(t.tenant, t.reviewer_id) = (u.tenant, u.id)') AS by_reviewer;
-- note has one foreign key to doc, found without fk_column
CREATE INDEX ON note (doc_tenant, doc_id);
CREATE FUNCTION pg_temp.ndiffer() RETURNS int LANGUAGE sql AS $$
    SELECT count(*)::int FROM chunk c WHERE
        (SELECT array_agg(ROW(s.source_id, s.target)::text)
         FROM memoized_prefetch.reverse_fk('doc', c.ids, NULL::note) s)
        IS DISTINCT FROM
        (SELECT array_agg(ROW(ROW(u.tenant, u.id)::doc_key, t)::text ORDER BY u.pos, t.id)
         FROM (SELECT tenant, id, min(o) AS pos FROM unnest(c.ids) WITH ORDINALITY u(tenant, id, o)
               GROUP BY 1, 2) u
         JOIN note t ON (t.doc_tenant, t.doc_id) = (u.tenant, u.id))
$$;
SELECT memoized_prefetch.track('note');
SELECT pg_temp.ndiffer() AS reverse_cold;
SELECT pg_temp.ndiffer() AS reverse_warm;
SELECT count(*) > 0 AS served_from_cache FROM memoized_prefetch.stats
WHERE pid = pg_backend_pid() AND relation = 'note'::regclass AND hits > 0;
BEGIN;
UPDATE note SET doc_id = doc_id % 500 + 1 WHERE id % 4 = 0;
DELETE FROM note WHERE doc_tenant = 3 AND id % 3 = 0;
SELECT pg_temp.ndiffer() AS reverse_own_writes;
ROLLBACK;
SELECT pg_temp.ndiffer() AS reverse_rolled_back;
UPDATE note SET doc_tenant = doc_tenant % 3 + 1 WHERE id % 5 = 0;
INSERT INTO note SELECT 1000 + i, 1 + i % 3, i, 'late ' || i FROM generate_series(1, 50) i;
SELECT pg_temp.ndiffer() AS reverse_after_writes;
-- the _flat form gives the same rows
SELECT count(*) AS flat_differs FROM chunk c WHERE
    (SELECT array_agg(ROW(s.source_id, s.target)::text)
     FROM memoized_prefetch.reverse_fk('doc', c.ids, NULL::note) s)
    IS DISTINCT FROM
    (SELECT array_agg(ROW(f.source_id, ROW(f.id, f.doc_tenant, f.doc_id, f.body)::note)::text)
     FROM memoized_prefetch.reverse_fk_flat('doc', c.ids, NULL::note)
          AS f(source_id doc_key, id int, doc_tenant int, doc_id bigint, body text));
-- a partitioned target, its index a partitioned one
CREATE INDEX ON pdoc (tenant, org_id);
SELECT pg_temp.rdiffer('porg', NULL::pdoc, NULL, '(t.tenant, t.org_id) = (u.tenant, u.id)') AS partitioned_reverse;
SELECT pg_temp.rdiffer('porg', NULL::pdoc, NULL, '(t.tenant, t.org_id) = (u.tenant, u.id)') AS partitioned_reverse_warm;
UPDATE pdoc SET org_id = org_id % 220 + 1 WHERE tenant = 1 AND id % 4 = 0;
SELECT pg_temp.rdiffer('porg', NULL::pdoc, NULL, '(t.tenant, t.org_id) = (u.tenant, u.id)') AS partitioned_reverse_after_writes;

-- row-level security: the policy is applied as to the plain join
CREATE ROLE regress_mp_composite_reader;
GRANT USAGE ON SCHEMA composite_test TO regress_mp_composite_reader;
GRANT SELECT ON org, doc, chunk TO regress_mp_composite_reader;
ALTER TABLE org ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_tenant ON org USING (tenant <> 2 AND id % 4 <> 0);
SET ROLE regress_mp_composite_reader;
SELECT pg_temp.differ() AS with_policy;
SELECT count(*) AS visible FROM memoized_prefetch.fk('doc', ARRAY[(2, 1), (2, 2), (1, 1), (1, 2)]::doc_key[],
                                                      '{org_id}', NULL::org) s;
RESET ROLE;
ALTER TABLE org DISABLE ROW LEVEL SECURITY;

-- a lookup reads the index pages of its keys only: keys of two tenants in one
-- call, where the scan moves from the first tenant's to the second's and then
-- descends to each key of the second (sparse ones) by itself
CREATE TABLE big (tenant int, id bigint, PRIMARY KEY (tenant, id));
INSERT INTO big SELECT t, i FROM generate_series(1, 2) t, generate_series(1, 100000) i;
VACUUM ANALYZE big;
CREATE FUNCTION pg_temp.blocks(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || q INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Shared Hit Blocks')::bigint
         + (plan -> 0 -> 'Plan' ->> 'Shared Read Blocks')::bigint;
END $$;
SET memoized_prefetch.enabled = off;
SELECT pg_temp.blocks($$SELECT * FROM memoized_prefetch.fk('big', ARRAY[ROW(1, 50)] || ARRAY(SELECT ROW(2, i) FROM generate_series(10, 100000, 997) i), '{}', NULL::big)$$) < 1000
    AS reads_its_pages;
RESET memoized_prefetch.enabled;

-- refusals
-- ids that are not records, or records of another number of fields
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('doc', ARRAY[1, 2], '{org_id}', NULL::org)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('doc', ARRAY[ROW(1, 2, 3)], '{org_id}', NULL::org)$$);
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('doc', ARRAY[ROW(1)], '{org_id}', NULL::org)$$);
-- a field that cannot be a key column's value
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('doc', ARRAY[ROW(1, now())], '{org_id}', NULL::org)$$);
-- a column of two composite foreign keys to the table: name one of its own
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('doc', ARRAY[(1, 1)]::doc_key[], '{tenant}', NULL::org)$$);
-- a composite key reached by a column without a foreign key
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.fk('note', ARRAY[1], '{id}', NULL::doc)$$);
-- reverse_fk() by a column of no composite foreign key to the source's key
SELECT pg_temp.err($$SELECT * FROM memoized_prefetch.reverse_fk('doc', ARRAY[(1, 1)]::doc_key[], NULL::note, 'id')$$);

DROP OWNED BY regress_mp_composite_reader;
DROP ROLE regress_mp_composite_reader;
DROP SCHEMA composite_test CASCADE;
