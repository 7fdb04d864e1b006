/*-------------------------------------------------------------------------
 *
 * cache_admit.c
 *		Admission: which missed keys a cache stores.
 *
 * A cache stores every miss, until a whole cache's worth of evictions finds
 * that fewer than half of the evicted entries were ever served (a cache's
 * worth: cache_size, or the entries it holds when memory, not cache_size,
 * forces the evictions; at least 64), or until a call is served none of its
 * keys (missing at least 64) by a cache that holds at least 64 entries: what
 * a cache whose keys never come back meets at its second chunk, long before
 * it is full and evicts, whatever its cache_size.  Storing a row and
 * evicting it later costs about what the lookup a hit saves, so below that
 * the cache costs more than it gives: its keys rarely come back (a chunk's
 * link rows, when each source is asked for once; rows reached through a
 * table far larger than the cache, or a cache_size smaller than what a chunk
 * needs).  From then on, a key is stored on its second miss, if it comes
 * back within about a cache's worth of misses (cache_size, or the entries
 * the cache holds when fewer; to twice that): one that comes back later
 * would have been evicted before its reuse anyway.  Keys missed once are
 * marked in a bitmap by their hash, cleared every two windows of marks,
 * with 8 bits per mark so that a collision, which only stores a key early,
 * is rare (a few percent of the keys).  The cache stores every
 * miss again when, over those marks, at least as many misses were second
 * misses as first ones (about half of what it would store would then be
 * served), or as soon as a call is served more of its keys than it misses.
 * The evictions of entries stored on a second miss are not counted: those
 * entries came back once already, so their share served says nothing of the
 * others.  What a call returns never depends on this.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bitutils.h"
#include "utils/memutils.h"

#include "cache_store.h"

#define DOORKEEPER_MAX_WINDOW (1 << 20)	/* misses: a bitmap of 2MB at most */
#define MIN_EVIDENCE 64			/* entries, misses, evictions to decide on */

/* Store a key only on its second miss, from now on. */
static void
doorkeeper_start(MpCache *c)
{
	uint32		nbits;

	/*
	 * The window is a cache's worth of misses, as in mp_admit_evicted: when
	 * memory holds fewer entries than cache_size, what it holds (so that
	 * the bitmap, counted as memory too, stays in proportion).
	 */
	c->window = Min(Min(c->cap, Max(c->nentries, 128)), DOORKEEPER_MAX_WINDOW);
	nbits = pg_nextpower2_32(Max(c->window, 128) * 16);

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
	c->nsecond = 0;
	c->doorkeeping = true;
}

/* Store every miss again. */
void
mp_admit_every(MpCache *c)
{
	c->doorkeeping = false;
	c->evicted = c->evicted_unused = 0;
}

/*
 * Whether fewer than half of the entries evicted since the last decision
 * were ever served.
 */
static bool
evicted_wasteful(MpCache *c)
{
	return (c->evicted - c->evicted_unused) * (int64) 2 < c->evicted;
}

/*
 * An entry was evicted, by cache_size or by memory (max_backend_memory, the
 * pool); "served" if it ever was.  Called before the entry is freed.
 */
void
mp_admit_evicted(MpCache *c, bool served)
{
	if (c->doorkeeping)
		return;					/* decided by the second misses (mp_admit) */
	c->evicted++;
	if (!served)
		c->evicted_unused++;
	if (c->evicted < Max(Min(c->cap, Max(c->nentries, MIN_EVIDENCE)), 1))
		return;
	if (evicted_wasteful(c))
		doorkeeper_start(c);
	c->evicted = c->evicted_unused = 0;
}

/*
 * Whether c's entries are known not to come back: it stores only second
 * misses, or the evictions since its last decision (64 at least) found
 * fewer than half of them served.  Memory is taken from such caches first.
 */
bool
mp_admit_wasteful(MpCache *c)
{
	return c->doorkeeping || (c->evicted >= MIN_EVIDENCE && evicted_wasteful(c));
}

/* A call was served "hits" of its keys and missed "misses". */
void
mp_admit_served(MpCache *c, int hits, int misses)
{
	if (c->doorkeeping && hits > misses)
		mp_admit_every(c);
	else if (!c->doorkeeping && hits == 0 && misses >= MIN_EVIDENCE &&
			 c->nentries >= MIN_EVIDENCE)
		doorkeeper_start(c);	/* nothing it stored came back */
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
	{
		c->nsecond++;
		return true;
	}
	c->seen[bit / BITS_PER_BYTE] |= 1 << (bit % BITS_PER_BYTE);
	if (++c->nseen >= 2 * Max(c->window, 1))
	{
		if (c->nsecond >= c->nseen)
			mp_admit_every(c);	/* keys come back: store every miss */
		else
			doorkeeper_start(c);
	}
	return false;
}
