# Backends that used the cache exit cleanly: the entries go back to the shared
# pool without comparing keys (a record key's comparison needs a resource
# owner, which no longer exists at exit), for every kind of key, and the
# server never restarts because of it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('exit');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'memoized_prefetch'\nrestart_after_crash = off\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION memoized_prefetch;
	CREATE TYPE comp AS (id bigint, name text);
	CREATE ROLE regress_mp_exit LOGIN;
	GRANT USAGE ON SCHEMA public TO regress_mp_exit;
	GRANT CREATE ON SCHEMA public TO regress_mp_exit;
});
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

# Keys of a composite type, a text key and an integer key, in temporary tables of an unprivileged role, in sessions that
# then disconnect.
my %keys = (
	composite => [ 'comp', q{ROW(1, 'a')::comp}, q{ROW(2, 'b')::comp} ],
	text => [ 'text', q{'a'}, q{'b'} ],
	integer => [ 'bigint', '1', '2' ]);
for my $kind (sort keys %keys)
{
	my ($type, $k1, $k2) = @{ $keys{$kind} };
	my $out = $node->safe_psql(
		'postgres', qq{
		CREATE TEMP TABLE ct (id $type PRIMARY KEY, info text);
		CREATE TEMP TABLE cs (id int PRIMARY KEY, c $type REFERENCES ct);
		INSERT INTO ct VALUES ($k1, 'x'), ($k2, 'y');
		INSERT INTO cs VALUES (1, $k1), (2, $k2), (3, NULL);
		SELECT count(*) FROM memoized_prefetch.fk('cs', ARRAY[1, 2, 3], '{c}', NULL::ct);
		SELECT count(*) FROM memoized_prefetch.fk('cs', ARRAY[1, 2, 3], '{c}', NULL::ct);
		SELECT sum(entries) FROM memoized_prefetch.stats WHERE pid = pg_backend_pid();},
		extra_params => [ '-U', 'regress_mp_exit' ]);
	is($out, "2\n2\n2", "$kind key: rows found and cached");

	# once the session has exited, the server is the one that served it
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE usename = 'regress_mp_exit'")
	  or die "the session of the $kind key did not end";
	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		$started, "$kind key: the server did not restart after the session ended");
}

# the pool got everything back: only the statistics of live sessions remain
is($node->safe_psql('postgres', 'SELECT count(*) FROM memoized_prefetch.stats'),
	'0', 'no cache tables left by ended sessions');

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no backend was terminated by a signal');

$node->stop;
done_testing();
