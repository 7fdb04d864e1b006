# The differential test under concurrency: while writers change generated
# data (names, inserts, deletes, new primary keys and unique codes with ON
# UPDATE CASCADE, re-pointed foreign keys and links, TRUNCATE and refill of a
# small tracked table, rolled-back savepoints and subtransactions, PREPARE
# TRANSACTION with COMMIT or ROLLBACK PREPARED), readers in READ COMMITTED,
# REPEATABLE READ and SERIALIZABLE compare, in ONE statement each, fk(),
# m2m() and reverse_fk() with the plain join over random chunks (duplicates, missing ids,
# NULLs), on tracked and untracked tables, with the backend caches reused
# across statements and transactions.  A warm reader repeats the same chunks
# so that cached rows are served across transactions while the writers run,
# and a session with a cache filled before the writers keeps a REPEATABLE
# READ snapshot from while they run to after them.  Some writer transactions
# also run the checks after their own writes.
#
# Every difference is stored in the table mismatches (and logged as a
# WARNING, in case its transaction does not commit): there must be none.
# The readers record their backends' cache statistics: rows must have been
# served from the cache, also to the first call of a transaction (which only
# the cross-transaction rule can serve) outside SERIALIZABLE, and never in
# SERIALIZABLE.
#
# Everything is bounded by transaction counts (pgbench -t); nothing asserts
# on timing.  The schema, data and functions are in
# 010_concurrent_differential.sql.

use strict;
use warnings;

use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('node');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'memoized_prefetch'
max_prepared_transactions = 10
max_connections = 40
deadlock_timeout = 50ms
max_parallel_workers_per_gather = 0
autovacuum_naptime = 1s
});
$node->start;

$node->safe_psql('postgres',
	slurp_file(dirname(__FILE__) . '/010_concurrent_differential.sql'));

# The shape of the data: every case occurs.
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FILTER (WHERE author_id IS NULL) > 0,
       count(*) FILTER (WHERE translator_id IS NOT NULL AND editor_id IS NOT NULL) > 0,
       count(*) FILTER (WHERE author_code IS NOT NULL AND author_u_code IS NOT NULL) > 0,
       count(*) FILTER (WHERE label_id IS NOT NULL AND label_id NOT IN (SELECT id FROM label)) > 0,
       count(*) FILTER (WHERE NOT EXISTS (SELECT FROM book_categories l WHERE l.book_id = book.id)) > 0,
       (SELECT count(*) > 0 FROM (SELECT book_id, category_id FROM book_categories
                                  GROUP BY 1, 2 HAVING count(*) > 1) d),
       (SELECT count(*) FROM review WHERE book_id IS NULL) > 0,
       (SELECT count(*) FROM pg_trigger WHERE tgname = 'memoized_prefetch_row')
FROM book}),
	't|t|t|t|t|t|t|6',
	'generated data: NULL, several and code foreign keys, dangling labels, '
	  . 'unlinked books, duplicate links, reviews without book; six tracked tables');

my $dir = PostgreSQL::Test::Utils::tempdir;

sub script
{
	my ($name, $text) = @_;
	my $path = "$dir/$name.sql";
	open my $fh, '>', $path or die "could not write $path: $!";
	print $fh $text;
	close $fh;
	return $path;
}

# Writers: client r owns the ids with id % 3 = r (see the .sql file).  They
# pause between transactions, so that they keep writing while the readers
# run; once the readers are done, their remaining transactions do nothing.
# One transaction in ten also runs the checks after its own writes (some
# after a rolled-back savepoint): the writer's uncommitted rows must be seen,
# and its cache must not serve what its own writes changed.
my $writer = script(
	'writer', q{
SELECT done::int AS done FROM control \gset
\if :done
\else
\set kind random(1, 100)
\set gid random(1, 1000000000)
BEGIN;
SELECT nextval('writer_xacts');
SELECT w_ops(:client_id, 3, 'w');
\if :kind <= 15
SAVEPOINT s1;
SELECT w_ops(:client_id, 2, 'rolled-back');
ROLLBACK TO SAVEPOINT s1;
SELECT w_ops(:client_id, 1, 'w');
\endif
\if :kind > 10 and :kind <= 20
SELECT mp_round('writer', :gid, :client_id) AS c1 \gset
SELECT mp_log('writer', :c1);
\endif
\if :client_id = 0 and :kind >= 95
SELECT w_refill_label('refilled');
\endif
\if :kind > 85
PREPARE TRANSACTION 'mptest:client_id-:gid';
\sleep 5 ms
\if :kind > 97
ROLLBACK PREPARED 'mptest:client_id-:gid';
\else
COMMIT PREPARED 'mptest:client_id-:gid';
\endif
\else
COMMIT;
\endif
\sleep 10 ms
\endif
});

