/*-------------------------------------------------------------------------
 *
 * lookup.h
 *		The lookup engine: key sets (keys.c) and the rows of a set of
 *		distinct keys under the active snapshot (lookup.c, btpage.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MP_LOOKUP_H
#define MP_LOOKUP_H

#include "access/htup_details.h"
#include "access/itup.h"
#include "storage/block.h"
#include "storage/itemptr.h"
#include "utils/rel.h"
#include "utils/sortsupport.h"

#include "plan.h"

/* The lookup of one target during a call (lookup.c). */
typedef struct MpLookup
{
	MpIndexedRel *ik;
	Relation	heap;
	Relation	index;
	Relation	rowrel;			/* its rows are of this relation's row type:
								 * heap, or for a leaf of the same layout
								 * the partitioned table (parts.c) */
	bool		via_spi;		/* row-level security applies */
	Bitmapset  *cols;			/* columns to read when via_spi */
	SortSupportData ssup;		/* the index's order of keys (keys.c) */
	bool		hashable;		/* hashfn agrees with the index's equality */
	FmgrInfo	hashfn;
} MpLookup;

/* Distinct keys of a batch, with the map back to the inputs (keys.c). */
typedef struct MpKeySet
{
	int			n;				/* input keys */
	Datum	   *keys;			/* input keys, of the index's key type */
	int		   *group;			/* for each input key, its distinct key */
	int			ndistinct;
	Datum	   *distinct;		/* distinct keys */
	uint32	   *hashes;			/* their hashes, or NULL */
	bool		sorted;			/* distinct keys are in index order */
	int		   *first;			/* for each distinct key, its first input */
} MpKeySet;

/*
 * Rows found for each distinct key of a key set (lookup.c).  Each row's
 * t_data is a composite datum of the relation's row type, with no external
 * TOAST pointers: it can be returned as is, and read with heap_getattr.
 */
typedef struct MpRows
{
	int		   *start;			/* ndistinct + 1 offsets into rows */
	HeapTuple  *rows;
	TransactionId *xmins;		/* each row's heap tuple's raw xmin, or
								 * InvalidTransactionId (a row read from the
								 * index alone); NULL: not known (SPI) */
} MpRows;

/*
 * A user column of such a row, read with desc, the descriptor of the table
 * looked up (whose row type the row has): heap_getattr() without the call of
 * the check some servers' heap_getattr() makes of a composite datum's type
 * against desc, at every read of our own rows' key columns.
 */
static inline Datum
mp_row_getattr(HeapTuple row, int attnum, TupleDesc desc, bool *isnull)
{
	Assert(attnum > 0);
	if (attnum > (int) HeapTupleHeaderGetNatts(row->t_data))
		return getmissingattr(desc, attnum, isnull);
	return fastgetattr(row, attnum, desc, isnull);
}

/* keys.c: key sets */
extern void mp_keyset_build(MpKeySet *ks, MpLookup *lk, Datum *keys, int n);
extern void mp_keyset_distinct(MpKeySet *ks, MpLookup *lk, Datum *keys,
							   uint32 *hashes, int n);
extern int *mp_keyset_order(const MpKeySet *ks, SortSupport ssup);
extern int	mp_keyset_find(const MpKeySet *ks, const int *order, SortSupport ssup,
						   Datum key);

/* keys.c: the order and hash of keys, single or composite */
extern void mp_key_support(MpIndexedRel *ik, Relation index, SortSupport ssup,
						   FmgrInfo *hashfn, MemoryContext cxt);
extern int	mp_key_compare_itup(MpLookup *lk, IndexTuple itup, TupleDesc itupdesc,
								Datum key);

/* lookup.c */
extern void mp_lookup_open(MpLookup *lk, MpIndexedRel *ik, bool via_spi,
						   Bitmapset *cols);
extern void mp_lookup_close(MpLookup *lk);
extern void mp_lookup_rows(MpLookup *lk, const MpKeySet *ks, MpRows *out);
extern void mp_lookup_all(MpLookup *lk, int limit, MpKeySet *ks, MpRows *out);
extern bool mp_lookup_unchanged(MpLookup *lk, ItemPointer tid, TransactionId xmin,
								BlockNumber *nblocks);

#endif							/* MP_LOOKUP_H */
