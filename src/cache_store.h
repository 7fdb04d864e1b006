/*-------------------------------------------------------------------------
 *
 * cache_store.h
 *		The cache layer's own declarations, for cache*.c only: a cache (one
 *		relation looked up through one index), its entries and its local
 *		index, and what each file of the layer offers the others.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MP_CACHE_STORE_H
#define MP_CACHE_STORE_H

#include "lib/ilist.h"
#include "utils/sortsupport.h"

#include "cache.h"

/* An entry's storage, in the pool: its key and rows. */
typedef struct MpEntry
{
	dlist_node	lru;			/* in its cache's LRU, most recent first */
	dsa_pointer self;
	Size		size;
	Datum		key;
	uint32		hash;
	uint32		nrows;
	HeapTupleData rows[FLEXIBLE_ARRAY_MEMBER];
} MpEntry;

/*
 * The local index: key -> entry, with what decides whether the entry may be
 * served (cache.c), so that a probe touches no shared memory but the key's
 * bucket.
 */
typedef struct MpEntryRef
{
	Datum		key;
	uint32		hash;
	char		status;
	bool		stable;
	bool		referenced;		/* served since it last came to the LRU head */
	bool		served;			/* served at all since it was filled */
	uint32		gen;			/* the cache's generation when filled */
	uint32		nrows;			/* entry->nrows, read without touching the pool */
	uint64		snap;			/* snapshot id it was filled under */
	uint64		g0;
	uint64		gc0;
	uint64		m0;
	uint64		call;			/* last call that used it (cache_pins.c) */
	/* validated hits (cache.c): the one row's heap tuple */
	ItemPointerData tid;
	TransactionId xmin;			/* its raw xmin, or invalid: not validated */
	uint64		born;			/* the next transaction id when filled */
	MpEntry    *entry;
} MpEntryRef;

/*
 * What names a cache: a relation, the index it is looked up through, and
 * the row type its rows are formed in (the relation's own, or for a leaf
 * partition of the same layout its partitioned table's, parts.c).
 */
typedef struct MpCacheKey
{
	Oid			relid;
	Oid			indexid;
	Oid			rowtype;
	bool		indexonly;		/* rows hold only the index's columns */
} MpCacheKey;

typedef struct MpCache
{
	MpCacheKey	key;			/* first: the backend's hash table of caches */
	Oid			rowrelid;		/* the relation of the key's row type */
	MemoryContext cxt;			/* the cache's own memory: index, bitmap */
	Size		overhead;		/* that memory, as counted */
	bool		recheck;		/* an invalidation named its relation */
	uint64		last_call;		/* last call that used the cache */
	MpCacheStats *stats;
	dsa_pointer stats_dp;
	struct entryhash_hash *index;
	Size		index_bytes;	/* its slots' memory, as counted */
	dlist_head	lru;
	int			nentries;
	int16		typlen;
	bool		typbyval;
	FmgrInfo	hashfn;
	Oid			collation;
	SortSupportData ssup;
	uint32		loaded;			/* the load_all number it was loaded for */
	/* what entries depend on: a change starts a new generation */
	uint32		gen;			/* also moved by relcache invalidation */
	Oid			relfilenode;
	MpWitness	witness;
	uint64		full_call;		/* a call that found nothing to evict here */
	/* admission (cache_admit.c) */
	int			cap;			/* cache_size of the latest call */
	int			evicted;		/* evictions since the last decision */
	int			evicted_unused; /* of them, entries never served */
	bool		doorkeeping;	/* admit a key only on its second miss */
	bits8	   *seen;			/* keys missed once, a bit per hash value */
	uint32		nbits;			/* bits in seen, a power of 2 */
	int			nseen;			/* keys marked since seen was cleared */
	int			nsecond;		/* second misses since then (stored) */
	int			window;			/* misses a key is remembered for, about */
} MpCache;

static inline uint32
mp_cache_hash(MpCache *c, Datum key)
{
	return DatumGetUInt32(FunctionCall1Coll(&c->hashfn, c->collation, key));
}

static inline bool
mp_cache_equal(MpCache *c, Datum a, Datum b)
{
	return ApplySortComparator(a, false, b, false, &c->ssup) == 0;
}

#define SH_PREFIX entryhash
#define SH_ELEMENT_TYPE MpEntryRef
#define SH_KEY_TYPE Datum
#define SH_KEY key
#define SH_HASH_KEY(tb, k) mp_cache_hash((MpCache *) (tb)->private_data, k)
#define SH_EQUAL(tb, a, b) mp_cache_equal((MpCache *) (tb)->private_data, a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* The owner's counters: written unlocked, read by the stats view. */
static inline void
mp_cache_count(MpCache *c, MpCounter counter, int64 n)
{
	pg_atomic_write_u64(&c->stats->counters[counter],
						pg_atomic_read_u64(&c->stats->counters[counter]) + n);
}

/* cache_store.c */
extern MemoryContext mp_cache_cxt;
extern void mp_cache_setup(void);
extern MpCache *mp_cache_for(MpLookup *lk);
/* stores an entry; the caller sets what decides serving (gen, snap, ...) */
extern MpEntryRef *mp_cache_store(MpCache *c, int cap, Datum key, uint32 hash,
								  HeapTuple *rows, int nrows);
extern void mp_cache_sweep(void);
extern void mp_cache_own_memory(MpCache *c, Size oldsize, Size newsize);
extern void mp_cache_reset(Oid relid);

/* cache_admit.c */
extern void mp_admit_evicted(MpCache *c, bool served);
extern bool mp_admit(MpCache *c, uint32 hash);
extern void mp_admit_every(MpCache *c);
extern void mp_admit_served(MpCache *c, int hits, int misses);
extern bool mp_admit_wasteful(MpCache *c);

/* cache_pins.c */
extern uint64 mp_current_call;
extern uint64 mp_outer_call;
extern void mp_pins_setup(void);
extern void mp_pins_push(void);
extern void mp_pins_pop(void);
extern void mp_pins_hold(MpCacheHold *hold);
extern void mp_pins_unhold(MpCacheHold *hold);
extern bool mp_calls_in_progress(void);

/* cache_settings.c */
extern int	mp_cache_size_for(Oid relid);
extern uint32 mp_cache_load_all_for(Oid relid);
extern void mp_settings_sweep(void);

#endif							/* MP_CACHE_STORE_H */
