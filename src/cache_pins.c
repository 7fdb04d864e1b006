/*-------------------------------------------------------------------------
 *
 * cache_pins.c
 *		The calls in progress, whose entries stay in the cache until the
 *		outermost of them ends.
 *
 * A call can start while another one runs: from a row-level security
 * policy, a cast or an operator class function that the outer call invokes.
 * Every call has a number (mp_current_call, counting up); an entry records
 * the last call that used it.  Every entry used since the outermost call in
 * progress began (call >= mp_outer_call) may still be held by one of them, so
 * cache_store.c neither evicts nor replaces it, and reset() refuses to run.
 * A call ended by an error is forgotten when its subtransaction or
 * transaction aborts.
 *
 * A streaming scan (scan.c) returns the rows of a call after the call has
 * ended, one per ExecProcNode, so it holds them: a hold counts as a call in
 * progress from before its call begins until the scan lets its rows go (at
 * a rescan that runs the call again, or at the scan's end).  Holds are
 * released by the memory context reset callback of the scan's rows, so an
 * error that frees the executor's memory releases them too, in whatever
 * order scans begin and end; every hold is dropped when the transaction
 * ends, since no scan outlives it (the callbacks that come later are told
 * apart by the transaction count, and do nothing).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"

#include "cache_store.h"

uint64		mp_current_call = 0;
uint64		mp_outer_call = 0;

static SubTransactionId *calls = NULL;	/* each call's subtransaction */
static int	ncalls = 0;
static int	maxcalls = 0;
static int	nholds = 0;			/* holds of streaming scans */
static uint64 xacts_ended = 0;	/* transactions ended in this backend */

static void
pins_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		ncalls = 0;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		nholds = 0;
		xacts_ended++;
	}
}

static void
pins_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		while (ncalls > 0 && calls[ncalls - 1] >= mySubid)
			ncalls--;
}

/* Once per backend, with the cache's memory context. */
void
mp_pins_setup(void)
{
	maxcalls = 4;
	calls = MemoryContextAlloc(mp_cache_cxt, sizeof(SubTransactionId) * maxcalls);
	RegisterXactCallback(pins_xact_callback, NULL);
	RegisterSubXactCallback(pins_subxact_callback, NULL);
}

/* A call begins: what it touches stays until the outermost call ends. */
void
mp_pins_push(void)
{
	calls = mp_grow(calls, sizeof(SubTransactionId), &maxcalls, ncalls + 1);
	mp_current_call++;
	if (ncalls == 0 && nholds == 0)
		mp_outer_call = mp_current_call;
	calls[ncalls++] = GetCurrentSubTransactionId();
}

void
mp_pins_pop(void)
{
	Assert(ncalls > 0);
	ncalls--;
}

/* A streaming scan will keep the rows of the call it is about to make. */
void
mp_pins_hold(MpCacheHold *hold)
{
	mp_current_call++;
	if (ncalls == 0 && nholds == 0)
		mp_outer_call = mp_current_call;
	nholds++;
	hold->xact = xacts_ended;
	hold->held = true;
}

/* The scan's rows are gone; nothing if the hold ended with its transaction. */
void
mp_pins_unhold(MpCacheHold *hold)
{
	if (hold->held && hold->xact == xacts_ended)
	{
		Assert(nholds > 0);
		nholds--;
	}
	hold->held = false;
}

bool
mp_calls_in_progress(void)
{
	return ncalls > 0 || nholds > 0;
}
