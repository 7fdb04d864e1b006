-- The partitioned bookstore of "make bench"'s partitioned section: copies of
-- author (by hash of id, 8 partitions) and book (by range of id, 10
-- partitions), with the indexes Django would create.
DROP TABLE IF EXISTS book_p, author_p;
CREATE TABLE author_p (LIKE author INCLUDING ALL) PARTITION BY HASH (id);
SELECT format('CREATE TABLE author_p_%s PARTITION OF author_p FOR VALUES WITH (MODULUS 8, REMAINDER %s)', r, r)
FROM generate_series(0, 7) r \gexec
CREATE TABLE book_p (LIKE book INCLUDING ALL) PARTITION BY RANGE (id);
SELECT format('CREATE TABLE book_p_%s PARTITION OF book_p FOR VALUES FROM (%s) TO (%s)',
              p, CASE WHEN p = 0 THEN 'MINVALUE' ELSE (p * :books / 10 + 1)::text END,
              CASE WHEN p = 9 THEN 'MAXVALUE' ELSE ((p + 1) * :books / 10 + 1)::text END)
FROM generate_series(0, 9) p \gexec
INSERT INTO author_p SELECT * FROM author;
INSERT INTO book_p SELECT * FROM book;
ALTER TABLE book_p ADD FOREIGN KEY (author_id) REFERENCES author_p;
ALTER TABLE book_p ADD FOREIGN KEY (translator_id) REFERENCES author_p;
VACUUM ANALYZE author_p, book_p;
