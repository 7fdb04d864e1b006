# fk() and m2m() on a hot standby: a primary with shared_preload_libraries,
# a streaming standby made from a backup taken before the bookstore exists.
# On the standby, every call must return what the plain join returns in the
# same statement, before and after the primary's updates and DDL are replayed,
# in READ COMMITTED and in a REPEATABLE READ transaction that began before the
# updates; and nothing the calls do may write (which fails on a standby).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use BookstoreChecks;

my $ids = $bookstore_ids;

my %fk = (initial => $initial_fk, updated => $updated_fk, altered => $altered_fk);
my %m2m = (initial => $initial_m2m, updated => $updated_m2m);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
# No autovacuum: no cleanup record may conflict with the standby's
# REPEATABLE READ snapshot below (the tables are too small for pruning).
$primary->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'memoized_prefetch'
autovacuum = off
});
$primary->start;

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'the standby is in recovery');
is($standby->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'memoized_prefetch', 'the standby preloads the library');

# The bookstore (and the extension) reach the standby by streaming.
load_bookstore($primary);
$primary->wait_for_catchup($standby);

check_fk($primary, $ids, $fk{initial}, 'primary, initial');
check_m2m($primary, $ids, $m2m{initial}, 'primary, initial');
check_fk($standby, $ids, $fk{initial}, 'standby, initial');
check_m2m($standby, $ids, $m2m{initial}, 'standby, initial');

# A standby session that keeps its plans across what follows.
my $session = $standby->background_psql('postgres');
check_fk($session, $ids, $fk{initial}, 'standby session, initial');
check_m2m($session, $ids, $m2m{initial}, 'standby session, initial');

# A REPEATABLE READ transaction on the standby, snapshot taken before the
# updates are replayed.
$session->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
check_fk($session, $ids, $fk{initial}, 'standby, repeatable read, before updates');
check_m2m($session, $ids, $m2m{initial}, 'standby, repeatable read, before updates');

# Updates on the primary: a target row renamed, a source row pointed at
# another target, a new target row, link rows inserted and deleted, a linked
# row renamed, a source row deleted.
$primary->safe_psql(
	'postgres', $bookstore_updates);
$primary->wait_for_catchup($standby);

check_fk($primary, $ids, $fk{updated}, 'primary, updated');
check_m2m($primary, $ids, $m2m{updated}, 'primary, updated');
check_fk($standby, $ids, $fk{updated}, 'standby, updated');
check_m2m($standby, $ids, $m2m{updated}, 'standby, updated');

# The REPEATABLE READ transaction still sees its snapshot, like the plain join.
check_fk($session, $ids, $fk{initial}, 'standby, repeatable read, after updates');
check_m2m($session, $ids, $m2m{initial}, 'standby, repeatable read, after updates');
$session->query_safe('COMMIT');
check_fk($session, $ids, $fk{updated}, 'standby session, after commit');
check_m2m($session, $ids, $m2m{updated}, 'standby session, after commit');

# DDL replayed on the standby must reach the session's cached plans: the
# translator column is dropped and added again (another attribute number),
# and the index that m2m() used on the link table is dropped.
$primary->safe_psql(
	'postgres', $bookstore_ddl);
$primary->wait_for_catchup($standby);

check_fk($session, $ids, $fk{altered}, 'standby session, after DDL');
check_m2m($session, $ids, $m2m{updated}, 'standby session, after DDL');
check_fk($standby, $ids, $fk{altered}, 'standby, after DDL');
check_m2m($standby, $ids, $m2m{updated}, 'standby, after DDL');
$session->quit;

# Nothing writes: on the standby the calls succeed without any message, where
# a write fails; on the primary they assign no transaction id, and run in a
# read-only transaction.
my ($ret, $stdout, $stderr) = $standby->psql('postgres',
	"INSERT INTO category VALUES (9, 'Drama')");
isnt($ret, 0, 'a write fails on the standby');
like(
	$stderr,
	qr/cannot execute INSERT in a read-only transaction/,
	'a write fails on the standby with the read-only error');

($ret, $stdout, $stderr) = $standby->psql(
	'postgres',
	'BEGIN; ' . fk_query($ids) . '; ' . m2m_query($ids) . '; COMMIT;',
	on_error_stop => 1);
is($ret, 0, 'fk and m2m succeed on the standby');
is($stderr, '', 'fk and m2m on the standby raise no error, warning or notice');

is( $primary->safe_psql(
		'postgres',
		'BEGIN READ ONLY; '
		  . fk_query($ids) . '; '
		  . m2m_query($ids) . '; '
		  . 'SELECT pg_current_xact_id_if_assigned() IS NULL; COMMIT;'),
	"$fk{altered}|t\n$m2m{updated}|t\nt",
	'fk and m2m on the primary, in a read-only transaction, assign no transaction id');

$standby->stop;
$primary->stop;

done_testing();
