/*-------------------------------------------------------------------------
 *
 * lookup.c
 *		The lookup engine: the rows of a relation whose key equals each of a
 *		set of distinct keys, under the active snapshot.
 *
 * The normal path scans the btree index directly through the index access
 * method, merging one forward scan with the sorted keys (lookup_index), with
 * the index's own order, equality function and collation: no SPI, no
 * executor.  The scan is run to its end for every key even on a unique
 * index, so that a SERIALIZABLE transaction takes every predicate lock the
 * executor's index scan of each key would (and, after a page that ends with
 * a key's entries, possibly the next leaf page too: the scan steps right
 * where a scan of that key alone might stop).  When the index holds every
 * column the call reads, an entry whose heap page is all-visible is read from
 * the index alone, as an index-only scan reads it.  The heap tuples of the
 * other entries are fetched after the scan in the order of their TIDs, as a
 * bitmap heap scan visits its pages (fetch_pending): the same fetches, each
 * heap page visited once rather than once per key that has rows on it.
 *
 * When row-level security applies to the relation, the same question is
 * asked through SPI as a plain query, so that the rewriter adds the policies
 * exactly as it would to the plain join; only the columns the plain join
 * reads are selected, and the rows are rebuilt in the relation's descriptor
 * with the other columns NULL.
 *
 * The merge reads btree's own record of the leaf page it is on, through
 * btpage.c alone, so that a new major's btree changes touch one file.
 *
 * Callers see rows as HeapTuples in the relation's descriptor, grouped per
 * distinct key (MpRows), whichever path produced them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/itup.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "btpage.h"
#include "lookup.h"

void
mp_lookup_open(MpLookup *lk, MpIndexedRel *ik, bool via_spi, Bitmapset *cols)
{
	memset(lk, 0, sizeof(MpLookup));
	lk->ik = ik;
	lk->heap = table_open(ik->relid, AccessShareLock);
	lk->index = index_open(ik->indexid, AccessShareLock);
	lk->rowrel = lk->heap;
	lk->via_spi = via_spi;
	lk->cols = cols;

	lk->hashable = OidIsValid(ik->hashproc);
	mp_key_support(ik, lk->index, &lk->ssup, &lk->hashfn, CurrentMemoryContext);
}

void
mp_lookup_close(MpLookup *lk)
{
	index_close(lk->index, NoLock);
	table_close(lk->heap, NoLock);
}

/*
 * Lay out n rows found in any order, rowkey[i] being the distinct key of
 * rows[i] and xmins[i] (if xmins is given) its heap tuple's raw xmin, as
 * out->start/out->rows/out->xmins grouped by key.
 */
static void
rows_by_key(MpRows *out, int nd, HeapTuple *rows, TransactionId *xmins,
			const int *rowkey, int n)
{
	int		   *fill = palloc0(sizeof(int) * (nd + 1));
	int			i;
	int			k;

	for (i = 0; i < n; i++)
		fill[rowkey[i]]++;
	out->start[0] = 0;
	for (k = 0; k < nd; k++)
		out->start[k + 1] = out->start[k] + fill[k];
	memset(fill, 0, sizeof(int) * nd);
	out->rows = palloc(sizeof(HeapTuple) * Max(n, 1));
	out->xmins = xmins ? palloc(sizeof(TransactionId) * Max(n, 1)) : NULL;
	for (i = 0; i < n; i++)
	{
		int			to = out->start[rowkey[i]] + fill[rowkey[i]]++;

		out->rows[to] = rows[i];
		if (xmins)
			out->xmins[to] = xmins[i];
	}
	pfree(fill);
}

/*
 * A copy of a heap tuple whose t_data is a composite datum of desc's row
 * type (the lookup's rowrel's), with external TOAST values fetched (a TOAST
 * pointer must not outlive the snapshot that read it).  Columns added since
 * the tuple was written read as their defaults, as for any short composite.
 */
static HeapTuple
row_copy(HeapTuple tuple, TupleDesc desc)
{
	HeapTuple	row = palloc(sizeof(HeapTupleData));
	Datum		d = heap_copy_tuple_as_datum(tuple, desc);

	row->t_data = (HeapTupleHeader) DatumGetPointer(d);
	row->t_len = HeapTupleHeaderGetDatumLength(row->t_data);
	row->t_self = tuple->t_self;
	row->t_tableOid = tuple->t_tableOid;
	return row;
}

