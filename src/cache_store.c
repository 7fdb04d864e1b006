/*-------------------------------------------------------------------------
 *
 * cache_store.c
 *		Where cached lookup results are kept: the backend's caches (one per
 *		relation and index), their entries, eviction, and memory.
 *
 * An entry is key -> rows (zero rows: the key has none; several: a link
 * table's rows of one source).  Entries and their rows live in the shared
 * pool (or in backend-local memory without shared_preload_libraries); a
 * backend-local hash table per cache finds them by key, with the hash and
 * equality of the index.  Each cache is an LRU capped at cache_size entries,
 * met by evicting its own entries; all caches of a backend share
 * max_backend_memory, which their own state counts against too.  An entry
 * used by a call in progress (cache_pins.c) is never evicted or replaced
 * before that call ends.
 *
 * A cache lives until its relation or index is dropped, reset(), the end of
 * the backend, or, when it holds no entry and no call uses it, until the
 * room is needed for another cache.  A relcache invalidation of its relation
 * starts a new generation of it (no entry filled before is served: cache.c) and marks it
 * to be checked, before the next call, for a dropped relation (sweep); the
 * callback only flips flags.
 *
 * Locking: entries are read and written by their owner only; the pool's own
 * locks are taken when an entry is stored or freed, never when one is
 * served.  A cache's statistics are published in the backend's slot under
 * the slot's lock (see shmem.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "cache_store.h"
#include "shmem.h"

/*
 * What a cache itself takes, roughly (its struct, sort support, statistics,
 * its memory context), counted against max_backend_memory with its local
 * index and admission bitmap, so that the number of caches is bounded too.
 */
#define CACHE_OVERHEAD ((Size) 4096)

MemoryContext mp_cache_cxt = NULL;

static HTAB *caches = NULL;		/* MpCacheKey -> MpCache */
static Size backend_bytes = 0;	/* entries and caches' own memory */
static bool sweep_pending = false;	/* some cache has recheck set */
static bool notice_sent = false;

/* ---------- invalidation ---------- */

static void
cache_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	MpCache    *c;

	/* the sweep also looks for dropped relations' settings */
	sweep_pending = true;
	hash_seq_init(&seq, caches);
	while ((c = hash_seq_search(&seq)) != NULL)
	{
		if (!OidIsValid(relid) || c->key.relid == relid || c->key.indexid == relid)
		{
			c->gen++;
			c->recheck = true;
		}
		else if (c->rowrelid == relid)
			c->recheck = true;	/* its rows' type may be gone */
	}
}

