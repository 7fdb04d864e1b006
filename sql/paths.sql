-- fk() paths: steps separated by '.' or '__', three steps, a last step
-- without a foreign key (joins to the primary key), a foreign key to a unique
-- non-primary-key column, attributes NULL, and the errors of paths.
\i test/fixtures/bookstore.sql
CREATE SCHEMA paths_test;
-- a vote on a review: three steps from here to a publisher or an author
CREATE TABLE paths_test.vote (
    id int PRIMARY KEY,
    review_id bigint REFERENCES review);
INSERT INTO paths_test.vote VALUES (100, 10), (101, 11), (102, 13), (103, NULL), (104, 12);
-- a note: book_id and reviewer_id have foreign keys, editor_id has none
CREATE TABLE paths_test.note (
    id int PRIMARY KEY,
    book_id bigint REFERENCES book,
    reviewer_id bigint REFERENCES author,
    editor_id bigint);
INSERT INTO paths_test.note VALUES (1, 2, 3, 4), (2, 4, NULL, 42), (3, NULL, 1, NULL), (4, 1, 2, 1);
-- a reply to a note: its last step (editor_id) has no foreign key
CREATE TABLE paths_test.reply (id int PRIMARY KEY, note_id int REFERENCES paths_test.note);
INSERT INTO paths_test.reply VALUES (7, 1), (8, 2), (9, 4);
-- an edition references book by its unique isbn, not by its primary key
ALTER TABLE book ADD CONSTRAINT book_isbn_key UNIQUE (isbn);
CREATE TABLE paths_test.edition (
    id int PRIMARY KEY,
    isbn varchar(13) REFERENCES book (isbn),
    year int);
INSERT INTO paths_test.edition VALUES
    (1, '0000000000002', 2001), (2, '0000000000004', 2002), (3, NULL, 2003), (4, '0000000000002', 2004);
-- an employee and its manager: the same table at several depths
CREATE TABLE paths_test.employee (id int PRIMARY KEY, name text, manager_id int REFERENCES paths_test.employee);
INSERT INTO paths_test.employee VALUES (1, 'boss', NULL), (2, 'mid', 1), (3, 'low', 2), (4, 'new', 3);

-- two steps: review -> book -> publisher, with either separator
SELECT s.source_id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('review', ARRAY[13, 11, 10], '{book_id.publisher_id,book_id__publisher_id}', NULL::publisher) s;

-- two paths through book to author; book 1's translator is NULL, so review 10
-- has no translator row
SELECT s.source_id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('review', ARRAY[10, 12, 11], '{book_id__translator_id,book_id.author_id}', NULL::author) s;

-- three steps, separators mixed; vote 103 has no review
SELECT s.source_id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('paths_test.vote', ARRAY[104, 103, 102, 101, 100],
                          '{review_id.book_id.publisher_id,review_id__book_id.publisher_id}', NULL::publisher) s;
SELECT s.source_id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('paths_test.vote', ARRAY[104, 103, 102, 101, 100],
                          '{review_id__book_id__author_id,review_id.book_id.translator_id}', NULL::author) s;

-- a path to an intermediate table
SELECT s.source_id, s.attribute, (s.target).title
FROM memoized_prefetch.fk('paths_test.vote', ARRAY[100, 101], '{review_id.book_id}', NULL::book) s;

-- a last step without a foreign key joins to the target's primary key;
-- note 2's editor 42 does not exist, note 3's is NULL
SELECT s.source_id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('paths_test.note', ARRAY[1, 2, 3, 4], '{editor_id,reviewer_id,book_id.author_id}', NULL::author) s;
SELECT s.source_id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('paths_test.reply', ARRAY[9, 8, 7], '{note_id.editor_id}', NULL::author) s;