/* Our copy of the heap tuple a fetch put in slot, and its raw xmin. */
static HeapTuple
slot_row(TupleTableSlot *slot, TupleDesc desc, TransactionId *xmin)
{
	bool		shouldfree;
	HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, false, &shouldfree);
	HeapTuple	row = row_copy(tuple, desc);

	*xmin = HeapTupleHeaderGetRawXmin(tuple->t_data);
	if (shouldfree)
		heap_freetuple(tuple);
	return row;
}

/*
 * The visible heap tuples of the index entry the scan is on, one per call
 * (more than one only under a non-MVCC snapshot), with the raw xmin of each
 * in *xmin; NULL when there are no more.  *first is true on the first call
 * for an entry.
 */
static HeapTuple
entry_next_row(IndexScanDesc scan, TupleTableSlot *slot, TupleDesc desc,
			   bool *first, TransactionId *xmin)
{
	while (*first || scan->xs_heap_continue)
	{
		*first = false;
		if (index_fetch_heap(scan, slot))
			return slot_row(slot, desc, xmin);
	}
	return NULL;
}

/* An index entry whose heap tuple is read after the scan: its TID and key. */
typedef struct Pending
{
	ItemPointerData tid;
	int			key;
} Pending;

static int
pending_cmp(const void *a, const void *b)
{
	return ItemPointerCompare(&((Pending *) unconstify(void *, a))->tid,
							  &((Pending *) unconstify(void *, b))->tid);
}

/* The rows found so far by lookup_index: rows[i] of key rowkey[i]. */
typedef struct Found
{
	int			n;
	int			cap;
	HeapTuple  *rows;
	TransactionId *xmins;
	int		   *rowkey;
} Found;

static void
found_add(Found *f, HeapTuple row, TransactionId xmin, int key)
{
	if (f->n >= f->cap)
	{
		int			c = f->cap;

		f->rows = mp_grow(f->rows, sizeof(HeapTuple), &c, f->n + 1);
		c = f->cap;
		f->xmins = mp_grow(f->xmins, sizeof(TransactionId), &c, f->n + 1);
		f->rowkey = mp_grow(f->rowkey, sizeof(int), &f->cap, f->n + 1);
	}
	f->rowkey[f->n] = key;
	f->xmins[f->n] = xmin;
	f->rows[f->n++] = row;
}

/*
 * The visible heap tuples of the index entries "pending", read in the
 * order of their TIDs, as a bitmap heap scan reads its pages: every entry
 * of a heap page in one visit (one buffer lookup and pin, one pruning
 * check), whatever the order of their keys, and the pages in ascending
 * order.  Each fetch is the index scan's own (a HOT chain followed, a
 * predicate lock on the tuple read), with more than one tuple per entry
 * only under a non-MVCC snapshot.  A key's entries were already in TID
 * order in the index (a btree orders equal keys by TID), so its rows come
 * in the order an inline fetch gives them.
 */
static void
fetch_pending(MpLookup *lk, Pending *pending, int npending, TupleTableSlot *slot,
			  TupleDesc desc, Found *f)
{
	IndexFetchTableData *fetch = table_index_fetch_begin(lk->heap);
	Snapshot	snapshot = GetActiveSnapshot();
	int			i;

	qsort(pending, npending, sizeof(Pending), pending_cmp);
	for (i = 0; i < npending; i++)
	{
		bool		call_again = false;
		bool		all_dead = false;

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		do
		{
			TransactionId xmin;
			HeapTuple	row;

			if (!table_index_fetch_tuple(fetch, &pending[i].tid, snapshot, slot,
										 &call_again, &all_dead))
				break;
			pgstat_count_heap_fetch(lk->index);
			row = slot_row(slot, desc, &xmin);
			found_add(f, row, xmin, pending[i].key);
		} while (call_again);
	}
	table_index_fetch_end(fetch);
}

/*
 * The row of the index entry the scan is on, read from the index tuple: the
 * index's columns, the others NULL.  Only for an index that returns every
 * column the call reads, on a heap page all-visible in the visibility map.
 * As the executor's index-only scan does, the heap page is predicate-locked
 * in place of the heap tuple.
 */
