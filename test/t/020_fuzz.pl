# A bounded, seeded fuzzer.
#
# Part 1: random schemas against the plain join.  Every round builds a
# schema of its own: a target table t whose primary key has a random type
# (integers, numeric, text, varchar(n), char(n), uuid, date, float8,
# interval, text under a nondeterministic ICU collation, citext), with the
# key at a random position among extra columns (long values stored out of
# line, columns dropped, columns added later with defaults); a middle table
# m for paths of two steps; a source table s with foreign-key columns of the
# key's type or of a compatible one (int4 to int8, int8 to int2, numeric
# 1.0 against 1.00, float4 against float8, unpadded char against char(n),
# equal intervals written differently, other case under a case-insensitive
# collation), with and without constraints (then with dangling values), and
# NULLs; a link table l with and without a unique constraint (then with
# duplicate rows).  Each table may be partitioned (by hash, list or range;
# t, m and s on their key, l on its source column, its target column or
# its id), with a default partition or ranges from MINVALUE to MAXVALUE, a
# partition partitioned again (by hash, or by range with a default), and
# partitions created on their own with their columns in another order and
# a dropped column, then attached.  reverse_fk() and reverse_fk_flat() go
# from t to s, m and l, from m to s and from s to l, through the column
# named or the one foreign key found, with ids of the column's type or of
# the key's.  Some tables are tracked, the cache is switched on and
# off and made small and large.  Every check is ONE statement that runs the
# function and the plain join over a random chunk of ids (duplicates, NULLs,
# ids with no row, empty and NULL arrays) and compares them as multisets and
# in the documented order.  A round runs several passes: cold, warm, after
# committed writes (some move rows between partitions: updates of t's, m's
# and s's keys and of l's columns), with a partition detached (rows in it
# changed meanwhile) and attached again or replaced by a copy in another
# column order, after the session's own uncommitted writes, in
# REPEATABLE READ or SERIALIZABLE while another session commits writes,
# after DDL that rewrites the tables, and, every fifth round, under
# force_parallel_mode.
#
# Part 2: bad arguments.  Every call, each in a session of its own, must
# either succeed or fail with an SQLSTATE other than XX000; the session
# must still answer afterwards, no backend may crash (the server log is
# read after each case) and the postmaster must not have restarted.  Some
# cases are more specific: system catalogs are refused as targets,
# track(NULL) fails with a 22xxx code, key types without a hash function
# give what the plain join gives, and reverse_fk() refuses what it must
# (no lookup index 55000, several foreign keys 42702, none 42704, an
# unknown column 42703, ids without an implicit cast 42804) and otherwise
# gives the plain query's rows, also on a partitioned target.
#
# MP_FUZZ_SEED (default 20261203) and MP_FUZZ_ROUNDS (default 20) choose the
# run; the same seed gives the same statements.  Round r uses the key type
# (r - 1 + seed) modulo the number of key types for t, so that 13 rounds or
# more meet every key type.  A failing check is printed whole; the schema
# and data of its round are in the server log (every statement is logged).

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

# (set but empty is the default too)
my $seed = ($ENV{MP_FUZZ_SEED} // '') ne '' ? $ENV{MP_FUZZ_SEED} : 20261203;
my $rounds = ($ENV{MP_FUZZ_ROUNDS} // '') ne '' ? $ENV{MP_FUZZ_ROUNDS} : 20;
die "MP_FUZZ_SEED must be an integer" unless $seed =~ /^\d+$/;
die "MP_FUZZ_ROUNDS must be an integer" unless $rounds =~ /^\d+$/;
note "fuzz seed $seed, $rounds rounds (set MP_FUZZ_SEED and MP_FUZZ_ROUNDS to change them)";
my $started = time;

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'memoized_prefetch'
max_connections = 20
max_parallel_workers_per_gather = 0
log_error_verbosity = verbose
restart_after_crash = on
});
$node->start;

