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
 * keyed by (the first column of every btree index of t), hashed with the
 * hash function of that index's equality; TRUNCATE moves the relation's
 * coarse bucket.  There is no commit callback and no lock: see cache.c for
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
#include "common/hashfn.h"
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
 * The columns caches of a relation may be keyed by (the first column of every
 * btree index), each once per hash function and collation.
 */
typedef struct KeyColumns
{
	int			n;
	AttrNumber *attno;
	FmgrInfo   *hash;
	Oid		   *collation;
} KeyColumns;

static KeyColumns *
key_columns(Relation rel, MemoryContext cxt)
{
	List	   *indexes = RelationGetIndexList(rel);
	int			max = list_length(indexes);
	KeyColumns *kc = MemoryContextAllocZero(cxt, sizeof(KeyColumns));
	Oid		   *hashproc = palloc(sizeof(Oid) * Max(max, 1));
	ListCell   *lc;

	kc->attno = MemoryContextAlloc(cxt, sizeof(AttrNumber) * Max(max, 1));
	kc->hash = MemoryContextAlloc(cxt, sizeof(FmgrInfo) * Max(max, 1));
	kc->collation = MemoryContextAlloc(cxt, sizeof(Oid) * Max(max, 1));
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		AttrNumber	attno = index->rd_index->indkey.values[0];
		Oid			collation = index->rd_indcollation[0];
		RegProcedure proc;
		Oid			eqop;
		int			i;

		if (index->rd_rel->relam == BTREE_AM_OID && attno > 0 &&
			OidIsValid(eqop = get_opfamily_member(index->rd_opfamily[0],
												  index->rd_opcintype[0],
												  index->rd_opcintype[0],
												  BTEqualStrategyNumber)) &&
			get_op_hash_functions(eqop, &proc, NULL))
		{
			for (i = 0; i < kc->n; i++)
				if (kc->attno[i] == attno && hashproc[i] == proc &&
					kc->collation[i] == collation)
					break;
			if (i == kc->n)
			{
				kc->attno[kc->n] = attno;
				kc->collation[kc->n] = collation;
				hashproc[kc->n] = proc;
				fmgr_info_cxt(proc, &kc->hash[kc->n], cxt);
				kc->n++;
			}
		}
		index_close(index, AccessShareLock);
	}
	pfree(hashproc);
	return kc;
}

static void
bump_row(Relation rel, KeyColumns *kc, HeapTuple tuple, uint64 xid)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < kc->n; i++)
	{
		bool		isnull;
		Datum		value = heap_getattr(tuple, kc->attno[i], desc, &isnull);
		uint32		h;

		if (isnull)
			continue;
		h = DatumGetUInt32(FunctionCall1Coll(&kc->hash[i], kc->collation[i], value));
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