static HeapTuple
index_row(MpLookup *lk, IndexScanDesc scan, TupleDesc desc, Datum *values,
		  bool *nulls)
{
	Form_pg_index ix = lk->index->rd_index;
	HeapTuple	row;
	int			i;

	for (i = 0; i < desc->natts; i++)
		nulls[i] = true;
	for (i = 0; i < ix->indnatts; i++)
	{
		AttrNumber	attno = ix->indkey.values[i];

		if (attno > 0)
			values[attno - 1] = index_getattr(scan->xs_itup, i + 1,
											  scan->xs_itupdesc, &nulls[attno - 1]);
	}
	row = heap_form_tuple(desc, values, nulls);	/* a composite datum too */
	row->t_self = scan->xs_heaptid;
	row->t_tableOid = RelationGetRelid(lk->heap);
	PredicateLockPage(lk->heap, ItemPointerGetBlockNumber(&scan->xs_heaptid),
					  scan->xs_snapshot);
	return row;
}

/*
 * The index path.  The distinct keys are sorted in index order, so one scan
 * "first key <= key <= last key" walks the index forward and is merged with
 * them: a key equal to the entry gets the entry's visible heap tuple, keys
 * the scan has passed are done; the scan moves to the next key by a binary
 * search of the leaf page it is reading when the key is on it, and is
 * restarted at the key (one descent) when it is not.  Dense keys thus cost a
 * range scan.  But the btree reads the whole rest of a leaf page on arrival,
 * checking every entry against the scan keys, which costs more than a
 * descent per key when the keys are sparse: when the page left had more than
 * TIGHT_ENTRIES entries of no key per key it served, the next
 * TIGHT_DESCENTS descents are bounded to their own key ("key <= k <= key",
 * as a scan per key would be), and the one after measures again.  Each key's
 * entries are read to the end, as the executor's scan reads them.
 */
/*
 * The scan keys of lookup_index, "lower <= key <= upper" in the index's
 * order of keys: one scan key per bound on the first column for a single
 * key.  For a composite key, when "tight" (lower and upper are the key
 * looked for), an equality per column, all of which the btree checks as
 * required, so that the scan ends right after the key's entries; else a row
 * comparison "(a, b) >= (x, y)" below, built as the executor builds one (a
 * member per column with the column's comparison function), so that a
 * descent lands on the key, and the first column's "a <= x" above (repeated
 * to fill the nkeys scan keys of the scan), which ends the scan after the
 * last key's first column; the merge ends by itself after the last key.  A
 * row comparison above would not do: the btree ends a scan on one only
 * when its first column fails.
 */
static void
scan_bounds(MpLookup *lk, ScanKey skeys, ScanKey members, Datum lower, Datum upper,
			bool tight, FmgrInfo *lefunc, FmgrInfo *eqfuncs)
{
	MpIndexedRel *ik = lk->ik;
	int			i;

	if (ik->nkeys == 1)
	{
		skeys[0].sk_argument = lower;
		skeys[1].sk_argument = upper;
		return;
	}
	if (tight)
	{
		for (i = 0; i < ik->nkeys; i++)
			ScanKeyEntryInitializeWithInfo(&skeys[i], 0, i + 1, BTEqualStrategyNumber,
										   InvalidOid, ik->cols[i].collation,
										   &eqfuncs[i], mp_key_field(ik, lower, i));
		return;
	}
	/* made anew each time: the btree marks the members it uses */
	for (i = 0; i < ik->nkeys; i++)
		ScanKeyEntryInitializeWithInfo(&members[i],
									   SK_ROW_MEMBER | (i == ik->nkeys - 1 ? SK_ROW_END : 0),
									   i + 1, BTGreaterEqualStrategyNumber, InvalidOid,
									   ik->cols[i].collation,
									   index_getprocinfo(lk->index, i + 1, BTORDER_PROC),
									   mp_key_field(ik, lower, i));
	/* the header, as the executor makes one: no function of its own */
	memset(&skeys[0], 0, sizeof(ScanKeyData));
	skeys[0].sk_flags = SK_ROW_HEADER;
	skeys[0].sk_attno = 1;
	skeys[0].sk_strategy = BTGreaterEqualStrategyNumber;
	skeys[0].sk_argument = PointerGetDatum(members);
	for (i = 1; i < ik->nkeys; i++)
		ScanKeyEntryInitializeWithInfo(&skeys[i], 0, 1, BTLessEqualStrategyNumber,
									   InvalidOid, ik->collation, lefunc,
									   mp_key_field(ik, upper, 0));
}

