/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		Shared state: key buckets, the pool the caches live in, and one slot
 *		per backend for the statistics.
 *
 * Exists only when the library is in shared_preload_libraries; without it
 * every function here reports "no shared state" and the caches live in
 * backend-local memory (cache_store.c).
 *
 * Locking protocol
 * ----------------
 * Buckets: B[b].maxw is raised (compare-and-swap loop) and then B[b].gen is
 * incremented (fetch-add, a full barrier) by writers; readers read gen, then
 * a read barrier, then maxw.  No lock.  See cache.c for why this suffices.
 *
 * Pool: a DSA area created in place in the main shared memory segment,
 * limited to its size (memoized_prefetch.shared_memory).  Only its owner
 * ever reads or writes an entry, so entries need no lock; dsa_allocate and
 * dsa_free take the area's own locks, only when an entry is filled or
 * evicted, never when one is served.
 *
 * Slots: slot i belongs to the backend whose BackendId is i + 1.  Its LWLock
 * is taken exclusively by the owner to link or unlink the statistics of one
 * of its caches (a new relation, a dropped one, reset, exit) and in shared
 * mode by the stats view to walk the list; counters inside a cache's
 * statistics are written by the owner with unlocked atomic writes and read
 * with atomic reads.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "shmem.h"

typedef struct MpShared
{
	int			nslots;
	Size		poolsize;
	MpBucket	buckets[MP_NBUCKETS];
	MpSlot		slots[FLEXIBLE_ARRAY_MEMBER];
	/* the pool follows, MAXALIGNed */
} MpShared;

static MpShared *shared = NULL;
static dsa_area *pool = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
shared_header_size(void)
{
	return MAXALIGN(add_size(offsetof(MpShared, slots),
							 mul_size(MaxBackends, sizeof(MpSlot))));
}

static Size
shared_size(void)
{
	return add_size(shared_header_size(),
					(Size) mp_shared_memory_kb * 1024);
}

static void
mp_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("memoized_prefetch", MaxBackends);
}

static void
mp_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("memoized_prefetch", shared_size(), &found);
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche("memoized_prefetch");
		char	   *place = (char *) shared + shared_header_size();
		dsa_area   *area;
		int			i;

		shared->nslots = MaxBackends;
		shared->poolsize = (Size) mp_shared_memory_kb * 1024;
		for (i = 0; i < MP_NBUCKETS; i++)
		{
			pg_atomic_init_u64(&shared->buckets[i].gen, 0);
			pg_atomic_init_u64(&shared->buckets[i].maxw, 0);
		}
		for (i = 0; i < shared->nslots; i++)
		{
			shared->slots[i].lock = &locks[i].lock;
			shared->slots[i].pid = 0;
			shared->slots[i].dbid = InvalidOid;
			shared->slots[i].caches = InvalidDsaPointer;
		}
		area = dsa_create_in_place(place, shared->poolsize,
								   LWLockNewTrancheId(), NULL);
		dsa_set_size_limit(area, shared->poolsize);
		dsa_pin(area);
		dsa_detach(area);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Set up the shared state; called from _PG_init when preloading. */
void
mp_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = mp_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = mp_shmem_startup;
}

/* Whether the shared state exists (the library was preloaded). */
bool
mp_shared_available(void)
{
	return shared != NULL;		/* set by the start-up hook of a preload */
}

MpBucket *
mp_bucket(uint32 b)
{
	return &shared->buckets[b & (MP_NBUCKETS - 1)];
}

/* Writers: raise maxw to xid, then move gen. */
void
mp_bucket_bump(MpBucket *bucket, uint64 xid)
{
	uint64		cur = pg_atomic_read_u64(&bucket->maxw);

	while (cur < xid &&
		   !pg_atomic_compare_exchange_u64(&bucket->maxw, &cur, xid))
		;
	pg_atomic_fetch_add_u64(&bucket->gen, 1);
}

/*
 * At backend exit, after the cache has unpublished its statistics and given
 * its memory back (cache_store.c registers its own callback later, so it
 * runs first): free the slot and leave the pool.
 */
static void
pool_detach(int code, Datum arg)
{
	MpSlot	   *slot = &shared->slots[MyBackendId - 1];

	LWLockAcquire(slot->lock, LW_EXCLUSIVE);
	slot->caches = InvalidDsaPointer;
	slot->pid = 0;
	LWLockRelease(slot->lock);
	if (pool)
	{
		char	   *place = (char *) shared + shared_header_size();

		dsa_detach(pool);
		dsa_release_in_place(place);
		pool = NULL;
	}
}

/* This backend's slot, attached to the pool on first use. */
MpSlot *
mp_my_slot(void)
{
	MpSlot	   *slot;

	if (!mp_shared_available() || MyBackendId == InvalidBackendId ||
		MyBackendId > shared->nslots)
		return NULL;
	slot = &shared->slots[MyBackendId - 1];
	if (pool == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		pool = dsa_attach_in_place((char *) shared + shared_header_size(), NULL);
		dsa_pin_mapping(pool);
		MemoryContextSwitchTo(old);
		LWLockAcquire(slot->lock, LW_EXCLUSIVE);
		slot->pid = MyProcPid;
		slot->dbid = MyDatabaseId;
		slot->caches = InvalidDsaPointer;
		LWLockRelease(slot->lock);
		before_shmem_exit(pool_detach, (Datum) 0);
	}
	return slot;
}

int
mp_nslots(void)
{
	return shared ? shared->nslots : 0;
}

MpSlot *
mp_slot(int i)
{
	return &shared->slots[i];
}

/*
 * Memory for a cache: from the pool when there is one (NULL when it is
 * exhausted), else from "cxt".
 */
void *
mp_pool_alloc(Size size, dsa_pointer *dp, MemoryContext cxt)
{
	if (pool == NULL)
	{
		*dp = InvalidDsaPointer;
		return MemoryContextAllocExtended(cxt, size, MCXT_ALLOC_NO_OOM);
	}
	*dp = dsa_allocate_extended(pool, size, DSA_ALLOC_NO_OOM);
	return DsaPointerIsValid(*dp) ? dsa_get_address(pool, *dp) : NULL;
}

void
mp_pool_free(void *p, dsa_pointer dp)
{
	if (DsaPointerIsValid(dp))
		dsa_free(pool, dp);
	else
		pfree(p);
}

void *
mp_pool_address(dsa_pointer dp)
{
	return dsa_get_address(pool, dp);
}
