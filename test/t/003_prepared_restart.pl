# A prepared transaction that wrote TRACKED tables survives a restart (clean
# and after a crash): the shared key buckets start empty again, so nothing
# remembers its writes, and COMMIT PREPARED runs no hook.  Entries that a
# reader fills after the restart, while the transaction is still prepared,
# must not be served once it is committed (scenario 10 of consistency.md);
# after ROLLBACK PREPARED the old rows stay.
#
# Every check is one statement that compares fk() or m2m() with the plain
# join under the same snapshot (BookstoreChecks), run in a session that keeps
# its cache; the statistics show that the session's cache was really used.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use BookstoreChecks;

my $ids = $bookstore_ids;

my %fk = (
	initial => $initial_fk,
	p1 => '1 author_id Ann v2, 2 author_id Bob, 2 translator_id Cy, '
	  . '3 author_id Ann v2, 3 translator_id Ann v2, 4 author_id Di, 4 translator_id Bob, '
	  . '5 author_id Cy',
	p2 => '1 author_id Ann v2, 2 author_id Bob, 2 translator_id Cy v3, '
	  . '3 author_id Ann v2, 3 translator_id Ann v2, 4 author_id Di, 4 translator_id Bob, '
	  . '5 author_id Cy v3');
my %m2m = (
	initial => $initial_m2m,
	p1 =>
	  '1 Poetry, 2 History v2, 2 Poetry, 3 Fiction, 3 History v2, 3 Poetry, 5 Poetry',
	p2 =>
	  '1 Poetry, 2 History v2, 2 Poetry, 3 Fiction, 3 History v2, 3 Poetry, 4 Fiction, 5 Poetry');

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'memoized_prefetch'
max_prepared_transactions = 10
});
$node->start;

load_bookstore($node);
$node->safe_psql(
	'postgres', q{
SELECT memoized_prefetch.track('author');
SELECT memoized_prefetch.track('category');
SELECT memoized_prefetch.track('book_categories');
});

# The cache statistics of a session: whether it served rows (hit) and whether
# it found entries it could not serve (invalidated), for author and
# book_categories.
sub stats
{
	my ($session) = @_;
	return $session->query_safe(
		q{SELECT string_agg(format('%s hit=%s invalidated=%s', relation, hits > 0, invalidations > 0), ', '
		                    ORDER BY relation::text)
		  FROM memoized_prefetch.stats
		  WHERE pid = pg_backend_pid() AND relid IN ('author'::regclass, 'book_categories'::regclass)});
}

# Prepare a transaction, then restart (clean or immediate), then read it
# prepared, commit or roll it back, read again.
sub scenario
{
	my (%p) = @_;
	my $name = $p{name};

	# a session warms its cache before anything is prepared
	my $before = $node->background_psql('postgres');
	check_fk($before, $ids, $p{old_fk}, "$name: before prepare");
	check_m2m($before, $ids, $p{old_m2m}, "$name: before prepare");

	$node->safe_psql('postgres', "BEGIN; $p{writes} PREPARE TRANSACTION '$p{gid}';");
	check_fk($before, $ids, $p{old_fk}, "$name: prepared, before the restart");
	check_m2m($before, $ids, $p{old_m2m}, "$name: prepared, before the restart");
	$before->quit;

	if ($p{crash})
	{
		$node->stop('immediate');
		$node->start;
	}
	else
	{
		$node->restart;
	}
	is( $node->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts WHERE gid = '$p{gid}'"),
		'1', "$name: the prepared transaction survived the restart");

	# a session fills its cache while the transaction is prepared: the old
	# rows, twice (the second time served from the cache)
	my $reader = $node->background_psql('postgres');
	check_fk($reader, $ids, $p{old_fk}, "$name: prepared, after the restart");
	check_m2m($reader, $ids, $p{old_m2m}, "$name: prepared, after the restart");
	check_fk($reader, $ids, $p{old_fk}, "$name: prepared, after the restart, again");
	check_m2m($reader, $ids, $p{old_m2m}, "$name: prepared, after the restart, again");
	note("$name: statistics while prepared: " . stats($reader));

	# COMMIT PREPARED or ROLLBACK PREPARED, in a session that calls nothing
	# of the extension
	$node->safe_psql('postgres', "$p{finish} PREPARED '$p{gid}'");

	check_fk($reader, $ids, $p{new_fk}, "$name: after $p{finish} PREPARED");
	check_m2m($reader, $ids, $p{new_m2m}, "$name: after $p{finish} PREPARED");
	check_fk($reader, $ids, $p{new_fk}, "$name: after $p{finish} PREPARED, again");
	check_m2m($reader, $ids, $p{new_m2m}, "$name: after $p{finish} PREPARED, again");
	like(stats($reader), qr/^author hit=t .*, book_categories hit=t /,
		"$name: the reader's cache served rows");
	# and in a REPEATABLE READ transaction, and a new session
	$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
	check_fk($reader, $ids, $p{new_fk}, "$name: after $p{finish} PREPARED, repeatable read");
	check_m2m($reader, $ids, $p{new_m2m}, "$name: after $p{finish} PREPARED, repeatable read");
	$reader->query_safe('COMMIT');
	$reader->quit;
	check_fk($node, $ids, $p{new_fk}, "$name: after $p{finish} PREPARED, new session");
	check_m2m($node, $ids, $p{new_m2m}, "$name: after $p{finish} PREPARED, new session");
	return;
}