/* The key of index entry itup, or false when a key column of it is NULL. */
static bool
entry_key(MpLookup *lk, IndexTuple itup, TupleDesc itupdesc, Datum *key)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];
	int			i;

	for (i = 0; i < lk->ik->nkeys; i++)
		values[i] = index_getattr(itup, i + 1, itupdesc, &nulls[i]);
	if (lk->ik->nkeys == 1)
	{
		*key = values[0];
		return !nulls[0];
	}
	return mp_key_from_values(lk->ik, NULL, values, nulls, key);
}

#define TIGHT_DESCENTS 63
#define TIGHT_ENTRIES 32

static void
lookup_index(MpLookup *lk, const MpKeySet *ks, MpRows *out)
{
	MpIndexedRel *ik = lk->ik;
	TupleDesc	desc = RelationGetDescr(lk->rowrel);
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int			i;
	int			nskeys = Max(ik->nkeys, 2);	/* the same for every descent */
	ScanKeyData *skeys = palloc(sizeof(ScanKeyData) * nskeys);
	ScanKeyData *members = ik->nkeys > 1 ?
		palloc(sizeof(ScanKeyData) * ik->nkeys) : NULL;
	FmgrInfo   *eqfuncs = ik->nkeys > 1 ?
		palloc(sizeof(FmgrInfo) * ik->nkeys) : NULL;
	FmgrInfo	gefunc;
	FmgrInfo	lefunc;
	int			nd = ks->ndistinct;
	int		   *order = mp_keyset_order(ks, &lk->ssup);
	Found		f;
	Pending    *pending = palloc(sizeof(Pending) * (nd + 1));
	int			npending = 0;
	int			maxpending = nd + 1;
	int			j = 0;
	bool		positioned = false;
	bool		tight = false;
	int			tight_left = 0;
	BlockNumber page = InvalidBlockNumber;	/* the leaf page being read */
	int			page_unused = 0;	/* entries it read of no key */
	int			jpage = 0;		/* the first key not passed on arrival */
	int			nitems;			/* entries on the page */
	bool		indexonly = ik->indexonly && IsMVCCSnapshot(GetActiveSnapshot());
	Buffer		vmbuffer = InvalidBuffer;
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);

	fmgr_info(ik->geproc, &gefunc);
	fmgr_info(ik->leproc, &lefunc);
	ScanKeyEntryInitializeWithInfo(&skeys[0], 0, 1, BTGreaterEqualStrategyNumber,
								   InvalidOid, ik->collation, &gefunc,
								   (Datum) 0);
	ScanKeyEntryInitializeWithInfo(&skeys[1], 0, 1, BTLessEqualStrategyNumber,
								   InvalidOid, ik->collation, &lefunc,
								   (Datum) 0);
	for (i = 0; i < ik->nkeys && ik->nkeys > 1; i++)
		fmgr_info(get_opcode(ik->cols[i].eqop), &eqfuncs[i]);
	f.n = 0;
	f.cap = nd + 1;
	f.rows = palloc(sizeof(HeapTuple) * f.cap);
	f.xmins = palloc(sizeof(TransactionId) * f.cap);
	f.rowkey = palloc(sizeof(int) * f.cap);
	scan = mp_index_beginscan(lk->heap, lk->index, GetActiveSnapshot(), nskeys, 0);
	scan->xs_want_itup = true;
	slot = table_slot_create(lk->heap, NULL);

	/* j walks the keys in index order */
	while (j < nd)
	{
		int			cmp = 0;

		CHECK_FOR_INTERRUPTS();
		if (!positioned)
		{
			tight = tight_left > 0;
			if (tight)
				tight_left--;
			scan_bounds(lk, skeys, members, ks->distinct[order[j]],
						ks->distinct[order[tight ? j : nd - 1]], tight, &lefunc,
						eqfuncs);
			index_rescan(scan, skeys, nskeys, NULL, 0);
			positioned = true;
			page = InvalidBlockNumber;
		}
		if (index_getnext_tid(scan, ForwardScanDirection) == NULL)
		{
			/* the scan has read every entry up to its upper bound */
			if (!tight)
				break;
			j++;
			positioned = false;
			continue;
		}
		if (mp_btpage_current(scan, &nitems) != page)
		{
			page = mp_btpage_current(scan, &nitems);
			page_unused = nitems;
			jpage = j;
		}

		/* the keys this entry has passed are done */
		while (j < nd &&
			   (cmp = mp_key_compare_itup(lk, scan->xs_itup, scan->xs_itupdesc,
										  ks->distinct[order[j]])) > 0)
			j++;
		if (j == nd)
			break;
		if (cmp < 0)
		{
			if (mp_btpage_beyond(scan, lk, ks->distinct[order[j]]))
			{
				/* sparse keys: the next descents read only their key */
				if (!tight && page_unused > (j - jpage) * TIGHT_ENTRIES)
					tight_left = TIGHT_DESCENTS;
				positioned = false;
			}
			else
				mp_btpage_skip_to(scan, lk, ks->distinct[order[j]]);
			continue;
		}

		page_unused--;

		/*
		 * An entry of key order[j]: as in an index-only scan, the entry
		 * itself when its heap page is all-visible (read after the entry, so
		 * a concurrent insertion that cleared the bit is seen); else its
		 * visible heap tuple, if any, read after the scan (fetch_pending).
		 */
		if (indexonly &&
			VM_ALL_VISIBLE(lk->heap, ItemPointerGetBlockNumber(&scan->xs_heaptid),
						   &vmbuffer))
			found_add(&f, index_row(lk, scan, desc, values, nulls),
					  InvalidTransactionId, order[j]);	/* no xmin from the index */
		else
		{
			if (npending == maxpending)
				pending = mp_grow(pending, sizeof(Pending), &maxpending, npending + 1);
			pending[npending].tid = scan->xs_heaptid;
			pending[npending++].key = order[j];
		}
	}
	if (BufferIsValid(vmbuffer))
		ReleaseBuffer(vmbuffer);
	index_endscan(scan);
	fetch_pending(lk, pending, npending, slot, desc, &f);
	ExecDropSingleTupleTableSlot(slot);
	rows_by_key(out, nd, f.rows, f.xmins, f.rowkey, f.n);
}

