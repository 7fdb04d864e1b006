# TRACKED tables on a hot standby (scenario 23 of consistency.md): no trigger
# fires during replay, so the standby's key buckets never move; whatever the
# standby serves (it may bypass its cache, or validate hits) must equal the
# plain join in the same statement, before and after replayed updates,
# TRUNCATE and trigger DDL, in READ COMMITTED and across a REPEATABLE READ
# transaction.  Then the standby is promoted while a transaction prepared on
# the primary is pending and while a REPEATABLE READ transaction is open: the
# cache now works, and must not serve what replay changed, the prepared
# transaction once committed, or the promoted node's own writes.
#
# Every check is one statement comparing fk() or m2m() with the plain join
# under the same snapshot (BookstoreChecks).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use BookstoreChecks;

my $ids = $bookstore_ids;

my %fk = (
	initial => $initial_fk,
	updated => '1 author_id Ann v2, 2 author_id Di, 2 translator_id Cy, '
	  . '3 author_id Ann v2, 3 translator_id Ann v2, 4 author_id Di, 4 translator_id Bob, '
	  . '5 author_id Cy',
	updated2 => '1 author_id Ann v2, 2 author_id Di, 2 translator_id Cy v3, '
	  . '3 author_id Ann v2, 3 translator_id Ann v2, 4 author_id Di, 4 translator_id Bob, '
	  . '5 author_id Cy v3',
	untracked => '1 author_id Ann v2, 2 author_id Di v4, 2 translator_id Cy v3, '
	  . '3 author_id Ann v2, 3 translator_id Ann v2, 4 author_id Di v4, 4 translator_id Bob, '
	  . '5 author_id Cy v3',
	prepared => '1 author_id Ann v2, 2 author_id Di v4, 2 translator_id Cy v3, '
	  . '3 author_id Ann v2, 3 translator_id Ann v2, 4 author_id Di v4, 4 translator_id Bob v5, '
	  . '5 author_id Cy v3',
	promoted => '1 author_id Ann v6, 2 author_id Di v4, 2 translator_id Cy v3, '
	  . '3 author_id Ann v6, 3 translator_id Ann v6, 4 author_id Di v4, 4 translator_id Bob v5, '
	  . '5 author_id Cy v3');
my %m2m = (
	initial => $initial_m2m,
	updated =>
	  '1 Poetry, 2 History v2, 2 Poetry, 3 Fiction, 3 History v2, 3 Poetry, 5 Poetry',
	truncated => '',
	refilled => '1 Fiction, 4 Poetry',
	prepared => '1 Fiction, 2 History v2, 4 Poetry');

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
# No autovacuum: no cleanup record may conflict with the standby's
# REPEATABLE READ snapshots below.
$primary->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'memoized_prefetch'
max_prepared_transactions = 10
autovacuum = off
});
$primary->start;
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

load_bookstore($primary);
$primary->safe_psql(
	'postgres', q{
SELECT memoized_prefetch.track('author');
SELECT memoized_prefetch.track('category');
SELECT memoized_prefetch.track('book_categories');
});
$primary->wait_for_catchup($standby);

sub stats
{
	my ($session) = @_;
	return $session->query_safe(
		q{SELECT string_agg(format('%s hit=%s', relation, hits > 0), ', ' ORDER BY relation::text)
		  FROM memoized_prefetch.stats
		  WHERE pid = pg_backend_pid() AND relid IN ('author'::regclass, 'book_categories'::regclass)});
}

# A standby session, warm.
my $s = $standby->background_psql('postgres');
check_fk($s, $ids, $fk{initial}, 'standby: initial');
check_m2m($s, $ids, $m2m{initial}, 'standby: initial');
check_fk($s, $ids, $fk{initial}, 'standby: initial, again');
check_m2m($s, $ids, $m2m{initial}, 'standby: initial, again');

# A REPEATABLE READ transaction on the standby, snapshot before the updates.
my $rr = $standby->background_psql('postgres');
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
check_fk($rr, $ids, $fk{initial}, 'standby, repeatable read: before the updates');
check_m2m($rr, $ids, $m2m{initial}, 'standby, repeatable read: before the updates');

# Replayed updates of target rows, a source row and link rows.
$primary->safe_psql(
	'postgres', q{
UPDATE author SET name = 'Ann v2' WHERE id = 1;
UPDATE book SET author_id = 4 WHERE id = 2;
UPDATE category SET name = 'History v2' WHERE id = 2;
INSERT INTO book_categories (book_id, category_id) VALUES (2, 3);
DELETE FROM book_categories WHERE book_id = 1 AND category_id = 1;
});
$primary->wait_for_catchup($standby);
check_fk($s, $ids, $fk{updated}, 'standby: after replayed updates');
check_m2m($s, $ids, $m2m{updated}, 'standby: after replayed updates');
check_fk($s, $ids, $fk{updated}, 'standby: after replayed updates, again');
check_m2m($s, $ids, $m2m{updated}, 'standby: after replayed updates, again');
check_fk($rr, $ids, $fk{initial}, 'standby, repeatable read: after the updates');
check_m2m($rr, $ids, $m2m{initial}, 'standby, repeatable read: after the updates');
$rr->query_safe('COMMIT');
check_fk($rr, $ids, $fk{updated}, 'standby, repeatable read: next transaction');

