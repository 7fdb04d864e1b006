/*-------------------------------------------------------------------------
 *
 * track.c
 *		What a reader needs to know about writers: the trigger that bumps key
 *		buckets, the witness that a relation is tracked under the caller's
 *		snapshot, the relations this transaction wrote, and snapshot
 *		fingerprints.
 *
 * memoized_prefetch.track(t) creates two ENABLE ALWAYS triggers on t that
 * execute memoized_prefetch.bump(): AFTER INSERT OR UPDATE OR DELETE FOR
 * EACH ROW, and AFTER TRUNCATE FOR EACH STATEMENT.  For every old and new
 * row, bump() moves the bucket of each value the caches may be keyed by
 * (the first column of every btree index of t), hashed with the hash
 * function of that index's equality; TRUNCATE moves the relation's coarse
 * bucket.  There is no commit callback and no lock: see cache.c for the
 * rules that make this enough.
 *
 * A transaction's own writes are known by the locks it holds (mp_written).
 *
 * A relation counts as tracked for one call only if both trigger rows, the
 * trigger function's pg_proc row, the lookup index's pg_index row and the
 * relation's pg_class row naming its current storage are visible under the
 * caller's snapshot, as created, and not written by the current transaction.  Their xmins are the witness: an entry is only served
 * under the witness it was filled under.
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
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "memoized_prefetch.h"

#define ROW_TRIGGER "memoized_prefetch_row"
#define TRUNCATE_TRIGGER "memoized_prefetch_truncate"
#define ROW_TRIGGER_TYPE \
	(TRIGGER_TYPE_ROW | TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE)
#define TRUNCATE_TRIGGER_TYPE TRIGGER_TYPE_TRUNCATE
#define COARSE_KEY 0x5bd1e995

/* snapshot fingerprints: the last one seen and its id */
static uint64 xact_epoch = 1;
static uint64 snap_id = 0;
static SnapshotData last_snap;
static uint64 last_snap_epoch = 0;
static TransactionId *last_xip = NULL;
static TransactionId *last_subxip = NULL;
static int	last_xip_cap = 0;
static int	last_subxip_cap = 0;

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
bool
mp_written(Relation rel)
{
	return CheckRelationLockedByMe(rel, RowExclusiveLock, true);
}

static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			xact_epoch++;
			break;
		default:
			break;
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	/* a rolled-back subtransaction changes what the snapshot shows */
	if (event == SUBXACT_EVENT_ABORT_SUB)
		xact_epoch++;
}

void
mp_track_init(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}

/* ---------- snapshot fingerprints ---------- */

static bool
same_snapshot(Snapshot s)
{
	return last_snap_epoch == xact_epoch &&
		s->xmin == last_snap.xmin && s->xmax == last_snap.xmax &&
		s->xcnt == last_snap.xcnt && s->subxcnt == last_snap.subxcnt &&
		s->suboverflowed == last_snap.suboverflowed &&
		s->curcid == last_snap.curcid &&
		memcmp(s->xip, last_xip, sizeof(TransactionId) * s->xcnt) == 0 &&
		memcmp(s->subxip, last_subxip, sizeof(TransactionId) * s->subxcnt) == 0;
}

/*
 * An id for what the snapshot shows: equal ids mean equal xmin, xmax,
 * in-progress transactions, command id, and no transaction end or
 * subtransaction rollback in between.  Only the last snapshot is
 * remembered, so an id is never reused.
 */
uint64
mp_snapshot_id(Snapshot s)
{
	if (snap_id > 0 && same_snapshot(s))
		return snap_id;

	if (s->xcnt > last_xip_cap)
	{
		last_xip_cap = Max(s->xcnt, 16);
		last_xip = last_xip ? repalloc(last_xip, sizeof(TransactionId) * last_xip_cap) :
			MemoryContextAlloc(TopMemoryContext, sizeof(TransactionId) * last_xip_cap);
	}
	if (s->subxcnt > last_subxip_cap)
	{
		last_subxip_cap = Max(s->subxcnt, 16);
		last_subxip = last_subxip ? repalloc(last_subxip, sizeof(TransactionId) * last_subxip_cap) :
			MemoryContextAlloc(TopMemoryContext, sizeof(TransactionId) * last_subxip_cap);
	}
	last_snap.xmin = s->xmin;
	last_snap.xmax = s->xmax;
	last_snap.xcnt = s->xcnt;
	last_snap.subxcnt = s->subxcnt;
	last_snap.suboverflowed = s->suboverflowed;
	last_snap.curcid = s->curcid;
	if (s->xcnt > 0)
		memcpy(last_xip, s->xip, sizeof(TransactionId) * s->xcnt);
	if (s->subxcnt > 0)
		memcpy(last_subxip, s->subxip, sizeof(TransactionId) * s->subxcnt);
	last_snap_epoch = xact_epoch;
	return ++snap_id;
}

