/*-------------------------------------------------------------------------
 *
 * track.c
 *		The writers' side: the trigger of tracked tables that moves key
 *		buckets, and the current transaction's own writes.
 *
 * memoized_prefetch.track(t) creates two ENABLE ALWAYS triggers on t that
 * execute memoized_prefetch.bump(): AFTER INSERT OR UPDATE OR DELETE FOR
 * EACH ROW, and AFTER TRUNCATE FOR EACH STATEMENT (see track.h).  For every
 * old and new row, bump() moves the bucket of each value the caches may be
 * keyed by (the first columns of every btree index of t, as many as any
 * key can have: a single key, a composite primary key, or the columns of a
 * composite foreign key that reverse_fk() looks up), hashed with the hash
 * functions of that index's equality (mp_key_hash_add); TRUNCATE moves the
 * relation's coarse bucket.  There is no commit callback and no lock: see cache.c for
 * the rules that make this enough, and witness.c for how a reader knows the
 * triggers were there for every writer.
 *
 * A transaction's own writes are known by the locks it holds (mp_written).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "shmem.h"
#include "track.h"

#define COARSE_KEY 0x5bd1e995

/* ---------- buckets ---------- */

uint32
mp_bucket_of(Oid relid, uint32 keyhash)
{
	uint32		h = hash_combine(murmurhash32(MyDatabaseId), murmurhash32(relid));

	return hash_combine(h, keyhash);
}

uint32
mp_coarse_bucket(Oid relid)
{
	return mp_bucket_of(relid, COARSE_KEY);
}

/* ---------- the transaction's own writes ---------- */

/*
 * Whether the current transaction may have written rel.  Every way of
 * writing a table's rows (INSERT, UPDATE, DELETE, MERGE, COPY, TRUNCATE, a
 * rewrite, a foreign key's cascade, replication apply) first takes
 * RowExclusiveLock or a stronger lock on it, and keeps it until the
 * transaction ends (or the subtransaction that took it, with its writes,
 * rolls back).  The lock is taken before the first row is written, so the
 * answer is right from then on, also before the row's AFTER trigger fires:
 * in a RETURNING list or an earlier trigger of the same statement.
 */
/*
 * A parallel worker holds only its own locks, not the leader's; workers
 * never write, and under a Gather the xmin rule is not used (no trust is
 * established in parallel mode: witness.c), so only the same-snapshot rule,
 * for the one fixed snapshot of the parallel query, can serve there.
 */
bool
mp_written(Relation rel)
{
	return CheckRelationLockedByMe(rel, RowExclusiveLock, true);
}

/* ---------- the trigger ---------- */

/*
 * The keys caches of a relation may be keyed by: the first one, two, ...
 * key columns of every btree index (a lookup uses an index whose first
 * columns are its key's: resolve.c), each once per hash functions and
 * collations.
 */
typedef struct KeyHash
{
	int			ncols;
	AttrNumber	attno[INDEX_MAX_KEYS];
	Oid			proc[INDEX_MAX_KEYS];
	Oid			collation[INDEX_MAX_KEYS];
	FmgrInfo	hash[INDEX_MAX_KEYS];
} KeyHash;

typedef struct KeyColumns
{
	int			n;
	KeyHash   **keys;
} KeyColumns;

/* The hash function of index column i's equality, or InvalidOid. */
static Oid
column_hash_proc(Relation index, int i)
{
	RegProcedure proc;
	Oid			eqop;

	if (index->rd_index->indkey.values[i] <= 0)
		return InvalidOid;
	eqop = get_opfamily_member(index->rd_opfamily[i], index->rd_opcintype[i],
							   index->rd_opcintype[i], BTEqualStrategyNumber);
	if (!OidIsValid(eqop) || !get_op_hash_functions(eqop, &proc, NULL))
		return InvalidOid;
	return proc;
}