# perl's rand() is its own drand48: the same sequence on every platform
sub rint { my ($lo, $hi) = @_; return $lo + int(rand($hi - $lo + 1)); }
sub pick { return $_[ int(rand(scalar @_)) ]; }
sub chance { return rand() < $_[0]; }
sub q_ { my ($s) = @_; $s =~ s/'/''/g; return "'$s'"; }

sub shuffle
{
	my @a = @_;
	for (my $i = $#a; $i > 0; $i--)
	{
		my $j = int(rand($i + 1));
		@a[ $i, $j ] = @a[ $j, $i ];
	}
	return @a;
}

my $have_icu = $node->safe_psql('postgres',
	q{SELECT count(*) > 0 FROM pg_collation WHERE collprovider = 'i'}) eq 't';
my $have_citext = $node->safe_psql('postgres',
	q{SELECT count(*) > 0 FROM pg_available_extensions WHERE name = 'citext'}) eq 't';
note "ICU collations: " . ($have_icu ? 'yes' : 'no, skipped') . ', citext: '
  . ($have_citext ? 'yes' : 'no, skipped');

$node->safe_psql('postgres', q{CREATE EXTENSION memoized_prefetch});
# force_parallel_mode is debug_parallel_query from PostgreSQL 16 on
my $parallel_guc = $node->safe_psql('postgres',
	q{SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
	              THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END});
$node->safe_psql('postgres', q{CREATE EXTENSION citext}) if $have_citext;
$node->safe_psql('postgres',
	q{CREATE COLLATION fz_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)})
  if $have_icu;

my $postmaster_start = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

#
# Part 1: random schemas against the plain join
#

# The key types.  lit(k) is the key of key number k (undef: none); each
# foreign-key type has its own spelling of the same key (fk(k), which may
# differ in form: 1.0 and 1.00, trailing blanks, other case) and, for
# columns without a constraint, sometimes a value that no key can equal
# (oor).  rev: the type is also used for the source ids of m2m() the other
# way round (its values print as the link column's).
sub same_k { my ($f) = @_; return sub { $f->($_[0]) }; }
sub numlit
{
	my ($v) = @_;
	return sprintf('%.' . (2 + rint(0, 3)) . 'f', $v) if $v != int($v) || chance(0.5);
	return "$v";
}
sub flipcase { return join '', map { chance(0.5) ? uc : lc } split //, $_[0]; }
sub uuid_of
{
	my $h = md5_hex("key $_[0]");
	return join '-', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4), substr($h, 16, 4),
	  substr($h, 20, 12);
}
sub tkey
{
	my ($k) = @_;
	return 'k' . $k . ($k % 7 == 0 ? ' é' : '') . ($k % 11 == 0 ? "'q" : '');
}

my @keytypes = (
	{
		name => 'int2', ddl => 'int2', rev => 1,
		lit => sub { $_[0] },
		fks => [
			[ 'int2', sub { $_[0] } ],
			[ 'int4', sub { $_[0] } ],
			[ 'int8', sub { $_[0] }, '5000000000' ]
		]
	},
	{
		name => 'int4', ddl => 'int4', rev => 1,
		lit => sub { $_[0] * 7 - 1000 },
		fks => [
			[ 'int4', sub { $_[0] * 7 - 1000 } ],
			[ 'int8', sub { $_[0] * 7 - 1000 }, '4294967296' ],
			[ 'int2', sub { $_[0] * 7 - 1000 } ]
		]
	},
	{
		name => 'int8', ddl => 'int8', rev => 1,
		lit => sub { $_[0] % 2 ? $_[0] : 3000000000 + $_[0] },
		fks => [
			[ 'int8', sub { $_[0] % 2 ? $_[0] : 3000000000 + $_[0] } ],
			[ 'int4', sub { $_[0] % 2 ? $_[0] : undef } ]
		]
	},
	{
		name => 'numeric', ddl => 'numeric',
		lit => sub { numlit($_[0] / 4) },
		fks => [
			[ 'numeric', sub { numlit($_[0] / 4) } ],
			[ 'numeric(12,4)', sub { numlit($_[0] / 4) } ],
			[ 'int4', sub { $_[0] % 4 ? undef : $_[0] / 4 } ]
		]
	},
	{
		name => 'text', ddl => 'text', rev => 1,
		lit => sub { q_(tkey($_[0])) },
		fks => [
			[ 'text', sub { q_(tkey($_[0])) } ],
			[ 'varchar', sub { q_(tkey($_[0])) } ],
			[ 'varchar(40)', sub { q_(tkey($_[0])) }, q_('K1') ]
		]
	},
	{
		name => 'varchar(12)', ddl => 'varchar(12)', rev => 1,
		lit => sub { q_("v$_[0]") },
		fks => [
			[ 'varchar(12)', sub { q_("v$_[0]") } ],
			[ 'text', sub { q_("v$_[0]") }, q_('v1 ') ],
			[ 'varchar', sub { q_("v$_[0]") } ]
		]
	},
	{
		name => 'char(4)', ddl => 'char(4)',
		lit => sub { q_("c$_[0]") },
		# text and varchar columns are compared with a char(n) key as text,
		# not as its index compares: refused (42804), see part 2
		fks => [
			[ 'char(4)', sub { q_("c$_[0]") } ],
			[ 'bpchar', sub { q_("c$_[0]" . (' ' x rint(0, 2))) } ]
		]
	},
	{
		name => 'uuid', ddl => 'uuid', rev => 1,
		lit => sub { q_(uuid_of($_[0])) },
		fks => [
			[
				'uuid',
				sub {
					my $u = uuid_of($_[0]);
					$u = uc $u if chance(0.3);
					$u =~ s/-//g if chance(0.3);
					q_($u);
				}
			]
		]
	},
	{
		name => 'date', ddl => 'date', rev => 1,
		lit => sub { "(DATE '2000-01-01' + $_[0])" },
		fks => [ [ 'date', sub { "(DATE '2000-01-01' + $_[0])" } ] ]
	},
	{
		name => 'float8', ddl => 'float8',
		lit => sub { ($_[0] - 1) / 2 },
		fks => [
			[ 'float8', sub { $_[0] == 1 && chance(0.5) ? q_('-0') : ($_[0] - 1) / 2 } ],
			[ 'float4', sub { ($_[0] - 1) / 2 } ],
			[ 'int4', sub { $_[0] % 2 ? ($_[0] - 1) / 2 : undef } ]
		]
	},
	{
		name => 'interval', ddl => 'interval',
		lit => sub { q_("$_[0] hours") },
		fks => [
			[
				'interval',
				sub {
					my $k = $_[0];
					return q_(($k / 24) . ' days') if $k % 24 == 0 && chance(0.7);
					return chance(0.5) ? q_("$k hours") : q_(($k * 60) . ' minutes');
				}
			]
		]
	},);
push @keytypes,
  {
	name => 'text COLLATE fz_ci', ddl => 'text COLLATE fz_ci',
	lit => sub { q_("Key$_[0]") },
	fks => [ [ 'text COLLATE fz_ci', sub { q_(flipcase("key$_[0]")) } ] ]
  }
  if $have_icu;
push @keytypes,
  {
	name => 'citext', ddl => 'citext',
	lit => sub { q_("Cit$_[0]") },
	fks => [ [ 'citext', sub { q_(flipcase("cit$_[0]")) } ] ]
  }
  if $have_citext;

# extra columns of t: name prefix, type, value of key number k
my @extras = (
	[ 'x_int', 'int', sub { $_[0] * 3 } ],
	[ 'x_txt', 'text', sub { q_("t$_[0]") } ],
	[ 'x_big', 'text', sub { "repeat(md5('$_[0]'), " . (100 + $_[0] % 200) . ')' } ],
	[ 'x_json', 'jsonb', sub { q_("{\"k\": $_[0]}") } ],
	[ 'x_num', 'numeric', sub { sprintf('%.3f', $_[0] / 3) } ],
	[ 'x_bool', 'bool', sub { $_[0] % 2 ? 'true' : 'false' } ],
	[ 'x_arr', 'int[]', sub { "ARRAY[$_[0], NULL]" } ],);

my %count = (checks => 0, rows => 0, multiset => 0, order => 0, errors => 0, crashes => 0, skipped => 0,
	parallel_checks => 0, parallel_errors => 0, parallel_mismatches => 0);
my (@mismatch_diag, @error_diag, @parallel_diag, @crash_diag, %mismatch_kinds, %crashed_form);

sub wait_for_server
{
	$node->poll_query_until('postgres', 'SELECT true')
	  or die 'the server did not come back';
	return;
}

# the main session of a round: errors do not stop it
my $sess;

my ($sess_pid, $p1_logpos);

# (after a crash the server may still be resetting: a few attempts)
sub sess_start
{
	my ($schema) = @_;
	for my $attempt (1 .. 10)
	{
		my $ok = eval {
			$sess = $node->background_psql('postgres', on_error_stop => 0);
			$sess->query_safe('SET client_min_messages = warning');
			# a check that fails inside a transaction block does not abort it
			$sess->query_safe('\\set ON_ERROR_ROLLBACK on');
			$sess->query_safe("SET search_path = $schema, public") if $schema;
			$sess_pid = $sess->query_safe('SELECT pg_backend_pid()');
			1;
		};
		return if $ok;
		sleep 1;
		wait_for_server();
	}
	die 'could not start a session';
}

# Ends the round's session: its backend must not crash as it exits.
sub sess_end
{
	my ($r) = @_;
	$sess->quit;
	$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $sess_pid")
	  or die "backend $sess_pid did not exit";
	wait_for_server();
	my $log = slurp_file($node->logfile, $p1_logpos);
	$p1_logpos = -s $node->logfile;
	if ($log =~ /server process \(PID $sess_pid\) was terminated by ([^\n]*)/)
	{
		$count{crashes}++;
		$mismatch_kinds{"crash: $r->{kt}{name} at backend exit"}++;
		push @crash_diag, "$r->{desc}: the backend crashed after its session ended (at exit): terminated by $1"
		  if @crash_diag < 5;
	}
	return;
}

sub sess_sql
{
	my ($sql) = @_;
	my ($out, $ret) = $sess->query($sql);
	my $err = $sess->{stderr};
	$sess->{stderr} = '';
	# (after a crash, the new session has no transaction to end)
	$err =~ s/^[^\n]*WARNING:  (25P01: )?there is no transaction in progress(\nLOCATION:[^\n]*)?\n?//mg;
	die "setup statement failed: $err\n$sql" if $err ne '';
	return $out;
}

# The values of the literals @lits (SQL expressions of type $ddl) as text,
# in the type's order (the server sorts them, as range bounds need).
sub sorted_lits
{
	my ($ddl, @lits) = @_;
	my $out = sess_sql('SELECT string_agg(v::text, E\'\\x01\' ORDER BY v) FROM (VALUES '
		  . join(', ', map { "(($_)::$ddl)" } @lits) . ') x(v)');
	chomp $out;
	return split /\x01/, $out;
}

# Partitioning of table $tab: a PARTITION BY clause and the statements that
# create its partitions, to run after the CREATE TABLE.  $keys: the columns
# that may be partition keys, each { col, ddl, spell (a literal for key
# number k, undef for none), n (key numbers 1..n are all the column can
# hold, undef: any value) }; the first is the top level's, a sub-partitioned
# partition takes any.  $cols: the table's columns [ name, type, not null ],
# for partitions created on their own (another column order, a dropped
# column) and then attached.  Every value has a partition: hash, range from
# MINVALUE to MAXVALUE, or a default partition (always for lists of a
# column that may hold any value).
sub gen_parts
{
	my ($r, $tab, $keys, $cols) = @_;
	my $top = $keys->[0];
	my $strategy = pick(qw(hash list range));
	my (@leaves, @sql);    # [ name, bound ]
	my $n = $top->{n} // 60;
	if ($strategy eq 'hash')
	{
		my $mod = rint(2, 5);
		push @leaves, [ "${tab}_p$_", "FOR VALUES WITH (MODULUS $mod, REMAINDER $_)" ] for 0 .. $mod - 1;
	}
	elsif ($strategy eq 'list')
	{
		my $p = rint(2, 4);
		my $default = !defined $top->{n} || chance(0.5);
		# without a default partition, the lists hold every key number
		my $upto = $default ? rint(1, $n) : $n;
		for my $i (0 .. $p - 1)
		{
			my @v = grep { defined } map { $top->{spell}->($_) } grep { $_ % $p == $i } 1 .. $upto;
			push @leaves, [ "${tab}_p$i", 'FOR VALUES IN (' . join(', ', @v) . ')' ] if @v;
		}
		push @leaves, [ "${tab}_pdef", 'DEFAULT' ] if $default || !@leaves;
	}
	else
	{
		my %b = map { $_ => 1 } grep { defined $top->{spell}->($_) } map { rint(1, $n) } 1 .. rint(1, 3);
		my @b = sorted_lits($top->{ddl}, map { $top->{spell}->($_) } sort { $a <=> $b } keys %b);
		my @bounds = ('MINVALUE', (map { q_($_) } @b), 'MAXVALUE');
		my $default = chance(0.4) ? rint(0, $#bounds - 1) : -1;
		for my $i (0 .. $#bounds - 1)
		{
			next if $i == $default;
			push @leaves, [ "${tab}_p$i", "FOR VALUES FROM ($bounds[$i]) TO ($bounds[$i + 1])" ];
		}
		push @leaves, [ "${tab}_pdef", 'DEFAULT' ] if $default >= 0;
	}
	my %desc = (strategy => $strategy, col => $top->{col}, cols => [ $top->{col} ]);
	# one partition partitioned again, by hash or by range with a default
	my $sub = chance(0.3) ? int(rand(@leaves)) : -1;
	for my $i (0 .. $#leaves)
	{
		my ($name, $bound) = @{ $leaves[$i] };
		if ($i == $sub)
		{
			my $k = pick(@$keys);
			if (chance(0.6))
			{
				my $mod = rint(2, 3);
				push @sql, "CREATE TABLE $name PARTITION OF $tab $bound PARTITION BY HASH ($k->{col})";
				push @sql, "CREATE TABLE ${name}_$_ PARTITION OF $name FOR VALUES WITH (MODULUS $mod, REMAINDER $_)"
				  for 0 .. $mod - 1;
			}
			else
			{
				my $v = $k->{spell}->(rint(1, $k->{n} // 60)) // $k->{spell}->(1);
				push @sql, "CREATE TABLE $name PARTITION OF $tab $bound PARTITION BY RANGE ($k->{col})",
				  "CREATE TABLE ${name}_lo PARTITION OF $name FOR VALUES FROM (MINVALUE) TO ($v)",
				  "CREATE TABLE ${name}_rest PARTITION OF $name DEFAULT";
			}
			$desc{sub} = "$name by $k->{col}";
			push @{ $desc{cols} }, $k->{col};
		}
		elsif (chance(0.35))
		{
			# created apart: another column order, maybe a dropped column
			my @c = shuffle(@$cols);
			my $junk = chance(0.5);
			push @c, [ 'junk', 'text' ] if $junk;
			@c = shuffle(@c);
			push @sql, "CREATE TABLE $name (" . join(', ', map { "$_->[0] $_->[1]" . ($_->[2] ? ' NOT NULL' : '') } @c) . ')';
			push @sql, "ALTER TABLE $name DROP COLUMN junk" if $junk;
			push @sql, "ALTER TABLE $tab ATTACH PARTITION $name $bound";
			$desc{attached}++;
		}
		else { push @sql, "CREATE TABLE $name PARTITION OF $tab $bound"; }
	}
	$r->{parts}{$tab} = \%desc;
	return ("PARTITION BY " . uc($strategy) . " ($top->{col})", @sql);
}

# "tab by hash of col, ..." for the description of a round
sub parts_desc
{
	my ($r) = @_;
	return join ', ', map {
		my $d = $r->{parts}{$_};
		"$_ by $d->{strategy} of $d->{col}"
		  . ($d->{sub} ? " (sub-partitioned: $d->{sub})" : '')
		  . ($d->{attached} ? " ($d->{attached} attached)" : '')
	} sort keys %{ $r->{parts} // {} };
}

# A new round: the schema, the data, and the model of which keys exist.
sub new_round
{
	my ($round) = @_;
	my %r = (round => $round, schema => "fz$round");
	my $kt = $keytypes[ ($round - 1 + $seed) % @keytypes ];
	my $mt = pick(@keytypes);
	$r{kt} = $kt;
	$r{mt} = $mt;
	$r{nkeys} = rint(30, 300);
	$r{nmkeys} = rint(20, 150);
	$r{ns} = rint(30, 300);
	$r{sid} = pick('int4', 'int8');
	$r{chunk_types} = $r{sid} eq 'int4' ? [ 'int4', 'int8', 'int2' ] : [ 'int8', 'int4' ];
	my @sql = ("CREATE SCHEMA $r{schema}", "SET search_path = $r{schema}, public");

	# t: the key at a random position among the extra columns
	my @cols = map { [ $extras[$_][0] . "_$_", $extras[$_][1], $extras[$_][2] ] }
	  grep { chance(0.5) } 0 .. $#extras;
	my @tcols = shuffle(@cols, [ 'id', "$kt->{ddl} PRIMARY KEY", $kt->{lit} ]);
	# (some tables partitioned: t, m and s on their key, l on any column)
	my $pchance = 0.4;
	my ($tpart, @tparts) = ('');
	if (chance($pchance))
	{
		($tpart, @tparts) = gen_parts(\%r, 't',
			[ { col => 'id', ddl => $kt->{ddl}, spell => $kt->{lit}, n => $r{nkeys} } ],
			[ map { [ $_->[0], $_->[0] eq 'id' ? $kt->{ddl} : $_->[1], $_->[0] eq 'id' ] } @tcols ]);
	}
	push @sql, 'CREATE TABLE t (' . join(', ', map { "$_->[0] $_->[1]" } @tcols) . ") $tpart", @tparts;
	push @sql, "ALTER TABLE t ALTER COLUMN $_->[0] SET STORAGE EXTERNAL"
	  for grep { $_->[0] =~ /^x_big/ && chance(0.5) } @tcols;
	my %present;
	my @rows;
	for my $k (1 .. $r{nkeys})
	{
		next unless chance(0.8);
		$present{$k} = 1;
		push @rows, '(' . join(', ', map { $_->[2]->($k) } @tcols) . ')';
	}
	push @sql, 'INSERT INTO t (' . join(', ', map { $_->[0] } @tcols) . ') VALUES ' . join(', ', @rows)
	  if @rows;
	$r{present} = \%present;
	my @textras = grep { $_->[0] ne 'id' } @tcols;
	if (@textras && chance(0.5))
	{
		my $d = pick(@textras);
		push @sql, "ALTER TABLE t DROP COLUMN $d->[0]";
		@textras = grep { $_ != $d } @textras;
	}
	if (chance(0.6))
	{
		push @sql, "ALTER TABLE t ADD COLUMN added1 text DEFAULT 'd1'",
		  "UPDATE t SET added1 = 'set' WHERE random() < 0.3";
		push @textras, [ 'added1', 'text' ];
	}
	if (chance(0.4))
	{
		push @sql, "ALTER TABLE t ADD COLUMN added2 int NOT NULL DEFAULT 42";
		push @textras, [ 'added2', 'int' ];
	}
	$r{textras} = \@textras;

	# m: the middle table of paths s.m_ref.t_ref
	my $tref = pick(@{ $kt->{fks} });
	my $tref_fk = chance(0.6);
	$r{tref} = $tref;
	$r{tref_fk} = $tref_fk;
	my ($mpart, @mparts) = ('');
	if (chance($pchance))
	{
		($mpart, @mparts) = gen_parts(\%r, 'm',
			[ { col => 'id', ddl => $mt->{ddl}, spell => $mt->{lit}, n => $r{nmkeys} } ],
			[ [ 'id', $mt->{ddl}, 1 ], [ 't_ref', $tref->[0] ], [ 'note', 'text' ] ]);
	}
	push @sql,
	    "CREATE TABLE m (id $mt->{ddl} PRIMARY KEY, t_ref $tref->[0]"
	  . ($tref_fk ? ' REFERENCES t ON UPDATE CASCADE ON DELETE SET NULL' : '')
	  . ", note text) $mpart", @mparts;
	# (the lookup index of reverse_fk() from t to m)
	$r{tref_idx} = chance(0.7);
	push @sql, 'CREATE INDEX ON m (t_ref)' if $r{tref_idx};
	my %mpresent;
	@rows = ();
	for my $k (1 .. $r{nmkeys})
	{
		next unless chance(0.85);
		$mpresent{$k} = 1;
		push @rows, '(' . join(', ', $mt->{lit}->($k), fkval(\%r, $tref, $tref_fk), q_("m$k")) . ')';
	}
	push @sql, 'INSERT INTO m VALUES ' . join(', ', @rows) if @rows;
	$r{mpresent} = \%mpresent;

	# s: one to four columns to t, one to m
	my @fkcols;
	for my $i (1 .. rint(1, 4))
	{
		my $v = pick(@{ $kt->{fks} });
		push @fkcols, { name => "f$i", type => $v, fk => chance(0.6), idx => chance(0.7) };
	}
	$r{fkcols} = \@fkcols;
	$r{mref} = pick(@{ $mt->{fks} });
	my ($spart, @sparts) = ('');
	if (chance($pchance))
	{
		($spart, @sparts) = gen_parts(\%r, 's',
			[ { col => 'id', ddl => $r{sid}, spell => sub { $_[0] }, n => $r{ns} } ],
			[ [ 'id', $r{sid}, 1 ], [ 'pad', 'text' ], (map { [ $_->{name}, $_->{type}[0] ] } @fkcols),
			  [ 'm_ref', $r{mref}[0] ], [ 'big', 'text' ] ]);
	}
	push @sql,
	    "CREATE TABLE s (id $r{sid} PRIMARY KEY, pad text, "
	  . join(', ',
		map { "$_->{name} $_->{type}[0]" . ($_->{fk} ? ' REFERENCES t ON UPDATE CASCADE ON DELETE SET NULL' : '') }
		  @fkcols)
	  . ", m_ref $r{mref}[0] REFERENCES m ON UPDATE CASCADE ON DELETE SET NULL, big text) $spart", @sparts;
	# (the lookup indexes of reverse_fk() from t and from m to s)
	push @sql, "CREATE INDEX ON s ($_->{name})" for grep { $_->{idx} } @fkcols;
	$r{mref_idx} = chance(0.7);
	push @sql, 'CREATE INDEX ON s (m_ref)' if $r{mref_idx};
	push @sql, 'ALTER TABLE s ALTER COLUMN big SET STORAGE EXTERNAL' if chance(0.5);
	@rows = ();
	my %spresent;
	for my $i (1 .. $r{ns})
	{
		next unless chance(0.9);
		$spresent{$i} = 1;
		push @rows,
		    "($i, 'p$i', "
		  . join(', ', map { fkval(\%r, $_->{type}, $_->{fk}) } @fkcols) . ', '
		  . mval(\%r) . ', '
		  . ($i % 5 ? 'NULL' : "repeat(md5('$i'), 120)") . ')';
	}
	push @sql, 'INSERT INTO s VALUES ' . join(', ', @rows) if @rows;
	$r{spresent} = [ sort { $a <=> $b } keys %spresent ];
	if (chance(0.3))
	{
		# a dropped column in the source too
		push @sql, 'ALTER TABLE s DROP COLUMN pad';
	}

	# l: link rows from s ids to t keys
	$r{lsrc} = pick('int4', 'int8');
	$r{lsrc_fk} = chance(0.6);
	$r{ltgt} = pick(@{ $kt->{fks} });
	$r{ltgt_fk} = chance(0.6);
	$r{lunique} = chance(0.4);
	$r{rev} = $kt->{rev} && chance(0.6);
	my ($lpart, @lparts) = ('');
	my $lpkey = 'lid int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY';
	if (chance($pchance))
	{
		# on the source column (the lookup column of m2m()), the target
		# column or lid, partitioned again on any of them
		my @k = (
			{ col => 'src', ddl => $r{lsrc}, spell => sub { $_[0] }, n => int(1.2 * $r{ns}) + 1 },
			{ col => 'tgt', ddl => $r{ltgt}[0], spell => $r{ltgt}[1] },
			{ col => 'lid', ddl => 'int', spell => sub { $_[0] } });
		@k = shuffle(@k);
		($lpart, @lparts) = gen_parts(\%r, 'l', \@k,
			[ [ 'lid', 'int', 1 ], [ 'src', $r{lsrc}, 1 ], [ 'tgt', $r{ltgt}[0], 1 ] ]);
		# (the primary key and a unique constraint hold the partition keys)
		my %pk = map { $_ => 1 } @{ $r{parts}{l}{cols} };
		$r{lunique} = 0 if $pk{lid};
		$lpkey = 'lid serial, PRIMARY KEY (' . join(', ', 'lid', grep { $pk{$_} } qw(src tgt)) . ')';
	}
	push @sql,
	    "CREATE TABLE l ($lpkey, src $r{lsrc} NOT NULL"
	  . ($r{lsrc_fk} ? ' REFERENCES s ON DELETE CASCADE' : '')
	  . ", tgt $r{ltgt}[0] NOT NULL"
	  . ($r{ltgt_fk} ? ' REFERENCES t ON UPDATE CASCADE ON DELETE CASCADE' : '') . ") $lpart", @lparts;
	if ($r{lunique}) { push @sql, 'ALTER TABLE l ADD UNIQUE (src, tgt)'; }
	elsif (chance(0.5)) { push @sql, 'CREATE INDEX ON l (src, tgt)'; }
	else { push @sql, 'CREATE INDEX ON l (src)'; }
	push @sql, 'CREATE INDEX ON l (tgt)' if $r{rev};
	my @links = gen_links(\%r, rint(0, 3 * $r{ns}));
	push @sql, 'INSERT INTO l (src, tgt) VALUES ' . join(', ', @links)
	  . ($r{lunique} ? ' ON CONFLICT DO NOTHING' : '')
	  if @links;

	# tracking (of t, m and l in the rounds with a pass under
	# force_parallel_mode, so that their caches serve across snapshots by then)
	for my $tab (qw(t m l s))
	{
		if (chance(0.5) || ($round % 5 == 1 && $tab ne 's')) { push @sql, "SELECT memoized_prefetch.track('$tab')"; $r{tracked}{$tab} = 1; }
	}
	push @sql, 'ANALYZE t, m, s, l';
	$r{desc} =
	    "round $round: t.id $kt->{name}, m.id $mt->{name}, s.id $r{sid}, "
	  . join(', ', map { "s.$_->{name} $_->{type}[0]" . ($_->{fk} ? ' fk' : '') } @fkcols)
	  . ", s.m_ref $r{mref}[0], m.t_ref $tref->[0]"
	  . ($tref_fk ? ' fk' : '')
	  . ", l.src $r{lsrc}"
	  . ($r{lsrc_fk} ? ' fk' : '')
	  . ", l.tgt $r{ltgt}[0]"
	  . ($r{ltgt_fk} ? ' fk' : '')
	  . ($r{lunique} ? ', unique links' : ', duplicate links')
	  . ', tracked: ' . join(' ', sort keys %{ $r{tracked} // {} })
	  . ($r{parts} ? '; partitioned: ' . parts_desc(\%r) : '');
	sess_sql(join(";\n", @sql) . ';');
	return \%r;
}

# a value for a column of foreign-key type $v to t: NULL, a key that
# exists (always with a constraint), or, without one, any key number or a
# value no key can equal
sub fkval
{
	my ($r, $v, $constrained, $keys, $nkeys) = @_;
	$keys //= $r->{present};
	$nkeys //= $r->{nkeys};
	return 'NULL' if chance(0.15);
	my $k;
	if ($constrained)
	{
		my @p = sort { $a <=> $b } keys %$keys;
		return 'NULL' unless @p;
		$k = $p[ int(rand(@p)) ];
	}
	else
	{
		return $v->[2] if defined $v->[2] && chance(0.05);
		$k = rint(1, int($nkeys * 1.2));
	}
	return $v->[1]->($k) // 'NULL';
}

sub mval
{
	my ($r) = @_;
	return fkval($r, $r->{mref}, 1, $r->{mpresent}, $r->{nmkeys});
}

sub gen_links
{
	my ($r, $n) = @_;
	my @links;
	for (1 .. $n)
	{
		my @sp = @{ $r->{spresent} };
		next if $r->{lsrc_fk} && !@sp;
		my $src = $r->{lsrc_fk} ? $sp[ int(rand(@sp)) ] : rint(1, int($r->{ns} * 1.2));
		my $tgt = fkval($r, $r->{ltgt}, $r->{ltgt_fk});
		next if $tgt eq 'NULL';
		push @links, "($src, $tgt)";
		push @links, "($src, $tgt)" if !$r->{lunique} && chance(0.1);
	}
	return @links;
}

# a chunk of source ids: an array expression
sub gen_chunk
{
	my ($r, $type, $max) = @_;
	$type //= pick(@{ $r->{chunk_types} });
	$max //= int($r->{ns} * 1.2);
	return "NULL::${type}[]" if chance(0.04);
	my $n = chance(0.08) ? 0 : chance(0.15) ? rint(100, 400) : rint(1, 40);
	my @v;
	for (1 .. $n)
	{
		if (chance(0.07)) { push @v, 'NULL'; }
		elsif (@v && chance(0.2)) { push @v, $v[ int(rand(@v)) ]; }
		elsif ($type eq 'int8' && chance(0.02)) { push @v, '5000000000'; }
		elsif (chance(0.02)) { push @v, -rint(0, 3); }
		else { push @v, rint(1, $max); }
	}
	return @v ? 'ARRAY[' . join(',', @v) . "]::${type}[]" : "'{}'::${type}[]";
}

# source ids for m2m() the other way round: keys of t
sub gen_key_chunk
{
	my ($r) = @_;
	my $kt = $r->{kt};
	return "NULL::$kt->{ddl}\[]" if chance(0.04);
	my $n = chance(0.08) ? 0 : rint(1, 30);
	my @v;
	for (1 .. $n)
	{
		if (chance(0.07)) { push @v, 'NULL'; }
		elsif (@v && chance(0.2)) { push @v, $v[ int(rand(@v)) ]; }
		else { push @v, $kt->{lit}->(rint(1, int($r->{nkeys} * 1.2))); }
	}
	return @v ? 'ARRAY[' . join(',', @v) . "]::$kt->{ddl}\[]" : "'{}'::$kt->{ddl}\[]";
}

# Source ids for reverse_fk(): values of type $elem spelled by $spell (of
# key numbers up to 1.2 * $nk), each key number spelled one way in a chunk,
# so that the plain join's source id is the one the call returns.
sub gen_spelled_chunk
{
	my ($elem, $spell, $nk) = @_;
	(my $arr = $elem) =~ s/ COLLATE .*//;
	return "NULL::${arr}[]" if chance(0.04);
	my $n = chance(0.08) ? 0 : chance(0.1) ? rint(60, 200) : rint(1, 30);
	my (@v, %sp);
	for (1 .. $n)
	{
		if (chance(0.07)) { push @v, 'NULL'; }
		elsif (@v && chance(0.2)) { push @v, $v[ int(rand(@v)) ]; }
		else
		{
			my $k = rint(1, int($nk * 1.2));
			$sp{$k} //= $spell->($k);
			push @v, $sp{$k} if defined $sp{$k};
		}
	}
	return @v ? 'ARRAY[' . join(',', @v) . "]::${arr}[]" : "'{}'::${arr}[]";
}

# Source ids for reverse_fk() through a column of foreign-key type $v
# ([ type, spelling ]) to keys of type $kt: of the column's type, or of the
# key's where it converts implicitly and compares as the column does.
sub rev_chunk
{
	my ($kt, $v, $nk) = @_;
	my %class = (int2 => 'int', int4 => 'int', int8 => 'int', text => 'str', varchar => 'str',
		numeric => 'num', 'numeric(12,4)' => 'num');
	my $cls = sub { my $t = $_[0]; $t =~ s/^varchar\(\d+\)$/varchar/; return $class{$t} // $t; };
	return gen_spelled_chunk($kt->{ddl}, $kt->{lit}, $nk)
	  if $cls->($kt->{ddl}) eq $cls->($v->[0]) && chance(0.5);
	return gen_spelled_chunk($v->[0], $v->[1], $nk);
}

sub elemtype
{
	my ($chunk) = @_;
	$chunk =~ /::(.*)\[\]$/ or die "no type in $chunk";
	return $1;
}

# the first position of each distinct id of a chunk
sub ids_cte
{
	my ($chunk) = @_;
	return "ids AS (SELECT u.id, min(u.pos) AS pos FROM unnest($chunk) WITH ORDINALITY u(id, pos) "
	  . 'WHERE u.id IS NOT NULL GROUP BY u.id)';
}

# One check: c holds the call's rows (r: the row as text, ord: its
# position), p the plain join's (pos: the first position of the source id,
# ord: the position of the attribute, or the target key).  Both in ONE
# statement: multisets, then the documented order.
my %diff_sql;    # check id => the statement that shows the rows that differ

sub check_sql
{
	my ($cid, $call_rows, $chunk, $plain_rows, $porder) = @_;
	$diff_sql{$cid} =
	    "WITH c AS MATERIALIZED ($call_rows),\n"
	  . ids_cte($chunk) . ",\n"
	  . "p AS MATERIALIZED ($plain_rows)\n"
	  . "(SELECT 'only the call: ' || r FROM (SELECT r FROM c EXCEPT ALL SELECT r FROM p) x ORDER BY 1 LIMIT 5) UNION ALL "
	  . "(SELECT 'only the plain join: ' || r FROM (SELECT r FROM p EXCEPT ALL SELECT r FROM c) y ORDER BY 1 LIMIT 5)";
	return "WITH c AS MATERIALIZED ($call_rows),\n"
	  . ids_cte($chunk) . ",\n"
	  . "p AS MATERIALIZED ($plain_rows)\n"
	  . "SELECT '$cid', (SELECT array_agg(r ORDER BY r COLLATE \"C\") FROM c) IS NOT DISTINCT FROM "
	  . "(SELECT array_agg(r ORDER BY r COLLATE \"C\") FROM p), "
	  . "(SELECT array_agg(r ORDER BY ord) FROM c) IS NOT DISTINCT FROM "
	  . "(SELECT array_agg(r ORDER BY $porder) FROM p), (SELECT count(*) FROM c)";
}

# the join from s to the target of an attribute (a column or a path)
sub attr_join
{
	my ($r, $attr) = @_;
	my ($first, $second) = split /\.|__/, $attr;
	return "JOIN t ON t.id = s.$first" unless defined $second;
	return "JOIN m ON m.id = s.$first JOIN t ON t.id = m.$second";
}

# the checks of a pass over the given chunks
sub pass_checks
{
	my ($r, $chunks, $tag) = @_;
	my @checks;
	my ($tdefs, $tnames) = split /\|/, sess_sql(
		q{SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum),
		         string_agg(format('f.%I', attname), ', ' ORDER BY attnum)
		  FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 AND NOT attisdropped});
	my %tcols;
	my $tcols = sub {
		my ($tab) = @_;
		$tcols{$tab} //= [ split /\|/, sess_sql(
			qq{SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum),
			          string_agg(format('f.%I', attname), ', ' ORDER BY attnum)
			   FROM pg_attribute WHERE attrelid = '$tab'::regclass AND attnum > 0 AND NOT attisdropped}) ];
		chomp $tcols{$tab}[1];
		return @{ $tcols{$tab} };
	};
	my @attr_pool = map { $_->{name} } @{ $r->{fkcols} };
	push @attr_pool, 'm_ref.t_ref', 'm_ref__t_ref';
	my @constrained = map { $_->{name} } grep { $_->{fk} } @{ $r->{fkcols} };
	my $n = 0;
	for my $chunk (@$chunks)
	{
		my $e = elemtype($chunk);
		my $cid = sub { return "$tag." . $n++ . ".$_[0]"; };
		my $id;

		# fk() and fk_flat() with random attributes (duplicates allowed),
		# or NULL: every constrained column to t, in column order
		for my $form ('fk', 'fk_flat', 'fk_null')
		{
			my @attrs;
			if ($form eq 'fk_null')
			{
				next unless @constrained;
				@attrs = @constrained;
			}
			else { @attrs = map { pick(@attr_pool) } 1 .. rint(1, 5); }
			my $arg = $form eq 'fk_null' ? 'NULL' : q_('{' . join(',', @attrs) . '}');
			my $call;
			if ($form eq 'fk_flat')
			{
				my $fcall = "memoized_prefetch.fk_flat('s', $chunk, $arg, NULL::t)";
				# numbered WITH ORDINALITY, or by row_number() over the
				# function scan (the rows in the order the function returned them)
				$call = chance(0.5)
				  ? "SELECT row(f.source_id, f.attribute, $tnames)::text AS r, f.ordinality AS ord "
				  . "FROM ROWS FROM ($fcall AS (source_id $e, attribute text, $tdefs)) WITH ORDINALITY f"
				  : "SELECT row(f.source_id, f.attribute, $tnames)::text AS r, row_number() OVER () AS ord "
				  . "FROM $fcall AS f(source_id $e, attribute text, $tdefs)";
			}
			else
			{
				$call = "SELECT row(f.source_id, f.attribute, f.target)::text AS r, f.ord "
				  . "FROM memoized_prefetch.fk('s', $chunk, $arg, NULL::t) WITH ORDINALITY f(source_id, attribute, target, ord)";
			}
			my $i = 0;
			my $plain = join "\nUNION ALL ", map {
				$i++;
				"SELECT "
				  . ($form eq 'fk_flat' ? "row(s.id, '$_'::text, t.*)::text" : "row(s.id, '$_'::text, t)::text")
				  . " AS r, ids.pos, $i AS ord FROM ids JOIN s ON s.id = ids.id "
				  . attr_join($r, $_)
			} @attrs;
			$id = $cid->($form);
			push @checks, [ $id, check_sql($id, $call, $chunk, $plain, 'pos, ord'), $form ];
		}

		# fk() to m
		{
			$id = $cid->('fk_m');
			push @checks,
			  [
				$id,
				check_sql(
					$id,
					"SELECT row(f.source_id, f.attribute, f.target)::text AS r, f.ord "
					  . "FROM memoized_prefetch.fk('s', $chunk, '{m_ref}', NULL::m) WITH ORDINALITY f(source_id, attribute, target, ord)",
					$chunk,
					"SELECT row(s.id, 'm_ref'::text, m)::text AS r, ids.pos, 1 AS ord FROM ids JOIN s ON s.id = ids.id JOIN m ON m.id = s.m_ref",
					'pos, ord'),
				'fk_m'
			  ];
		}

		# m2m() and m2m_flat(), with the columns named or found
		for my $form ('m2m', 'm2m_flat')
		{
			$id = $cid->($form);
			my $fields = ($r->{lsrc_fk} && $r->{ltgt_fk} && chance(0.5)) ? '' : ", 'src', 'tgt'";
			my $call =
			  $form eq 'm2m'
			  ? "SELECT row(f.source_id, f.target)::text AS r, f.ord FROM memoized_prefetch.m2m('l', $chunk, NULL::t$fields) "
			  . 'WITH ORDINALITY f(source_id, target, ord)'
			  : chance(0.5)
			  ? "SELECT row(f.source_id, $tnames)::text AS r, f.ordinality AS ord "
			  . "FROM ROWS FROM (memoized_prefetch.m2m_flat('l', $chunk, NULL::t$fields) AS (source_id $e, $tdefs)) WITH ORDINALITY f"
			  : "SELECT row(f.source_id, $tnames)::text AS r, row_number() OVER () AS ord "
			  . "FROM memoized_prefetch.m2m_flat('l', $chunk, NULL::t$fields) AS f(source_id $e, $tdefs)";
			my $plain = 'SELECT '
			  . ($form eq 'm2m' ? 'row(l.src, t)::text' : 'row(l.src, t.*)::text')
			  . ' AS r, ids.pos, t.id AS k FROM ids JOIN l ON l.src = ids.id JOIN t ON t.id = l.tgt';
			push @checks, [ $id, check_sql($id, $call, $chunk, $plain, 'pos, k'), $form ];
		}

		# reverse_fk() and reverse_fk_flat(): the rows of a table whose
		# column holds each source id, with the column named or found
		# from the one foreign key to the source (when there is one and the
		# column is indexed); two or three of those a chunk can have
		my @rev;
		my @sfk = grep { $_->{fk} } @{ $r->{fkcols} };
		for my $c (grep { $_->{idx} } @{ $r->{fkcols} })
		{
			push @rev, [ 't', 's', $c->{name}, 'id', @sfk == 1 && $sfk[0] == $c, sub { rev_chunk($r->{kt}, $c->{type}, $r->{nkeys}) } ];
		}
		push @rev, [ 't', 'm', 't_ref', 'id', $r->{tref_fk}, sub { rev_chunk($r->{kt}, $r->{tref}, $r->{nkeys}) } ]
		  if $r->{tref_idx};
		push @rev, [ 'm', 's', 'm_ref', 'id', 1, sub { rev_chunk($r->{mt}, $r->{mref}, $r->{nmkeys}) } ]
		  if $r->{mref_idx};
		push @rev, [ 's', 'l', 'src', 'lid', $r->{lsrc_fk}, sub { $chunk } ];
		push @rev, [ 't', 'l', 'tgt', 'lid', $r->{ltgt_fk}, sub { rev_chunk($r->{kt}, $r->{ltgt}, $r->{nkeys}) } ]
		  if $r->{rev};
		for my $rv ((shuffle(@rev))[ 0 .. rint(1, 2) ])
		{
			next unless $rv;
			my ($src, $tab, $col, $pk, $found, $mk) = @$rv;
			my $rchunk = $mk->();
			# (an array's elements have no type modifier)
			(my $re = elemtype($rchunk)) =~ s/\(.*\)//;
			$re = 'bpchar' if $re eq 'char';
			my $flat = chance(0.4);
			my $form = ($flat ? 'rfk_flat' : 'rfk') . "_$tab.$col";
			$id = $cid->($form);
			my $arg = $found && chance(0.5) ? '' : chance(0.3) ? ", fk_column => '$col'" : ", '$col'";
			my ($defs, $names) = $tcols->($tab);
			my $call;
			if ($flat)
			{
				my $fcall = "memoized_prefetch.reverse_fk_flat('$src', $rchunk, NULL::$tab$arg)";
				$call = chance(0.5)
				  ? "SELECT row(f.source_id, $names)::text AS r, f.ordinality AS ord "
				  . "FROM ROWS FROM ($fcall AS (source_id $re, $defs)) WITH ORDINALITY f"
				  : "SELECT row(f.source_id, $names)::text AS r, row_number() OVER () AS ord "
				  . "FROM $fcall AS f(source_id $re, $defs)";
			}
			else
			{
				$call = "SELECT row(f.source_id, f.target)::text AS r, f.ord "
				  . "FROM memoized_prefetch.reverse_fk('$src', $rchunk, NULL::$tab$arg) WITH ORDINALITY f(source_id, target, ord)";
			}
			my $plain = 'SELECT ' . ($flat ? 'row(ids.id, x.*)::text' : 'row(ids.id, x)::text')
			  . " AS r, ids.pos, x.$pk AS k FROM ids JOIN $tab x ON x.$col = ids.id";
			push @checks, [ $id, check_sql($id, $call, $rchunk, $plain, 'pos, k'), $form ];
		}

		# m2m() the other way round: from keys of t to rows of s
		if ($r->{rev})
		{
			$id = $cid->('m2m_rev');
			my $kchunk = gen_key_chunk($r);
			push @checks,
			  [
				$id,
				check_sql(
					$id,
					"SELECT row(f.source_id, f.target)::text AS r, f.ord FROM memoized_prefetch.m2m('l', $kchunk, NULL::s, 'tgt', 'src') "
					  . 'WITH ORDINALITY f(source_id, target, ord)',
					$kchunk,
					'SELECT row(l.tgt, s)::text AS r, ids.pos, s.id AS k FROM ids JOIN l ON l.tgt = ids.id JOIN s ON s.id = l.src',
					'pos, k'),
				'm2m_rev'
			  ];
		}
	}
	return @checks;
}

# Runs the checks of a pass in the main session; counts and records.
sub run_pass
{
	my ($r, $chunks, $tag, $parallel) = @_;
	my @all = pass_checks($r, $chunks, $tag);
	# a form that crashed the server three times is not run again (each
	# crash restarts the server): the crash assertion fails anyway
	my @todo = grep { ($crashed_form{ $_->[2] } // 0) < 3 } @all;
	$count{skipped} += @all - @todo;
	while (@todo)
	{
		my @rest = run_checks($r, $tag, $parallel, @todo);
		last if @rest == @todo;
		@todo = grep { ($crashed_form{ $_->[2] } // 0) < 3 } @rest;
		$count{skipped} += @rest - @todo;
	}
	return;
}

# Runs checks in one batch; returns those that did not run because the
# connection was lost in the middle.
sub run_checks
{
	my ($r, $tag, $parallel, @checks) = @_;
	my @rest;
	my $script = join "\n", map { "\\warn '\@\@$_->[0]'\n$_->[1];" } @checks;
	my ($out, $ret);
	my $lost = !eval { ($out, $ret) = $sess->query($script); 1 };
	my $err = $sess->{stderr};
	$sess->{stderr} = '';
	if ($lost)
	{
		# the server crashed (or psql died): the check whose marker came
		# last was running
		$out = $sess->{stdout};
		my ($last) = $err =~ /.*\@\@(\S+)/s;
		my ($c) = grep { defined $last && $_->[0] eq $last } @checks;
		$count{crashes}++;
		$crashed_form{ $c->[2] }++ if $c;
		push @crash_diag, "$r->{desc}; pass $tag: the connection was lost during "
		  . ($c ? "$c->[2]\n$c->[1]" : "an unknown check\n$err")
		  if @crash_diag < 5;
		$mismatch_kinds{ 'crash: ' . ($c ? "$r->{kt}{name} $c->[2]" : 'unknown') }++;
		eval { $sess->quit };
		wait_for_server();
		sess_start($r->{schema});
		# the checks after the one that crashed did not run
		my $idx = -1;
		($idx) = grep { $checks[$_] == $c } 0 .. $#checks if $c;
		@rest = @checks[ $idx + 1 .. $#checks ] if $c;
		@checks = @checks[ 0 .. $idx - 1 ];
	}
	my %res;
	for my $line (split /\n/, $out)
	{
		my ($id, $ms, $ord, $rows) = split /\|/, $line;
		$res{$id} = [ $ms, $ord, $rows ] if defined $rows;
	}
	my %errs;
	for my $part (split /(?=\@\@)/, $err)
	{
		next unless $part =~ /^\@\@(\S+)\n(.*)$/s;
		my ($id, $text) = ($1, $2);
		$errs{$id} = $text if $text =~ /\S/;
	}
	for my $c (@checks)
	{
		my ($id, $sql, $form) = @$c;
		my $what = "$r->{desc}; pass $tag; $form";
		if ($parallel) { $count{parallel_checks}++; }
		else { $count{checks}++; }
		$count{rfk_checks}++ if $form =~ /^rfk/;
		if (!$res{$id})
		{
			my $e = $errs{$id} // "no result\n$err";
			if ($parallel)
			{
				$count{parallel_errors}++;
				push @parallel_diag, "$what: $e\n$sql" if @parallel_diag < 3;
			}
			else
			{
				$count{errors}++;
				push @error_diag, "$what: $e\n$sql"
				  if $mismatch_kinds{"error: $r->{kt}{name} $form: " . first_error($e)}++ < 2 && @error_diag < 10;
			}
			next;
		}
		my ($ms, $ord, $rows) = @{ $res{$id} };
		$count{rows} += $rows;
		my $bad = '';
		if ($ms ne 't') { $count{ $parallel ? 'parallel_mismatches' : 'multiset' }++; $bad = 'rows differ from the plain join'; }
		elsif ($ord ne 't') { $count{ $parallel ? 'parallel_mismatches' : 'order' }++; $bad = 'order differs from the documented order'; }
		next unless $bad;
		my $kind =
		    $form eq 'fk_m' ? "fk_m, m.id $r->{mt}{name}, s.m_ref $r->{mref}[0]"
		  : $form =~ /^fk/ ? "$form, t.id $r->{kt}{name}, columns: "
		  . join(' ', map { "$_->{name} $_->{type}[0]" . ($_->{fk} ? ' fk' : '') } @{ $r->{fkcols} })
		  . ", s.m_ref $r->{mref}[0] to m.id $r->{mt}{name}, m.t_ref $r->{tref}[0]" . ($r->{tref_fk} ? ' fk' : '')
		  : $form eq 'm2m_rev' ? "m2m_rev, t.id $r->{kt}{name}, l.tgt $r->{ltgt}[0]"
		  : $form =~ /^rfk/ ? "$form, t.id $r->{kt}{name}, m.id $r->{mt}{name}, columns: "
		  . join(' ', map { "$_->{name} $_->{type}[0]" . ($_->{fk} ? ' fk' : '') } @{ $r->{fkcols} })
		  . ", m.t_ref $r->{tref}[0], s.m_ref $r->{mref}[0], l.src $r->{lsrc}, l.tgt $r->{ltgt}[0]"
		  . ($r->{parts} ? '; partitioned: ' . parts_desc($r) : '')
		  : "$form, t.id $r->{kt}{name}, l.tgt $r->{ltgt}[0]";
		# the statements of the first two failures of each kind, at most 20,
		# with the rows that differ (from a second run of both sides)
		if ($mismatch_kinds{"$bad: $kind"}++ < 2 && @mismatch_diag < 20)
		{
			my $rows = '';
			if ($ms ne 't')
			{
				my ($d) = eval { $sess->query($diff_sql{$id}) };
				$sess->{stderr} = '';
				$rows = "\nrows that differ (second run):\n" . ($d // '');
			}
			push @mismatch_diag, "$what: $bad\n$sql$rows";
		}
	}
	return @rest;
}

# the first error line of psql's output, without its position and addresses
sub first_error
{
	my ($e) = @_;
	my ($line) = $e =~ /((?:ERROR|FATAL|PANIC):[^\n]*)/;
	$line //= (split /\n/, $e)[0] // '';
	$line =~ s/0x[0-9a-f]+/0x.../g;
	return $line;
}

sub chunks
{
	my ($r, $n) = @_;
	return [ map { gen_chunk($r) } 1 .. $n ];
}

# settings of a pass
sub pass_settings
{
	my ($r) = @_;
	my @s;
	push @s, 'SET memoized_prefetch.enabled = ' . (chance(0.8) ? 'on' : 'off');
	push @s, 'SET memoized_prefetch.cache_size = ' . pick(0, 1, 3, 20, 10000, 1000000);
	push @s, 'SET memoized_prefetch.max_backend_memory = ' . pick(q_('16MB'), q_('16MB'), q_('64kB'));
	for my $tab (grep { chance(0.3) } qw(t m l))
	{
		push @s, "SELECT memoized_prefetch.configure('$tab', cache_size => "
		  . pick('NULL', 0, 1, 2, 50, 1000000)
		  . ', prefetch_all => ' . (chance(0.3) ? 'true' : 'false') . ')';
	}
	push @s, 'SELECT memoized_prefetch.reset()' if chance(0.2);
	sess_sql(join(";\n", @s) . ';');
	return;
}

# random committed or uncommitted writes; returns the statements and
# updates the model (callers that roll back restore it)
sub gen_writes
{
	my ($r) = @_;
	my @w;
	my $kt = $r->{kt};
	for (1 .. rint(1, 6))
	{
		my $op = pick(qw(t_payload t_key t_delete t_insert s_update s_key l_insert l_delete l_move m_update m_key));
		my @p = sort { $a <=> $b } keys %{ $r->{present} };
		if ($op eq 't_payload' && @p)
		{
			my @ex = grep { $_->[1] =~ /^(text|int)$/ } @{ $r->{textras} };
			next unless @ex;
			my $c = pick(@ex);
			my @ks = map { $kt->{lit}->($p[ int(rand(@p)) ]) } 1 .. rint(1, 10);
			push @w, "UPDATE t SET $c->[0] = "
			  . ($c->[1] eq 'text' ? "coalesce($c->[0], '') || 'u'" : "coalesce($c->[0], 0) + 1")
			  . ' WHERE id IN (' . join(', ', @ks) . ')';
		}
		elsif ($op eq 't_key' && @p)
		{
			# a key moves to a free key number (ON UPDATE CASCADE follows it)
			my $k = $p[ int(rand(@p)) ];
			# (to one that every foreign-key type can hold: ON UPDATE CASCADE
			# casts the new key to each of them)
			my @fk = @{ $kt->{fks} };
			my @free = grep {
				my $f = $_;
				!$r->{present}{$f} && !grep { !defined $_->[1]->($f) } @fk
			} 1 .. $r->{nkeys};
			next unless @free;
			my $nk = pick(@free);
			push @w, 'UPDATE t SET id = ' . $kt->{lit}->($nk) . ' WHERE id = ' . $kt->{lit}->($k);
			delete $r->{present}{$k};
			$r->{present}{$nk} = 1;
		}
		elsif ($op eq 't_delete' && @p > 5)
		{
			my @ks = map { $p[ int(rand(@p)) ] } 1 .. rint(1, 5);
			push @w, 'DELETE FROM t WHERE id IN (' . join(', ', map { $kt->{lit}->($_) } @ks) . ')';
			delete $r->{present}{$_} for @ks;
		}
		elsif ($op eq 't_insert')
		{
			my @free = grep { !$r->{present}{$_} } 1 .. $r->{nkeys};
			next unless @free;
			my @ks = do { my %u = map { pick(@free) => 1 } 1 .. rint(1, 5); sort { $a <=> $b } keys %u };
			push @w, 'INSERT INTO t (id) VALUES ' . join(', ', map { '(' . $kt->{lit}->($_) . ')' } @ks);
			$r->{present}{$_} = 1 for @ks;
		}
		elsif ($op eq 's_update')
		{
			my $c = pick(@{ $r->{fkcols} });
			my $v = fkval($r, $c->{type}, $c->{fk});
			push @w, "UPDATE s SET $c->{name} = $v WHERE id IN ("
			  . join(', ', map { rint(1, $r->{ns}) } 1 .. rint(1, 10)) . ')';
		}
		elsif ($op eq 'l_insert')
		{
			my @links = gen_links($r, rint(1, 10));
			push @w, 'INSERT INTO l (src, tgt) VALUES ' . join(', ', @links)
			  . ($r->{lunique} ? ' ON CONFLICT DO NOTHING' : '')
			  if @links;
		}
		elsif ($op eq 'l_delete')
		{
			push @w, 'DELETE FROM l WHERE src IN (' . join(', ', map { rint(1, $r->{ns}) } 1 .. rint(1, 5)) . ')';
		}
		elsif ($op eq 's_key')
		{
			# a source row moves to a free id (to another partition when s
			# is partitioned), its links deleted first when they reference it
			my @sp = @{ $r->{spresent} };
			my %sp = map { $_ => 1 } @sp;
			my @free = grep { !$sp{$_} } 1 .. $r->{ns};
			next unless @sp && @free;
			my ($old, $new) = (pick(@sp), pick(@free));
			push @w, "DELETE FROM l WHERE src = $old" if $r->{lsrc_fk};
			push @w, "UPDATE s SET id = $new WHERE id = $old";
			$r->{spresent} = [ sort { $a <=> $b } $new, grep { $_ != $old } @sp ];
		}
		elsif ($op eq 'm_key')
		{
			# a key of m moves (ON UPDATE CASCADE follows it to s.m_ref)
			my @mp = sort { $a <=> $b } keys %{ $r->{mpresent} };
			my @free = grep { !$r->{mpresent}{$_} && defined $r->{mref}[1]->($_) } 1 .. $r->{nmkeys};
			next unless @mp && @free;
			my ($k, $nk) = (pick(@mp), pick(@free));
			push @w, 'UPDATE m SET id = ' . $r->{mt}{lit}->($nk) . ' WHERE id = ' . $r->{mt}{lit}->($k);
			delete $r->{mpresent}{$k};
			$r->{mpresent}{$nk} = 1;
		}
		elsif ($op eq 'l_move')
		{
			# a link row gets another source or target (another partition
			# when l is partitioned on that column)
			my $col = pick('src', 'tgt');
			my $other = $col eq 'src' ? 'tgt' : 'src';
			my @sp = @{ $r->{spresent} };
			my $v =
			    $col eq 'tgt' ? fkval($r, $r->{ltgt}, $r->{ltgt_fk})
			  : $r->{lsrc_fk} ? (@sp ? $sp[ int(rand(@sp)) ] : 'NULL')
			  : rint(1, int($r->{ns} * 1.2));
			next if $v eq 'NULL';
			push @w, "UPDATE l SET $col = $v WHERE lid = (SELECT min(l1.lid) FROM l l1 WHERE l1.lid >= "
			  . rint(1, 3 * $r->{ns})
			  . ($r->{lunique} ? " AND NOT EXISTS (SELECT FROM l l2 WHERE l2.$col = $v AND l2.$other = l1.$other)" : '')
			  . ')';
		}
		elsif ($op eq 'm_update')
		{
			my @mp = sort { $a <=> $b } keys %{ $r->{mpresent} };
			next unless @mp;
			push @w, 'UPDATE m SET t_ref = ' . fkval($r, $r->{tref}, $r->{tref_fk}) . ' WHERE id IN ('
			  . join(', ', map { $r->{mt}{lit}->($mp[ int(rand(@mp)) ]) } 1 .. rint(1, 5)) . ')';
		}
	}
	return @w;
}

# DDL that rewrites tables or changes their shape
sub gen_ddl
{
	my ($r) = @_;
	my @d;
	for (1 .. rint(1, 3))
	{
		my $n = $r->{ddl_n}++;
		my $op = pick(qw(vacuum_full cluster rewrite_default retype drop_extra add_default add_fk reindex vacuum));
		if ($op eq 'vacuum_full') { push @d, 'VACUUM FULL ' . pick(qw(t m s l)); }
		elsif ($op eq 'cluster') { push @d, 'CLUSTER t USING t_pkey'; }
		elsif ($op eq 'rewrite_default') { push @d, "ALTER TABLE t ADD COLUMN rw$n int DEFAULT (random() * 0)::int"; push @{ $r->{textras} }, [ "rw$n", 'int' ]; }
		elsif ($op eq 'retype')
		{
			my @ints = grep { $_->[1] eq 'int' } @{ $r->{textras} };
			if (@ints) { my $c = pick(@ints); push @d, "ALTER TABLE t ALTER COLUMN $c->[0] TYPE bigint"; $c->[1] = 'bigint'; }
			else { push @d, 'ALTER TABLE m ALTER COLUMN note TYPE varchar(100)'; }
		}
		elsif ($op eq 'drop_extra')
		{
			my @ex = @{ $r->{textras} };
			next unless @ex;
			my $c = pick(@ex);
			push @d, "ALTER TABLE t DROP COLUMN $c->[0]";
			$r->{textras} = [ grep { $_ != $c } @ex ];
		}
		elsif ($op eq 'add_default') { push @d, "ALTER TABLE t ADD COLUMN ad$n text NOT NULL DEFAULT 'late $n'"; push @{ $r->{textras} }, [ "ad$n", 'text' ]; }
		elsif ($op eq 'add_fk')
		{
			my $v = pick(@{ $r->{kt}{fks} });
			my $name = "g$n";
			my $fk = chance(0.6);
			push @d, "ALTER TABLE s ADD COLUMN $name $v->[0]" . ($fk ? ' REFERENCES t ON UPDATE CASCADE ON DELETE SET NULL' : '');
			push @{ $r->{fkcols} }, { name => $name, type => $v, fk => $fk };
			push @d, "UPDATE s SET $name = " . fkval($r, $v, $fk) . " WHERE id % " . rint(2, 4) . ' = 0';
		}
		elsif ($op eq 'reindex') { push @d, 'REINDEX TABLE ' . pick(qw(t l)); }
		else { push @d, 'VACUUM ' . pick(qw(l t)); }
	}
	return @d;
}

# A partition of one of the partitioned tables detached (unless rows
# reference it), a pass; its rows changed while it is detached; attached
# again with the same bounds, or a copy of it with its columns in another
# order and a dropped column, and a pass.
sub detach_attach
{
	my ($r, $c, $round) = @_;
	my $tab = pick(sort keys %{ $r->{parts} });
	my @p = map { [ split /:/, $_, 3 ] } split /\x01/, sess_sql(
		qq{SELECT string_agg(c.relname || ':' || c.relkind::text || ':' || pg_get_expr(c.relpartbound, c.oid), E'\\x01' ORDER BY c.relname)
		   FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '$tab'::regclass});
	return unless @p;
	my ($part, $kind, $bound) = @{ pick(@p) };
	chomp $bound;
	sess_sql("DO \$\$ BEGIN ALTER TABLE $tab DETACH PARTITION $part; EXCEPTION WHEN foreign_key_violation THEN NULL; END \$\$");
	return if sess_sql("SELECT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = '$part'::regclass)") eq 't';
	note "round $round: $part detached from $tab";
	$count{detached}++;
	run_pass($r, $c, "r$round.detached");
	my @ex = grep { $_->[1] =~ /^(text|int)$/ } @{ $r->{textras} };
	my %change = (
		t => @ex ? "UPDATE $part SET $ex[0][0] = " . ($ex[0][1] eq 'text' ? "coalesce($ex[0][0], '') || 'x'" : "coalesce($ex[0][0], 0) - 1") : '',
		m => "UPDATE $part SET note = note || 'x'",
		s => "UPDATE $part SET m_ref = NULL WHERE id % 3 = 0",
		l => "DELETE FROM $part WHERE lid % 3 = 0");
	my @sql = ($change{$tab} || ());
	my $into = $part;
	if ($kind eq 'r' && chance(0.5))
	{
		my @cols = split /\x01/, sess_sql(
			qq{SELECT string_agg(format('%I %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
			                           CASE WHEN a.attcollation <> ty.typcollation THEN ' COLLATE ' || a.attcollation::regcollation END,
			                           CASE WHEN a.attnotnull THEN ' NOT NULL' END), E'\\x01' ORDER BY a.attnum)
			   FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
			   WHERE a.attrelid = '$part'::regclass AND a.attnum > 0 AND NOT a.attisdropped});
		chomp $cols[-1];
		my @names = map { /^(\S+)/ } @cols;
		$into = "${part}_r$round";
		push @sql, "CREATE TABLE $into (" . join(', ', shuffle(@cols, 'junk int')) . ')',
		  "ALTER TABLE $into DROP COLUMN junk",
		  "INSERT INTO $into (" . join(', ', @names) . ') SELECT ' . join(', ', @names) . " FROM $part",
		  "DROP TABLE $part";
	}
	push @sql, "ALTER TABLE $tab ATTACH PARTITION $into $bound";
	sess_sql(join(";\n", @sql) . ';');
	run_pass($r, $c, "r$round.attached");
	return;
}

my $part1_start = time;
$p1_logpos = -s $node->logfile;
for my $round (1 .. $rounds)
{
	srand($seed * 1000 + $round);
	sess_start();
	my $r = new_round($round);
	note $r->{desc};
	$count{partitioned_rounds}++ if $r->{parts};

	# cold, then the same chunks warm
	sess_sql('SELECT memoized_prefetch.reset()');
	pass_settings($r);
	my $c = chunks($r, 5);
	run_pass($r, $c, "r$round.cold");
	run_pass($r, $c, "r$round.warm");
	pass_settings($r);
	run_pass($r, chunks($r, 5), "r$round.settings");

	# after committed writes (tracked and untracked tables)
	sess_sql(join(";\n", gen_writes($r), 'SELECT 1'));
	run_pass($r, $c, "r$round.written");

	# a partition detached and attached again (or a copy in another column
	# order) on a partitioned table, tracked or not
	detach_attach($r, $c, $round) if $r->{parts};

	# the session's own uncommitted writes, then rolled back or committed
	my %saved = (present => { %{ $r->{present} } }, mpresent => { %{ $r->{mpresent} } }, spresent => [ @{ $r->{spresent} } ]);
	sess_sql("BEGIN;\n" . join(";\n", gen_writes($r), 'SELECT 1'));
	run_pass($r, $c, "r$round.own-writes");
	if (chance(0.5)) { sess_sql('ROLLBACK'); $r->{$_} = $saved{$_} for keys %saved; }
	else { sess_sql('COMMIT'); }
	run_pass($r, $c, "r$round.after-own-writes");

	# a snapshot held while another session commits writes
	my $iso = chance(0.7) ? 'REPEATABLE READ' : 'SERIALIZABLE';
	sess_sql("BEGIN ISOLATION LEVEL $iso");
	pass_settings($r);
	run_pass($r, $c, "r$round.snapshot-before");
	my @w = gen_writes($r);
	$node->safe_psql('postgres', "SET search_path = $r->{schema}, public;\n" . join(";\n", @w) . ';')
	  if @w;
	run_pass($r, $c, "r$round.snapshot-held");
	sess_sql('COMMIT');
	run_pass($r, $c, "r$round.snapshot-after");

	# DDL: rewrites, dropped and added columns, a new foreign-key column
	sess_sql(join(";\n", gen_ddl($r), 'SELECT 1'));
	run_pass($r, $c, "r$round.ddl");
	pass_settings($r);
	run_pass($r, chunks($r, 5), "r$round.ddl-new-chunks");

	# under force_parallel_mode (every fifth round), with the tables tracked
	if ($round % 5 == 1)
	{
		# in a new session, which meets the tracked tables first under
		# force_parallel_mode; the cache on, so that rows are served across
		# snapshots
		sess_end($r);
		sess_start($r->{schema});
		sess_sql(qq{SELECT memoized_prefetch.track('t'), memoized_prefetch.track('m'), memoized_prefetch.track('l');
		           SET memoized_prefetch.enabled = on; SET memoized_prefetch.cache_size = 10000;
		           RESET memoized_prefetch.max_backend_memory;
		           SELECT memoized_prefetch.configure(x, NULL) FROM unnest('{t,m,l}'::regclass[]) x;
		           SET $parallel_guc = on; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
		           SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2});
		run_pass($r, [ @$c[ 0 .. 2 ] ], "r$round.parallel", 1);
		run_pass($r, [ @$c[ 0 .. 2 ] ], "r$round.parallel-warm", 1);
		sess_sql("RESET $parallel_guc; RESET max_parallel_workers_per_gather");
	}
	sess_end($r);
	$node->safe_psql('postgres', "DROP SCHEMA $r->{schema} CASCADE") if $round < $rounds;
}
my $part1_time = time - $part1_start;

note sprintf('part 1: %d checks (%d rows compared) in %.1fs; %d under force_parallel_mode; '
	  . '%d of reverse_fk(); %d rounds with partitioned tables, %d partitions detached and attached',
	$count{checks}, $count{rows}, $part1_time, $count{parallel_checks}, $count{rfk_checks} // 0,
	$count{partitioned_rounds} // 0, $count{detached} // 0);
diag "part 1 failures by kind:\n" . join("\n", map { "$mismatch_kinds{$_} x $_" } sort keys %mismatch_kinds)
  if %mismatch_kinds;
cmp_ok($count{checks}, '>=', 100 * $rounds, 'part 1: enough checks ran');
cmp_ok($count{rows}, '>', 0, 'part 1: the checks compared rows');
is($count{crashes}, 0, 'part 1: no call crashed the server');
note "part 1: $count{skipped} checks not run: their form had crashed the server three times" if $count{skipped};
diag "crash:\n$_" for @crash_diag;
is($count{errors}, 0, 'part 1: no call of fk(), m2m(), reverse_fk() or their _flat forms on the random schemas raised an error');
diag "error:\n$_" for @error_diag;
is($count{multiset}, 0, 'part 1: every call returned the rows of the plain join in the same statement (as multisets)');
is($count{order}, 0, 'part 1: every call returned its rows in the documented order');
diag "mismatch:\n$_" for @mismatch_diag;
is($count{parallel_errors} + $count{parallel_mismatches},
	0, 'part 1: under force_parallel_mode every call succeeded and equalled the plain join');
diag "under force_parallel_mode:\n$_" for @parallel_diag;

#
# Part 2: bad arguments
#

srand($seed + 7);
$node->safe_psql(
	'postgres', q{
CREATE SCHEMA g;
SET search_path = g, public;
CREATE TABLE g_t (id int PRIMARY KEY, name text);
INSERT INTO g_t SELECT i, 'name ' || i FROM generate_series(1, 200) i;
CREATE TABLE g_self (id int PRIMARY KEY, parent_id int REFERENCES g_self);
INSERT INTO g_self SELECT i, CASE WHEN i > 1 THEN i - 1 END FROM generate_series(1, 100) i;
CREATE TABLE g_s (id int PRIMARY KEY, t_id int REFERENCES g_t, t_nofk int, name text,
                  self_id int REFERENCES g_self, rel oid, nsp oid, big bigint);
INSERT INTO g_s SELECT i, 1 + i % 200, i % 300, 'n' || i, 1 + i % 100, 'pg_class'::regclass, 11, i
FROM generate_series(1, 2000) i;
CREATE TABLE g_l (id serial PRIMARY KEY, s_id int REFERENCES g_s, t_id int REFERENCES g_t);
CREATE INDEX ON g_l (s_id);
INSERT INTO g_l (s_id, t_id) SELECT 1 + i % 2000, 1 + i % 200 FROM generate_series(1, 3000) i;
CREATE TABLE g_dot (id int PRIMARY KEY, "t.id" int REFERENCES g_t, "t__id" int REFERENCES g_t);
CREATE VIEW g_view AS SELECT * FROM g_t;
CREATE MATERIALIZED VIEW g_matview AS SELECT * FROM g_t;
CREATE SEQUENCE g_seq;
CREATE TYPE g_pair AS (a int, b int);
CREATE TABLE g_parted (id int PRIMARY KEY, t_id int REFERENCES g_t) PARTITION BY RANGE (id);
CREATE TABLE g_part1 PARTITION OF g_parted FOR VALUES FROM (0) TO (1000);
INSERT INTO g_parted SELECT i, 1 + i % 200 FROM generate_series(1, 100) i;
CREATE TABLE g_to_parted (id int PRIMARY KEY, p_id int REFERENCES g_parted);
CREATE TABLE g_inh_parent (id int PRIMARY KEY, t_id int REFERENCES g_t);
CREATE TABLE g_inh_child () INHERITS (g_inh_parent);
CREATE FOREIGN DATA WRAPPER g_fdw;
CREATE SERVER g_server FOREIGN DATA WRAPPER g_fdw;
CREATE FOREIGN TABLE g_foreign (id int, t_id int) SERVER g_server;
CREATE UNLOGGED TABLE g_unlogged (id int PRIMARY KEY, t_id int REFERENCES g_t);
INSERT INTO g_unlogged SELECT i, i FROM generate_series(1, 50) i;
CREATE TABLE g_nopk (id int, t_id int REFERENCES g_t);
-- key types without a hash function, composite, array and range keys
CREATE TABLE g_money (id money PRIMARY KEY, v text);
INSERT INTO g_money SELECT i::money, 'm' || i FROM generate_series(1, 20) i;
CREATE TABLE g_to_money (id int PRIMARY KEY, m money REFERENCES g_money);
INSERT INTO g_to_money SELECT i, CASE WHEN i % 4 > 0 THEN (1 + i % 20)::money END FROM generate_series(1, 40) i;
CREATE TABLE g_bit (id varbit PRIMARY KEY, v text);
INSERT INTO g_bit SELECT i::bit(8)::varbit, 'b' || i FROM generate_series(1, 20) i;
CREATE TABLE g_to_bit (id int PRIMARY KEY, b varbit REFERENCES g_bit);
INSERT INTO g_to_bit SELECT i, CASE WHEN i % 3 > 0 THEN (i % 20 + 1)::bit(8)::varbit END FROM generate_series(1, 40) i;
CREATE TABLE g_comp (id g_pair PRIMARY KEY, v text);
INSERT INTO g_comp SELECT row(i, -i)::g_pair, 'c' || i FROM generate_series(1, 20) i;
CREATE TABLE g_to_comp (id int PRIMARY KEY, c g_pair REFERENCES g_comp);
INSERT INTO g_to_comp SELECT i, CASE WHEN i % 3 > 0 THEN row(1 + i % 20, -(1 + i % 20))::g_pair END
FROM generate_series(1, 40) i;
CREATE TABLE g_arr (id int[] PRIMARY KEY, v text);
INSERT INTO g_arr SELECT ARRAY[i, i + 1], 'a' || i FROM generate_series(1, 20) i;
CREATE TABLE g_to_arr (id int PRIMARY KEY, a int[] REFERENCES g_arr);
INSERT INTO g_to_arr SELECT i, ARRAY[1 + i % 20, 2 + i % 20] FROM generate_series(1, 40) i;
CREATE TABLE g_range (id int4range PRIMARY KEY, v text);
INSERT INTO g_range SELECT int4range(i, i + 2), 'r' || i FROM generate_series(1, 20) i;
CREATE TABLE g_to_range (id int PRIMARY KEY, r int4range REFERENCES g_range);
INSERT INTO g_to_range SELECT i, int4range(1 + i % 20, 3 + i % 20) FROM generate_series(1, 40) i;
CREATE TABLE g_cat (id int PRIMARY KEY, rel oid, nsp oid, typ oid);
INSERT INTO g_cat VALUES (1, 'pg_class'::regclass, 11, 23), (2, 'g_t'::regclass, 2200, 25), (3, 1, 1, 1);
CREATE TABLE g_dropped (id int PRIMARY KEY);
-- reverse_fk(): lookup indexes, a table without one, char(n) keys, a
-- partitioned target (one with a partition that has no index)
CREATE INDEX ON g_s (t_id);
CREATE INDEX ON g_self (parent_id);
CREATE INDEX ON g_parted (t_id);
CREATE TABLE g_rev_noidx (id int PRIMARY KEY, t_id int REFERENCES g_t);
INSERT INTO g_rev_noidx SELECT i, 1 + i % 200 FROM generate_series(1, 100) i;
CREATE TABLE g_char (id char(4) PRIMARY KEY);
INSERT INTO g_char SELECT 'c' || i FROM generate_series(1, 20) i;
CREATE TABLE g_to_char (id int PRIMARY KEY, c char(4) REFERENCES g_char);
CREATE INDEX ON g_to_char (c);
INSERT INTO g_to_char SELECT i, 'c' || (1 + i % 20) FROM generate_series(1, 40) i;
CREATE TABLE g_rparted (id int PRIMARY KEY, t_id int REFERENCES g_t, name text) PARTITION BY LIST (id);
CREATE TABLE g_rparted_a (name text, t_id int, id int NOT NULL);
ALTER TABLE g_rparted ATTACH PARTITION g_rparted_a FOR VALUES IN (1, 2, 3, 4, 5);
CREATE TABLE g_rparted_b PARTITION OF g_rparted DEFAULT PARTITION BY HASH (id);
CREATE TABLE g_rparted_b0 PARTITION OF g_rparted_b FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE g_rparted_b1 PARTITION OF g_rparted_b FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE INDEX ON g_rparted (t_id);
INSERT INTO g_rparted SELECT i, 1 + i % 50, 'r' || i FROM generate_series(1, 300) i;
CREATE TABLE g_rparted_fdw (id int, t_id int) PARTITION BY RANGE (id);
CREATE TABLE g_rparted_fdw_1 PARTITION OF g_rparted_fdw FOR VALUES FROM (0) TO (10);
CREATE FOREIGN TABLE g_rparted_fdw_2 PARTITION OF g_rparted_fdw FOR VALUES FROM (10) TO (20) SERVER g_server;
CREATE INDEX ON g_rparted_fdw (t_id);
});
my $dropped_oid = $node->safe_psql('postgres', q{SELECT 'g.g_dropped'::regclass::oid});
$node->safe_psql('postgres', q{DROP TABLE g.g_dropped});
my $toast = $node->safe_psql('postgres',
	q{SELECT reltoastrelid::regclass FROM pg_class WHERE oid = 'g.g_s'::regclass});

# the pools of arguments (SQL expressions)
my @relations = (
	q{'g_s'}, q{'g_t'}, q{'g_l'}, q{'g_self'}, q{'g_dot'}, q{'pg_class'}, q{'pg_catalog.pg_attribute'},
	q{'g_view'}, q{'g_matview'}, q{'g_seq'}, q{'g_pair'}, q{'g_parted'}, q{'g_part1'},
	q{'g_inh_parent'}, q{'g_foreign'}, q{'g_unlogged'}, q{'g_nopk'}, q{'g_t_pkey'},
	q_($toast), 'NULL', '0::oid::regclass', '999999::oid::regclass', '4294967295::oid::regclass',
	"$dropped_oid\::oid::regclass", q{'g_to_money'}, q{'g_to_comp'}, q{'g_cat'});
my @id_arrays = (
	'ARRAY[1, 2, 3]', q{'{}'::int[]}, 'NULL::int[]', 'ARRAY[NULL]::int[]', 'ARRAY[NULL, NULL, 1]',
	'ARRAY[[1, 2], [3, 4]]', 'ARRAY[[[1]]]', q{'[5:7]={1,2,3}'::int[]}, 'ARRAY[1.5]', q{ARRAY['a', 'b']},
	'ARRAY[true]', 'ARRAY[now()]', q{ARRAY['nan'::numeric]}, 'ARRAY[2147483648]::bigint[]',
	'ARRAY[-9223372036854775808]::bigint[]', 'ARRAY[point(1, 2)]', 'ARRAY[row(1, 2)]',
	q{'{1,2}'}, q{'{}'}, 'ARRAY[1::smallint]', q{ARRAY['1'::text]}, q{ARRAY[1::money]},
	'(SELECT array_agg(i) FROM generate_series(1, 20000) i)', 'ARRAY[0, -1, 2147483647]',
	q{ARRAY['{1,2}'::int[]]}, q{ARRAY[int4range(1, 3)]});
my $long63 = 'a' x 63;
my @attr_arrays = (
	q{'{t_id}'}, 'NULL', q{'{}'::text[]}, 'ARRAY[NULL]::text[]', q{'{""}'}, q{'{.}'}, q{'{..}'},
	q{'{t_id.}'}, q{'{.t_id}'}, q{'{t_id..t_id}'}, q{'{__}'}, q{'{t_id__}'}, q{'{___t_id}'},
	q{'{self_id.parent_id.parent_id.parent_id}'}, q{'{name.id}'}, q{'{t_nofk}'}, q{'{t_nofk.id}'},
	q{'{ctid}'}, q{'{xmin}'}, q{'{tableoid}'}, q{'{id}'}, q{'{"t.id"}'}, q{'{"t__id"}'},
	q{'{{t_id},{t_id}}'}, q{ARRAY[repeat('x', 100000)]}, "ARRAY['$long63', '${long63}b']",
	q{ARRAY[repeat('t_id.', 1000) || 't_id']}, q{ARRAY[repeat('parent_id.', 2000) || 'parent_id']},
	q{(SELECT array_agg('t_id') FROM generate_series(1, 5000))}, q{ARRAY[E't_id\\u0000']},
	q{ARRAY['t_id', NULL]}, q{ARRAY['T_ID']}, q{ARRAY['"t_id"']}, q{ARRAY['rel']}, q{ARRAY['m']},
	'ARRAY[1, 2]', q{'{t_id}'::name[]});
my @targets = (
	'NULL::g_t', 'NULL::g_s', 'NULL::g_self', 'NULL::int', 'NULL::pg_class', 'NULL::pg_namespace',
	'NULL::g_view', 'NULL::g_pair', 'NULL::g_parted', 'NULL::g_seq', 'NULL::g_t[]', 'NULL::record',
	'ROW(1, 2)', 'NULL', q{'x'}, '1', 'NULL::g_money', 'NULL::g_comp', 'NULL::g_foreign',
	'NULL::g_matview', 'NULL::g_nopk', 'NULL::g_unlogged', 'NULL::g_inh_parent', 'NULL::g_rparted',
	'NULL::g_rev_noidx', 'NULL::g_dot', 'NULL::g_to_char', 'NULL::g_l');
my @fields = ('NULL', q{'s_id'}, q{'t_id'}, q{''}, q{'nope'}, q{'ctid'}, "'$long63'", q{repeat('y', 1000)},
	q{'id'}, q{'S_ID'});

my @cases;    # [ name, sql, expectation ]
# expectations: any (success, or an error that is not XX000), error (an
# error that is not XX000), class22 (an error of class 22), same (success,
# every output line 't'), sqlstate XXXXX (an error with that SQLSTATE)
sub add_case { push @cases, [@_]; return; }

# system catalogs as targets are refused
sub catalog_target { return $_[0] =~ /pg_class|pg_namespace|pg_attribute/; }

# specific cases
add_case('track(NULL)', 'SELECT memoized_prefetch.track(NULL)', 'class22');
add_case('untrack(NULL)', 'SELECT memoized_prefetch.untrack(NULL)', 'any');
add_case('reset(NULL)', 'SELECT memoized_prefetch.reset(NULL)', 'any');
add_case('configure(NULL)', 'SELECT memoized_prefetch.configure(NULL)', 'class22');
add_case('configure with a negative cache size', q{SELECT memoized_prefetch.configure('g.g_t', -1)}, 'error');
add_case('configure with INT_MIN', q{SELECT memoized_prefetch.configure('g.g_t', -2147483648)}, 'error');
add_case('configure with INT_MAX', q{SELECT memoized_prefetch.configure('g.g_t', 2147483647)}, 'any');
add_case('configure with prefetch_all NULL', q{SELECT memoized_prefetch.configure('g.g_t', 10, NULL)}, 'any');
add_case('SET cache_size negative', q{SET memoized_prefetch.cache_size = -1}, 'error');
add_case('SET max_backend_memory negative', q{SET memoized_prefetch.max_backend_memory = -1}, 'error');
for my $rel (grep { $_ ne 'NULL' } @relations)
{
	my $cat = $rel =~ /pg_class|pg_attribute|pg_toast/;
	add_case("track($rel)", "SELECT memoized_prefetch.track($rel)", $cat ? 'error' : 'any');
	add_case("configure($rel)", "SELECT memoized_prefetch.configure($rel, 5, true)", 'any');
	add_case("reset($rel)", "SELECT memoized_prefetch.reset($rel)", 'any');
	add_case("untrack($rel)", "SELECT memoized_prefetch.untrack($rel)", 'any');
}
add_case('nonexistent regclass OID as source', q{SELECT * FROM memoized_prefetch.fk(999999::oid::regclass, ARRAY[1], '{t_id}', NULL::g.g_t)}, 'error');
add_case('nonexistent regclass OID as link table', q{SELECT * FROM memoized_prefetch.m2m(999999::oid::regclass, ARRAY[1], NULL::g.g_t)}, 'error');
add_case('OID of a dropped table as source', "SELECT * FROM memoized_prefetch.fk($dropped_oid\::oid::regclass, ARRAY[1], '{t_id}', NULL::g.g_t)", 'error');
add_case('pg_class as target (oid column without a constraint)', q{SELECT * FROM memoized_prefetch.fk('g.g_cat', ARRAY[1, 2, 3], '{rel}', NULL::pg_class)}, 'error');
add_case('pg_namespace as target', q{SELECT * FROM memoized_prefetch.fk('g.g_cat', ARRAY[1, 2, 3], '{nsp}', NULL::pg_namespace)}, 'error');
add_case('pg_type as target', q{SELECT * FROM memoized_prefetch.fk('g.g_cat', ARRAY[1, 2, 3], '{typ}', NULL::pg_type)}, 'error');
add_case('pg_class as target through fk_flat', q{SELECT count(*) FROM memoized_prefetch.fk_flat('g.g_cat', ARRAY[1, 2], '{rel}', NULL::pg_class) AS s(source_id int, attribute text, x int)}, 'error');
add_case('pg_class as source, pg_namespace as target', q{SELECT count(*) FROM memoized_prefetch.fk('pg_class', ARRAY['pg_class'::regclass::oid], '{relnamespace}', NULL::pg_namespace)}, 'error');
add_case('pg_depend as link table', q{SELECT count(*) FROM memoized_prefetch.m2m('pg_depend', ARRAY[1259::oid], NULL::pg_class, 'objid', 'refobjid')}, 'error');

# NULL in every argument position of every function
{
	my %calls = (
		fk => [ q{'g.g_s'}, 'ARRAY[1, 2]', q{'{t_id}'}, 'NULL::g.g_t' ],
		m2m => [ q{'g.g_l'}, 'ARRAY[1, 2]', 'NULL::g.g_t', q{'s_id'}, q{'t_id'} ],
		fk_flat => [ q{'g.g_s'}, 'ARRAY[1, 2]', q{'{t_id}'}, 'NULL::g.g_t' ],
		m2m_flat => [ q{'g.g_l'}, 'ARRAY[1, 2]', 'NULL::g.g_t', q{'s_id'}, q{'t_id'} ]);
	my %coldefs = (fk_flat => ' AS s(source_id int, attribute text, id int, name text)',
		m2m_flat => ' AS s(source_id int, id int, name text)');
	for my $f (sort keys %calls)
	{
		my @args = @{ $calls{$f} };
		for my $i (0 .. $#args)
		{
			for my $null ('NULL', $i == 1 ? 'NULL::int[]' : $i == 0 ? 'NULL::regclass' : ())
			{
				my @a = @args;
				$a[$i] = $null;
				add_case("$f with $null as argument " . ($i + 1),
					"SELECT count(*) FROM memoized_prefetch.$f(" . join(', ', @a) . ')' . ($coldefs{$f} // ''),
					'any');
			}
		}
	}
}

# key types: what the plain join gives, in one statement
my %keyed = (
	money => [ 'g_to_money', 'm', 'g_money' ],
	varbit => [ 'g_to_bit', 'b', 'g_bit' ],
	composite => [ 'g_to_comp', 'c', 'g_comp' ],
	array => [ 'g_to_arr', 'a', 'g_arr' ],
	range => [ 'g_to_range', 'r', 'g_range' ]);
for my $k (sort keys %keyed)
{
	my ($src, $col, $tgt) = @{ $keyed{$k} };
	add_case("$k key: fk() as the plain join",
		"SET search_path = g; SELECT (SELECT array_agg(row(f.source_id, f.attribute, f.target)::text ORDER BY 1) "
		  . "FROM memoized_prefetch.fk('$src', ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, NULL, 99], '{$col}', NULL::$tgt) f) "
		  . "IS NOT DISTINCT FROM (SELECT array_agg(row(s.id, '$col'::text, t)::text ORDER BY 1) FROM $src s "
		  . "JOIN $tgt t ON t.id = s.$col WHERE s.id = ANY (ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, NULL, 99]))",
		'same');
	add_case("$k key: fk() twice in a session, tracked",
		"SET search_path = g; SELECT true FROM (SELECT memoized_prefetch.track('$tgt')) x; "
		  . "SELECT count(*) >= 0 FROM memoized_prefetch.fk('$src', ARRAY[1, 2, 3], '{$col}', NULL::$tgt); "
		  . "SELECT count(*) >= 0 FROM memoized_prefetch.fk('$src', ARRAY[2, 3, 4], '{$col}', NULL::$tgt); "
		  . "SELECT true FROM (SELECT memoized_prefetch.untrack('$tgt')) x",
		'same');
}

# huge arrays: the product of paths and ids beyond INT_MAX, and others
add_case('4096 paths x 524288 ids (product 2^31)',
	q{SELECT count(*) >= 0 FROM memoized_prefetch.fk('g.g_s', ARRAY[1, 2] || (SELECT array_agg(i) FROM generate_series(100001, 624286) i),
	  array_fill('t_id'::text, ARRAY[4096]), NULL::g.g_t)}, 'any');
add_case('65536 paths x 32769 ids (product > 2^31)',
	q{SELECT count(*) >= 0 FROM memoized_prefetch.fk('g.g_s', ARRAY[3] || (SELECT array_agg(i) FROM generate_series(100001, 132768) i),
	  array_fill('t_id'::text, ARRAY[65536]), NULL::g.g_t)}, 'any');
add_case('5000 distinct-spelled paths x 2000 ids',
	q{SELECT count(*) >= 0 FROM memoized_prefetch.fk('g.g_s', (SELECT array_agg(i) FROM generate_series(1, 2000) i),
	  (SELECT array_agg(CASE WHEN i % 2 = 0 THEN 't_id' ELSE 'self_id.parent_id' END) FROM generate_series(1, 5000) i)::text[],
	  NULL::g.g_t)}, 'any');
add_case('a path of 3000 steps through a self reference',
	q{SELECT count(*) >= 0 FROM memoized_prefetch.fk('g.g_self', ARRAY[100, 50], ARRAY['parent_id' || repeat('.parent_id', 2999)], NULL::g.g_self)}, 'any');
add_case('1000000 ids x 2 paths',
	q{SELECT count(*) >= 0 FROM memoized_prefetch.fk('g.g_s', (SELECT array_agg(i) FROM generate_series(1, 1000000) i),
	  '{t_id,t_nofk}', NULL::g.g_t)}, 'any');
add_case('m2m with 1000000 ids',
	q{SELECT count(*) >= 0 FROM memoized_prefetch.m2m('g.g_l', (SELECT array_agg(i) FROM generate_series(1, 1000000) i), NULL::g.g_t)}, 'any');
add_case('fk_flat with 1600 columns in the definition list',
	q{DO $$ BEGIN EXECUTE 'SELECT count(*) FROM memoized_prefetch.fk_flat(''g.g_s'', ARRAY[1], ''{t_id}'', NULL::g.g_t) AS s(source_id int, attribute text, '
	  || (SELECT string_agg('c' || i || ' int', ', ') FROM generate_series(1, 1600) i) || ')'; END $$}, 'any');
add_case('reset() while a call of fk() runs (in a policy-free subquery)',
	q{SELECT (SELECT count(*) FROM memoized_prefetch.fk('g.g_s', ARRAY[1, 2], '{t_id}', NULL::g.g_t)), memoized_prefetch.reset()}, 'any');
add_case('an error in the middle of a result: a failing cast of the rows',
	q{SELECT (f.target).name::int FROM memoized_prefetch.fk('g.g_s', ARRAY[1, 2], '{t_id}', NULL::g.g_t) f}, 'error');
add_case('a call cancelled by statement_timeout',
	q{SET statement_timeout = '10ms'; SELECT count(*) FROM generate_series(1, 100000) g,
	  LATERAL memoized_prefetch.fk('g.g_s', ARRAY[g % 2000], '{t_id,self_id.parent_id}', NULL::g.g_self) f;
	  SET statement_timeout = '30s'}, 'error');
add_case('the calls inside an aborted subtransaction',
	q{BEGIN; SAVEPOINT a; SELECT count(*) FROM memoized_prefetch.fk('g.g_s', ARRAY[1, 2], '{t_id}', NULL::g.g_t);
	  SELECT 1/0; ROLLBACK TO a; SELECT count(*) FROM memoized_prefetch.fk('g.g_s', ARRAY[1, 2], '{t_id}', NULL::g.g_t); COMMIT}, 'error');
add_case('a temporary table as source and target',
	q{CREATE TEMP TABLE tt (id int PRIMARY KEY, p int REFERENCES tt); INSERT INTO tt VALUES (1, NULL), (2, 1);
	  SELECT (SELECT array_agg(f.target::text) FROM memoized_prefetch.fk('tt', ARRAY[1, 2], '{p}', NULL::tt) f) = ARRAY['(1,)']}, 'same');
add_case('the target table dropped between two calls',
	q{CREATE TEMP TABLE dt (id int PRIMARY KEY); CREATE TEMP TABLE ds (id int PRIMARY KEY, d int REFERENCES dt);
	  INSERT INTO dt VALUES (1); INSERT INTO ds VALUES (1, 1);
	  SELECT count(*) = 1 FROM memoized_prefetch.fk('ds', ARRAY[1], '{d}', NULL::dt);
	  DROP TABLE ds, dt; CREATE TEMP TABLE dt (id int PRIMARY KEY); CREATE TEMP TABLE ds (id int PRIMARY KEY, d int REFERENCES dt);
	  SELECT count(*) = 0 FROM memoized_prefetch.fk('ds', ARRAY[1], '{d}', NULL::dt)}, 'same');

# random garbage: every argument from the pools
for my $i (1 .. 160)
{
	my $f = pick(qw(fk fk fk fk_flat m2m m2m m2m_flat));
	my $rel = pick(@relations);
	my $ids = pick(@id_arrays);
	my $target = pick(@targets);
	my $sql;
	if ($f eq 'fk')
	{
		$sql = "SELECT count(*) FROM memoized_prefetch.fk($rel, $ids, " . pick(@attr_arrays) . ", $target)";
	}
	elsif ($f eq 'fk_flat')
	{
		$sql = "SELECT count(*) FROM memoized_prefetch.fk_flat($rel, $ids, " . pick(@attr_arrays) . ", $target) AS s("
		  . pick('source_id int, attribute text, id int, name text', 'source_id int', 'x int, y text, id int, name text',
			'source_id int, attribute text, id int, name text, extra int', 'source_id text, attribute text, id text, name text')
		  . ')';
	}
	elsif ($f eq 'm2m')
	{
		my @a = ($rel, $ids, $target);
		push @a, pick(@fields) if chance(0.7);
		push @a, pick(@fields) if @a == 4 && chance(0.7);
		$sql = 'SELECT count(*) FROM memoized_prefetch.m2m(' . join(', ', @a) . ')';
	}
	else
	{
		$sql = "SELECT count(*) FROM memoized_prefetch.m2m_flat($rel, $ids, $target, " . pick(@fields) . ', '
		  . pick(@fields) . ') AS s(' . pick('source_id int, id int, name text', 'source_id int', 'a int, b int, c int') . ')';
	}
	add_case("random $i", "SET search_path = g, public; $sql", catalog_target($target) ? 'error' : 'any');
}

# reverse_fk() and reverse_fk_flat()
{
	# the plain query's rows in the documented order, in one statement
	my $same = sub {
		my ($src, $ids, $tab, $col, $arg) = @_;
		return "SET search_path = g; SELECT (SELECT array_agg(row(f.source_id, f.target)::text ORDER BY f.ord) "
		  . "FROM memoized_prefetch.reverse_fk('$src', $ids, NULL::$tab$arg) WITH ORDINALITY f(source_id, target, ord)) "
		  . "IS NOT DISTINCT FROM (SELECT array_agg(row(x.$col, x)::text ORDER BY array_position($ids, x.$col), x.id) "
		  . "FROM $tab x WHERE x.$col = ANY ($ids))";
	};
	add_case('reverse_fk: the foreign key found', $same->('g_t', 'ARRAY[3, 1, NULL, 3, 999]', 'g_s', 't_id', ''), 'same');
	add_case('reverse_fk: a self reference', $same->('g_self', 'ARRAY[5, 1, 2]', 'g_self', 'parent_id', ''), 'same');
	add_case('reverse_fk: a partitioned target (a partition attached in another column order, a sub-partitioned default)',
		$same->('g_t', 'ARRAY[7, 1, 50, 0, 7]', 'g_rparted', 't_id', ", 't_id'"), 'same');
	add_case('reverse_fk: a partitioned target, tracked, twice',
		q{SET search_path = g; SELECT true FROM (SELECT memoized_prefetch.track('g_rparted')) x; }
		  . $same->('g_t', 'ARRAY[2, 3]', 'g_rparted', 't_id', '') . '; '
		  . q{UPDATE g_rparted SET id = id + 1000 WHERE id = 3; }
		  . $same->('g_t', 'ARRAY[2, 3, 4]', 'g_rparted', 't_id', '')
		  . q{; SELECT true FROM (SELECT memoized_prefetch.untrack('g_rparted')) x}, 'same');
	add_case('reverse_fk: the primary key as fk_column', $same->('g_t', 'ARRAY[3, 1]', 'g_t', 'id', ", 'id'"), 'same');
	add_case('reverse_fk: no lookup index',
		q{SELECT * FROM memoized_prefetch.reverse_fk('g.g_t', ARRAY[1], NULL::g.g_rev_noidx)}, 'sqlstate 55000');
	add_case('reverse_fk: several foreign keys to the source',
		q{SELECT * FROM memoized_prefetch.reverse_fk('g.g_t', ARRAY[1], NULL::g.g_dot)}, 'sqlstate 42702');
	add_case('reverse_fk: no foreign key to the source',
		q{SELECT * FROM memoized_prefetch.reverse_fk('g.g_self', ARRAY[1], NULL::g.g_t)}, 'sqlstate 42704');
	add_case('reverse_fk: an unknown fk_column',
		q{SELECT * FROM memoized_prefetch.reverse_fk('g.g_t', ARRAY[1], NULL::g.g_s, 'nope')}, 'sqlstate 42703');
	add_case('reverse_fk: a foreign table as a partition',
		q{SELECT * FROM memoized_prefetch.reverse_fk('g.g_t', ARRAY[1], NULL::g.g_rparted_fdw, 't_id')}, 'error');
	add_case('reverse_fk: numeric ids for an int column',
		q{SELECT * FROM memoized_prefetch.reverse_fk('g.g_t', ARRAY[1.5], NULL::g.g_s, 't_id')}, 'sqlstate 42804');
	# (text ids against a char(n) column: the plain query compares them as
	# text, where trailing blanks count, the call as char(n), as it reads an
	# untyped literal, which reaches it as text too: not compared here)
	add_case('reverse_fk: text ids for a char(n) column',
		q{SELECT * FROM memoized_prefetch.reverse_fk('g.g_char', ARRAY['c1 ', 'c2']::text[], NULL::g.g_to_char, 'c')}, 'any');
	add_case('reverse_fk: char(n) ids for a char(n) column',
		$same->('g_char', q{ARRAY['c1 ', 'c2']::char(4)[]}, 'g_to_char', 'c', ''), 'same');
	add_case('reverse_fk: a catalog as target',
		q{SELECT count(*) FROM memoized_prefetch.reverse_fk('pg_namespace', ARRAY[11::oid], NULL::pg_class, 'relnamespace')}, 'error');
	add_case('reverse_fk: a catalog as source',
		q{SELECT count(*) FROM memoized_prefetch.reverse_fk('pg_class', ARRAY[1, 2], NULL::g.g_s, 't_id')}, 'any');
	add_case('reverse_fk: a view as source',
		q{SELECT count(*) FROM memoized_prefetch.reverse_fk('g.g_view', ARRAY[1, 2], NULL::g.g_s, 't_id')}, 'error');
	add_case('reverse_fk_flat: a column definition list of another table',
		q{SELECT count(*) FROM memoized_prefetch.reverse_fk_flat('g.g_t', ARRAY[1], NULL::g.g_s) AS s(source_id int, id int, name text)},
		'sqlstate 42804');
	add_case('reverse_fk_flat: source_id of another type',
		q{SELECT count(*) FROM memoized_prefetch.reverse_fk_flat('g.g_s', ARRAY[1], NULL::g.g_l, 's_id') AS s(source_id text, id int, s_id int, t_id int)},
		'sqlstate 42804');
	add_case('reverse_fk with 1000000 ids',
		q{SELECT count(*) >= 0 FROM memoized_prefetch.reverse_fk('g.g_s', (SELECT array_agg(i) FROM generate_series(1, 1000000) i), NULL::g.g_l, 's_id')},
		'any');
	my @args = (q{'g.g_t'}, 'ARRAY[1, 2]', 'NULL::g.g_s', q{'t_id'});
	for my $f ('reverse_fk', 'reverse_fk_flat')
	{
		for my $i (0 .. $#args)
		{
			for my $null ('NULL', $i == 1 ? 'NULL::int[]' : $i == 0 ? 'NULL::regclass' : ())
			{
				my @a = @args;
				$a[$i] = $null;
				add_case("$f with $null as argument " . ($i + 1),
					"SELECT count(*) FROM memoized_prefetch.$f(" . join(', ', @a) . ')'
					  . ($f =~ /flat/ ? ' AS s(source_id int, id int, t_id int, t_nofk int, name text, self_id int, rel oid, nsp oid, big bigint)' : ''),
					$i == 0 ? 'sqlstate 22004' : 'any');
			}
		}
	}
	# random garbage
	my @fkcols = (@fields, q{'t_id'}, q{'parent_id'}, q{'s_id'}, q{'relnamespace'}, q{'p_id'});
	for my $i (1 .. 80)
	{
		my $rel = pick(@relations);
		my $ids = pick(@id_arrays);
		my $target = pick(@targets);
		my @a = ($rel, $ids, $target);
		push @a, pick(@fkcols) if chance(0.7);
		my $sql =
		  chance(0.7)
		  ? 'SELECT count(*) FROM memoized_prefetch.reverse_fk(' . join(', ', @a) . ')'
		  : 'SELECT count(*) FROM memoized_prefetch.reverse_fk_flat(' . join(', ', @a) . ') AS s('
		  . pick('source_id int, id int, name text', 'source_id int', 'source_id int, id int, t_id int, name text',
			'source_id int, id int, s_id int, t_id int')
		  . ')';
		add_case("random reverse_fk $i", "SET search_path = g, public; $sql", catalog_target($target) ? 'error' : 'any');
	}
}

my $part2_start = time;
my $logpos = -s $node->logfile;
my (@p2_fail, %p2_states, %pid_case);

# The crashes the server log reports since the last look: those of the
# backend $pid (or of no known case) are returned; a crash of the backend of
# an earlier case (found only now) fails that case.
sub crashes_in_log
{
	my ($pid) = @_;
	my $log = slurp_file($node->logfile, $logpos);
	$logpos = -s $node->logfile;
	my @mine;
	for my $line (grep { /terminated by signal|terminated by exception|PANIC/ } split /\n/, $log)
	{
		(my $msg = $line) =~ s/^.*?(LOG|PANIC):\s+(\d{5}: )?//;
		my ($crashed_pid) = $line =~ /\(PID (\d+)\)/;
		if (defined $crashed_pid && defined $pid_case{$crashed_pid} && (!defined $pid || $crashed_pid != $pid))
		{
			fail("part 2: $pid_case{$crashed_pid} (its backend crashed after the case was checked)");
			diag "part 2 case '$pid_case{$crashed_pid}': the server crashed after its session ended: $msg";
			push @p2_fail, $pid_case{$crashed_pid};
		}
		else { push @mine, $msg; }
	}
	return (\@mine, scalar(@mine) > 0 || $log =~ /all server processes terminated/);
}

for my $case (@cases)
{
	my ($name, $sql, $expect) = @$case;
	my ($out, $err) = ('', '');
	my $script = "\\set VERBOSITY verbose\nSET client_min_messages = warning;\nSET statement_timeout = '30s';\n"
	  . "SELECT 'pid ' || pg_backend_pid();\n$sql;\nSELECT 'alive ' || pg_postmaster_start_time();\n";
	my ($t0, $secs, $pid);
	for my $attempt (1 .. 5)
	{
		# (a session that could not connect, the server still resetting
		# after the previous case's crash, is tried again)
		$t0 = time;
		$node->psql('postgres', $script, stdout => \$out, stderr => \$err, on_error_stop => 0);
		$secs = time - $t0;
		($pid) = $out =~ /^pid (\d+)$/m;
		last if defined $pid;
		sleep 1;
		wait_for_server();
	}
	my ($alive) = $out =~ /^alive (.*)$/m;
	my @states = $err =~ /(?:ERROR|FATAL|PANIC):\s+([0-9A-Z]{5}):/g;
	my ($first_error) = $err =~ /((?:ERROR|FATAL|PANIC):[^\n]*)/;
	$p2_states{$_}++ for @states;

	# a crash shows in the log once the backend is gone: waited for after
	# a session that lost its connection and after the cases with unusual
	# key types, which may crash at exit (a later crash of any other case's
	# backend is still found, and fails that case, when the log is read
	# after a later case)
	if (defined $pid && (!defined $alive || $expect eq 'same' || $sql =~ /g_(comp|money|bit|arr|range)/))
	{
		$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid")
		  or die "backend $pid did not exit";
	}
	$pid_case{$pid} = $name if defined $pid;
	my ($mine, $crashed) = crashes_in_log($pid);
	my @why;
	push @why,
	  'the server crashed '
	  . (defined $alive ? 'after the session had run every statement (at backend exit)' : 'during the call')
	  . ': ' . join(' ', @$mine)
	  if $crashed;
	push @why, 'the session did not answer after the call' if !$crashed && !defined $alive;
	push @why, 'the postmaster restarted' if defined $alive && $alive ne $postmaster_start;
	push @why, "internal error: $first_error" if grep { $_ eq 'XX000' } @states;
	my @errs = grep { $_ ne 'XX000' } @states;
	push @why, 'expected an error, the call succeeded' if $expect =~ /^(error|class22|sqlstate)/ && !@states && !$crashed;
	push @why, "expected SQLSTATE $1, got $first_error"
	  if $expect =~ /^sqlstate (\w{5})$/ && @states && !grep { $_ eq $1 } @states;
	push @why, "expected SQLSTATE class 22, got $first_error"
	  if $expect eq 'class22' && @states && !grep { /^22/ } @states;
	push @why, "expected success, got $first_error" if $expect eq 'same' && @states;
	push @why, "expected every result to be true, got: " . join(' ', grep { !/^(pid|alive) / } split /\n/, $out)
	  if $expect eq 'same' && !@states && grep { !/^(pid|alive) / && $_ ne 't' } split /\n/, $out;
	push @why, sprintf('took %.0fs', $secs) if $secs > 45;
	ok(!@why, "part 2: $name")
	  or diag "part 2 case '$name' failed: " . join('; ', @why) . "\n  SQL: $sql\n  stderr: $err";
	push @p2_fail, $name if @why;
	wait_for_server() if $crashed || !defined $alive;
}
# the last case's backend may crash as it exits
$node->poll_query_until('postgres', 'SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = \'client backend\'');
my ($unattributed) = crashes_in_log(undef);
is(join("\n", @$unattributed), '', 'part 2: no crash in the server log that no case accounts for');
my $part2_time = time - $part2_start;
note sprintf('part 2: %d cases in %.1fs, %d failed; SQLSTATEs seen: %s',
	scalar(@cases), $part2_time, scalar(@p2_fail),
	join(', ', map { "$_ x$p2_states{$_}" } sort keys %p2_states));

is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$postmaster_start, 'the postmaster never restarted');
is($node->safe_psql('postgres', 'SELECT count(*) FROM memoized_prefetch.fk(\'g.g_s\', ARRAY[1, 2], \'{t_id}\', NULL::g.g_t)'),
	'2', 'the server still answers calls after the fuzzing');
note sprintf('total %.1fs', time - $started);

$node->stop('immediate');
done_testing();