/* Once per backend: the cache's memory, its callbacks. */
void
mp_cache_setup(void)
{
	HASHCTL		ctl;

	if (mp_cache_cxt != NULL)
		return;
	mp_cache_cxt = AllocSetContextCreate(TopMemoryContext, "memoized_prefetch cache",
										 ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(MpCacheKey);
	ctl.entrysize = sizeof(MpCache);
	ctl.hcxt = mp_cache_cxt;
	caches = hash_create("memoized_prefetch caches", 16, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(cache_relcache_callback, (Datum) 0);
	mp_pins_setup();
}

/* ---------- entries ---------- */

static inline MpEntryRef *
entry_ref(MpCache *c, MpEntry *e)
{
	return entryhash_lookup_hash(c->index, e->key, e->hash);
}

static void
entry_free(MpCache *c, MpEntry *e)
{
	mp_cache_count(c, MP_ENTRIES, -1);
	mp_cache_count(c, MP_BYTES, -(int64) e->size);
	backend_bytes -= e->size;
	c->nentries--;
	dlist_delete(&e->lru);
	entryhash_delete_item(c->index, entry_ref(c, e));
	mp_pool_free(e, e->self);
}

/*
 * Evict one entry no call in progress uses, by second chance: a hit only
 * marks its entry, and an entry found marked at the tail goes back to the
 * head unmarked instead of being evicted.  This keeps hits free of list
 * updates.
 */
static bool
evict_one(MpCache *c)
{
	int			pinned = 0;
	int			i;

	/* what the current call uses stays: once all of it is, stop looking */
	if (c->full_call == mp_current_call)
		return false;
	for (i = 0; i < 2 * c->nentries && pinned < c->nentries; i++)
	{
		MpEntry    *e = dlist_container(MpEntry, lru, dlist_tail_node(&c->lru));
		MpEntryRef *ref = entry_ref(c, e);

		if (ref->call >= mp_outer_call || ref->referenced)
		{
			pinned = ref->call >= mp_outer_call ? pinned + 1 : 0;
			ref->referenced = false;
			dlist_move_head(&c->lru, &e->lru);
			continue;
		}
		mp_admit_evicted(c, ref->served);
		entry_free(c, e);
		mp_cache_count(c, MP_EVICTIONS, 1);
		return true;
	}
	c->full_call = mp_current_call;
	return false;
}

/*
 * Evict from any cache of this backend, for memory: first from the caches
 * whose entries admission found not to come back (cache_admit.c), so that
 * they never push out entries that do; then "first" (if any), then any.
 */
static bool
evict_any(MpCache *first)
{
	HASH_SEQ_STATUS seq;
	MpCache    *c;

	if (first && mp_admit_wasteful(first) && evict_one(first))
		return true;
	hash_seq_init(&seq, caches);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (c != first && mp_admit_wasteful(c) && evict_one(c))
		{
			hash_seq_term(&seq);
			return true;
		}
	if (first && evict_one(first))
		return true;
	hash_seq_init(&seq, caches);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (c != first && evict_one(c))
		{
			hash_seq_term(&seq);
			return true;
		}
	return false;
}

/*
 * Store the rows of one key in c, whose cap is "cap" entries, replacing an
 * older entry of the key; NULL when there is no room, or when a call in
 * progress may hold rows of the older entry (the new rows then stay
 * uncached).  The caller sets what decides serving (cache.c).
 */
MpEntryRef *
mp_cache_store(MpCache *c, int cap, Datum key, uint32 hash, HeapTuple *rows,
			   int nrows)
{
	Size		keylen = c->typbyval ? 0 : MAXALIGN(datumGetSize(key, false, c->typlen));
	Size		size = MAXALIGN(offsetof(MpEntry, rows) + sizeof(HeapTupleData) * nrows) + keylen;
	Size		memcap = (Size) mp_max_backend_memory_kb * 1024;
	MpEntry    *e;
	dsa_pointer dp;
	char	   *p;
	bool		found;
	MpEntryRef *ref;
	int			i;

	for (i = 0; i < nrows; i++)
		size += MAXALIGN(rows[i]->t_len);

	ref = entryhash_lookup_hash(c->index, key, hash);
	if (ref && ref->call >= mp_outer_call)
		return NULL;
	if (ref)
		entry_free(c, ref->entry);

	/* this cache's cap is met by its own entries, memory by any cache's */
	while (c->nentries >= cap)
		if (!evict_one(c))
			return NULL;
	while (backend_bytes + size > memcap)
		if (!evict_any(c))
			return NULL;
	while ((e = mp_pool_alloc(size, &dp, mp_cache_cxt)) == NULL)
		if (!evict_any(c))
			return NULL;

	e->self = dp;
	e->size = size;
	e->hash = hash;
	e->nrows = nrows;
	p = (char *) e + MAXALIGN(offsetof(MpEntry, rows) + sizeof(HeapTupleData) * nrows);
	if (c->typbyval)
		e->key = key;
	else
	{
		memcpy(p, DatumGetPointer(key), datumGetSize(key, false, c->typlen));
		e->key = PointerGetDatum(p);
		p += keylen;
	}
	for (i = 0; i < nrows; i++)
	{
		e->rows[i] = *rows[i];
		e->rows[i].t_data = (HeapTupleHeader) p;
		memcpy(p, rows[i]->t_data, rows[i]->t_len);
		p += MAXALIGN(rows[i]->t_len);
	}

	ref = entryhash_insert_hash(c->index, e->key, hash, &found);
	/* the local index grows with the entries: its memory counts too */
	if ((Size) c->index->size * sizeof(MpEntryRef) != c->index_bytes)
	{
		mp_cache_own_memory(c, c->index_bytes, (Size) c->index->size * sizeof(MpEntryRef));
		c->index_bytes = (Size) c->index->size * sizeof(MpEntryRef);
	}
	ref->entry = e;
	ref->nrows = nrows;
	ref->referenced = false;
	ref->served = false;
	ref->call = mp_current_call;
	dlist_push_head(&c->lru, &e->lru);
	c->nentries++;
	backend_bytes += size;
	mp_cache_count(c, MP_ENTRIES, 1);
	mp_cache_count(c, MP_BYTES, (int64) size);
	return ref;
}

/* Some of c's own memory (its admission bitmap) changed size. */
void
mp_cache_own_memory(MpCache *c, Size oldsize, Size newsize)
{
	backend_bytes = backend_bytes - oldsize + newsize;
	c->overhead = c->overhead - oldsize + newsize;
}

/* ---------- caches ---------- */

/* Whether a cache of key's relation and index is left (another variant). */
static bool
has_variant(const MpCacheKey *key)
{
	HASH_SEQ_STATUS seq;
	MpCache    *c;

	hash_seq_init(&seq, caches);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (c->key.relid == key->relid && c->key.indexid == key->indexid)
		{
			hash_seq_term(&seq);
			return true;
		}
	return false;
}

/*
 * Give a cache back: its entries and statistics to the pool, its own memory
 * to the backend.  Never while a call may use it.
 */
static void
cache_free(MpCache *c)
{
	MpCacheKey	key = c->key;

	while (!dlist_is_empty(&c->lru))
		entry_free(c, dlist_container(MpEntry, lru, dlist_head_node(&c->lru)));
	if (DsaPointerIsValid(c->stats_dp))
	{
		MpSlot	   *slot = mp_my_slot();
		dsa_pointer *dp;

		/* unpublish the statistics (see shmem.c for the slot's lock) */
		LWLockAcquire(slot->lock, LW_EXCLUSIVE);
		for (dp = &slot->caches; DsaPointerIsValid(*dp);
			 dp = &((MpCacheStats *) mp_pool_address(*dp))->next)
			if (*dp == c->stats_dp)
			{
				*dp = c->stats->next;
				break;
			}
		LWLockRelease(slot->lock);
		mp_pool_free(c->stats, c->stats_dp);
	}
	backend_bytes -= c->overhead;
	MemoryContextDelete(c->cxt);
	hash_search(caches, &key, HASH_REMOVE, NULL);
	/* the trust is the relation's and index's, shared by every variant */
	if (!has_variant(&key))
		mp_witness_forget(key.relid, key.indexid);
}

/*
 * Before a call: forget the caches of relations or indexes that an
 * invalidation named and that no longer exist, so that a backend's memory
 * does not grow with every relation it ever read.  The settings of dropped
 * relations go too.
 */
void
mp_cache_sweep(void)
{
	HASH_SEQ_STATUS seq;
	MpCache    *c;

	if (!sweep_pending || mp_calls_in_progress())
		return;
	hash_seq_init(&seq, caches);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (c->recheck)
		{
			c->recheck = false;
			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(c->key.relid)) ||
				!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(c->key.indexid)) ||
				(c->rowrelid != c->key.relid &&
				 !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(c->rowrelid))))
				cache_free(c);	/* removing the current element is allowed */
		}
	mp_settings_sweep();
	sweep_pending = false;		/* only once all of it is done */
}

