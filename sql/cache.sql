-- The cache across calls: track(), configure(), reset(), the stats view, and
-- exact hits, misses and invalidations in one session (the regression
-- instance preloads the library).
\i test/fixtures/bookstore.sql
CREATE VIEW my_stats AS
    SELECT relation, entries, hits, misses, evictions, invalidations, bypasses
    FROM memoized_prefetch.stats WHERE pid = pg_backend_pid() ORDER BY relation::text;

-- untracked: reused within a statement only (a new transaction, a new snapshot)
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 2, 3]::bigint[], NULL, NULL::author);
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 2, 3]::bigint[], NULL, NULL::author);
SELECT * FROM my_stats;

-- untracked, REPEATABLE READ: reused across the transaction's statements
SELECT memoized_prefetch.reset();
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 2, 3]::bigint[], NULL, NULL::author);
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[3, 4, 5]::bigint[], NULL, NULL::author);
COMMIT;
SELECT * FROM my_stats;

-- tracked: reused across transactions; a write moves only its key
SELECT memoized_prefetch.track('author');
SELECT memoized_prefetch.track('author');  -- idempotent
SELECT memoized_prefetch.tracked('author') AS tracked, memoized_prefetch.tracked('publisher') AS publisher_tracked;
SELECT tgname, tgenabled, tgtype FROM pg_trigger WHERE tgrelid = 'author'::regclass AND NOT tgisinternal ORDER BY tgname;
SELECT memoized_prefetch.reset();
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 2, 3]::bigint[], NULL, NULL::author);
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[3, 4, 5]::bigint[], NULL, NULL::author);
UPDATE author SET name = 'Ann B.' WHERE id = 1;
SELECT s.source_id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('book', ARRAY[1, 3]::bigint[], NULL, NULL::author) s;
SELECT * FROM my_stats;

-- a key with no row is remembered too; an insert of it is seen
SELECT memoized_prefetch.reset();
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1]::bigint[], '{translator_id}', NULL::author);
UPDATE book SET translator_id = 2 WHERE id = 1;
SELECT (s.target).name FROM memoized_prefetch.fk('book', ARRAY[1]::bigint[], '{translator_id}', NULL::author) s;
UPDATE book SET translator_id = NULL WHERE id = 1;

-- the session's own writes: not served, not filled until the transaction ends
BEGIN;
UPDATE author SET name = 'Ann C.' WHERE id = 1;
SELECT (s.target).name FROM memoized_prefetch.fk('book', ARRAY[1]::bigint[], '{author_id}', NULL::author) s;
ROLLBACK;
SELECT (s.target).name FROM memoized_prefetch.fk('book', ARRAY[1]::bigint[], '{author_id}', NULL::author) s;

-- ... also where a statement sees its own rows before their AFTER triggers
-- fire: in a RETURNING list, with the cache warm from earlier statements
CREATE FUNCTION pg_temp.author_same(bigint) RETURNS boolean LANGUAGE sql VOLATILE AS $$
  SELECT (SELECT array_agg((s.target).name ORDER BY s.attribute)
          FROM memoized_prefetch.fk('book', ARRAY[$1], NULL, NULL::author) s)
         IS NOT DISTINCT FROM
         (SELECT array_agg(x.name ORDER BY x.attribute) FROM (
            SELECT 'author_id' AS attribute, a.name FROM book b JOIN author a ON a.id = b.author_id WHERE b.id = $1
            UNION ALL
            SELECT 'translator_id', a.name FROM book b JOIN author a ON a.id = b.translator_id WHERE b.id = $1) x) $$;
