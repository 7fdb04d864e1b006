# Logical replication into TRACKED tables (scenario 17 of consistency.md): the
# apply worker runs with session_replication_role = replica, so only the
# ENABLE ALWAYS triggers of track() fire, in the initial table
# synchronization (COPY), in applied changes, in large transactions streamed
# while in progress, in TRUNCATE, and in two-phase transactions prepared and
# committed by the worker.  A subscriber session that keeps its cache warm
# must see every applied change once it is committed there, and nothing
# before; a REPEATABLE READ transaction stays on its snapshot.
#
# The publisher has the bookstore; author, category and book_categories (and a
# filler table) are published.  On the subscriber, book is a local table with
# the same rows, without foreign keys, so that its authors and categories
# arrive only by replication: before the initial synchronization the
# subscriber's cache holds "not found" for all of them.
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
	updated => '1 author_id Ann v2, 2 author_id Bob, 2 translator_id Cy, '
	  . '3 author_id Ann v2, 3 translator_id Ann v2, 4 author_id Di, 4 translator_id Bob, '
	  . '5 author_id Cy',
	streamed => '1 author_id Ann v2, 2 author_id Bob, 2 translator_id Cy v3, '
	  . '3 author_id Ann v2, 3 translator_id Ann v2, 4 author_id Di, 4 translator_id Bob, '
	  . '5 author_id Cy v3',
	prepared => '1 author_id Ann v2, 2 author_id Bob v4, 2 translator_id Cy v3, '
	  . '3 author_id Ann v2, 3 translator_id Ann v2, 4 author_id Di, 4 translator_id Bob v4, '
	  . '5 author_id Cy v3');
my %m2m = (
	initial => $initial_m2m,
	updated =>
	  '1 Poetry, 2 History v2, 2 Poetry, 3 Fiction, 3 History v2, 3 Poetry, 4 Poetry',
	streamed =>
	  '1 Poetry, 2 History v2, 2 Poetry, 3 Fiction, 3 History v2, 3 Poetry, 4 Poetry, 5 Fiction',
	prepared =>
	  '1 Poetry, 2 History v2, 2 Poetry, 3 Fiction, 3 History v2, 3 Poetry, 4 Poetry, 5 Fiction, 5 History v2');

my $publisher = PostgreSQL::Test::Cluster->new('publisher');
$publisher->init(allows_streaming => 'logical');
$publisher->append_conf(
	'postgresql.conf', qq{
logical_decoding_work_mem = 64kB
max_prepared_transactions = 10
});
$publisher->start;

my $subscriber = PostgreSQL::Test::Cluster->new('subscriber');
$subscriber->init;
$subscriber->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'memoized_prefetch'
max_prepared_transactions = 10
});
$subscriber->start;

load_bookstore($publisher);
$publisher->safe_psql(
	'postgres', q{
CREATE TABLE filler (id bigint PRIMARY KEY, pad text NOT NULL);
CREATE PUBLICATION pub FOR TABLE author, category, book_categories, filler;
});

# The subscriber: the published tables, empty and tracked; book local.
$subscriber->safe_psql(
	'postgres', q{
CREATE EXTENSION memoized_prefetch;
CREATE TABLE author (id bigint PRIMARY KEY, name varchar(255) NOT NULL, email varchar(254) NOT NULL);
CREATE TABLE category (id bigint PRIMARY KEY, name varchar(100) NOT NULL);
CREATE TABLE book (
    id bigint PRIMARY KEY,
    title varchar(255) NOT NULL,
    isbn varchar(13) NOT NULL,
    author_id bigint NOT NULL,
    translator_id bigint,
    publisher_id bigint NOT NULL);
CREATE TABLE book_categories (
    id bigint PRIMARY KEY,
    book_id bigint NOT NULL REFERENCES book,
    category_id bigint NOT NULL REFERENCES category,
    UNIQUE (book_id, category_id));
CREATE INDEX ON book_categories (book_id);
CREATE TABLE filler (id bigint PRIMARY KEY, pad text NOT NULL);
INSERT INTO book VALUES
    (1, 'One', '0000000000001', 1, NULL, 1),
    (2, 'Two', '0000000000002', 2, 3, 2),
    (3, 'Three', '0000000000003', 1, 1, 1),
    (4, 'Four', '0000000000004', 4, 2, 2),
    (5, 'Five', '0000000000005', 3, NULL, 1);
SELECT memoized_prefetch.track('author');
SELECT memoized_prefetch.track('category');
SELECT memoized_prefetch.track('book_categories');
});

sub stats
{
	my ($session) = @_;
	return $session->query_safe(
		q{SELECT string_agg(format('%s hit=%s', relation, hits > 0), ', ' ORDER BY relation::text)
		  FROM memoized_prefetch.stats
		  WHERE pid = pg_backend_pid() AND relid IN ('author'::regclass, 'book_categories'::regclass)});
}

# A subscriber session warms its cache with "not found" everywhere.
my $reader = $subscriber->background_psql('postgres');
check_fk($reader, $ids, '', 'before the subscription');
check_m2m($reader, $ids, '', 'before the subscription');
check_fk($reader, $ids, '', 'before the subscription, again');
check_m2m($reader, $ids, '', 'before the subscription, again');

# Initial synchronization (COPY in the table synchronization workers).
my $pubconn = $publisher->connstr . ' dbname=postgres';
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION sub CONNECTION '$pubconn' PUBLICATION pub WITH (streaming = on, two_phase = true)");
$subscriber->wait_for_subscription_sync($publisher, 'sub');

