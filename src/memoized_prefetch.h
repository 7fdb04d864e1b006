/*-------------------------------------------------------------------------
 *
 * memoized_prefetch.h
 *		What every file of the extension shares: the settings and a few
 *		helpers.  Each layer has a header of its own:
 *
 *	call.h		one call of fk() or m2m() (call.c, result.c, access.c);
 *				included by the SQL functions (fk.c, m2m.c);
 *	cache.h		the cache in front of the lookups (cache*.c);
 *	lookup.h	key sets and lookups under the snapshot (keys.c, lookup.c,
 *				btpage.c);
 *	plan.h		resolved arguments (resolve.c, plans.c, keys.c coercions);
 *	track.h		writers and witnesses (track.c, witness.c, snapid.c);
 *	shmem.h		shared memory: key buckets, the pool, backend slots.
 *
 * The layers run top-down: fk/m2m -> call -> cache -> lookup, plan, track
 * -> shmem.  No file reaches into another layer's internals: each layer's
 * private declarations live in its own files (cache_store.h for the cache).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMOIZED_PREFETCH_H
#define MEMOIZED_PREFETCH_H

#include "postgres.h"

#include "common/hashfn.h"

#include "pg_compat.h"

/* Settings (main.c). */
extern int	mp_shared_memory_kb;
extern int	mp_max_backend_memory_kb;
extern int	mp_cache_size;
extern bool mp_enabled;
extern bool mp_streaming;

/* The streaming scan (scan.c). */
extern void mp_scan_init(void);

/* Start loading memory that is about to be read: a CPU hint, no effect if none. */
#if defined(__GNUC__)
#define mp_cpu_prefetch(addr) __builtin_prefetch(addr)
#else
#define mp_cpu_prefetch(addr) ((void) (addr))
#endif

/*
 * An array of *cap elements of elemsize, made to hold at least "need" by
 * doubling; the array keeps its memory context.
 */
static inline void *
mp_grow(void *array, Size elemsize, int *cap, int need)
{
	if (need <= *cap)
		return array;
	*cap = Max(need, Max(*cap * 2, 16));
	return repalloc(array, elemsize * *cap);
}

/*
 * The hash of a composite key, column by column: the hash of its first
 * column, then each next column's combined in (so a key of one column hashes
 * as that column).  The lookups (keys.c) and the trigger of tracked tables
 * (track.c) hash keys this way alike.
 */
static inline uint32
mp_key_hash_add(uint32 h, int column, uint32 colhash)
{
	return column == 0 ? colhash : hash_combine(h, colhash);
}

#endif							/* MEMOIZED_PREFETCH_H */