/*
 * Free the least recently used cache that holds no entry and that no call
 * in progress uses, to make room for a new one; false when there is none.
 */
static bool
cache_free_idle(void)
{
	HASH_SEQ_STATUS seq;
	MpCache    *c;
	MpCache    *idle = NULL;

	hash_seq_init(&seq, caches);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (c->nentries == 0 && c->last_call < mp_outer_call &&
			(idle == NULL || c->last_call < idle->last_call))
			idle = c;
	if (idle == NULL)
		return false;
	cache_free(idle);
	return true;
}

/* At backend exit: the entries and statistics go back to the pool. */
static void
cache_exit(int code, Datum arg)
{
	HASH_SEQ_STATUS seq;
	MpCache    *c;

	MpSlot	   *slot = mp_my_slot();

	/*
	 * First unpublish every statistics block, so that the stats view of
	 * another backend never walks freed memory; then give the pool back its
	 * memory.  Nothing here may compare keys (a record's comparison needs a
	 * resource owner, gone by now) or touch the local index.
	 */
	LWLockAcquire(slot->lock, LW_EXCLUSIVE);
	slot->caches = InvalidDsaPointer;
	LWLockRelease(slot->lock);
	hash_seq_init(&seq, caches);
	while ((c = hash_seq_search(&seq)) != NULL)
	{
		dlist_mutable_iter it;

		dlist_foreach_modify(it, &c->lru)
		{
			MpEntry    *e = dlist_container(MpEntry, lru, it.cur);

			mp_pool_free(e, e->self);
		}
		dlist_init(&c->lru);
		if (DsaPointerIsValid(c->stats_dp))
			mp_pool_free(c->stats, c->stats_dp);
		c->stats_dp = InvalidDsaPointer;
	}
}

/*
 * The cache of lk's relation and index, created on first use; NULL when
 * max_backend_memory has no room for another one.
 */
