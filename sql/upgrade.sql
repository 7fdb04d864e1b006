-- Versioned scripts: 0.1 installs, updates to 0.2, and the updated extension
-- has exactly the objects of a fresh 0.2 install.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS memoized_prefetch CASCADE;
RESET client_min_messages;

-- the row type of the stats view (and its array type) is listed as a member
-- of the extension from PostgreSQL 18 on, not before: left out of the lists
CREATE FUNCTION pg_temp.is_rowtype(classid oid, objid oid) RETURNS bool
LANGUAGE sql AS $$
    SELECT classid = 'pg_type'::regclass AND EXISTS (
        SELECT FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
        WHERE t.oid = objid AND (t.typrelid <> 0 OR e.typrelid <> 0))
$$;

CREATE EXTENSION memoized_prefetch VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'memoized_prefetch';
SELECT pg_describe_object(classid, objid, 0) AS object
FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'memoized_prefetch')
  AND NOT pg_temp.is_rowtype(classid, objid)
ORDER BY 1;

ALTER EXTENSION memoized_prefetch UPDATE TO '0.2';
SELECT extversion FROM pg_extension WHERE extname = 'memoized_prefetch';
CREATE TEMP TABLE updated AS
SELECT pg_describe_object(classid, objid, 0) AS object
FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'memoized_prefetch');

DROP EXTENSION memoized_prefetch;
CREATE EXTENSION memoized_prefetch;
SELECT extversion FROM pg_extension WHERE extname = 'memoized_prefetch';
SELECT pg_describe_object(classid, objid, 0) AS object
FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'memoized_prefetch')
  AND NOT pg_temp.is_rowtype(classid, objid)
ORDER BY 1;
SELECT (SELECT array_agg(object ORDER BY object) FROM updated)
     = (SELECT array_agg(pg_describe_object(classid, objid, 0) ORDER BY pg_describe_object(classid, objid, 0))
        FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
          AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'memoized_prefetch'))
       AS same_objects;
