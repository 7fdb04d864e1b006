-- The differential test again with the streaming path off, so that the
-- function scan of every call is checked against the plain join as well
-- (differential.sql itself runs with the default, the streaming scan).
SET memoized_prefetch.streaming = off;
\i sql/differential.sql
RESET memoized_prefetch.streaming;
