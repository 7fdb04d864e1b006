/* memoized_prefetch 0.1 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION memoized_prefetch" to load this file. \quit

-- Every role may call the functions: they run with the caller's privileges
-- and check them as the plain join would.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

-- Target rows of the foreign-key columns (or paths of them) of a chunk of
-- source rows.  CALLED ON NULL INPUT: target_type is usually NULL::mytable.
CREATE FUNCTION @extschema@.fk(
    source regclass,
    source_ids anycompatiblearray,
    attributes text[],
    target_type anyelement)
RETURNS TABLE (source_id anycompatible, attribute text, target anyelement)
AS 'MODULE_PATHNAME', 'memoized_prefetch_fk'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL RESTRICTED ROWS 1000;

COMMENT ON FUNCTION @extschema@.fk(regclass, anycompatiblearray, text[], anyelement) IS
'target rows of foreign-key attributes of a chunk of source rows, as the plain join returns them';

-- Target rows linked to a chunk of source ids through a link table.
CREATE FUNCTION @extschema@.m2m(
    through regclass,
    source_ids anycompatiblearray,
    target_type anyelement,
    source_field name DEFAULT NULL,
    target_field name DEFAULT NULL)
RETURNS TABLE (source_id anycompatible, target anyelement)
AS 'MODULE_PATHNAME', 'memoized_prefetch_m2m'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL RESTRICTED ROWS 1000;

COMMENT ON FUNCTION @extschema@.m2m(regclass, anycompatiblearray, anyelement, name, name) IS
'target rows linked to a chunk of source ids through a link table, as the plain join returns them';