/*
 * Whether the heap tuple at tid, of raw xmin "xmin", is visible under the
 * active snapshot: then it is the very row version that was read there
 * before (see cache.c, validated hits).  *nblocks caches the relation's size
 * for the call (InvalidBlockNumber: not read yet); a tid beyond it is gone.
 */
bool
mp_lookup_unchanged(MpLookup *lk, ItemPointer tid, TransactionId xmin,
					BlockNumber *nblocks)
{
	HeapTupleData tuple;
	Buffer		buffer;
	bool		same;

	if (*nblocks == InvalidBlockNumber)
		*nblocks = RelationGetNumberOfBlocks(lk->heap);
	if (ItemPointerGetBlockNumber(tid) >= *nblocks)
		return false;
	tuple.t_self = *tid;
	if (!heap_fetch(lk->heap, GetActiveSnapshot(), &tuple, &buffer, false))
		return false;
	same = HeapTupleHeaderGetRawXmin(tuple.t_data) == xmin;
	ReleaseBuffer(buffer);
	return same;
}

/*
 * Every row of the relation in index order, grouped by key, up to "limit"
 * distinct keys: ks gets the keys (ks->n == ks->ndistinct), out their rows.
 */
void
mp_lookup_all(MpLookup *lk, int limit, MpKeySet *ks, MpRows *out)
{
	TupleDesc	desc = RelationGetDescr(lk->rowrel);
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int			cap = 1024;
	int			kcap = 1024;
	int			n = 0;
	int			nd = 0;
	TransactionId xmin;
	int16		typlen;
	bool		typbyval;

	get_typlenbyval(lk->ik->keytype, &typlen, &typbyval);
	memset(ks, 0, sizeof(MpKeySet));
	ks->distinct = palloc(sizeof(Datum) * kcap);
	out->start = palloc(sizeof(int) * (kcap + 1));
	out->rows = palloc(sizeof(HeapTuple) * cap);
	out->xmins = palloc(sizeof(TransactionId) * cap);

	scan = mp_index_beginscan(lk->heap, lk->index, GetActiveSnapshot(), 0, 0);
	scan->xs_want_itup = true;
	index_rescan(scan, NULL, 0, NULL, 0);
	slot = table_slot_create(lk->heap, NULL);
	while (index_getnext_tid(scan, ForwardScanDirection) != NULL)
	{
		Datum		key;
		bool		first = true;
		HeapTuple	row;

		CHECK_FOR_INTERRUPTS();
		if (!entry_key(lk, scan->xs_itup, scan->xs_itupdesc, &key))
			continue;
		if (nd == 0 ||
			ApplySortComparator(ks->distinct[nd - 1], false, key, false, &lk->ssup) != 0)
		{
			if (nd == limit)
				break;
			if (nd + 1 >= kcap)
			{
				int			c = kcap;

				ks->distinct = mp_grow(ks->distinct, sizeof(Datum), &c, nd + 2);
				out->start = mp_grow(out->start, sizeof(int), &kcap, nd + 2);
			}
			ks->distinct[nd] = datumCopy(key, typbyval, typlen);
			out->start[nd] = n;
			nd++;
		}
		while ((row = entry_next_row(scan, slot, desc, &first, &xmin)) != NULL)
		{
			int			c = cap;

			out->rows = mp_grow(out->rows, sizeof(HeapTuple), &c, n + 1);
			out->xmins = mp_grow(out->xmins, sizeof(TransactionId), &cap, n + 1);
			out->xmins[n] = xmin;
			out->rows[n++] = row;
		}
	}
	out->start[nd] = n;
	ks->n = ks->ndistinct = nd;
	ks->keys = ks->distinct;
	ks->sorted = true;			/* read in index order */
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
}

