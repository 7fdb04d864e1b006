# Every call resolved and run while every catalog cache entry is flushed at
# every chance (debug_discard_caches = 1, which a server built with
# assertions allows; freed memory is also overwritten there).  Whatever the
# extension takes from a relcache entry must stay valid while the relation is
# open, or be copied before the next catalog access; and a resolution that
# keeps being disturbed by invalidations must still end (plans.c resolved
# again for as long as invalidations came in, so this ran forever).
#
# The checks of the differential test (010), plus partitioned variants, each
# in a session of its own (its plans resolved under the flushes), as streaming
# scans and as function scans, against their plain joins under the same
# snapshot.  A server built without assertions cannot flush so: the test is
# skipped there.
use strict;
use warnings;

use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('discard');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'memoized_prefetch'\nmax_prepared_transactions = 10\n");
$node->start;

if ($node->safe_psql('postgres',
		q{SELECT max_val FROM pg_settings WHERE name = 'debug_discard_caches'}) eq '0')
{
	$node->stop;
	plan skip_all => 'debug_discard_caches needs a server built with assertions';
}

$node->safe_psql('postgres',
	slurp_file(dirname(__FILE__) . '/010_concurrent_differential.sql'));

# Partitioned copies: authors by hash of id (one partition with another
# column order), books by range of id (one range sub-partitioned, and a
# default), links by hash of book.
$node->safe_psql(
	'postgres', q{
CREATE TABLE author_pt (id bigint PRIMARY KEY, name text NOT NULL, code text NOT NULL)
    PARTITION BY HASH (id);
CREATE TABLE author_pt_0 PARTITION OF author_pt FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TABLE author_pt_1 PARTITION OF author_pt FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE author_pt_2 (code text NOT NULL, name text NOT NULL, id bigint NOT NULL);
ALTER TABLE author_pt ATTACH PARTITION author_pt_2 FOR VALUES WITH (MODULUS 3, REMAINDER 2);
CREATE TABLE book_pt (id bigint PRIMARY KEY, title text NOT NULL,
                      author_id bigint REFERENCES author_pt,
                      translator_id bigint REFERENCES author_pt)
    PARTITION BY RANGE (id);
CREATE TABLE book_pt_0 PARTITION OF book_pt FOR VALUES FROM (MINVALUE) TO (1000);
CREATE TABLE book_pt_1 PARTITION OF book_pt FOR VALUES FROM (1000) TO (2500)
    PARTITION BY RANGE (id);
CREATE TABLE book_pt_1a PARTITION OF book_pt_1 FOR VALUES FROM (1000) TO (1700);
CREATE TABLE book_pt_1b PARTITION OF book_pt_1 FOR VALUES FROM (1700) TO (2500);
CREATE TABLE book_pt_d PARTITION OF book_pt DEFAULT;
CREATE INDEX ON book_pt (author_id);
CREATE TABLE book_categories_pt (
    id bigint NOT NULL,
    book_id bigint NOT NULL REFERENCES book_pt,
    category_id bigint NOT NULL REFERENCES category) PARTITION BY HASH (book_id);
CREATE TABLE book_categories_pt_0 PARTITION OF book_categories_pt
    FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE book_categories_pt_1 PARTITION OF book_categories_pt
    FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE INDEX ON book_categories_pt (book_id, category_id);
CREATE INDEX ON book_categories_pt (category_id);
INSERT INTO author_pt SELECT id, name, code FROM author_t;
INSERT INTO book_pt SELECT id, title, author_id, translator_id FROM book;
INSERT INTO book_categories_pt SELECT id, book_id, category_id FROM book_categories;
SELECT memoized_prefetch.track(t)
FROM unnest('{author_pt,book_pt,book_categories_pt}'::regclass[]) t;
ANALYZE;
INSERT INTO checks VALUES
(30, 'fk book_pt author_pt', 'book', true,
 $$SELECT s.source_id, s.attribute, s.target FROM memoized_prefetch.fk('book_pt', $1, '{author_id,translator_id}', NULL::author_pt) s$$,
 $$SELECT b.id, 'author_id', a FROM book_pt b JOIN author_pt a ON a.id = b.author_id WHERE b.id = ANY ($1)
   UNION ALL SELECT b.id, 'translator_id', a FROM book_pt b JOIN author_pt a ON a.id = b.translator_id WHERE b.id = ANY ($1)$$),
(31, 'm2m book_pt categories', 'book', true,
 $$SELECT s.source_id, s.target FROM memoized_prefetch.m2m('book_categories_pt', $1, NULL::category) s$$,
 $$SELECT l.book_id, c FROM book_categories_pt l JOIN category c ON c.id = l.category_id WHERE l.book_id = ANY ($1)$$),
(32, 'm2m category books_pt', 'category', true,
 $$SELECT s.source_id, s.target FROM memoized_prefetch.m2m('book_categories_pt', $1, NULL::book_pt) s$$,
 $$SELECT l.category_id, b FROM book_categories_pt l JOIN book_pt b ON b.id = l.book_id WHERE l.category_id = ANY ($1)$$),
(33, 'reverse author_pt books_pt', 'book', true,
 $$SELECT s.source_id, s.target FROM memoized_prefetch.reverse_fk('author_pt', $1, NULL::book_pt, 'author_id') s$$,
 $$SELECT b.author_id, b FROM book_pt b WHERE b.author_id = ANY ($1)$$),
(34, 'fk_flat book_pt author_pt', 'book', true,
 $$SELECT s.source_id, s.attribute, s.id, s.name, s.code
   FROM memoized_prefetch.fk_flat('book_pt', $1, '{author_id,translator_id}', NULL::author_pt)
        AS s(source_id bigint, attribute text, id bigint, name text, code text)$$,
 $$SELECT b.id, 'author_id', a.id, a.name, a.code FROM book_pt b JOIN author_pt a ON a.id = b.author_id WHERE b.id = ANY ($1)
   UNION ALL SELECT b.id, 'translator_id', a.id, a.name, a.code FROM book_pt b JOIN author_pt a ON a.id = b.translator_id WHERE b.id = ANY ($1)$$);
});

