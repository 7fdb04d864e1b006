/*-------------------------------------------------------------------------
 *
 * btpage.c
 *		The one place that reads btree's private scan state: the leaf page a
 *		btree index scan is reading (BTScanOpaque's currPos), for lookup.c's
 *		merge of a forward scan with sorted keys.
 *
 * nbtree copies the matching entries of a leaf page into currPos.items when
 * it arrives on the page; the scan then returns them one by one
 * (itemIndex).  Knowing where a key lies relative to that page lets the
 * merge move to the next key within the page by binary search rather than
 * step through the entries, or descend again when the key is beyond it.  This
 * state is nbtree's own and changes between majors: everything that reads or
 * writes it is here, behind mp_btpage_current(), mp_btpage_beyond() and
 * mp_btpage_skip_to().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/itup.h"
#include "access/nbtree.h"
#include "access/relscan.h"

#include "btpage.h"
#include "lookup.h"

/*
 * The leaf page the scan is on (InvalidBlockNumber if none), and in *nitems
 * the number of entries it holds at or after the scan key.
 */
BlockNumber
mp_btpage_current(IndexScanDesc scan, int *nitems)
{
	BTScanOpaque so = (BTScanOpaque) scan->opaque;

	if (!BTScanPosIsValid(so->currPos))
	{
		*nitems = 0;
		return InvalidBlockNumber;
	}
	*nitems = so->currPos.lastItem - so->currPos.firstItem + 1;
	return so->currPos.currPage;
}

/*
 * The btree scan's own record of the leaf page it is reading: the entries at
 * or after its scan key, items[0 .. lastItem], the current one itemIndex,
 * with copies of their index tuples (xs_want_itup).  This compares item's
 * key with "key".
 */
static int
compare_item(IndexScanDesc scan, MpLookup *lk, int item, Datum key)
{
	BTScanOpaque so = (BTScanOpaque) scan->opaque;
	IndexTuple	itup = (IndexTuple) (so->currTuples +
									 so->currPos.items[item].tupleOffset);

	return mp_key_compare_itup(lk, itup, scan->xs_itupdesc, key);
}

/*
 * Whether "key" lies beyond the leaf page the scan is reading, so that the
 * scan should descend the index again.
 */
bool
mp_btpage_beyond(IndexScanDesc scan, MpLookup *lk, Datum key)
{
	BTScanOpaque so = (BTScanOpaque) scan->opaque;

	if (!BTScanPosIsValid(so->currPos) || so->currTuples == NULL)
		return true;
	return compare_item(scan, lk, so->currPos.lastItem, key) < 0;
}

/*
 * Move the scan to just before the page's first entry >= "key", which
 * mp_btpage_beyond() said is on this page, by a binary search of the
 * page's items rather than stepping through them.  The entries skipped are
 * on a page the scan has read (and, in SERIALIZABLE, predicate-locked) already.  Called
 * right after index_getnext_tid(), before any heap fetch, so no hint that the
 * current entry is dead (kill_prior_tuple) is pending for the item left.
 */
void
mp_btpage_skip_to(IndexScanDesc scan, MpLookup *lk, Datum key)
{
	BTScanOpaque so = (BTScanOpaque) scan->opaque;
	int			lo = so->currPos.itemIndex + 1;
	int			hi = so->currPos.lastItem;

	Assert(!scan->kill_prior_tuple);
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (compare_item(scan, lk, mid, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	so->currPos.itemIndex = lo - 1;
}
