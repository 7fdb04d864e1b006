/*-------------------------------------------------------------------------
 *
 * cache.h
 *		The per-backend cache of lookup results, in front of the lookup
 *		engine: what a call uses (cache.c), and the statistics it publishes.
 *
 *	cache.c			the rules that decide when a cached result is served;
 *	cache_store.c	caches, their entries, eviction and memory;
 *	cache_admit.c	admission: which misses are stored;
 *	cache_pins.c	the calls in progress, whose entries stay;
 *	cache_settings.c	configure() and reset().
 *
 *-------------------------------------------------------------------------
 */
#ifndef MP_CACHE_H
#define MP_CACHE_H

#include "port/atomics.h"
#include "utils/dsa.h"

#include "lookup.h"
#include "track.h"

/* How one call may use the cache of one target (cache.c). */
typedef struct MpCacheUse
{
	struct MpCache *cache;		/* NULL: not cached */
	bool		bypass;			/* read the table, serve and fill nothing */
	bool		xmin_rule;		/* tracked, not SERIALIZABLE */
	int			cap;			/* entries */
	uint64		snap;			/* snapshot fingerprint id */
	uint64		xmin64;
	uint32		coarse;			/* the relation's coarse bucket */
	MpWitness	witness;
	uint32		gen;			/* the cache's generation at the call's start */
	bool		validate;		/* validated hits (hot standby, no preload) */
	uint64		next64;			/* the next transaction id at the call */
	BlockNumber nblocks;		/* the heap's size, read at the first need */
	/* what the call's lookups of this target found, for EXPLAIN */
	uint64		hits;
	uint64		misses;
	uint64		bypasses;
} MpCacheUse;

/*
 * A streaming scan's hold on the rows of its call (cache_pins.c): while it
 * is held, the entries the call used stay, as during the call.
 */
typedef struct MpCacheHold
{
	uint64		xact;			/* transactions ended before it was taken */
	bool		held;
} MpCacheHold;

typedef enum MpCounter
{
	MP_ENTRIES,
	MP_BYTES,
	MP_HITS,
	MP_MISSES,
	MP_EVICTIONS,
	MP_INVALIDATIONS,
	MP_BYPASSES,
	MP_NCOUNTERS
} MpCounter;

/* Statistics of one cache, readable by other backends (the stats view). */
typedef struct MpCacheStats
{
	dsa_pointer next;			/* next cache of the same backend */
	Oid			dbid;
	Oid			relid;
	Oid			indexid;
	pg_atomic_uint64 counters[MP_NCOUNTERS];
} MpCacheStats;

/* cache.c */
extern void mp_cache_begin(MpCacheUse *use, MpLookup *lk, bool cacheable);
extern void mp_cache_rows(MpCacheUse *use, MpLookup *lk, const MpKeySet *ks,
						  MpRows *out);

/* cache_pins.c */
extern void mp_cache_call_begin(void);
extern void mp_cache_call_end(void);
extern void mp_cache_hold(MpCacheHold *hold);
extern void mp_cache_unhold(MpCacheHold *hold);

/* cache_store.c */
extern MpCacheStats *mp_cache_local_stats(int i);

#endif							/* MP_CACHE_H */
