/*-------------------------------------------------------------------------
 *
 * shmem.h
 *		Shared memory (shmem.c): the key buckets writers move and readers
 *		check, the pool the caches live in, one slot per backend.  See
 *		shmem.c for the locking protocol.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MP_SHMEM_H
#define MP_SHMEM_H

#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/dsa.h"

#include "memoized_prefetch.h"

#define MP_NBUCKETS 65536		/* a power of two */

typedef struct MpBucket
{
	pg_atomic_uint64 gen;		/* moved by every write of a key here */
	pg_atomic_uint64 maxw;		/* largest FullTransactionId that wrote one */
} MpBucket;

/* One backend's slot: the statistics of its caches (cache.h). */
typedef struct MpSlot
{
	LWLock	   *lock;
	int			pid;
	Oid			dbid;
	dsa_pointer caches;			/* first MpCacheStats, linked by next */
} MpSlot;

extern void mp_shmem_init(void);
extern bool mp_shared_available(void);
extern MpBucket *mp_bucket(uint32 b);
extern void mp_bucket_bump(MpBucket *bucket, uint64 xid);
extern MpSlot *mp_my_slot(void);
extern int	mp_nslots(void);
extern MpSlot *mp_slot(int i);
extern void *mp_pool_alloc(Size size, dsa_pointer *dp, MemoryContext cxt);
extern void mp_pool_free(void *p, dsa_pointer dp);
extern void *mp_pool_address(dsa_pointer dp);

#endif							/* MP_SHMEM_H */