SELECT pg_temp.author_same(1), pg_temp.author_same(1) AS warm;
BEGIN;
UPDATE author SET name = 'Ann D.' WHERE id = 1 RETURNING name, pg_temp.author_same(1) AS same;
ROLLBACK;
-- ... also for an untracked table, where no trigger fires at all: a volatile
-- function in RETURNING sees each row's new version as the statement writes
-- it, under snapshots that differ in nothing else
CREATE TABLE untracked_target (id int PRIMARY KEY, v int NOT NULL);
CREATE TABLE untracked_source (id int PRIMARY KEY, target_id int REFERENCES untracked_target);
INSERT INTO untracked_target VALUES (1, 10), (2, 20);
INSERT INTO untracked_source VALUES (1, 1), (2, 2);
CREATE FUNCTION pg_temp.untracked_same() RETURNS boolean LANGUAGE sql VOLATILE AS $$
  SELECT (SELECT array_agg(x ORDER BY x::text)
          FROM memoized_prefetch.fk('untracked_source', ARRAY[1, 2], NULL, NULL::untracked_target) x)
         IS NOT DISTINCT FROM
         (SELECT array_agg(x ORDER BY x::text) FROM (
            SELECT s.id, 'target_id'::text, t FROM untracked_source s
            JOIN untracked_target t ON t.id = s.target_id WHERE s.id IN (1, 2)) x) $$;
UPDATE untracked_target SET v = v + 1 RETURNING id, v, pg_temp.untracked_same() AS same;
DROP TABLE untracked_source, untracked_target;
-- ... and in an earlier AFTER trigger of the same row
CREATE FUNCTION pg_temp.check_same() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'same in trigger: %', pg_temp.author_same(1);
  RETURN NULL;
END $$;
CREATE TRIGGER a_check AFTER UPDATE ON author FOR EACH ROW EXECUTE FUNCTION pg_temp.check_same();
SELECT pg_temp.author_same(1) AS warm;
BEGIN;
UPDATE author SET name = 'Ann E.' WHERE id = 1;
ROLLBACK;
DROP TRIGGER a_check ON author;

-- under a Gather (the functions run in the leader), in a new session whose
-- first call must find out whether author is tracked: results, no error
\c -
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', false) AS gather;
SELECT (SELECT array_agg(x ORDER BY x::text) FROM memoized_prefetch.fk('book', ARRAY[1, 2]::bigint[], NULL, NULL::author) x)
       IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text) FROM (
          SELECT b.id, 'author_id'::text, a FROM book b JOIN author a ON a.id = b.author_id WHERE b.id IN (1, 2)
          UNION ALL
          SELECT b.id, 'translator_id'::text, a FROM book b JOIN author a ON a.id = b.translator_id WHERE b.id IN (1, 2)) x) AS same;
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'off', false) AS gather;

-- a key type whose equality has no hash function (money): never cached,
-- with the cache on or off
CREATE TABLE price (amount money PRIMARY KEY, label text);
CREATE TABLE priced (id int PRIMARY KEY, amount money REFERENCES price);
INSERT INTO price VALUES (1, 'one'), (2, 'two');
INSERT INTO priced VALUES (1, 1), (2, 2), (3, NULL);
SELECT s.source_id, (s.target).label FROM memoized_prefetch.fk('priced', ARRAY[1, 2, 3], NULL, NULL::price) s;
SET memoized_prefetch.enabled = off;
SELECT s.source_id, (s.target).label FROM memoized_prefetch.fk('priced', ARRAY[1, 2, 3], NULL, NULL::price) s;
RESET memoized_prefetch.enabled;
SELECT count(*) AS price_tables FROM memoized_prefetch.stats WHERE relation = 'price'::regclass;
DROP TABLE priced, price;

-- m2m: link rows and targets; a source without links is remembered
SELECT memoized_prefetch.track('book_categories');
SELECT memoized_prefetch.track('category');
SELECT memoized_prefetch.reset();
SELECT count(*) FROM memoized_prefetch.m2m('book_categories', ARRAY[1, 2, 4]::bigint[], NULL::category);
SELECT count(*) FROM memoized_prefetch.m2m('book_categories', ARRAY[1, 2, 4]::bigint[], NULL::category);
INSERT INTO book_categories (book_id, category_id) VALUES (4, 1);
SELECT s.source_id, (s.target).name
FROM memoized_prefetch.m2m('book_categories', ARRAY[4]::bigint[], NULL::category) s;
SELECT * FROM my_stats;
DELETE FROM book_categories WHERE book_id = 4;