/* Add the key of index's first ncols columns to kc, unless it is there. */
static void
add_key(KeyColumns *kc, Relation index, int ncols, MemoryContext cxt)
{
	KeyHash		k;
	int			i;

	memset(&k, 0, sizeof(KeyHash));
	k.ncols = ncols;
	for (i = 0; i < ncols; i++)
	{
		k.attno[i] = index->rd_index->indkey.values[i];
		k.collation[i] = index->rd_indcollation[i];
		if (!OidIsValid(k.proc[i] = column_hash_proc(index, i)))
			return;
	}
	for (i = 0; i < kc->n; i++)
		if (kc->keys[i]->ncols == ncols &&
			memcmp(kc->keys[i]->attno, k.attno, sizeof(AttrNumber) * ncols) == 0 &&
			memcmp(kc->keys[i]->proc, k.proc, sizeof(Oid) * ncols) == 0 &&
			memcmp(kc->keys[i]->collation, k.collation, sizeof(Oid) * ncols) == 0)
			return;
	for (i = 0; i < ncols; i++)
		fmgr_info_cxt(k.proc[i], &k.hash[i], cxt);
	kc->keys[kc->n] = MemoryContextAlloc(cxt, sizeof(KeyHash));
	memcpy(kc->keys[kc->n], &k, sizeof(KeyHash));
	kc->n++;
}

static KeyColumns *
key_columns(Relation rel, MemoryContext cxt)
{
	List	   *indexes = RelationGetIndexList(rel);
	KeyColumns *kc = MemoryContextAllocZero(cxt, sizeof(KeyColumns));
	ListCell   *lc;

	kc->keys = MemoryContextAlloc(cxt, sizeof(KeyHash *) *
								  Max(INDEX_MAX_KEYS * list_length(indexes), 1));
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);

		int			ncols;

		for (ncols = 1; index->rd_rel->relam == BTREE_AM_OID &&
			 ncols <= index->rd_index->indnkeyatts; ncols++)
			add_key(kc, index, ncols, cxt);
		index_close(index, AccessShareLock);
	}
	return kc;
}

static void
bump_row(Relation rel, KeyColumns *kc, HeapTuple tuple, uint64 xid)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < kc->n; i++)
	{
		KeyHash    *k = kc->keys[i];
		uint32		h = 0;
		int			c;

		for (c = 0; c < k->ncols; c++)
		{
			bool		isnull;
			Datum		value = heap_getattr(tuple, k->attno[c], desc, &isnull);

			if (isnull)
				break;			/* no key has a NULL column */
			h = mp_key_hash_add(h, c,
								DatumGetUInt32(FunctionCall1Coll(&k->hash[c],
																 k->collation[c],
																 value)));
		}
		if (c == k->ncols)
			mp_bucket_bump(mp_bucket(mp_bucket_of(RelationGetRelid(rel), h)), xid);
	}
}

PG_FUNCTION_INFO_V1(memoized_prefetch_bump);

Datum
memoized_prefetch_bump(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	KeyColumns *kc;
	uint64		xid;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("memoized_prefetch.bump() must be fired as an AFTER trigger")));
	rel = td->tg_relation;
	if (!mp_shared_available())
		return PointerGetDatum(NULL);

	xid = U64FromFullTransactionId(GetTopFullTransactionId());
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event))
	{
		mp_bucket_bump(mp_bucket(mp_coarse_bucket(RelationGetRelid(rel))), xid);
		return PointerGetDatum(NULL);
	}

	/* the key columns, once per statement */
	kc = (KeyColumns *) fcinfo->flinfo->fn_extra;
	if (kc == NULL)
		fcinfo->flinfo->fn_extra = kc = key_columns(rel, fcinfo->flinfo->fn_mcxt);

	if (td->tg_trigtuple)
		bump_row(rel, kc, td->tg_trigtuple, xid);
	if (td->tg_newtuple)
		bump_row(rel, kc, td->tg_newtuple, xid);
	return PointerGetDatum(NULL);
}

