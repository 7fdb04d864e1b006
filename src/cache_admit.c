/*-------------------------------------------------------------------------
 *
 * cache_admit.c
 *		Admission: which missed keys a cache stores.
 *
 * A cache stores every miss, until a whole cache's worth of evictions
 * (cache_size) finds that fewer than 1 in 16 of the evicted entries were
 * ever served: its keys rarely come back (a chunk's link rows, when each
 * source is asked for once; rows reached through a table far larger than the
 * cache), and storing them costs more than it gives.  From then on, a key is
 * stored on its second miss, if it comes back within cache_size (to
 * 2 * cache_size) misses: one that comes back later would have been evicted
 * before its reuse anyway.  Keys missed once are marked in a bitmap by their
 * hash, cleared every 2 * cache_size marks, with 8 bits per mark so that a
 * collision, which only stores a key early, is rare.  The cache stores every
 * miss again when the next cache's worth of evictions finds 1 in 16 of them
 * served, or as soon as a call is served more of its keys than it misses.
 * What a call returns never depends on this.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bitutils.h"
#include "utils/memutils.h"

#include "cache_store.h"

#define DOORKEEPER_MAX_WINDOW (1 << 20)	/* misses: a bitmap of 2MB at most */

/* Store a key only on its second miss, from now on. */
static void
doorkeeper_start(MpCache *c)
{
	uint32		nbits = pg_nextpower2_32(Min(Max(c->cap, 128), DOORKEEPER_MAX_WINDOW) * 16);

	if (c->nbits != nbits)
	{
		bits8	   *seen = MemoryContextAlloc(c->cxt, nbits / BITS_PER_BYTE);

		if (c->seen)
			pfree(c->seen);
		c->seen = seen;
		/* the bitmap counts as the cache's own memory */
		mp_cache_own_memory(c, c->nbits / BITS_PER_BYTE, nbits / BITS_PER_BYTE);
		c->nbits = nbits;
	}
	memset(c->seen, 0, nbits / BITS_PER_BYTE);
	c->nseen = 0;
	c->doorkeeping = true;
}

/* Store every miss again. */
void
mp_admit_every(MpCache *c)
{
	c->doorkeeping = false;
	c->evicted = c->evicted_unused = 0;
}

/* An entry was evicted; "served" if it ever was. */
void
mp_admit_evicted(MpCache *c, bool served)
{
	bool		wasteful;

	c->evicted++;
	if (!served)
		c->evicted_unused++;
	if (c->evicted < Max(c->cap, 1))
		return;
	wasteful = c->evicted_unused * (int64) 16 > c->evicted * (int64) 15;
	if (wasteful && !c->doorkeeping)
		doorkeeper_start(c);
	else if (!wasteful && c->doorkeeping)
		mp_admit_every(c);
	c->evicted = c->evicted_unused = 0;
}

/* A call was served "hits" of its keys and missed "misses". */
void
mp_admit_served(MpCache *c, int hits, int misses)
{
	if (c->doorkeeping && hits > misses)
		mp_admit_every(c);
}

/* Whether a missed key is stored. */
bool
mp_admit(MpCache *c, uint32 hash)
{
	uint32		bit;

	if (!c->doorkeeping)
		return true;
	bit = hash & (c->nbits - 1);
	if (c->seen[bit / BITS_PER_BYTE] & (1 << (bit % BITS_PER_BYTE)))
		return true;
	c->seen[bit / BITS_PER_BYTE] |= 1 << (bit % BITS_PER_BYTE);
	if (++c->nseen >= 2 * Min(c->cap, DOORKEEPER_MAX_WINDOW))
		doorkeeper_start(c);
	return false;
}