/* The operator "=" of a key column, schema-qualified for a query. */
static char *
key_operator(Oid eqop)
{
	HeapTuple	optup = SearchSysCache1(OPEROID, ObjectIdGetDatum(eqop));
	Form_pg_operator op;
	char	   *name;

	if (!HeapTupleIsValid(optup))
		elog(ERROR, "cache lookup failed for operator %u", eqop);
	op = (Form_pg_operator) GETSTRUCT(optup);
	name = psprintf("OPERATOR(%s.%s)",
					quote_identifier(get_namespace_name(op->oprnamespace)),
					NameStr(op->oprname));
	ReleaseSysCache(optup);
	return name;
}

/*
 * The query that reads the given columns of the rows whose key is one of
 * the key array $1 (a single key), or of the keys whose columns are the
 * arrays $1, $2, ... (a composite key), each column compared by its index's
 * "=" as the lookup through the index compares it.
 */
static char *
spi_query(MpLookup *lk, AttrNumber *attnos, int natts)
{
	Relation	rel = lk->heap;
	Oid			relid = RelationGetRelid(rel);
	MpIndexedRel *ik = lk->ik;
	StringInfoData q;
	int			i;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	for (i = 0; i < natts; i++)
		appendStringInfo(&q, "%st.%s", i > 0 ? ", " : "",
						 quote_identifier(get_attname(relid, attnos[i], false)));

	/* a partitioned table is read whole, a table never with children */
	appendStringInfo(&q, " FROM %s%s t WHERE ",
					 rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)));
	if (ik->nkeys == 1)
	{
		appendStringInfo(&q, "t.%s %s ANY ($1)",
						 quote_identifier(get_attname(relid, ik->attno, false)),
						 key_operator(ik->eqop));
		return q.data;
	}
	appendStringInfoString(&q, "EXISTS (SELECT FROM unnest(");
	for (i = 0; i < ik->nkeys; i++)
		appendStringInfo(&q, "%s$%d", i > 0 ? ", " : "", i + 1);
	appendStringInfoString(&q, ") AS k(");
	for (i = 0; i < ik->nkeys; i++)
		appendStringInfo(&q, "%sk%d", i > 0 ? ", " : "", i + 1);
	appendStringInfoString(&q, ") WHERE ");
	for (i = 0; i < ik->nkeys; i++)
		appendStringInfo(&q, "%st.%s %s k.k%d", i > 0 ? " AND " : "",
						 quote_identifier(get_attname(relid, ik->cols[i].attno, false)),
						 key_operator(ik->cols[i].eqop), i + 1);
	appendStringInfoChar(&q, ')');
	return q.data;
}