/* The snapshot's xmin as a 64-bit FullTransactionId value. */
uint64
mp_snapshot_xmin64(Snapshot s)
{
	return mp_widen_xid(s->xmin, ReadNextFullTransactionId());
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

/* ---------- the witness ---------- */

/* The xmin of a catalog row, unless the current transaction wrote it. */
static bool
row_xmin(HeapTuple tuple, TransactionId *xmin)
{
	*xmin = HeapTupleHeaderGetXmin(tuple->t_data);
	return !TransactionIdIsCurrentTransactionId(*xmin);
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
	ok = witness_trigger(tgrel, relid, ROW_TRIGGER, ROW_TRIGGER_TYPE, snap,
						 &funcid, &w->row) &&
		witness_trigger(tgrel, relid, TRUNCATE_TRIGGER, TRUNCATE_TRIGGER_TYPE,
						snap, &funcid, &w->truncate);
	table_close(tgrel, AccessShareLock);
	ok = ok && witness_function(funcid, snap, &w->function) &&
		witness_index(indexid, snap, &w->index) &&
		witness_class(relid, relfilenode, snap, &w->relation);
	if (!ok)
		memset(w, 0, sizeof(MpWitness));
	return ok;
}

/* ---------- trust in a witness ---------- */

typedef struct MpTrust
{
	Oid			relid;
	Oid			indexid;
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

static List *trusts = NIL;

static int
xid_cmp(const void *a, const void *b)
{
	TransactionId x = *(const TransactionId *) a;
	TransactionId y = *(const TransactionId *) b;

	return (x > y) - (x < y);
}

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
					xid_cmp) == NULL)
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
	MpTrust    *tr = NULL;
	ListCell   *lc;
	int			i;

	foreach(lc, trusts)
	{
		MpTrust    *x = lfirst(lc);

		if (x->relid == relid && x->indexid == indexid)
			tr = x;
	}
	if (tr == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		tr = palloc0(sizeof(MpTrust));
		tr->relid = relid;
		tr->indexid = indexid;
		trusts = lappend(trusts, tr);
		MemoryContextSwitchTo(old);
	}
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
		int			n;

		/* the witness rows' writers must have sent their invalidations */
		for (i = 0; i < lengthof(writers); i++)
			if (TransactionIdIsNormal(writers[i]) &&
				!mp_conditional_xact_lock_wait(writers[i]))
				return false;

		vxids = GetCurrentVirtualXIDs(InvalidTransactionId, false, false,
									  PROC_IN_VACUUM | PROC_IS_AUTOVACUUM |
									  PROC_IN_LOGICAL_DECODING, &n);
		if (tr->vxids)
			pfree(tr->vxids);
		tr->vxids = MemoryContextAlloc(TopMemoryContext,
									   sizeof(VirtualTransactionId) * Max(n, 1));
		memcpy(tr->vxids, vxids, sizeof(VirtualTransactionId) * n);
		tr->nvxids = n;
		pfree(vxids);
		tr->listed = true;
	}

	if (!tr->trusted)
	{
		Snapshot	latest;
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
		tr->xmax = latest->xmax;
		tr->xcnt = latest->xcnt;
		if (tr->xip)
			pfree(tr->xip);
		tr->xip = MemoryContextAlloc(TopMemoryContext,
									 sizeof(TransactionId) * Max(latest->xcnt, 1));
		memcpy(tr->xip, latest->xip, sizeof(TransactionId) * latest->xcnt);
		qsort(tr->xip, tr->xcnt, sizeof(TransactionId), xid_cmp);
		tr->trusted = true;
	}
	return snapshot_covers(snap, tr);
}

/* Forget the trust in relid's witness for indexid (the relation is gone). */
void
mp_track_forget(Oid relid, Oid indexid)
{
	ListCell   *lc;

	foreach(lc, trusts)
	{
		MpTrust    *tr = lfirst(lc);

		if (tr->relid == relid && tr->indexid == indexid)
		{
			trusts = foreach_delete_current(trusts, lc);
			if (tr->vxids)
				pfree(tr->vxids);
			if (tr->xip)
				pfree(tr->xip);
			pfree(tr);
		}
	}
}
