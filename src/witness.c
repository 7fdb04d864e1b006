/*-------------------------------------------------------------------------
 *
 * witness.c
 *		The readers' proof that a relation is tracked under a snapshot (the
 *		witness), and when a witness can be trusted for the xmin rule.
 *
 * A relation counts as tracked for one call only if both trigger rows, the
 * trigger function's pg_proc row, the lookup index's pg_index row and the
 * relation's pg_class row naming its current storage are visible under the
 * caller's snapshot, as created, and not written by the current transaction.
 * Their xmins are the witness: an entry is only served under the witness it
 * was filled under (cache.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_index.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "track.h"

/* The xmin of a catalog row (always true, to chain in conditions). */
static bool
row_xmin(HeapTuple tuple, TransactionId *xmin)
{
	*xmin = HeapTupleHeaderGetXmin(tuple->t_data);
	return true;
}

/* Whether a witness row was written by the current transaction. */
static bool
own_row(TransactionId xmin)
{
	return TransactionIdIsCurrentTransactionId(xmin);
}

/* One of the two triggers, as track() creates it. */
static bool
witness_trigger(Relation tgrel, Oid relid, const char *name, int16 type,
				Snapshot snap, Oid *funcid, TransactionId *xmin)
{
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		ok = false;

	ScanKeyInit(&key[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&key[1], Anum_pg_trigger_tgname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(name));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, snap, 2, key);
	if (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tuple);

		ok = tg->tgenabled == TRIGGER_FIRES_ALWAYS && tg->tgtype == type &&
			tg->tgnargs == 0 && tg->tgattr.dim1 == 0 &&
			heap_attisnull(tuple, Anum_pg_trigger_tgqual, RelationGetDescr(tgrel)) &&
			(*funcid == InvalidOid || *funcid == tg->tgfoid) &&
			row_xmin(tuple, xmin);
		*funcid = tg->tgfoid;
	}
	systable_endscan(scan);
	return ok;
}

/*
 * A copy of the row of catalog rel whose oid column (indexed by indexid) is
 * oid, as the snapshot sees it; NULL when there is none.
 */
static HeapTuple
catalog_row(Relation rel, Oid indexid, AttrNumber attno, Oid oid, Snapshot snap)
{
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&key, attno, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(oid));
	scan = systable_beginscan(rel, indexid, true, snap, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		tuple = heap_copytuple(tuple);
	systable_endscan(scan);
	return tuple;
}

/* The trigger function is this library's bump(), not a replacement. */
static bool
witness_function(Oid funcid, Snapshot snap, TransactionId *xmin)
{
	Relation	rel = table_open(ProcedureRelationId, AccessShareLock);
	HeapTuple	tuple = catalog_row(rel, ProcedureOidIndexId, Anum_pg_proc_oid,
									funcid, snap);
	bool		ok = false;

	if (tuple)
	{
		bool		srcnull;
		bool		binnull;
		Datum		src = heap_getattr(tuple, Anum_pg_proc_prosrc,
									   RelationGetDescr(rel), &srcnull);
		Datum		bin = heap_getattr(tuple, Anum_pg_proc_probin,
									   RelationGetDescr(rel), &binnull);

		ok = ((Form_pg_proc) GETSTRUCT(tuple))->prolang == ClanguageId &&
			!srcnull && !binnull &&
			strcmp(TextDatumGetCString(src), "memoized_prefetch_bump") == 0 &&
			strstr(TextDatumGetCString(bin), "memoized_prefetch") != NULL &&
			row_xmin(tuple, xmin);
	}
	table_close(rel, AccessShareLock);
	return ok;
}

/* The lookup index was valid under the snapshot. */
static bool
witness_index(Oid indexid, Snapshot snap, TransactionId *xmin)
{
	Relation	rel = table_open(IndexRelationId, AccessShareLock);
	HeapTuple	tuple = catalog_row(rel, IndexRelidIndexId, Anum_pg_index_indexrelid,
									indexid, snap);
	Form_pg_index ix = tuple ? (Form_pg_index) GETSTRUCT(tuple) : NULL;
	bool		ok = ix && ix->indisvalid && ix->indisready && ix->indislive &&
		row_xmin(tuple, xmin);

	table_close(rel, AccessShareLock);
	return ok;
}

/*
 * The relation's storage is the one the snapshot's pg_class row names.  A
 * table rewrite (ALTER TABLE ... TYPE, ADD COLUMN with a volatile default,
 * VACUUM FULL, CLUSTER) fills new storage with rows that an older snapshot
 * cannot see, without a row trigger: a snapshot that predates it reads no
 * row where a newer one reads the table's rows.  Such a snapshot must neither
 * fill entries that later snapshots are served nor be served theirs.
 */
