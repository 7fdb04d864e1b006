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

static void
pins_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		ncalls = 0;
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
	if (ncalls == 0)
		mp_outer_call = mp_current_call;
	calls[ncalls++] = GetCurrentSubTransactionId();
}

void
mp_pins_pop(void)
{
	Assert(ncalls > 0);
	ncalls--;
}

bool
mp_calls_in_progress(void)
{
	return ncalls > 0;
}
