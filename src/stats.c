/*-------------------------------------------------------------------------
 *
 * stats.c
 *		The statistics view, reset() and configure().
 *
 * With shared memory, the view walks every backend's slot under the slot's
 * lock in shared mode (see shmem.c); rows of other backends need the
 * privileges of pg_read_all_stats, as in pg_stat_activity.  Without it, it
 * shows the calling backend's own tables.  reset() and configure() act on
 * the calling backend only: no backend touches another's cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "memoized_prefetch.h"

PG_FUNCTION_INFO_V1(memoized_prefetch_stats);
PG_FUNCTION_INFO_V1(memoized_prefetch_reset);
PG_FUNCTION_INFO_V1(memoized_prefetch_configure);

static void
emit(FunctionCallInfo fcinfo, int pid, MpTableStats *st)
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
				for (dp = slot->tables; DsaPointerIsValid(dp);)
				{
					MpTableStats *st = mp_pool_address(dp);

					emit(fcinfo, slot->pid, st);
					dp = st->next;
				}
			LWLockRelease(slot->lock);
		}
	}
	else
	{
		MpTableStats *st;

		for (i = 0; (st = mp_cache_local_stats(i)) != NULL; i++)
			emit(fcinfo, MyProcPid, st);
	}
	return (Datum) 0;
}

Datum
memoized_prefetch_reset(PG_FUNCTION_ARGS)
{
	mp_cache_reset(PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0));
	PG_RETURN_VOID();
}

Datum
memoized_prefetch_configure(PG_FUNCTION_ARGS)
{
	int			cache_size = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be NULL")));
	if (!SearchSysCacheExists1(RELOID, PG_GETARG_DATUM(0)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", PG_GETARG_OID(0))));
	if (!PG_ARGISNULL(1) && cache_size < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache_size must not be negative")));
	mp_cache_configure(PG_GETARG_OID(0), cache_size,
					   !PG_ARGISNULL(2) && PG_GETARG_BOOL(2));
	PG_RETURN_VOID();
}