static bool
witness_class(Oid relid, Oid relfilenode, Snapshot snap, TransactionId *xmin)
{
	Relation	rel = table_open(RelationRelationId, AccessShareLock);
	HeapTuple	tuple = catalog_row(rel, ClassOidIndexId, Anum_pg_class_oid,
									relid, snap);
	bool		ok = tuple &&
		((Form_pg_class) GETSTRUCT(tuple))->relfilenode == relfilenode &&
		row_xmin(tuple, xmin);

	table_close(rel, AccessShareLock);
	return ok;
}

/*
 * Whether relid, stored in relfilenode, is tracked for lookups through
 * indexid under snap; fills the witness when it is.
 */
bool
mp_witness(Oid relid, Oid relfilenode, Oid indexid, Snapshot snap,
		   MpWitness *w)
{
	Relation	tgrel;
	Oid			funcid = InvalidOid;
	bool		ok;

	memset(w, 0, sizeof(MpWitness));
	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ok = witness_trigger(tgrel, relid, MP_ROW_TRIGGER, MP_ROW_TRIGGER_TYPE, snap,
						 &funcid, &w->row) &&
		witness_trigger(tgrel, relid, MP_TRUNCATE_TRIGGER, MP_TRUNCATE_TRIGGER_TYPE,
						snap, &funcid, &w->truncate);
	table_close(tgrel, AccessShareLock);
	ok = ok && witness_function(funcid, snap, &w->function) &&
		witness_index(indexid, snap, &w->index) &&
		witness_class(relid, relfilenode, snap, &w->relation) &&
		!own_row(w->row) && !own_row(w->truncate) && !own_row(w->function) &&
		!own_row(w->index) && !own_row(w->relation);
	if (!ok)
		memset(w, 0, sizeof(MpWitness));
	return ok;
}

/* ---------- trust in a witness ---------- */

typedef struct MpTrustKey
{
	Oid			relid;
	Oid			indexid;
} MpTrustKey;

typedef struct MpTrust
{
	MpTrustKey	key;			/* the hash key */
	MpWitness	witness;
	bool		listed;			/* vxids holds the transactions to wait for */
	VirtualTransactionId *vxids;
	int			nvxids;
	bool		trusted;
	/* a snapshot taken once all of them had ended: xmax and sorted xip */
	TransactionId xmax;
	int			xcnt;
	TransactionId *xip;
} MpTrust;

static HTAB *trusts = NULL;		/* MpTrustKey -> MpTrust */

/* Whether snap sees every transaction that tr's snapshot sees as ended. */
static bool
snapshot_covers(Snapshot snap, MpTrust *tr)
{
	uint32		i;

	if (TransactionIdPrecedes(snap->xmax, tr->xmax))
		return false;
	for (i = 0; i < snap->xcnt; i++)
		if (TransactionIdPrecedes(snap->xip[i], tr->xmax) &&
			bsearch(&snap->xip[i], tr->xip, tr->xcnt, sizeof(TransactionId),
					xidComparator) == NULL)
			return false;
	return true;
}

/*
 * Whether the witness w may be used for the xmin rule under snap.
 *
 * Seeing the triggers, the function and the index as the witness shows them
 * does not prove that every writer used them: a writer whose catalog view is
 * older may still be running (bump() replaced by a no-op and restored while
 * it ran takes no lock on the table; a statement keeps the trigger function
 * it resolved), and a transaction prepared before a restart lost its bumps.
 * Such a writer started before the transactions that wrote the witness rows
 * had sent their invalidations, which they do after their commit is visible
 * and before they release their xid locks.  So once those xid locks are
 * free, every such writer is among the transactions running at that moment.
 * When all of those have ended, a snapshot is taken: the witness holds for a
 * snapshot that contains it (sees all of those writers as ended), as both
 * the snapshot an entry was filled under and the one it is served to must.
 * Processes that never write user rows (vacuum, logical decoding) are not
 * waited for.  Nor is trust established in a transaction that has written:
 * its own writes may predate the witness.
 */