check_fk($reader, $ids, $fk{initial}, 'after the initial synchronization');
check_m2m($reader, $ids, $m2m{initial}, 'after the initial synchronization');
check_fk($reader, $ids, $fk{initial}, 'after the initial synchronization, again');
check_m2m($reader, $ids, $m2m{initial}, 'after the initial synchronization, again');
like(stats($reader), qr/^author hit=t, book_categories hit=t$/,
	'the subscriber session\'s cache served rows');

# A REPEATABLE READ transaction of another subscriber session, warm and with
# its snapshot taken before the changes are applied.
my $rr = $subscriber->background_psql('postgres');
check_fk($rr, $ids, $fk{initial}, 'repeatable read session: warm');
check_m2m($rr, $ids, $m2m{initial}, 'repeatable read session: warm');
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
check_fk($rr, $ids, $fk{initial}, 'repeatable read: before the changes');
check_m2m($rr, $ids, $m2m{initial}, 'repeatable read: before the changes');

# Changes applied by the apply worker: a renamed author and category, link
# rows inserted, deleted and re-pointed.
$publisher->safe_psql(
	'postgres', q{
UPDATE author SET name = 'Ann v2' WHERE id = 1;
UPDATE category SET name = 'History v2' WHERE id = 2;
INSERT INTO book_categories (id, book_id, category_id) VALUES (100, 2, 3);
DELETE FROM book_categories WHERE book_id = 1 AND category_id = 1;
UPDATE book_categories SET book_id = 4 WHERE book_id = 5;
});
$publisher->wait_for_catchup('sub');

check_fk($reader, $ids, $fk{updated}, 'after applied changes');
check_m2m($reader, $ids, $m2m{updated}, 'after applied changes');
check_fk($reader, $ids, $fk{updated}, 'after applied changes, again');
check_m2m($reader, $ids, $m2m{updated}, 'after applied changes, again');
check_fk($rr, $ids, $fk{initial}, 'repeatable read: after the changes');
check_m2m($rr, $ids, $m2m{initial}, 'repeatable read: after the changes');
$rr->query_safe('COMMIT');
check_fk($rr, $ids, $fk{updated}, 'repeatable read session: next transaction');
check_m2m($rr, $ids, $m2m{updated}, 'repeatable read session: next transaction');

# A large transaction, streamed to the subscriber while in progress and
# applied at its commit.
my $big = $publisher->background_psql('postgres');
$big->query_safe('BEGIN');
$big->query_safe("UPDATE author SET name = 'Cy v3' WHERE id = 3");
$big->query_safe("INSERT INTO book_categories (id, book_id, category_id) VALUES (101, 5, 1)");
$big->query_safe("INSERT INTO filler SELECT i, repeat('x', 200) FROM generate_series(1, 5000) i");
# the streamed part has reached the subscriber, the commit has not
$publisher->poll_query_until('postgres',
	q{SELECT stream_txns > 0 FROM pg_stat_replication_slots WHERE slot_name = 'sub'})
  or die 'the transaction was not streamed';
check_fk($reader, $ids, $fk{updated}, 'streamed transaction in progress');
check_m2m($reader, $ids, $m2m{updated}, 'streamed transaction in progress');
$big->query_safe('COMMIT');
$big->quit;
$publisher->wait_for_catchup('sub');
check_fk($reader, $ids, $fk{streamed}, 'streamed transaction committed');
check_m2m($reader, $ids, $m2m{streamed}, 'streamed transaction committed');
check_fk($reader, $ids, $fk{streamed}, 'streamed transaction committed, again');
check_m2m($reader, $ids, $m2m{streamed}, 'streamed transaction committed, again');

# Two-phase: the worker prepares the transaction on the subscriber, then
# commits it there (COMMIT PREPARED runs no hook).
$publisher->safe_psql(
	'postgres', q{
BEGIN;
UPDATE author SET name = 'Bob v4' WHERE id = 2;
INSERT INTO book_categories (id, book_id, category_id) VALUES (102, 5, 2);
PREPARE TRANSACTION 'mp_logical';
});
$publisher->wait_for_catchup('sub');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'1', 'the transaction is prepared on the subscriber');
check_fk($reader, $ids, $fk{streamed}, 'prepared on the subscriber');
check_m2m($reader, $ids, $m2m{streamed}, 'prepared on the subscriber');
check_fk($reader, $ids, $fk{streamed}, 'prepared on the subscriber, again');
$publisher->safe_psql('postgres', "COMMIT PREPARED 'mp_logical'");
$publisher->wait_for_catchup('sub');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'0', 'the transaction is committed on the subscriber');
check_fk($reader, $ids, $fk{prepared}, 'committed prepared on the subscriber');
check_m2m($reader, $ids, $m2m{prepared}, 'committed prepared on the subscriber');
check_fk($reader, $ids, $fk{prepared}, 'committed prepared on the subscriber, again');
check_m2m($reader, $ids, $m2m{prepared}, 'committed prepared on the subscriber, again');

# TRUNCATE, applied by the worker (the statement trigger fires there too).
$publisher->safe_psql('postgres', 'TRUNCATE book_categories');
$publisher->wait_for_catchup('sub');
check_fk($reader, $ids, $fk{prepared}, 'after TRUNCATE');
check_m2m($reader, $ids, '', 'after TRUNCATE');
$publisher->safe_psql('postgres',
	'INSERT INTO book_categories (id, book_id, category_id) VALUES (200, 1, 2), (201, 3, 3)');
$publisher->wait_for_catchup('sub');
check_m2m($reader, $ids, '1 History v2, 3 Poetry', 'after TRUNCATE and inserts');
check_m2m($reader, $ids, '1 History v2, 3 Poetry', 'after TRUNCATE and inserts, again');
like(stats($reader), qr/^author hit=t, book_categories hit=t$/,
	'the subscriber session\'s cache served rows');

$reader->quit;
$rr->quit;
$subscriber->stop;
$publisher->stop;

done_testing();