/* An array of the keys of ks, or of their column "field" (composite). */
static Datum
key_array(MpLookup *lk, const MpKeySet *ks, int field, Oid *arraytype)
{
	Oid			type = field < 0 ? lk->ik->keytype : lk->ik->cols[field].keytype;
	Datum	   *elems = ks->distinct;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			i;

	*arraytype = get_array_type(type);
	if (!OidIsValid(*arraytype))
		elog(ERROR, "no array type for type %u", type);
	if (field >= 0)
	{
		elems = palloc(sizeof(Datum) * Max(ks->ndistinct, 1));
		for (i = 0; i < ks->ndistinct; i++)
			elems[i] = mp_key_field(lk->ik, ks->distinct[i], field);
	}
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, ks->ndistinct, type, typlen,
										   typbyval, typalign));
}

static void
lookup_spi(MpLookup *lk, const MpKeySet *ks, MpRows *out)
{
	MemoryContext callcxt = CurrentMemoryContext;
	MpIndexedRel *ik = lk->ik;
	TupleDesc	desc = RelationGetDescr(lk->rowrel);
	AttrNumber *attnos = palloc(sizeof(AttrNumber) * desc->natts);
	int			natts = 0;
	bool		wholerow = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, lk->cols);
	Oid			argtypes[INDEX_MAX_KEYS];
	Datum		args[INDEX_MAX_KEYS];
	Datum	   *values;
	bool	   *nulls;
	int		   *keyof;
	int		   *order;
	HeapTuple  *rows;
	uint64		i;
	int			a;

	/* The key columns first, then what the plain join reads. */
	for (a = 0; a < ik->nkeys; a++)
		attnos[natts++] = ik->nkeys == 1 ? ik->attno : ik->cols[a].attno;
	for (a = 1; a <= desc->natts; a++)
	{
		int			k;

		for (k = 0; k < ik->nkeys; k++)
			if (attnos[k] == a)
				break;
		if (TupleDescAttr(desc, a - 1)->attisdropped || k < ik->nkeys)
			continue;
		if (wholerow || bms_is_member(a - FirstLowInvalidHeapAttributeNumber, lk->cols))
			attnos[natts++] = a;
	}
	for (a = 0; a < ik->nkeys; a++)
		args[a] = key_array(lk, ks, ik->nkeys == 1 ? -1 : a, &argtypes[a]);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* read_only: run under the caller's active snapshot, no new one */
	if (SPI_execute_with_args(spi_query(lk, attnos, natts), ik->nkeys, argtypes,
							  args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");

	MemoryContextSwitchTo(callcxt);
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	keyof = palloc(sizeof(int) * (SPI_processed + 1));
	rows = palloc(sizeof(HeapTuple) * (SPI_processed + 1));
	order = mp_keyset_order(ks, &lk->ssup);

	/* rebuild each row in the relation's descriptor, and find its key */
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple;
		Datum		key;

		for (a = 0; a < desc->natts; a++)
		{
			values[a] = (Datum) 0;
			nulls[a] = true;
		}
		for (a = 0; a < natts; a++)
			values[attnos[a] - 1] = SPI_getbinval(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc,
												  a + 1, &nulls[attnos[a] - 1]);
		tuple = heap_form_tuple(desc, values, nulls);
		keyof[i] = mp_key_of_row(ik, tuple, desc, &key) ?
			mp_keyset_find(ks, order, &lk->ssup, key) : -1;
		if (keyof[i] < 0)
			elog(ERROR, "row-level security lookup returned an unexpected key");
		rows[i] = row_copy(tuple, desc);
	}
	rows_by_key(out, ks->ndistinct, rows, NULL, keyof, (int) SPI_processed);

	SPI_finish();
	MemoryContextSwitchTo(callcxt);
}

/*
 * Fill "out" with the rows of every distinct key of "ks": the rows of key k
 * are out->rows[out->start[k] .. out->start[k + 1] - 1].
 */
void
mp_lookup_rows(MpLookup *lk, const MpKeySet *ks, MpRows *out)
{
	out->start = palloc(sizeof(int) * (ks->ndistinct + 1));
	if (ks->ndistinct == 0)
	{
		out->start[0] = 0;
		out->rows = NULL;
		out->xmins = NULL;
	}
	else if (lk->via_spi)
		lookup_spi(lk, ks, out);
	else
		lookup_index(lk, ks, out);
}