MpCache *
mp_cache_for(MpLookup *lk)
{
	static bool exit_registered = false;
	MpCacheKey	key;
	MpCache    *c;
	MpSlot	   *slot;
	MemoryContext cxt;
	MemoryContext old;
	Size		memcap = (Size) mp_max_backend_memory_kb * 1024;
	bool		found;
	MpCache    *volatile built;

	memset(&key, 0, sizeof(key));	/* hashed as bytes: no stray padding */
	key.relid = lk->ik->relid;
	key.indexid = lk->ik->indexid;
	key.rowtype = RelationGetDescr(lk->rowrel)->tdtypeid;
	key.indexonly = lk->ik->indexonly;
	c = hash_search(caches, &key, HASH_FIND, NULL);
	if (c)
	{
		c->last_call = mp_current_call;
		return c;
	}

	slot = mp_my_slot();
	if (slot == NULL && !notice_sent && !mp_shared_available())
	{
		ereport(NOTICE,
				(errmsg("memoized_prefetch is not in shared_preload_libraries"),
				 errdetail("Fetched rows are reused under the same snapshot, and rows of unique keys across snapshots while their heap tuple stays unchanged."),
				 errhint("Add memoized_prefetch to shared_preload_libraries to reuse every row of tracked tables across statements and transactions.")));
		notice_sent = true;
	}
	if (slot && !exit_registered)
	{
		/* after the pool's own callback, so it runs before it */
		before_shmem_exit(cache_exit, (Datum) 0);
		exit_registered = true;
	}

	/*
	 * A cache's own memory counts against max_backend_memory too.  With 0
	 * the cache is off and caches only count the bypasses of the relations
	 * that exist (dropped ones go, see mp_cache_sweep).
	 */
	while (memcap > 0 && backend_bytes + CACHE_OVERHEAD > memcap)
		if (!cache_free_idle() && !evict_any(NULL))
			return NULL;

	/*
	 * Build the cache in its hash table entry (the local index points at
	 * it); if anything fails on the way, the entry and its memory go.
	 */
	cxt = AllocSetContextCreate(mp_cache_cxt, "memoized_prefetch table cache",
								ALLOCSET_SMALL_SIZES);
	built = NULL;
	PG_TRY();
	{
		c = hash_search(caches, &key, HASH_ENTER, &found);
		memset((char *) c + sizeof(MpCacheKey), 0, sizeof(MpCache) - sizeof(MpCacheKey));
		built = c;
		c->rowrelid = RelationGetRelid(lk->rowrel);
		c->cxt = cxt;
		c->last_call = mp_current_call;
		c->stats_dp = InvalidDsaPointer;
		old = MemoryContextSwitchTo(cxt);
		c->stats = mp_pool_alloc(sizeof(MpCacheStats), &c->stats_dp, cxt);
		if (c->stats == NULL)
		{
			/* the pool is full: keep the statistics where only we see them */
			c->stats = palloc(sizeof(MpCacheStats));
			c->stats_dp = InvalidDsaPointer;
		}
		memset(c->stats, 0, sizeof(MpCacheStats));
		c->stats->dbid = MyDatabaseId;
		c->stats->relid = key.relid;
		c->stats->indexid = key.indexid;
		c->stats->next = InvalidDsaPointer;
		c->index = entryhash_create(cxt, 16, c);
		c->index_bytes = (Size) c->index->size * sizeof(MpEntryRef);
		dlist_init(&c->lru);
		get_typlenbyval(lk->ik->keytype, &c->typlen, &c->typbyval);
		mp_key_support(lk->ik, lk->index, &c->ssup, &c->hashfn, cxt);
		c->collation = lk->ik->collation;
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		if (built)
		{
			if (DsaPointerIsValid(built->stats_dp))
				mp_pool_free(built->stats, built->stats_dp);
			hash_search(caches, &key, HASH_REMOVE, NULL);
		}
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	c->overhead = CACHE_OVERHEAD + c->index_bytes;
	backend_bytes += c->overhead;

	/* publish the statistics */
	if (slot && DsaPointerIsValid(c->stats_dp))
	{
		LWLockAcquire(slot->lock, LW_EXCLUSIVE);
		c->stats->next = slot->caches;
		slot->caches = c->stats_dp;
		LWLockRelease(slot->lock);
	}
	return c;
}

/* Forget the caches (entries and counters) of relid, or every cache. */
void
mp_cache_reset(Oid relid)
{
	HASH_SEQ_STATUS seq;
	MpCache    *c;

	if (mp_calls_in_progress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot reset the cache while a call of fk() or m2m() is in progress")));
	if (caches == NULL)
		return;
	hash_seq_init(&seq, caches);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (!OidIsValid(relid) || c->key.relid == relid)
			cache_free(c);
}

/* Statistics of this backend's i-th cache, for the view without a pool. */
MpCacheStats *
mp_cache_local_stats(int i)
{
	HASH_SEQ_STATUS seq;
	MpCache    *c;

	if (caches == NULL)
		return NULL;
	hash_seq_init(&seq, caches);
	while ((c = hash_seq_search(&seq)) != NULL)
		if (i-- == 0)
		{
			hash_seq_term(&seq);
			return c->stats;
		}
	return NULL;
}
