# Validated hits under load: on a streaming hot standby, after its promotion,
# and on a node without shared_preload_libraries.  Writers on the primary
# (updates of target rows, HOT ones among them, key changes, deletes and
# re-inserts of the same key, link rows inserted and deleted) and DDL
# (VACUUM, VACUUM FULL, CLUSTER, TRUNCATE, ALTER TABLE with and without a
# rewrite) run while readers compare fk(), m2m() and a path with the plain
# join in the same statement, in READ COMMITTED and REPEATABLE READ, with
# hot_standby_feedback on and then off.  A reader's mismatch is an error
# (a division by zero), which ends its pgbench client; replay conflicts
# (SQLSTATE 40001) are retried.  Then a session shows the cache's hits in
# the stats view.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seconds = $ENV{MP_LOAD_SECONDS} // 8;
my $dir = PostgreSQL::Test::Utils::tempdir;

my $schema = q{
CREATE EXTENSION memoized_prefetch;
CREATE TABLE author (id int PRIMARY KEY, name text NOT NULL, bio text NOT NULL);
CREATE TABLE category (id int PRIMARY KEY, name text NOT NULL);
-- no constraint from book to author: authors are deleted and inserted again
CREATE TABLE book (id int PRIMARY KEY, author_id int, translator_id int);
CREATE TABLE book_categories (book_id int NOT NULL REFERENCES book,
                              category_id int NOT NULL REFERENCES category,
                              PRIMARY KEY (book_id, category_id));
CREATE TABLE review (id int PRIMARY KEY, book_id int NOT NULL REFERENCES book);
INSERT INTO author SELECT g, 'author ' || g, repeat(md5(g::text), 4) FROM generate_series(1, 2000) g;
INSERT INTO category SELECT g, 'category ' || g FROM generate_series(1, 50) g;
INSERT INTO book SELECT g, 1 + g % 2000, CASE WHEN g % 3 = 0 THEN 1 + g * 7 % 2000 END
    FROM generate_series(1, 20000) g;
INSERT INTO book_categories SELECT g, 1 + (g * k) % 50 FROM generate_series(1, 20000) g, generate_series(1, 2) k
    ON CONFLICT DO NOTHING;
INSERT INTO review SELECT g, 1 + g % 20000 FROM generate_series(1, 20000) g;
SELECT memoized_prefetch.track(t) FROM unnest(ARRAY['author', 'category', 'book', 'book_categories']::regclass[]) t;

-- the function's rows against the plain join's, in one statement (STABLE:
-- under the caller's snapshot)
CREATE FUNCTION mp_same(lo int, hi int) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT (SELECT array_agg(x ORDER BY x::text) FROM memoized_prefetch.fk('book',
            (SELECT array_agg(g) FROM generate_series(lo, hi) g), '{author_id,translator_id}', NULL::author) x)
         IS NOT DISTINCT FROM
         (SELECT array_agg(x ORDER BY x::text) FROM (
            SELECT b.id, 'author_id'::text, a FROM book b JOIN author a ON a.id = b.author_id WHERE b.id BETWEEN lo AND hi
            UNION ALL
            SELECT b.id, 'translator_id'::text, a FROM book b JOIN author a ON a.id = b.translator_id WHERE b.id BETWEEN lo AND hi) x)
     AND (SELECT array_agg(x ORDER BY x::text) FROM memoized_prefetch.m2m('book_categories',
            (SELECT array_agg(g) FROM generate_series(lo, hi) g), NULL::category) x)
         IS NOT DISTINCT FROM
         (SELECT array_agg(x ORDER BY x::text) FROM (
            SELECT l.book_id, c FROM book_categories l JOIN category c ON c.id = l.category_id
            WHERE l.book_id BETWEEN lo AND hi) x)
     AND (SELECT array_agg(x ORDER BY x::text) FROM memoized_prefetch.fk('review',
            (SELECT array_agg(g) FROM generate_series(lo, hi) g), '{book_id.author_id}', NULL::author) x)
         IS NOT DISTINCT FROM
         (SELECT array_agg(x ORDER BY x::text) FROM (
            SELECT r.id, 'book_id.author_id'::text, a FROM review r JOIN book b ON b.id = r.book_id
            JOIN author a ON a.id = b.author_id WHERE r.id BETWEEN lo AND hi) x) $$;
};

# pgbench scripts
sub script
{
	my ($name, $text) = @_;
	my $file = "$dir/$name.sql";
	open my $fh, '>', $file or die "cannot write $file: $!";
	print $fh $text;
	close $fh;
	return $file;
}
my $writes = script('writes', q{
\set a random(1, 2000)
\set b random(1, 20000)
\set c random(1, 50)
\set r random(1, 1000000)
BEGIN;
UPDATE author SET name = 'renamed ' || :r WHERE id = :a;
UPDATE book SET author_id = :a WHERE id = :b;
DELETE FROM book_categories WHERE book_id = :b AND category_id = :c;
INSERT INTO book_categories VALUES (:b, 1 + (:c * 7) % 50) ON CONFLICT DO NOTHING;
UPDATE category SET name = 'category ' || :r WHERE id = :c;
COMMIT;
});
my $keys = script('keys', q{
\set a random(1, 2000)
BEGIN;
DELETE FROM author WHERE id IN (:a, -:a);
INSERT INTO author VALUES (:a, 'again', repeat('y', 100));
COMMIT;
UPDATE author SET id = -id WHERE id = :a AND :a % 7 = 0;
});
my $reads_rc = script('reads_rc', q{
\set lo random(1, 19900)
SELECT 1 / mp_same(:lo, :lo + 99)::int;
SELECT 1 / mp_same(:lo, :lo + 99)::int;
});
my $reads_rr = script('reads_rr', q{
\set lo random(1, 19900)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 1 / mp_same(:lo, :lo + 99)::int;
SELECT pg_sleep(0.02);
SELECT 1 / mp_same(:lo, :lo + 99)::int;
COMMIT;
});

sub pgbench_start
{
	my ($node, $clients, @files) = @_;
	my ($out, $err) = ('', '');
	my @cmd = ('pgbench', '-n', '-T', $seconds, '-c', $clients, '--max-tries=1000',
		(map { ('-f', $_) } @files), $node->connstr('postgres'));
	my $h = IPC::Run::start(\@cmd, '>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err, what => join(' ', map { s{.*/}{}r } @files) };
}

# A run passes when it processed transactions and none failed.  On a standby,
# replay may also end a reader's connection (FATAL: terminating connection
# due to conflict with recovery), which ends its pgbench client: that is
# allowed there (a mismatch shows as an error in the server log, checked by
# no_mismatch below).
sub pgbench_finish
{
	my ($run, $label, $node) = @_;
	$run->{h}->finish;
	my $rc = $run->{h}->result(0);
	my ($done) = ${ $run->{out} } =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = ${ $run->{out} } =~ /number of failed transactions: (\d+)/;
	my $ended_by_replay = $rc != 0 && $node && $node->is_standby_log_conflict
	  && ${ $run->{err} } !~ /ERROR/;
	ok(($rc == 0 || $ended_by_replay) && defined $done && $done > 0 && !$failed,
		"$label: $run->{what}: " . ($done // 0) . ' transactions, none failed')
	  or diag "exit $rc\n${ $run->{out} }\n${ $run->{err} }";
}

# Whether the standby's log shows a connection ended by a recovery conflict.
sub PostgreSQL::Test::Cluster::is_standby_log_conflict
{
	my ($node) = @_;
	return slurp_file($node->logfile) =~ /FATAL:  terminating connection due to conflict with recovery/;
}

# No reader ever saw a mismatch (a division by zero) on the node.
sub no_mismatch
{
	my ($node, $label) = @_;
	my $log = slurp_file($node->logfile);
	unlike($log, qr/division by zero/, "$label: no call differed from the plain join");
	unlike($log, qr/terminated by signal/, "$label: no backend crashed");
}

# DDL on the primary, one statement at a time, while the load runs.
my @ddl = (
	'VACUUM author', 'VACUUM FULL category', 'CLUSTER book_categories USING book_categories_pkey',
	'ALTER TABLE author ADD COLUMN extra int DEFAULT 1',
	'VACUUM book_categories',
	'ALTER TABLE author ALTER COLUMN bio TYPE varchar(200)',
	'ALTER TABLE author DROP COLUMN extra',
	'BEGIN; TRUNCATE book_categories; INSERT INTO book_categories SELECT g, 1 + (g * 3) % 50 FROM generate_series(1, 20000) g; COMMIT',
	'VACUUM FULL author', 'ALTER TABLE author ALTER COLUMN bio TYPE text');

sub ddl_during_load
{
	my ($node) = @_;
	for my $sql (@ddl)
	{
		$node->safe_psql('postgres', $sql);
		sleep($seconds / (2 * scalar @ddl) + 0.3);
	}
}

# One session's calls across transactions: its own hits in the stats view.
sub session_hits
{
	my ($node) = @_;
	my $out = $node->safe_psql('postgres', q{
		SET client_min_messages = warning;
		SELECT mp_same(1000, 1199);
		SELECT mp_same(1000, 1199);
		SELECT mp_same(1000, 1199);
		SELECT coalesce(sum(hits), 0) FROM memoized_prefetch.stats
		WHERE pid = pg_backend_pid() AND relation = 'author'::regclass;});
	my @lines = split /\n/, $out;
	is(join(' ', @lines[0 .. 2]), 't t t', 'a session\'s calls equal the plain join');
	return $lines[3];
}

# ---------- a primary and a streaming standby ----------
my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'memoized_prefetch'\n");
$primary->start;
$primary->safe_psql('postgres', $schema);
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', "hot_standby_feedback = on\nmax_standby_streaming_delay = 5s\n");
$standby->start;
$primary->wait_for_catchup($standby);

for my $feedback ('on', 'off')
{
	$standby->safe_psql('postgres', "ALTER SYSTEM SET hot_standby_feedback = $feedback");
	$standby->reload;
	my @runs = (
		pgbench_start($primary, 2, $writes), pgbench_start($primary, 1, $keys),
		pgbench_start($standby, 2, $reads_rc), pgbench_start($standby, 1, $reads_rr));
	ddl_during_load($primary);
	pgbench_finish($runs[$_], "standby, hot_standby_feedback $feedback", $_ >= 2 ? $standby : undef)
	  for 0 .. $#runs;
	$primary->wait_for_catchup($standby);
	cmp_ok(session_hits($standby), '>', 0,
		"standby, hot_standby_feedback $feedback: the cache served hits");
}

# Promotion while readers run on the standby; the promoted node then takes
# writes (its triggers fire from now on) with readers beside them.
my @readers = (pgbench_start($standby, 2, $reads_rc), pgbench_start($standby, 1, $reads_rr));
sleep($seconds / 2);
$primary->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the standby was not promoted';
my @writers = (pgbench_start($standby, 2, $writes), pgbench_start($standby, 1, $keys));
pgbench_finish($_, 'across promotion', $standby) for @readers;
my @after = (pgbench_start($standby, 2, $reads_rc), pgbench_start($standby, 1, $reads_rr));
ddl_during_load($standby);
pgbench_finish($_, 'promoted') for (@writers, @after);
cmp_ok(session_hits($standby), '>', 0, 'promoted: the cache served hits');
no_mismatch($standby, 'standby and promoted node');
$standby->stop;

# ---------- a node without shared_preload_libraries ----------
my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;
$node->safe_psql('postgres', $schema);
my @runs = (
	pgbench_start($node, 1, $writes), pgbench_start($node, 1, $keys),
	pgbench_start($node, 2, $reads_rc), pgbench_start($node, 1, $reads_rr));
ddl_during_load($node);
pgbench_finish($_, 'without the preload') for @runs;
cmp_ok(session_hits($node), '>', 0,
	'without the preload: the cache served hits across transactions');
no_mismatch($node, 'without the preload');
$node->stop;

done_testing();