-- configure: a cache of 2 entries keeps the 2 most recent; a call never
-- evicts what it uses, so a larger chunk is still complete
SELECT memoized_prefetch.reset();
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 2, 3]::bigint[], NULL, NULL::publisher);
SELECT memoized_prefetch.configure('author', cache_size => 2);
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 2, 3, 4, 5]::bigint[], NULL, NULL::author);
SELECT entries <= 2 AS capped FROM my_stats WHERE relation = 'author'::regclass;
-- a table's cap is met by evicting its own entries only
SELECT relation, entries, evictions FROM my_stats WHERE relation = 'publisher'::regclass;
SELECT (SELECT array_agg(x ORDER BY x::text) FROM (
          SELECT s.source_id, s.attribute, s.target
          FROM memoized_prefetch.fk('book', ARRAY[1, 2, 3, 4, 5]::bigint[], '{author_id,translator_id}', NULL::author) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text) FROM (
          SELECT b.id, 'author_id'::text, a FROM book b JOIN author a ON a.id = b.author_id
          UNION ALL
          SELECT b.id, 'translator_id', a FROM book b JOIN author a ON a.id = b.translator_id) x)
       AS same;

-- cache_size 0: the table is read every time
SELECT memoized_prefetch.reset();
SELECT memoized_prefetch.configure('author', cache_size => 0);
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 2]::bigint[], '{author_id}', NULL::author);
SELECT * FROM my_stats;

-- prefetch_all: the whole table on first use
SELECT memoized_prefetch.configure('author', prefetch_all => true);
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1]::bigint[], '{author_id}', NULL::author);
SELECT * FROM my_stats;
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[2, 4, 5]::bigint[], '{author_id}', NULL::author);
SELECT * FROM my_stats;

-- admission: once a cache's worth of evictions (4) finds fewer than half
-- of the evicted entries served, a key is stored only on its second miss; a
-- call served more keys than it misses stores every miss again.  Results are
-- complete throughout.
SELECT memoized_prefetch.reset();
SELECT memoized_prefetch.configure('book_categories', cache_size => 4);
CREATE FUNCTION pg_temp.links(ids bigint[]) RETURNS bigint LANGUAGE sql
    AS $$ SELECT count(*) FROM memoized_prefetch.m2m('book_categories', ids, NULL::category) $$;
SELECT pg_temp.links('{1, 2, 3, 4}'), pg_temp.links('{101, 102, 103, 104}');
SELECT * FROM my_stats WHERE relation = 'book_categories'::regclass;
-- not stored: entries and evictions stay
SELECT pg_temp.links('{1, 2, 3, 4}');
SELECT * FROM my_stats WHERE relation = 'book_categories'::regclass;
-- second miss: stored; then served, and every miss is stored again
SELECT pg_temp.links('{1, 2, 3, 4}'), pg_temp.links('{1, 2, 3, 4}');
SELECT pg_temp.links('{201, 202}');
SELECT * FROM my_stats WHERE relation = 'book_categories'::regclass;
SELECT memoized_prefetch.configure('book_categories');

-- memoized_prefetch.enabled = off: bypassed
SELECT memoized_prefetch.reset();
SET memoized_prefetch.enabled = off;
SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[1, 2]::bigint[], '{author_id}', NULL::author);
SELECT * FROM my_stats;
RESET memoized_prefetch.enabled;

-- errors
SELECT memoized_prefetch.configure(NULL);
SELECT memoized_prefetch.configure('author', -1);
CREATE ROLE regress_mp_cache_other;
SET ROLE regress_mp_cache_other;
SELECT memoized_prefetch.track('author');
RESET ROLE;

-- untrack drops the triggers
SELECT memoized_prefetch.untrack('author');
SELECT memoized_prefetch.tracked('author') AS tracked;
-- a trigger of the same name that is not enabled ALWAYS does not count
SELECT memoized_prefetch.track('author');
ALTER TABLE author ENABLE TRIGGER memoized_prefetch_row;
SELECT memoized_prefetch.tracked('author') AS tracked;
SELECT memoized_prefetch.track('author');
SELECT memoized_prefetch.tracked('author') AS tracked;
SELECT memoized_prefetch.untrack('author');
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'author'::regclass AND NOT tgisinternal;
DROP ROLE regress_mp_cache_other;
DROP VIEW my_stats;