-- a foreign key to the unique isbn column of book, also as the first step
SELECT s.source_id, s.attribute, (s.target).id, (s.target).title
FROM memoized_prefetch.fk('paths_test.edition', ARRAY[4, 3, 2, 1], '{isbn}', NULL::book) s;
SELECT s.source_id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('paths_test.edition', ARRAY[1, 2, 3], '{isbn.author_id,isbn.translator_id}', NULL::author) s;

-- the source table itself as the target, and at several depths
SELECT s.source_id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('paths_test.employee', ARRAY[3, 1], '{manager_id}', NULL::paths_test.employee) s;
SELECT s.source_id, s.attribute, (s.target).name
FROM memoized_prefetch.fk('paths_test.employee', ARRAY[4, 3, 2, 1],
                          '{manager_id,manager_id.manager_id,manager_id.manager_id.manager_id}', NULL::paths_test.employee) s;

-- attributes NULL: every foreign-key column to the target, in column order
SELECT s.source_id, s.attribute, (s.target).id
FROM memoized_prefetch.fk('book', ARRAY[4, 1, 2], NULL, NULL::author) s;
SELECT s.source_id, s.attribute, (s.target).id
FROM memoized_prefetch.fk('review', ARRAY[11, 13], NULL, NULL::book) s;
-- editor_id has no constraint, so only reviewer_id is found
SELECT s.source_id, s.attribute, (s.target).id
FROM memoized_prefetch.fk('paths_test.note', ARRAY[1, 2, 3, 4], NULL, NULL::author) s;
-- a foreign key to a unique column is found too
SELECT s.source_id, s.attribute, (s.target).id
FROM memoized_prefetch.fk('paths_test.edition', ARRAY[1, 2], NULL, NULL::book) s;

-- as a multiset each is the plain join
SELECT (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT s.source_id, s.attribute, s.target
          FROM memoized_prefetch.fk('paths_test.vote', ARRAY[100, 101, 102, 103, 104, 105, 100],
                                    '{review_id.book_id.author_id,review_id__book_id__translator_id}', NULL::author) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT v.id, 'review_id.book_id.author_id'::text, a
          FROM paths_test.vote v JOIN review r ON r.id = v.review_id JOIN book b ON b.id = r.book_id
               JOIN author a ON a.id = b.author_id
          WHERE v.id = ANY (ARRAY[100, 101, 102, 103, 104, 105, 100])
          UNION ALL
          SELECT v.id, 'review_id__book_id__translator_id', a
          FROM paths_test.vote v JOIN review r ON r.id = v.review_id JOIN book b ON b.id = r.book_id
               JOIN author a ON a.id = b.translator_id
          WHERE v.id = ANY (ARRAY[100, 101, 102, 103, 104, 105, 100])) x)
       AS same_vote,
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT s.source_id, s.attribute, s.target
          FROM memoized_prefetch.fk('paths_test.note', ARRAY[1, 2, 3, 4], '{editor_id,book_id.translator_id}', NULL::author) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT n.id, 'editor_id'::text, a FROM paths_test.note n JOIN author a ON a.id = n.editor_id
          WHERE n.id = ANY (ARRAY[1, 2, 3, 4])
          UNION ALL
          SELECT n.id, 'book_id.translator_id', a FROM paths_test.note n JOIN book b ON b.id = n.book_id
               JOIN author a ON a.id = b.translator_id
          WHERE n.id = ANY (ARRAY[1, 2, 3, 4])) x)
       AS same_note,
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT s.source_id, s.attribute, s.target
          FROM memoized_prefetch.fk('paths_test.edition', ARRAY[1, 2, 3, 4], '{isbn}', NULL::book) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x ORDER BY x::text COLLATE "C") FROM (
          SELECT e.id, 'isbn'::text, b FROM paths_test.edition e JOIN book b ON b.isbn = e.isbn
          WHERE e.id = ANY (ARRAY[1, 2, 3, 4])) x)
       AS same_edition;