my $p1_writes = q{
UPDATE author SET name = 'Ann v2' WHERE id = 1;
UPDATE category SET name = 'History v2' WHERE id = 2;
INSERT INTO book_categories (book_id, category_id) VALUES (2, 3);
DELETE FROM book_categories WHERE book_id = 1 AND category_id = 1;
};
my $p2_writes = q{
UPDATE author SET name = 'Cy v3' WHERE id = 3;
INSERT INTO book_categories (book_id, category_id) VALUES (4, 1);
};

# clean restart, committed
scenario(
	name => 'restart, commit',
	gid => 'mp_p1',
	writes => $p1_writes,
	finish => 'COMMIT',
	old_fk => $fk{initial},
	old_m2m => $m2m{initial},
	new_fk => $fk{p1},
	new_m2m => $m2m{p1});

# crash restart, committed
scenario(
	name => 'crash, commit',
	gid => 'mp_p2',
	writes => $p2_writes,
	finish => 'COMMIT',
	crash => 1,
	old_fk => $fk{p1},
	old_m2m => $m2m{p1},
	new_fk => $fk{p2},
	new_m2m => $m2m{p2});

# clean restart, rolled back
scenario(
	name => 'restart, rollback',
	gid => 'mp_p3',
	writes => q{
UPDATE author SET name = 'Ann v4' WHERE id = 1;
DELETE FROM book_categories WHERE book_id = 3;
},
	finish => 'ROLLBACK',
	old_fk => $fk{p2},
	old_m2m => $m2m{p2},
	new_fk => $fk{p2},
	new_m2m => $m2m{p2});

# A prepared transaction whose xid is not the newest at the first use after
# the restart: other transactions commit after it was prepared, and before
# and after the restart; a session that has read before COMMIT PREPARED must
# not keep the old rows.
my $before = $node->background_psql('postgres');
check_fk($before, $ids, $fk{p2}, 'older prepared: before prepare');
$node->safe_psql('postgres',
	"BEGIN; UPDATE author SET name = 'Di v5' WHERE id = 4; PREPARE TRANSACTION 'mp_p4';");
$node->safe_psql('postgres', "UPDATE publisher SET name = 'Penguin v5' WHERE id = 1");
$before->quit;
$node->restart;
$node->safe_psql('postgres', "UPDATE publisher SET name = 'Penguin v6' WHERE id = 1");
my $reader = $node->background_psql('postgres');
check_fk($reader, $ids, $fk{p2}, 'older prepared: prepared, after the restart');
check_fk($reader, $ids, $fk{p2}, 'older prepared: prepared, after the restart, again');
$node->safe_psql('postgres', "UPDATE publisher SET name = 'Penguin v7' WHERE id = 1");
$node->safe_psql('postgres', "COMMIT PREPARED 'mp_p4'");
(my $p4 = $fk{p2}) =~ s/Di/Di v5/g;
check_fk($reader, $ids, $p4, 'older prepared: after COMMIT PREPARED');
check_fk($reader, $ids, $p4, 'older prepared: after COMMIT PREPARED, again');
like(stats($reader), qr/^author hit=t /, 'older prepared: the reader\'s cache served rows');
$reader->quit;

# The first use of the extension after the restart happens under a snapshot
# taken while the transaction was still prepared, but after COMMIT PREPARED
# has run: the entries filled then hold the old rows and must not be served
# to later snapshots, which see the commit.
$node->safe_psql('postgres',
	"BEGIN; UPDATE author SET name = 'Bob v6' WHERE id = 2; "
	  . "INSERT INTO book_categories (book_id, category_id) VALUES (4, 2); "
	  . "PREPARE TRANSACTION 'mp_p5';");
$node->restart;
(my $p5_fk = $p4) =~ s/Bob/Bob v6/g;
(my $p5_m2m = $m2m{p2}) =~ s/4 Fiction/4 Fiction, 4 History v2/;
$reader = $node->background_psql('postgres');
# a REPEATABLE READ snapshot, taken without calling the extension
$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
is($reader->query_safe('SELECT count(*) FROM publisher'),
	'2', 'first use after COMMIT PREPARED: snapshot taken while prepared');
$node->safe_psql('postgres', "COMMIT PREPARED 'mp_p5'");
# the first call since the restart, under that snapshot: the old rows
check_fk($reader, $ids, $p4, 'first use after COMMIT PREPARED: the old snapshot');
check_m2m($reader, $ids, $m2m{p2}, 'first use after COMMIT PREPARED: the old snapshot');
$reader->query_safe('COMMIT');
check_fk($reader, $ids, $p5_fk, 'first use after COMMIT PREPARED: a new snapshot');
check_m2m($reader, $ids, $p5_m2m, 'first use after COMMIT PREPARED: a new snapshot');
check_fk($reader, $ids, $p5_fk, 'first use after COMMIT PREPARED: a new snapshot, again');
check_m2m($reader, $ids, $p5_m2m, 'first use after COMMIT PREPARED: a new snapshot, again');
$reader->quit;
check_fk($node, $ids, $p5_fk, 'first use after COMMIT PREPARED: a new session');
check_m2m($node, $ids, $p5_m2m, 'first use after COMMIT PREPARED: a new session');

is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'0', 'no prepared transaction is left');

$node->stop;

done_testing();