# A chunk of each kind of id, with missing ids, NULLs and repeats.
my %chunk;
for my $kind ('book', 'review', 'category')
{
	my $space = { book => 4500, review => 6000, category => 60 }->{$kind};
	$chunk{$kind} = $node->safe_psql('postgres',
		"SELECT setseed(0.5); SELECT rand_chunk($space) || ARRAY[NULL, 1, 1]::bigint[]");
	$chunk{$kind} =~ s/^.*\n//;
}

# Each check in a session of its own (its plans resolved there), in one
# REPEATABLE READ transaction: the call under the flushes, then, without
# them, its plain join under the same snapshot.  Calls as streaming scans
# and as function scans.
my $checks = $node->safe_psql('postgres',
	q{SELECT name || E'\t' || kind || E'\t' || replace(call, E'\n', ' ') || E'\t' || replace(plain, E'\n', ' ')
	  FROM checks ORDER BY ord});
my ($ran, $rows) = (0, 0);
for my $line (split /\n/, $checks)
{
	my ($name, $kind, $call, $plain) = split /\t/, $line;
	my $ids = "'$chunk{$kind}'::bigint[]";
	s/\$1/$ids/g for ($call, $plain);
	for my $streaming ('on', 'off')
	{
		my $out = $node->safe_psql(
			'postgres', qq{
SET memoized_prefetch.streaming = $streaming;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SET LOCAL debug_discard_caches = 1;
SELECT coalesce(array_agg(x::text ORDER BY x::text COLLATE "C"), '{}') FROM ($call) x;
SET LOCAL debug_discard_caches = 0;
SELECT coalesce(array_agg(x::text ORDER BY x::text COLLATE "C"), '{}') FROM ($plain) x;
COMMIT;},
			timeout => $PostgreSQL::Test::Utils::timeout_default);
		my ($got, $expected) = split /\n/, $out;
		is($got, $expected, "$name, streaming $streaming: the plain join's rows");
		$ran++;
		$rows++ if $expected ne '{}';
	}
}
ok($ran >= 40 && $rows >= $ran - 4, "$ran calls ran, $rows of them on rows");

$node->stop;
done_testing();