-- foreign keys to unique columns whose index has an unusual but usable
-- shape: text_pattern_ops (byte order), NULLS FIRST, INCLUDE columns; codes
-- in mixed case, so that byte order and collation order differ, over many
-- index pages
CREATE TABLE paths_test.coded (id int PRIMARY KEY, c1 text NOT NULL, c2 text, c3 text NOT NULL);
CREATE UNIQUE INDEX coded_c1 ON paths_test.coded (c1 text_pattern_ops);
CREATE UNIQUE INDEX coded_c2 ON paths_test.coded (c2 NULLS FIRST);
CREATE UNIQUE INDEX coded_c3 ON paths_test.coded (c3) INCLUDE (id);
INSERT INTO paths_test.coded
SELECT i, code, CASE WHEN i % 10 <> 0 THEN code || '-2' END, code || '-3'
FROM (SELECT i, CASE i % 3 WHEN 0 THEN upper(md5(i::text)) WHEN 1 THEN md5(i::text)
                           ELSE initcap(md5(i::text)) END AS code
      FROM generate_series(1, 3000) i) x;
CREATE TABLE paths_test.coded_ref (
    id int PRIMARY KEY,
    r1 text REFERENCES paths_test.coded (c1),
    r2 text REFERENCES paths_test.coded (c2),
    r3 text REFERENCES paths_test.coded (c3));
INSERT INTO paths_test.coded_ref
SELECT id, c1, c2, c3 FROM paths_test.coded WHERE id % 4 <> 0
UNION ALL SELECT 10000 + id, NULL, c2, NULL FROM paths_test.coded WHERE id % 4 = 0;
SELECT count(*) AS rows,
       (SELECT array_agg(x::text ORDER BY x::text COLLATE "C") FROM (
          SELECT s.source_id, s.attribute, s.target
          FROM memoized_prefetch.fk('paths_test.coded_ref', (SELECT array_agg(id ORDER BY md5(id::text)) FROM paths_test.coded_ref),
                                    '{r1,r2,r3}', NULL::paths_test.coded) s) x)
   IS NOT DISTINCT FROM
       (SELECT array_agg(x::text ORDER BY x::text COLLATE "C") FROM (
          SELECT r.id, 'r1', c FROM paths_test.coded_ref r JOIN paths_test.coded c ON c.c1 = r.r1
          UNION ALL SELECT r.id, 'r2', c FROM paths_test.coded_ref r JOIN paths_test.coded c ON c.c2 = r.r2
          UNION ALL SELECT r.id, 'r3', c FROM paths_test.coded_ref r JOIN paths_test.coded c ON c.c3 = r.r3) x)
       AS same
FROM memoized_prefetch.fk('paths_test.coded_ref', (SELECT array_agg(id) FROM paths_test.coded_ref),
                          '{r1,r2,r3}', NULL::paths_test.coded);

-- errors
-- a step that is not the last must follow a foreign key
SELECT * FROM memoized_prefetch.fk('paths_test.note', ARRAY[1], '{editor_id.author_id}', NULL::author);
-- the last step must reach the target's table
SELECT * FROM memoized_prefetch.fk('review', ARRAY[10], '{book_id.publisher_id}', NULL::author);
SELECT * FROM memoized_prefetch.fk('review', ARRAY[10], '{book_id}', NULL::author);
-- an unknown column on the way
SELECT * FROM memoized_prefetch.fk('review', ARRAY[10], '{book_id.editor_id}', NULL::author);
-- malformed paths
SELECT * FROM memoized_prefetch.fk('review', ARRAY[10], '{book_id..author_id}', NULL::author);
SELECT * FROM memoized_prefetch.fk('review', ARRAY[10], '{book_id__}', NULL::author);
-- no foreign key of the source to the target
SELECT * FROM memoized_prefetch.fk('book', ARRAY[1], NULL, NULL::category);

SET client_min_messages = warning;
DROP SCHEMA paths_test CASCADE;
RESET client_min_messages;
