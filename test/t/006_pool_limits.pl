# Memory limits of the cache: with a tiny pool and per-backend cap, every
# call still returns what the plain join returns, and the cache stays
# within its settings (it evicts, or simply reads the table).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pool');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'memoized_prefetch'
memoized_prefetch.shared_memory = 1MB
memoized_prefetch.max_backend_memory = 64kB
});
$node->start;

$node->safe_psql(
	'postgres', q{
	CREATE EXTENSION memoized_prefetch;
	CREATE TABLE author (id bigint PRIMARY KEY, name text NOT NULL, bio text NOT NULL);
	CREATE TABLE book (id bigint PRIMARY KEY, author_id bigint NOT NULL REFERENCES author);
	INSERT INTO author SELECT i, 'author ' || i, repeat('x', 200) FROM generate_series(1, 5000) i;
	INSERT INTO book SELECT i, 1 + (i * 7919) % 5000 FROM generate_series(1, 20000) i;
	SELECT memoized_prefetch.track('author');
	SELECT memoized_prefetch.configure('author', 100000);
});

# Several sessions at once, each far larger than its cap, in chunks.
my $check = q{
	SELECT count(*) FROM generate_series(0, 19) c,
	LATERAL (SELECT (SELECT array_agg(x ORDER BY x::text) FROM memoized_prefetch.fk('book',
	                  (SELECT array_agg(g) FROM generate_series(c * 1000 + 1, c * 1000 + 1000) g)::bigint[],
	                  '{author_id}', NULL::author) x)
	         IS NOT DISTINCT FROM
	         (SELECT array_agg(x ORDER BY x::text) FROM (
	            SELECT b.id, 'author_id'::text, a FROM book b JOIN author a ON a.id = b.author_id
	            WHERE b.id BETWEEN c * 1000 + 1 AND c * 1000 + 1000) x) AS same) s
	WHERE NOT same};
my @sessions = map { $node->background_psql('postgres') } 1 .. 4;
$_->query_safe('SET client_min_messages = warning') for @sessions;
for my $round (1 .. 2)
{
	for my $i (0 .. $#sessions)
	{
		is($sessions[$i]->query_safe($check), '0',
			"session $i, round $round: every chunk equals the plain join");
	}
}

# Each backend stays within max_backend_memory (entries and rows), and had
# to evict to get there.
for my $i (0 .. $#sessions)
{
	my ($bytes, $evictions, $hits) = split /\|/, $sessions[$i]->query_safe(
		q{SELECT sum(bytes), sum(evictions), sum(hits) FROM memoized_prefetch.stats
		  WHERE pid = pg_backend_pid()});
	cmp_ok($bytes, '<=', 64 * 1024, "session $i: cache within max_backend_memory");
	cmp_ok($evictions, '>', 0, "session $i: the cap forced evictions");
}

# A cap of zero switches the cache off, and results stay exact.
my $s = $sessions[0];
$s->query_safe('SELECT memoized_prefetch.reset()');
$node->safe_psql('postgres', 'ALTER SYSTEM SET memoized_prefetch.max_backend_memory = 0');
$node->reload;
my $off = $node->background_psql('postgres');
$off->query_safe('SET client_min_messages = warning');
is($off->query_safe($check), '0', 'no cache: every chunk equals the plain join');
is( $off->query_safe(
		q{SELECT coalesce(sum(entries), 0) || ' ' || (sum(bypasses) > 0)
		  FROM memoized_prefetch.stats WHERE pid = pg_backend_pid()}),
	'0 true',
	'no cache: nothing kept, every lookup bypassed');

$_->quit for (@sessions, $off);
$node->stop;
done_testing();