bool
mp_witness_trusted(Oid relid, Oid indexid, const MpWitness *w, Snapshot snap)
{
	MpTrustKey	key;
	MpTrust    *tr;
	bool		found;
	int			i;

	if (trusts == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(MpTrustKey);
		ctl.entrysize = sizeof(MpTrust);
		trusts = hash_create("memoized_prefetch trusts", 16, &ctl,
							 HASH_ELEM | HASH_BLOBS);
	}
	key.relid = relid;
	key.indexid = indexid;
	tr = hash_search(trusts, &key, HASH_ENTER, &found);
	if (!found)
		memset((char *) tr + sizeof(MpTrustKey), 0, sizeof(MpTrust) - sizeof(MpTrustKey));
	if (memcmp(&tr->witness, w, sizeof(MpWitness)) != 0)
	{
		tr->witness = *w;
		tr->listed = false;
		tr->trusted = false;
	}

	if (!tr->listed)
	{
		TransactionId writers[5] = {w->row, w->truncate, w->function, w->index,
		w->relation};
		VirtualTransactionId *vxids;
		VirtualTransactionId *copy;
		int			n;

		/* the witness rows' writers must have sent their invalidations */
		for (i = 0; i < lengthof(writers); i++)
			if (TransactionIdIsNormal(writers[i]) &&
				!mp_conditional_xact_lock_wait(writers[i]))
				return false;

		vxids = GetCurrentVirtualXIDs(InvalidTransactionId, false, false,
									  PROC_IN_VACUUM | PROC_IS_AUTOVACUUM |
									  PROC_IN_LOGICAL_DECODING, &n);
		copy = MemoryContextAlloc(TopMemoryContext,
								  sizeof(VirtualTransactionId) * Max(n, 1));
		memcpy(copy, vxids, sizeof(VirtualTransactionId) * n);
		if (tr->vxids)
			pfree(tr->vxids);
		tr->vxids = copy;
		tr->nvxids = n;
		pfree(vxids);
		tr->listed = true;
	}

	if (!tr->trusted)
	{
		Snapshot	latest;
		TransactionId *xip;
		int			kept = 0;

		/* no new snapshot can be taken under a Gather: try again later */
		if (IsInParallelMode())
			return false;

		/* drop the ones that have ended; go on when none is left */
		for (i = 0; i < tr->nvxids; i++)
			if (!VirtualXactLock(tr->vxids[i], false))
				tr->vxids[kept++] = tr->vxids[i];
		tr->nvxids = kept;
		if (kept > 0 || TransactionIdIsValid(GetTopTransactionIdIfAny()))
			return false;

		latest = GetLatestSnapshot();
		xip = MemoryContextAlloc(TopMemoryContext,
								 sizeof(TransactionId) * Max(latest->xcnt, 1));
		memcpy(xip, latest->xip, sizeof(TransactionId) * latest->xcnt);
		if (tr->xip)
			pfree(tr->xip);
		tr->xip = xip;
		tr->xmax = latest->xmax;
		tr->xcnt = latest->xcnt;
		qsort(tr->xip, tr->xcnt, sizeof(TransactionId), xidComparator);
		tr->trusted = true;
	}
	return snapshot_covers(snap, tr);
}

/* Forget the trust in relid's witness for indexid (the cache is gone). */
void
mp_witness_forget(Oid relid, Oid indexid)
{
	MpTrustKey	key;
	MpTrust    *tr;

	if (trusts == NULL)
		return;
	key.relid = relid;
	key.indexid = indexid;
	tr = hash_search(trusts, &key, HASH_FIND, NULL);
	if (tr == NULL)
		return;
	if (tr->vxids)
		pfree(tr->vxids);
	if (tr->xip)
		pfree(tr->xip);
	hash_search(trusts, &key, HASH_REMOVE, NULL);
}

/*
 * Whether relid has the triggers track() creates, in the catalogs as the
 * current transaction sees them; a partitioned table, when it has the
 * TRUNCATE trigger and every leaf that is a table is tracked.
 */
static bool
tracked(Oid relid)
{
	Relation	tgrel = table_open(TriggerRelationId, AccessShareLock);
	Oid			funcid = InvalidOid;
	TransactionId xmin;
	bool		parted = get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE;
	bool		ok;

	ok = (parted ||
		  witness_trigger(tgrel, relid, MP_ROW_TRIGGER, MP_ROW_TRIGGER_TYPE, NULL,
						  &funcid, &xmin)) &&
		witness_trigger(tgrel, relid, MP_TRUNCATE_TRIGGER, MP_TRUNCATE_TRIGGER_TYPE,
						NULL, &funcid, &xmin);
	table_close(tgrel, AccessShareLock);
	ok = ok && witness_function(funcid, NULL, &xmin);
	if (ok && parted)
	{
		ListCell   *lc;

		foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
			if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_RELATION && !tracked(lfirst_oid(lc)))
				return false;
	}
	return ok;
}

/*
 * memoized_prefetch.tracked(target): whether target has the triggers that
 * track() creates, as the witness requires them, in the catalogs as the
 * current transaction sees them (its own changes included).  track() uses it
 * to do nothing when there is nothing to do.
 */
PG_FUNCTION_INFO_V1(memoized_prefetch_tracked);

Datum
memoized_prefetch_tracked(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(tracked(PG_GETARG_OID(0)));
}
