/*-------------------------------------------------------------------------
 *
 * stats.c
 *		The statistics view: every backend's caches and their counters.
 *
 * With shared memory, the view walks every backend's slot under the slot's
 * lock in shared mode (see shmem.c); rows of other backends need the
 * privileges of pg_read_all_stats, as in pg_stat_activity.  Without it, it
 * shows the calling backend's own caches.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/tuplestore.h"

#include "cache.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(memoized_prefetch_stats);

static void
emit(FunctionCallInfo fcinfo, int pid, MpCacheStats *st)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[4 + MP_NCOUNTERS];
	bool		nulls[4 + MP_NCOUNTERS] = {0};
	int			c;

	values[0] = Int32GetDatum(pid);
	values[1] = ObjectIdGetDatum(st->dbid);
	values[2] = ObjectIdGetDatum(st->relid);
	values[3] = ObjectIdGetDatum(st->indexid);
	for (c = 0; c < MP_NCOUNTERS; c++)
		values[4 + c] = Int64GetDatum((int64) pg_atomic_read_u64(&st->counters[c]));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

Datum
memoized_prefetch_stats(PG_FUNCTION_ARGS)
{
	bool		all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (mp_shared_available() && mp_my_slot() != NULL)
	{
		for (i = 0; i < mp_nslots(); i++)
		{
			MpSlot	   *slot = mp_slot(i);
			dsa_pointer dp;

			LWLockAcquire(slot->lock, LW_SHARED);
			if (slot->pid != 0 && (all || slot->pid == MyProcPid))
				for (dp = slot->caches; DsaPointerIsValid(dp);)
				{
					MpCacheStats *st = mp_pool_address(dp);

					emit(fcinfo, slot->pid, st);
					dp = st->next;
				}
			LWLockRelease(slot->lock);
		}
	}
	else
	{
		MpCacheStats *st;

		for (i = 0; (st = mp_cache_local_stats(i)) != NULL; i++)
			emit(fcinfo, MyProcPid, st);
	}
	return (Datum) 0;
}
