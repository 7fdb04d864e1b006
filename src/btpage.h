/*-------------------------------------------------------------------------
 *
 * btpage.h
 *		The leaf page a btree index scan is reading (btpage.c), for
 *		lookup.c only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MP_BTPAGE_H
#define MP_BTPAGE_H

#include "access/genam.h"
#include "storage/block.h"

#include "lookup.h"

extern BlockNumber mp_btpage_current(IndexScanDesc scan, int *nitems);
extern bool mp_btpage_beyond(IndexScanDesc scan, MpLookup *lk, Datum key);
extern void mp_btpage_skip_to(IndexScanDesc scan, MpLookup *lk, Datum key);

#endif							/* MP_BTPAGE_H */
