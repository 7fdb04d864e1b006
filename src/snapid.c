/*-------------------------------------------------------------------------
 *
 * snapid.c
 *		Snapshot fingerprints: an id per distinct snapshot, for the
 *		same-snapshot rule of the cache, and a snapshot's xmin in 64 bits.
 *
 * Two snapshots with the same id have the same xmin, xmax, in-progress
 * transactions, subtransactions and command id, with no transaction end or
 * subtransaction rollback between them: they show the same rows, except for
 * the current transaction's own writes, which the cache never serves across
 * (the transaction then holds a write lock: track.c, mp_written).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/snapshot.h"

#include "track.h"

/* snapshot fingerprints: the last one seen and its id */
static uint64 xact_epoch = 1;
static uint64 snap_id = 0;
static SnapshotData last_snap;
static uint64 last_snap_epoch = 0;
static TransactionId *last_xip = NULL;
static TransactionId *last_subxip = NULL;
static int	last_xip_cap = 0;
static int	last_subxip_cap = 0;

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
mp_snapid_init(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}

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

/* xid as a 64-bit FullTransactionId value; xid must not be after next. */
static uint64
widen_xid(TransactionId xid, FullTransactionId next)
{
	uint32		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next))
		epoch--;
	return U64FromFullTransactionId(FullTransactionIdFromEpochAndXid(epoch, xid));
}

/* The snapshot's xmin as a 64-bit FullTransactionId value. */
uint64
mp_snapshot_xmin64(Snapshot s)
{
	return widen_xid(s->xmin, ReadNextFullTransactionId());
}