# A vacuumer: while the writers run, it keeps making the link tables' pages
# all-visible again, so that readers read link rows from covering indexes
# on some pages and from the heap on the pages the writers just changed.
my $vacuumer = script(
	'vacuumer', q{
SELECT done::int AS done FROM control \gset
\if :done
\else
VACUUM book_categories, book_categories_u;
\sleep 20 ms
\endif
});

# Readers: two rounds of every check in READ COMMITTED (each statement its
# own snapshot); three in REPEATABLE READ and SERIALIZABLE, the third on the
# chunks of the first, under the same snapshot.
my $rc = script(
	'rc', q{
\set s1 random(1, 1000000000)
\set s2 random(1, 1000000000)
BEGIN;
SELECT mp_round('rc', :s1, :client_id) AS c1 \gset
SELECT mp_round('rc', :s2, :client_id) AS c2 \gset
SELECT mp_log('rc', :c1 + :c2);
COMMIT;
});
my %snapshot_readers;
for my $iso ('repeatable read', 'serializable')
{
	my $tag = $iso eq 'serializable' ? 'ser' : 'rr';
	$snapshot_readers{$tag} = script(
		$tag, qq{
\\set s1 random(1, 1000000000)
\\set s2 random(1, 1000000000)
BEGIN ISOLATION LEVEL $iso;
SELECT mp_round('$tag', :s1, :client_id) AS c1 \\gset
SELECT mp_round('$tag', :s2, :client_id) AS c2 \\gset
SELECT mp_round('$tag', :s1, :client_id) AS c3 \\gset
SELECT mp_log('$tag', :c1 + :c2 + :c3);
COMMIT;
});
}
# The warm reader: the same three chunks again and again, tracked tables only.
my $warm = script(
	'warm', q{
\set n random(1, 3)
BEGIN;
SELECT mp_round('warm', -:n, 0, true) AS c1 \gset
SELECT mp_log('warm', :c1);
COMMIT;
});

