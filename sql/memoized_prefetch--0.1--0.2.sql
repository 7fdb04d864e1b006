/* memoized_prefetch 0.1 -> 0.2: the cache across calls */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION memoized_prefetch UPDATE TO '0.2'" to load this file. \quit

-- The trigger function of tracked tables: moves the key buckets of every
-- written row (and the table's coarse bucket on TRUNCATE).
CREATE FUNCTION @extschema@.bump()
RETURNS trigger
AS 'MODULE_PATHNAME', 'memoized_prefetch_bump'
LANGUAGE C;

-- Whether a table has the triggers track() creates, as the cache requires
-- them (their names, types, enabling, function and arguments).
CREATE FUNCTION @extschema@.tracked(target regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'memoized_prefetch_tracked'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

-- Register a table for reuse of its rows across statements and transactions:
-- two ENABLE ALWAYS triggers.  Needs ownership of the table; idempotent.
CREATE FUNCTION @extschema@.track(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF target IS NULL THEN
        RAISE EXCEPTION 'target must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_class WHERE oid = target) THEN
        RAISE EXCEPTION 'relation with OID % does not exist', target::oid
            USING ERRCODE = 'undefined_table';
    END IF;
    IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = target), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', target
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- a partitioned table: every leaf, and a TRUNCATE trigger on it that
    -- marks partitions created or attached later for tracking (below)
    IF (SELECT relkind FROM pg_class WHERE oid = target) = 'p' THEN
        PERFORM @extschema@.track(p.relid)
        FROM pg_partition_tree(target) p JOIN pg_class c ON c.oid = p.relid
        WHERE p.isleaf AND c.relkind = 'r';
        IF NOT EXISTS (SELECT FROM pg_trigger
                       WHERE tgrelid = target AND tgname = 'memoized_prefetch_truncate') THEN
            EXECUTE format('CREATE TRIGGER memoized_prefetch_truncate AFTER TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.bump()', target);
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER memoized_prefetch_truncate', target);
        END IF;
        RETURN;
    END IF;
    IF @extschema@.tracked(target) THEN
        RETURN;
    END IF;
    PERFORM @extschema@.untrack(target);
    EXECUTE format('CREATE TRIGGER memoized_prefetch_row AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION @extschema@.bump()', target);
    EXECUTE format('CREATE TRIGGER memoized_prefetch_truncate AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.bump()', target);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER memoized_prefetch_row, '
                   'ENABLE ALWAYS TRIGGER memoized_prefetch_truncate', target);
END
$$;

CREATE FUNCTION @extschema@.untrack(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    name name;
BEGIN
    IF target IS NULL THEN
        RAISE EXCEPTION 'target must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = target) = 'p' THEN
        PERFORM @extschema@.untrack(p.relid)
        FROM pg_partition_tree(target) p WHERE p.relid <> target;
    END IF;
    FOR name IN SELECT t.tgname FROM pg_trigger t
                WHERE t.tgrelid = target
                  AND t.tgname IN ('memoized_prefetch_row', 'memoized_prefetch_truncate')
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', name, target);
    END LOOP;
END
$$;

-- Partitions created or attached under a tracked partitioned table (one
-- with track()'s TRUNCATE trigger, at any level above) are tracked in the
-- same command.  A failure is reported as a warning, never as the error of
-- the user's command.
CREATE FUNCTION @extschema@.track_partitions()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part regclass;
BEGIN
  BEGIN
    FOR part IN
        SELECT DISTINCT t.relid::regclass
        FROM pg_event_trigger_ddl_commands() d
        JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
        CROSS JOIN LATERAL pg_partition_tree(c.oid) t
        JOIN pg_class l ON l.oid = t.relid
        WHERE t.isleaf AND l.relkind = 'r' AND l.relispartition
          AND NOT @extschema@.tracked(t.relid)
          AND EXISTS (SELECT FROM pg_partition_ancestors(t.relid) a
                      JOIN pg_trigger g ON g.tgrelid = a.relid
                      WHERE a.relid <> t.relid AND g.tgname = 'memoized_prefetch_truncate')
    LOOP
        BEGIN
            PERFORM @extschema@.track(part);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'could not track partition %: %', part, SQLERRM;
        END;
    END LOOP;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'could not track the new partitions: %', SQLERRM;
  END;
END
$$;

CREATE EVENT TRIGGER memoized_prefetch_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION @extschema@.track_partitions();

-- Per-session settings of one target table: its cache size in entries
-- (NULL: memoized_prefetch.cache_size) and whether to load it whole.
CREATE FUNCTION @extschema@.configure(target regclass, cache_size integer DEFAULT NULL,
                                      prefetch_all boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'memoized_prefetch_configure'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL RESTRICTED;

-- Empty the calling backend's cache of one table (NULL: of all tables) and
-- zero its counters.
CREATE FUNCTION @extschema@.reset(target regclass DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'memoized_prefetch_reset'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.stats_internal(
    OUT pid integer, OUT dbid oid, OUT relid oid, OUT indexid oid,
    OUT entries bigint, OUT bytes bigint, OUT hits bigint, OUT misses bigint,
    OUT evictions bigint, OUT invalidations bigint, OUT bypasses bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'memoized_prefetch_stats'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- One row per backend and target table.
CREATE VIEW @extschema@.stats AS
SELECT s.pid,
       d.datname AS database,
       CASE WHEN d.datname = current_database() THEN s.relid::regclass END AS relation,
       s.relid,
       sum(s.entries)::bigint AS entries,
       sum(s.bytes)::bigint AS bytes,
       sum(s.hits)::bigint AS hits,
       sum(s.misses)::bigint AS misses,
       sum(s.evictions)::bigint AS evictions,
       sum(s.invalidations)::bigint AS invalidations,
       sum(s.bypasses)::bigint AS bypasses
FROM @extschema@.stats_internal() s
LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid
GROUP BY s.pid, d.datname, s.relid;

GRANT SELECT ON @extschema@.stats TO PUBLIC;

-- fk() and m2m() with the target row spread into its columns, which the
-- caller lists in a column definition list after the leading columns
-- (checked on every call): no field selection, smaller result rows.
CREATE FUNCTION @extschema@.fk_flat(
    source regclass,
    source_ids anycompatiblearray,
    attributes text[],
    target_type anyelement)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'memoized_prefetch_fk_flat'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL RESTRICTED ROWS 1000;

COMMENT ON FUNCTION @extschema@.fk_flat(regclass, anycompatiblearray, text[], anyelement) IS
'fk() with the target columns spread: AS (source_id, attribute, then the target table''s columns)';

CREATE FUNCTION @extschema@.m2m_flat(
    through regclass,
    source_ids anycompatiblearray,
    target_type anyelement,
    source_field name DEFAULT NULL,
    target_field name DEFAULT NULL)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'memoized_prefetch_m2m_flat'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL RESTRICTED ROWS 1000;

COMMENT ON FUNCTION @extschema@.m2m_flat(regclass, anycompatiblearray, anyelement, name, name) IS
'm2m() with the target columns spread: AS (source_id, then the target table''s columns)';

-- The rows of a table that reference each of a chunk of source ids (a
-- reverse foreign key, such as the books of each author).
CREATE FUNCTION @extschema@.reverse_fk(
    source regclass,
    source_ids anycompatiblearray,
    target_type anyelement,
    fk_column name DEFAULT NULL)
RETURNS TABLE (source_id anycompatible, target anyelement)
AS 'MODULE_PATHNAME', 'memoized_prefetch_reverse_fk'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL RESTRICTED ROWS 1000;

COMMENT ON FUNCTION @extschema@.reverse_fk(regclass, anycompatiblearray, anyelement, name) IS
'rows of a table whose foreign-key column holds each of a chunk of source ids, as the plain query returns them';

CREATE FUNCTION @extschema@.reverse_fk_flat(
    source regclass,
    source_ids anycompatiblearray,
    target_type anyelement,
    fk_column name DEFAULT NULL)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'memoized_prefetch_reverse_fk_flat'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL RESTRICTED ROWS 1000;

COMMENT ON FUNCTION @extschema@.reverse_fk_flat(regclass, anycompatiblearray, anyelement, name) IS
'reverse_fk() with the target columns spread: AS (source_id, then the target table''s columns)';
