-- The floor: the rows each method returns, precomputed and stored in source
-- id order, so that a chunk is one range scan.  Nothing can return the same
-- rows much faster than this.
DROP TABLE IF EXISTS floor_fk, floor_m2m, floor_path;
CREATE TABLE floor_fk AS
    SELECT * FROM (
        SELECT b.id AS source_id, 'author_id'::text AS attribute, a.id, a.name, a.email
        FROM book b JOIN author a ON a.id = b.author_id
        UNION ALL
        SELECT b.id, 'translator_id', a.id, a.name, a.email
        FROM book b JOIN author a ON a.id = b.translator_id) x
    ORDER BY source_id, attribute;
CREATE INDEX ON floor_fk (source_id);
CREATE TABLE floor_m2m AS
    SELECT l.book_id AS source_id, c.id, c.name
    FROM book_categories l JOIN category c ON c.id = l.category_id
    ORDER BY l.book_id, c.id;
CREATE INDEX ON floor_m2m (source_id);
CREATE TABLE floor_path AS
    SELECT r.id AS source_id, p.id, p.name, p.country
    FROM review r JOIN book b ON b.id = r.book_id JOIN publisher p ON p.id = b.publisher_id
    ORDER BY r.id;
CREATE INDEX ON floor_path (source_id);
VACUUM ANALYZE floor_fk, floor_m2m, floor_path;