# A session that fills its cache before the writers start, and, once they
# run, keeps a REPEATABLE READ snapshot (without the label, which a writer
# truncates) open until they are done.
my $skip_label = q{'{fk book label}'};
my $nchecks = $node->safe_psql('postgres', 'SELECT count(*) FROM checks');
my $long = $node->background_psql('postgres');
sub long_round
{
	my ($iso, $seed, $skip) = @_;
	my ($out, $ret) = $long->query(
		"SELECT mp_round('$iso', $seed, 0, false, " . ($skip // "'{}'") . ')');
	is("$out $long->{stderr}", ($skip ? $nchecks - 1 : $nchecks) . ' ',
		"long session, $iso, chunks $seed: every check, no mismatch");
	$long->{stderr} = '';
	return;
}
long_round('long rc before', -$_) for 1 .. 3;

my $logstart = -s $node->logfile;

# name => [script, clients, transactions]
my %runs = (
	writers => [ $writer, 3, 2000 ],
	vacuumer => [ $vacuumer, 1, 1000 ],
	rc => [ $rc, 2, 40 ],
	rr => [ $snapshot_readers{rr}, 2, 25 ],
	ser => [ $snapshot_readers{ser}, 2, 25 ],
	warm => [ $warm, 1, 200 ],);
my %proc;
my $seed = 1;
for my $name (sort keys %runs)
{
	my ($file, $clients, $xacts) = @{ $runs{$name} };
	# to files: a pipe nobody reads while waiting for another run could
	# block a client in the middle of a transaction, holding its locks
	my %p = (out => "$dir/$name.out", err => "$dir/$name.err");
	my @cmd = (
		'pgbench', '-n', '-h', $node->host, '-p', $node->port,
		'-c', $clients, '-t', $xacts, '--max-tries', 100,
		'--random-seed', $seed++, '--failures-detailed', '--verbose-errors',
		'-f', $file, 'postgres');
	$p{run} = IPC::Run::start(\@cmd, '>', $p{out}, '2>', $p{err},
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	$proc{$name} = \%p;
}

# The long session's REPEATABLE READ transaction begins once every reader
# group has committed a transaction.  Not before: a backend uses a tracked
# table's witness across transactions only after every transaction running
# when it first saw it has ended (track.c), so an open transaction from the
# start would keep the readers from ever doing so.
$node->poll_query_until('postgres',
	q{SELECT count(DISTINCT iso) = 4 FROM run_log WHERE iso IN ('rc', 'rr', 'ser', 'warm')})
  or die 'the readers did not start';
$long->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
long_round('long rr during', -$_, $skip_label) for 1 .. 3;

sub finish
{
	my ($name) = @_;
	my $p = $proc{$name};
	$p->{run}->finish;
	my $ret = $p->{run}->result(0);
	my $out = slurp_file($p->{out});
	my $err = slurp_file($p->{err});
	my ($done, $total) = $out =~ m{actually processed: (\d+)/(\d+)};
	my ($failed) = $out =~ m{number of failed transactions: (\d+)};
	my ($retries) = $out =~ m{total number of retries: (\d+)};
	$retries //= 0;
	note "pgbench $name: exit $ret, "
	  . ($done // '?') . '/'
	  . ($total // '?')
	  . ' processed, '
	  . ($failed // '?')
	  . " failed, $retries retries";
	# the first lines of its messages (errors, retries, WARNINGs)
	my @err = grep { !/setting random seed/ } split /\n/, $err;
	note "pgbench $name stderr (" . scalar(@err) . " lines):\n"
	  . join("\n", @err[ 0 .. ($#err < 19 ? $#err : 19) ])
	  if @err;
	is($ret, 0, "pgbench $name: no client aborted");
	return ($done // 0, $total // -1, $failed // -1);
}

for my $name (qw(rc rr ser warm))
{
	my ($done, $total, $failed) = finish($name);
	# serialization failures are retried (--max-tries)
	is($done, $total, "pgbench $name: every transaction done");
}
$node->safe_psql('postgres', 'UPDATE control SET done = true');
my ($wdone, $wtotal) = finish('writers');
finish('vacuumer');

# The long session: its old snapshot, then the current state.
long_round('long rr after', -$_, $skip_label) for 1 .. 3;
$long->query_safe('COMMIT');
long_round('long rc after', -$_) for 1 .. 3;
long_round('long rc after', $_) for 1 .. 10;
$long->quit;

# A new session, on the final data.
is($node->safe_psql('postgres', q{SELECT sum(mp_round('final', s)) FROM generate_series(1, 40) s}),
	40 * $nchecks, 'final pass: every check on 40 chunk sets');

my $log = slurp_file($node->logfile, $logstart);
my @warnings = $log =~ /(mptest mismatch:[^\n]*)/g;
is(scalar(@warnings), 0, 'no mismatch logged, also in transactions that did not commit');
note "first mismatch: $warnings[0]" if @warnings;
unlike($log, qr/terminated by signal|PANIC/, 'no backend crashed');

is($node->safe_psql('postgres', 'SELECT count(*) FROM mismatches'),
	'0', 'fk() and m2m() always returned what the plain join returned in the same statement');
note 'mismatches: '
  . $node->safe_psql('postgres',
	q{SELECT string_agg(format('%s %s ids=%s got=%s expected=%s', iso, check_name, ids, got, expected), E'\n')
	  FROM (SELECT * FROM mismatches ORDER BY id LIMIT 5) m});

is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'0', 'no prepared transaction left');
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT count(*) FROM author_t WHERE name LIKE '% w %') > 0,
       (SELECT count(*) FROM author_t WHERE name LIKE '%rolled-back%' OR name LIKE 'failed%'),
       (SELECT count(*) FROM label_refills) > 0,
       (SELECT count(*) FROM book WHERE id > 3000) > 0}),
	't|0|t|t',
	'the writers changed the data; rolled-back changes are gone');

# What ran, and what the caches served.
my $runs = $node->safe_psql(
	'postgres', q{
SELECT iso, count(*), sum(checks), sum(rows), sum(first_call_hits), count(*) FILTER (WHERE label_empty)
FROM run_log GROUP BY iso ORDER BY iso});
note "readers (iso|transactions|checks|rows compared|hits of first calls|"
  . "transactions that saw a truncated label):\n$runs";
my $stats = $node->safe_psql(
	'postgres', q{
SELECT iso, relation, sum(hits), sum(misses), sum(invalidations), sum(evictions), sum(bypasses)
FROM hits_log GROUP BY iso, relation ORDER BY iso, relation});
note "cache statistics (iso|relation|hits|misses|invalidations|evictions|bypasses):\n$stats";
note "writers: $wdone/$wtotal transactions, "
  . $node->safe_psql('postgres', q{SELECT last_value FROM writer_xacts})
  . ' of them with writes (the others after the readers were done)';

is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(iso || ' ' || (n > 0), ', ' ORDER BY iso)
FROM (SELECT iso, sum(checks) AS n FROM run_log GROUP BY iso) r}),
	'rc true, rr true, ser true, warm true, writer true',
	'checks ran in every reader group and in writers');
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(iso || ' ' || (h > 0), ', ' ORDER BY iso)
FROM (SELECT iso, sum(hits) AS h FROM hits_log
      WHERE relation IN ('author_t', 'publisher', 'label', 'category', 'book', 'book_categories')
        AND iso <> 'writer'
      GROUP BY iso) r}),
	'rc true, rr true, ser true, warm true',
	'every reader group was served rows of tracked tables from its cache');
is( $node->safe_psql(
		'postgres', q{
SELECT sum(first_call_hits) FILTER (WHERE iso = 'warm') > 0,
       sum(first_call_hits) FILTER (WHERE iso IN ('rc', 'rr')) > 0,
       sum(first_call_hits) FILTER (WHERE iso = 'ser')
FROM run_log}),
	't|t|0',
	'first calls of transactions were served across transactions (warm, read committed, '
	  . 'repeatable read), never in serializable');

$node->stop;

done_testing();