$primary->safe_psql('postgres', "UPDATE author SET name = 'Cy v3' WHERE id = 3");
$primary->wait_for_catchup($standby);
check_fk($s, $ids, $fk{updated2}, 'standby: after a second update');

# Replayed TRUNCATE, and inserts after it.
$primary->safe_psql('postgres', 'TRUNCATE book_categories');
$primary->wait_for_catchup($standby);
check_m2m($s, $ids, $m2m{truncated}, 'standby: after replayed TRUNCATE');
$primary->safe_psql('postgres',
	'INSERT INTO book_categories (book_id, category_id) VALUES (1, 1), (4, 3)');
$primary->wait_for_catchup($standby);
check_m2m($s, $ids, $m2m{refilled}, 'standby: after inserts');
check_m2m($s, $ids, $m2m{refilled}, 'standby: after inserts, again');

# An update made with the trigger disabled, then tracking restored.
$primary->safe_psql(
	'postgres', q{
BEGIN;
ALTER TABLE author DISABLE TRIGGER memoized_prefetch_row;
UPDATE author SET name = 'Di v4' WHERE id = 4;
ALTER TABLE author ENABLE ALWAYS TRIGGER memoized_prefetch_row;
COMMIT;
});
$primary->wait_for_catchup($standby);
check_fk($s, $ids, $fk{untracked}, 'standby: after an update with the trigger disabled');
check_fk($s, $ids, $fk{untracked}, 'standby: after an update with the trigger disabled, again');
note('standby session statistics: ' . stats($s));
$s->quit;

# Promotion.  A transaction prepared on the primary is replayed and pending;
# a standby session is warm, another is in a REPEATABLE READ transaction.
$primary->safe_psql(
	'postgres', q{
BEGIN;
UPDATE author SET name = 'Bob v5' WHERE id = 2;
INSERT INTO book_categories (book_id, category_id) VALUES (2, 2);
PREPARE TRANSACTION 'mp_standby';
});
$primary->wait_for_catchup($standby);
my $q = $standby->background_psql('postgres');
check_fk($q, $ids, $fk{untracked}, 'before promotion: prepared on the primary');
check_m2m($q, $ids, $m2m{refilled}, 'before promotion: prepared on the primary');
$rr = $standby->background_psql('postgres');
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
check_fk($rr, $ids, $fk{untracked}, 'repeatable read across promotion: before');

$primary->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the standby was not promoted';

# the transaction open across the promotion fills the cache now, under its
# old snapshot
check_fk($rr, $ids, $fk{untracked}, 'repeatable read across promotion: after');
check_m2m($rr, $ids, $m2m{refilled}, 'repeatable read across promotion: after');
check_fk($rr, $ids, $fk{untracked}, 'repeatable read across promotion: after, again');
$rr->query_safe('COMMIT');

is($standby->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'1', 'the prepared transaction is pending on the promoted node');
check_fk($q, $ids, $fk{untracked}, 'promoted: prepared');
check_m2m($q, $ids, $m2m{refilled}, 'promoted: prepared');
check_fk($q, $ids, $fk{untracked}, 'promoted: prepared, again');
check_m2m($q, $ids, $m2m{refilled}, 'promoted: prepared, again');
check_fk($rr, $ids, $fk{untracked}, 'promoted: prepared, the other session');

$standby->safe_psql('postgres', "COMMIT PREPARED 'mp_standby'");
check_fk($q, $ids, $fk{prepared}, 'promoted: after COMMIT PREPARED');
check_m2m($q, $ids, $m2m{prepared}, 'promoted: after COMMIT PREPARED');
check_fk($q, $ids, $fk{prepared}, 'promoted: after COMMIT PREPARED, again');
check_m2m($q, $ids, $m2m{prepared}, 'promoted: after COMMIT PREPARED, again');
check_fk($rr, $ids, $fk{prepared}, 'promoted: after COMMIT PREPARED, the other session');
check_m2m($rr, $ids, $m2m{prepared}, 'promoted: after COMMIT PREPARED, the other session');

# the promoted node's own writes
$standby->safe_psql('postgres', "UPDATE author SET name = 'Ann v6' WHERE id = 1");
check_fk($q, $ids, $fk{promoted}, 'promoted: after a write');
check_fk($q, $ids, $fk{promoted}, 'promoted: after a write, again');
check_fk($rr, $ids, $fk{promoted}, 'promoted: after a write, the other session');
like(stats($q), qr/^author hit=t, book_categories hit=t$/,
	'promoted: the session\'s cache served rows');

$q->quit;
$rr->quit;
$standby->stop;

done_testing();
