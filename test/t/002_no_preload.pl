# fk() and m2m() on a node WITHOUT shared_preload_libraries: the library is
# loaded by the first call in each backend.  Every call must return what the
# plain join returns in the same statement: in new sessions, in a session
# whose cached plans must follow another session's updates and DDL, and after
# a restart.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use BookstoreChecks;

my $ids = $bookstore_ids;

my %fk = (initial => $initial_fk, updated => $updated_fk, altered => $altered_fk);
my %m2m = (initial => $initial_m2m, updated => $updated_m2m);

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
$node->start;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'', 'the node preloads no library');

$node->safe_psql('postgres', 'CREATE EXTENSION memoized_prefetch');
is( $node->safe_psql(
		'postgres',
		q{SELECT extversion = default_version FROM pg_extension, pg_available_extensions
		  WHERE extname = 'memoized_prefetch' AND name = extname}),
	't',
	'CREATE EXTENSION without preloading installs the default version');
load_bookstore($node);

check_fk($node, $ids, $fk{initial}, 'initial');
check_m2m($node, $ids, $m2m{initial}, 'initial');

# A session whose first calls load the library and cache plans; the changes
# come from other sessions.
# Without the preload, each session is told once what the preload would add.
my ($stdout, $stderr);
$node->psql(
	'postgres', qq{
	SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[$ids]::bigint[], '{author_id}', NULL::author);
	SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[$ids]::bigint[], '{author_id}', NULL::author);
	SELECT count(*) FROM memoized_prefetch.m2m('book_categories', ARRAY[$ids]::bigint[], NULL::category);},
	stdout => \$stdout,
	stderr => \$stderr);
my @notices = ($stderr =~ /NOTICE:  memoized_prefetch is not in shared_preload_libraries/g);
is(scalar @notices, 1, 'one notice per session about the missing preload');

my $session = $node->background_psql('postgres');
$session->query_safe('SET client_min_messages = warning');
check_fk($session, $ids, $fk{initial}, 'session, initial');
check_m2m($session, $ids, $m2m{initial}, 'session, initial');

$node->safe_psql(
	'postgres', $bookstore_updates);
check_fk($session, $ids, $fk{updated}, 'session, after updates');
check_m2m($session, $ids, $m2m{updated}, 'session, after updates');
check_fk($node, $ids, $fk{updated}, 'new session, after updates');
check_m2m($node, $ids, $m2m{updated}, 'new session, after updates');

# DDL in another session must reach the session's cached plans: the
# translator column gets another attribute number, and the index m2m() used
# on the link table is dropped.
$node->safe_psql(
	'postgres', $bookstore_ddl);
check_fk($session, $ids, $fk{altered}, 'session, after DDL');
check_m2m($session, $ids, $m2m{updated}, 'session, after DDL');
$session->quit;

$node->restart;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'', 'after restart, the node still preloads no library');
check_fk($node, $ids, $fk{altered}, 'after restart');
check_m2m($node, $ids, $m2m{updated}, 'after restart');

# and a change after the restart
$node->safe_psql('postgres',
	q{UPDATE author SET name = 'Cy v2' WHERE id = 3; INSERT INTO book_categories (book_id, category_id) VALUES (4, 1);}
);
check_fk($node, $ids,
	'1 author_id Ann v2, 1 translator_id Cy v2, 2 author_id Di, '
	  . '3 author_id Ann v2, 4 author_id Di, 4 translator_id Cy v2',
	'after restart and update');
check_m2m($node, $ids,
	'1 Poetry, 2 History v2, 2 Poetry, 3 Fiction, 3 History v2, 3 Poetry, 4 Fiction',
	'after restart and update');

# Reuse across transactions without the preload: validated hits for the
# rows of unique keys (the authors), in one session's separate statements.
my $hits = $node->safe_psql(
	'postgres', qq{
	SET client_min_messages = warning;
	SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[$ids]::bigint[], NULL, NULL::author);
	SELECT count(*) FROM memoized_prefetch.fk('book', ARRAY[$ids]::bigint[], NULL, NULL::author);
	SELECT hits > 0 FROM memoized_prefetch.stats WHERE pid = pg_backend_pid() AND relation = 'author'::regclass;});
like($hits, qr/\nt$/, 'without the preload, a later statement is served validated hits');
check_fk($node, $ids,
	'1 author_id Ann v2, 1 translator_id Cy v2, 2 author_id Di, '
	  . '3 author_id Ann v2, 4 author_id Di, 4 translator_id Cy v2',
	'after validated hits');

$node->stop;

done_testing();
