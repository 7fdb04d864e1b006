# Shared by the TAP tests: load the bookstore fixture, and check that fk() and
# m2m() return exactly what the plain join returns in the same statement.
#
# Each check runs ONE statement that calls the function once, computes the
# plain join under the same snapshot, and returns
#   - the function's rows, ordered, with the names of the target rows (so a
#     test shows which version of each row it saw), and
#   - whether the function's rows, as a multiset, equal the plain join's.
# Both are asserted with is().

package BookstoreChecks;

use strict;
use warnings;

use File::Basename qw(dirname);
use PostgreSQL::Test::Utils;
use Test::More;

use Exporter 'import';
our @EXPORT = qw(load_bookstore fk_query m2m_query check_fk check_m2m
  $bookstore_ids $initial_fk $initial_m2m
  $bookstore_updates $updated_fk $updated_m2m $bookstore_ddl $altered_fk);

# The ids the tests ask for (one missing), and what fk() and m2m() return for
# them on the fixture as loaded.
our $bookstore_ids = '5, 1, 4, 2, 3, 99';
our $initial_fk = '1 author_id Ann, 2 author_id Bob, 2 translator_id Cy, '
  . '3 author_id Ann, 3 translator_id Ann, 4 author_id Di, 4 translator_id Bob, '
  . '5 author_id Cy';
our $initial_m2m =
  '1 Fiction, 1 Poetry, 2 History, 3 Fiction, 3 History, 3 Poetry, 5 Poetry';

# Updates: a target row renamed, a source row pointed at another target, a
# new target row, link rows inserted and deleted, a linked row renamed, a
# source row deleted; and what fk() and m2m() return after them.
our $bookstore_updates = q{
UPDATE author SET name = 'Ann v2' WHERE id = 1;
UPDATE book SET author_id = 4 WHERE id = 2;
INSERT INTO author VALUES (5, 'Eve', 'eve@example.com');
UPDATE book SET translator_id = 5 WHERE id = 1;
INSERT INTO book_categories (book_id, category_id) VALUES (2, 3);
DELETE FROM book_categories WHERE book_id = 1 AND category_id = 1;
UPDATE category SET name = 'History v2' WHERE id = 2;
DELETE FROM review WHERE book_id = 5;
DELETE FROM book_categories WHERE book_id = 5;
DELETE FROM book WHERE id = 5;
};
our $updated_fk = '1 author_id Ann v2, 1 translator_id Eve, 2 author_id Di, 2 translator_id Cy, '
  . '3 author_id Ann v2, 3 translator_id Ann v2, 4 author_id Di, 4 translator_id Bob';
our $updated_m2m =
  '1 Poetry, 2 History v2, 2 Poetry, 3 Fiction, 3 History v2, 3 Poetry';

# DDL after the updates, which cached plans must follow: the translator
# column dropped and added again (another attribute number), and the index
# m2m() reads the link table through (the one on (book_id, category_id))
# dropped; m2m() then uses the one on book_id.
our $bookstore_ddl = q{
BEGIN;
ALTER TABLE book DROP COLUMN translator_id;
ALTER TABLE book ADD COLUMN translator_id bigint REFERENCES author DEFERRABLE INITIALLY DEFERRED;
UPDATE book SET translator_id = 3 WHERE id IN (1, 4);
ALTER TABLE book_categories DROP CONSTRAINT book_categories_book_id_category_id_key;
COMMIT;
};
our $altered_fk = '1 author_id Ann v2, 1 translator_id Cy, 2 author_id Di, '
  . '3 author_id Ann v2, 4 author_id Di, 4 translator_id Cy';

my $fixture = dirname(__FILE__) . '/../fixtures/bookstore.sql';

# Create the bookstore (and the extension, if missing) on a node.
sub load_bookstore
{
	my ($node, $dbname) = @_;
	$node->safe_psql($dbname // 'postgres', slurp_file($fixture));
	return;
}

# fk() on book: authors and translators of the given book ids.
sub fk_query
{
	my ($ids) = @_;
	my $arr = "ARRAY[$ids]::bigint[]";
	return qq{
WITH f AS MATERIALIZED (
  SELECT s.source_id, s.attribute, s.target
  FROM memoized_prefetch.fk('book', $arr, '{author_id,translator_id}', NULL::author) s),
j AS (
  SELECT b.id, 'author_id'::text, a FROM book b JOIN author a ON a.id = b.author_id
  WHERE b.id = ANY ($arr)
  UNION ALL
  SELECT b.id, 'translator_id'::text, a FROM book b JOIN author a ON a.id = b.translator_id
  WHERE b.id = ANY ($arr))
SELECT (SELECT string_agg(format('%s %s %s', f.source_id, f.attribute, (f.target).name), ', '
                          ORDER BY f.source_id, f.attribute) FROM f),
       (SELECT array_agg(x ORDER BY x::text) FROM f x)
       IS NOT DISTINCT FROM (SELECT array_agg(x ORDER BY x::text) FROM j x)};
}

# m2m() through book_categories: the categories of the given book ids.
sub m2m_query
{
	my ($ids) = @_;
	my $arr = "ARRAY[$ids]::bigint[]";
	return qq{
WITH f AS MATERIALIZED (
  SELECT s.source_id, s.target
  FROM memoized_prefetch.m2m('book_categories', $arr, NULL::category) s),
j AS (
  SELECT bc.book_id, c FROM book_categories bc JOIN category c ON c.id = bc.category_id
  WHERE bc.book_id = ANY ($arr))
SELECT (SELECT string_agg(format('%s %s', f.source_id, (f.target).name), ', '
                          ORDER BY f.source_id, (f.target).id) FROM f),
       (SELECT array_agg(x ORDER BY x::text) FROM f x)
       IS NOT DISTINCT FROM (SELECT array_agg(x ORDER BY x::text) FROM j x)};
}

# Run a check query on a node (a new connection) or in a BackgroundPsql
# session, and assert its two results.
sub run_check
{
	my ($where, $query, $rows, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 2;
	my $out =
	  $where->isa('PostgreSQL::Test::Cluster')
	  ? $where->safe_psql('postgres', $query)
	  : $where->query_safe($query);
	my ($got_rows, $same) = split /\|/, $out, 2;
	is($got_rows, $rows, "$name: rows");
	is($same, 't', "$name: equal to the plain join in the same statement");
	return;
}

sub check_fk
{
	my ($where, $ids, $rows, $name) = @_;
	run_check($where, fk_query($ids), $rows, "$name: fk");
	return;
}

sub check_m2m
{
	my ($where, $ids, $rows, $name) = @_;
	run_check($where, m2m_query($ids), $rows, "$name: m2m");
	return;
}

1;
