/*-------------------------------------------------------------------------
 *
 * cache.c
 *		The per-backend cache of lookup results, in front of the lookup
 *		engine, and the rules that decide when a cached result may be served.
 *
 * A table caches, for one relation looked up through one index, entries
 * key -> rows (zero rows: the key has none; several: a link table's rows
 * of one source).  Entries and their rows live in the shared pool (or in
 * backend-local memory without shared_preload_libraries); a backend-local
 * hash table finds them by key, with the hash and equality of the index.
 * Each table is an LRU capped at cache_size entries, met by evicting its own
 * entries; all tables of a backend share max_backend_memory, which their own
 * state counts against too.  A table lives until its relation or index is
 * dropped (table_sweep), reset() or the backend ends.  An entry used
 * by a call in progress (one call can run inside another) is never evicted
 * before that call ends.  A table whose evicted entries were hardly ever
 * served stores a key only on its second miss (see doorkeeper_start).
 *
 * Rules (see track.c for buckets and witnesses).  A call bypasses the cache
 * when the snapshot is not MVCC, during recovery, when old_snapshot_threshold
 * is set, when row-level security applies, when the key type has no hash
 * function, or when the transaction may have written the relation (it holds
 * a lock that lets it write: track.c, mp_written).  Otherwise an entry e is
 * served under snapshot S when its witness and relfilenode are the current
 * ones, no relcache invalidation of the relation came since it was filled
 * (both start a new generation of the table), and either
 *
 *	- the xmin rule (tracked relation, not SERIALIZABLE):
 *	  e.stable && B[b].gen == e.g0 && C.gen == e.gc0 && e.m0 < xmin(S),
 *	  with C the relation's coarse bucket; or
 *	- the same-snapshot rule: e was filled under a snapshot with the same
 *	  fingerprint as S (track.c).
 *
 * A miss reads g0 = B[b].gen and gc0 = C.gen, then (read barrier)
 * m0 = max(B[b].maxw, C.maxw), then looks the key up under S and stores the
 * result with stable = m0 < xmin(S).  The xmin rule is used only under a
 * snapshot that sees every writer that could have written without moving a
 * bucket as ended (track.c, mp_witness_trusted), for the fill and the serve
 * alike.
 *
 * Why the xmin rule is exact: if e was filled under S0 and is served to S,
 * every transaction T that created or deleted a version of the key has the
 * same visibility in S0 and S.  If T bumped before the fill read the bucket,
 * its xid <= m0 < xmin(S0) and m0 < xmin(S): it had finished before both
 * snapshots were taken.  If it bumped after that read, gen moved and e is not
 * served.  If it bumps after the serve read gen, it had not committed when
 * S0 or S was taken (its bump precedes its commit), so neither sees it.  A
 * write that bumps nothing was made by a transaction that both S0 and S see
 * as ended (the witness's trust), so it has the same visibility in both.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/lsyscache.h"

#include "memoized_prefetch.h"

/* An entry's storage, in the pool: its key and rows. */
typedef struct MpEntry
{
	dlist_node	lru;			/* in its table's LRU, most recent first */
	dsa_pointer self;
	Size		size;
	Datum		key;
	uint32		hash;
	uint32		nrows;
	HeapTupleData rows[FLEXIBLE_ARRAY_MEMBER];
} MpEntry;

/*
 * The local index: key -> entry, with what decides whether the entry may be
 * served, so that a probe touches no shared memory but the key's bucket.
 */
typedef struct EntryRef
{
	Datum		key;
	uint32		hash;
	char		status;
	bool		stable;
	bool		referenced;		/* served since it last came to the LRU head */
	bool		served;			/* served at all since it was filled */
	uint32		gen;			/* the table's generation when filled */
	uint32		nrows;			/* entry->nrows, read without touching the pool */
	uint64		snap;			/* snapshot id it was filled under */
	uint64		g0;
	uint64		gc0;
	uint64		m0;
	uint64		call;			/* last call that used it */
	MpEntry    *entry;
} EntryRef;

typedef struct MpTable
{
	struct MpTable *next;		/* all tables of this backend */
	MemoryContext cxt;			/* the table, its index and bitmap */
	Size		overhead;		/* memory of the table itself, counted */
	bool		recheck;		/* an invalidation named its relation */
	uint64		last_call;		/* last call that used the table */
	Oid			relid;
	Oid			indexid;
	bool		indexonly;		/* rows hold only the index's columns */
	MpTableStats *stats;
	dsa_pointer stats_dp;
	struct entryhash_hash *index;
	dlist_head	lru;
	int			nentries;
	int16		typlen;
	bool		typbyval;
	FmgrInfo	hashfn;
	Oid			collation;
	SortSupportData ssup;
	bool		prefetched;
	/* what entries depend on: a change starts a new generation */
	uint32		gen;			/* also moved by relcache invalidation */
	Oid			relfilenode;
	MpWitness	witness;
	uint64		full_call;		/* a call that found nothing to evict here */
	/* admission (see doorkeeper_start) */
	int			cap;			/* cache_size of the latest call */
	int			evicted;		/* evictions since the last decision */
	int			evicted_unused; /* of them, entries never served */
	bool		doorkeeping;	/* admit a key only on its second miss */
	bits8	   *seen;			/* keys missed once, a bit per hash value */
	uint32		nbits;			/* bits in seen, a power of 2 */
	int			nseen;			/* keys marked since seen was cleared */
} MpTable;

#define DOORKEEPER_MAX_WINDOW (1 << 20)	/* misses: a bitmap of 2MB at most */

/*
 * What a table itself takes, roughly (its struct, a small index, sort
 * support, statistics, its memory context), counted against
 * max_backend_memory so that the number of tables is bounded too.
 */
#define TABLE_OVERHEAD ((Size) 4096)

static inline uint32 table_hash(MpTable *t, Datum key);
static inline bool table_equal(MpTable *t, Datum a, Datum b);

#define SH_PREFIX entryhash
#define SH_ELEMENT_TYPE EntryRef
#define SH_KEY_TYPE Datum
#define SH_KEY key
#define SH_HASH_KEY(tb, k) table_hash((MpTable *) (tb)->private_data, k)
#define SH_EQUAL(tb, a, b) table_equal((MpTable *) (tb)->private_data, a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static MpTable *tables = NULL;
static MemoryContext cache_cxt = NULL;
static Size backend_bytes = 0;
static uint64 call_counter = 0;
static bool notice_sent = false;

/*
 * Calls in progress.  A call can start while another one runs: from a
 * row-level security policy, a cast or an operator class function that the
 * outer call invokes.  Every entry used since the outermost call began
 * (ref->call >= outer_call) may still be held by one of them, so it is
 * neither evicted nor replaced, and reset() refuses to run.  A call ended by
 * an error is forgotten when its subtransaction or transaction aborts.
 */
static SubTransactionId *calls = NULL;	/* each call's subtransaction */
static int	ncalls = 0;
static int	maxcalls = 0;
static uint64 outer_call = 0;

static void cache_xact_callback(XactEvent event, void *arg);
static void cache_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg);

/* per-session settings of configure() */
typedef struct MpConfig
{
	Oid			relid;
	int			cache_size;		/* -1: the GUC */
	bool		prefetch_all;
} MpConfig;
static List *configs = NIL;

/* an invalidation named a relation some table caches: see table_sweep() */
static bool sweep_pending = false;

static inline uint32
table_hash(MpTable *t, Datum key)
{
	return DatumGetUInt32(FunctionCall1Coll(&t->hashfn, t->collation, key));
}

static inline bool
table_equal(MpTable *t, Datum a, Datum b)
{
	return ApplySortComparator(a, false, b, false, &t->ssup) == 0;
}

static inline void
count(MpTable *t, MpCounter c, int64 n)
{
	pg_atomic_write_u64(&t->stats->counters[c],
						pg_atomic_read_u64(&t->stats->counters[c]) + n);
}

/* ---------- invalidation and settings ---------- */

/*
 * A relcache invalidation of a relation (or of all of them) starts a new
 * generation of its tables, so that no entry filled under the old shape is
 * served, and marks them to be checked for a dropped relation before the
 * next call (table_sweep).  It only flips flags.
 */
static void
cache_relcache_callback(Datum arg, Oid relid)
{
	MpTable    *t;

	for (t = tables; t; t = t->next)
		if (!OidIsValid(relid) || t->relid == relid || t->indexid == relid)
		{
			t->gen++;
			t->recheck = true;
			sweep_pending = true;
		}
}

static MpConfig *
config_for(Oid relid)
{
	ListCell   *lc;

	foreach(lc, configs)
	{
		MpConfig   *c = lfirst(lc);

		if (c->relid == relid)
			return c;
	}
	return NULL;
}

static int
cache_size_for(Oid relid)
{
	MpConfig   *c = config_for(relid);

	return (c && c->cache_size >= 0) ? c->cache_size : mp_cache_size;
}

void
mp_cache_configure(Oid relid, int cache_size, bool prefetch_all)
{
	MpConfig   *c;
	MpTable    *t;

	mp_cache_setup();
	c = config_for(relid);
	if (c == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(cache_cxt);

		c = palloc(sizeof(MpConfig));
		c->relid = relid;
		configs = lappend(configs, c);
		MemoryContextSwitchTo(old);
	}
	c->cache_size = cache_size;
	c->prefetch_all = prefetch_all;
	for (t = tables; t; t = t->next)
		if (t->relid == relid)
			t->prefetched = false;
}

/* ---------- tables and entries ---------- */

void
mp_cache_setup(void)
{
	if (cache_cxt != NULL)
		return;
	cache_cxt = AllocSetContextCreate(TopMemoryContext, "memoized_prefetch cache",
									  ALLOCSET_DEFAULT_SIZES);
	CacheRegisterRelcacheCallback(cache_relcache_callback, (Datum) 0);
	RegisterXactCallback(cache_xact_callback, NULL);
	RegisterSubXactCallback(cache_subxact_callback, NULL);
}

static inline EntryRef *
entry_ref(MpTable *t, MpEntry *e)
{
	return entryhash_lookup_hash(t->index, e->key, e->hash);
}

static void
entry_free(MpTable *t, MpEntry *e)
{
	count(t, MP_ENTRIES, -1);
	count(t, MP_BYTES, -(int64) e->size);
	backend_bytes -= e->size;
	t->nentries--;
	dlist_delete(&e->lru);
	entryhash_delete_item(t->index, entry_ref(t, e));
	mp_pool_free(e, e->self);
}

/*
 * Admission.  A table stores every miss, until a whole cache's worth of
 * evictions (cache_size) finds that fewer than 1 in 16 of the evicted
 * entries were ever served: its keys rarely come back (a chunk's link rows,
 * when each source is asked for once; rows reached through a table far
 * larger than the cache), and storing them costs more than it gives.  From
 * then on, a key is stored on its second miss, if it comes back within
 * cache_size (to 2 * cache_size) misses: one that comes back later would
 * have been evicted before its reuse anyway.  Keys missed once are marked in
 * a bitmap by their hash, cleared every 2 * cache_size marks, with 8 bits per
 * mark so that a collision, which only stores a key early, is rare.  The
 * table stores every miss again when the next cache's worth of evictions
 * finds 1 in 16 of them served, or as soon as a call is served more of its
 * keys than it misses.  What a call returns never depends on this.
 */
static void
doorkeeper_start(MpTable *t)
{
	uint32		nbits = pg_nextpower2_32(Min(Max(t->cap, 128), DOORKEEPER_MAX_WINDOW) * 16);

	if (t->nbits != nbits)
	{
		if (t->seen)
			pfree(t->seen);
		t->seen = MemoryContextAlloc(t->cxt, nbits / BITS_PER_BYTE);
		/* the bitmap counts as the table's own memory */
		backend_bytes -= t->nbits / BITS_PER_BYTE;
		t->overhead -= t->nbits / BITS_PER_BYTE;
		t->nbits = nbits;
		backend_bytes += nbits / BITS_PER_BYTE;
		t->overhead += nbits / BITS_PER_BYTE;
	}
	memset(t->seen, 0, nbits / BITS_PER_BYTE);
	t->nseen = 0;
	t->doorkeeping = true;
}

static void
doorkeeper_stop(MpTable *t)
{
	t->doorkeeping = false;
	t->evicted = t->evicted_unused = 0;
}

static void
admission_evicted(MpTable *t, bool served)
{
	bool		wasteful;

	t->evicted++;
	if (!served)
		t->evicted_unused++;
	if (t->evicted < Max(t->cap, 1))
		return;
	wasteful = t->evicted_unused * (int64) 16 > t->evicted * (int64) 15;
	if (wasteful && !t->doorkeeping)
		doorkeeper_start(t);
	else if (!wasteful && t->doorkeeping)
		doorkeeper_stop(t);
	t->evicted = t->evicted_unused = 0;
}

/* Whether a missed key is stored. */
static bool
admit(MpTable *t, uint32 hash)
{
	uint32		bit;

	if (!t->doorkeeping)
		return true;
	bit = hash & (t->nbits - 1);
	if (t->seen[bit / BITS_PER_BYTE] & (1 << (bit % BITS_PER_BYTE)))
		return true;
	t->seen[bit / BITS_PER_BYTE] |= 1 << (bit % BITS_PER_BYTE);
	if (++t->nseen >= 2 * Min(t->cap, DOORKEEPER_MAX_WINDOW))
		doorkeeper_start(t);
	return false;
}

/*
 * Evict one entry the current call does not use, by second chance: a hit only
 * marks its entry, and an entry found marked at the tail goes back to the
 * head unmarked instead of being evicted.  This keeps hits free of list
 * updates.
 */
static bool
evict_one(MpTable *t)
{
	int			pinned = 0;
	int			i;

	/* what the current call uses stays: once all of it is, stop looking */
	if (t->full_call == call_counter)
		return false;
	for (i = 0; i < 2 * t->nentries && pinned < t->nentries; i++)
	{
		MpEntry    *e = dlist_container(MpEntry, lru, dlist_tail_node(&t->lru));
		EntryRef   *ref = entry_ref(t, e);

		if (ref->call >= outer_call || ref->referenced)
		{
			pinned = ref->call >= outer_call ? pinned + 1 : 0;
			ref->referenced = false;
			dlist_move_head(&t->lru, &e->lru);
			continue;
		}
		admission_evicted(t, ref->served);
		entry_free(t, e);
		count(t, MP_EVICTIONS, 1);
		return true;
	}
	t->full_call = call_counter;
	return false;
}

/* Evict from any table of this backend, this one first. */
static bool
evict_any(MpTable *first)
{
	MpTable    *t;

	if (first && evict_one(first))
		return true;
	for (t = tables; t; t = t->next)
		if (t != first && evict_one(t))
			return true;
	return false;
}

/*
 * Give a table back: its entries and statistics to the pool, its own memory
 * to the backend.  Never while a call may use it.
 */
static void
table_free(MpTable *t)
{
	MpSlot	   *slot = mp_shared_available() ? mp_my_slot() : NULL;
	MpTable   **link;

	while (!dlist_is_empty(&t->lru))
		entry_free(t, dlist_container(MpEntry, lru, dlist_head_node(&t->lru)));
	if (DsaPointerIsValid(t->stats_dp))
	{
		dsa_pointer *dp;

		/* unpublish the statistics (see shmem.c for the slot's lock) */
		LWLockAcquire(slot->lock, LW_EXCLUSIVE);
		for (dp = &slot->tables; DsaPointerIsValid(*dp);
			 dp = &((MpTableStats *) mp_pool_address(*dp))->next)
			if (*dp == t->stats_dp)
			{
				*dp = t->stats->next;
				break;
			}
		LWLockRelease(slot->lock);
		mp_pool_free(t->stats, t->stats_dp);
	}
	for (link = &tables; *link != t; link = &(*link)->next)
		;
	*link = t->next;
	mp_track_forget(t->relid, t->indexid);
	backend_bytes -= t->overhead;
	MemoryContextDelete(t->cxt);
}

/*
 * Before a call: forget the tables of relations or indexes that an
 * invalidation named and that no longer exist, so that a backend's memory
 * does not grow with every relation it ever read.  The per-table settings of
 * dropped relations go too.
 */
static void
table_sweep(void)
{
	MpTable    *t;
	MpTable    *next;
	ListCell   *lc;

	if (!sweep_pending || ncalls > 0)
		return;
	sweep_pending = false;
	for (t = tables; t; t = next)
	{
		next = t->next;
		if (t->recheck)
		{
			t->recheck = false;
			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(t->relid)) ||
				!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(t->indexid)))
				table_free(t);
		}
	}
	foreach(lc, configs)
	{
		MpConfig   *c = lfirst(lc);

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(c->relid)))
		{
			configs = foreach_delete_current(configs, lc);
			pfree(c);
		}
	}
}

/*
 * Free one table that holds no entry and no call uses, to make room for a
 * new one; false when there is none.
 */
static bool
table_free_idle(void)
{
	MpTable    *t;
	MpTable    *idle = NULL;

	for (t = tables; t; t = t->next)
		if (t->nentries == 0 && t->last_call < outer_call)
			idle = t;			/* the least recently created */
	if (idle == NULL)
		return false;
	table_free(idle);
	return true;
}

/* At backend exit: the entries and statistics go back to the pool. */
static void
cache_exit(int code, Datum arg)
{
	MpTable    *t;

	/*
	 * Nothing here may compare keys (a record's comparison needs a resource
	 * owner, gone by now) or touch the local index: only pool memory is
	 * given back.  shmem.c clears the slot afterwards.
	 */
	for (t = tables; t; t = t->next)
	{
		dlist_mutable_iter it;

		dlist_foreach_modify(it, &t->lru)
		{
			MpEntry    *e = dlist_container(MpEntry, lru, it.cur);

			mp_pool_free(e, e->self);
		}
		if (DsaPointerIsValid(t->stats_dp))
			mp_pool_free(t->stats, t->stats_dp);
	}
	tables = NULL;
}

/*
 * The table of lk's relation and index, created on first use; NULL when
 * max_backend_memory has no room for another one.
 */
static MpTable *
table_for(MpLookup *lk)
{
	static bool exit_registered = false;
	MpTable    *t;
	MpSlot	   *slot;
	MemoryContext cxt;
	MemoryContext old;
	Size		cap = (Size) mp_max_backend_memory_kb * 1024;

	for (t = tables; t; t = t->next)
		if (t->relid == lk->ik->relid && t->indexid == lk->ik->indexid &&
			t->indexonly == lk->ik->indexonly)
		{
			t->last_call = call_counter;
			return t;
		}

	slot = mp_my_slot();
	if (slot == NULL && !notice_sent && !mp_shared_available())
	{
		ereport(NOTICE,
				(errmsg("memoized_prefetch is not in shared_preload_libraries"),
				 errdetail("Fetched rows are reused only under the same snapshot: within a statement, or within a REPEATABLE READ or SERIALIZABLE transaction."),
				 errhint("Add memoized_prefetch to shared_preload_libraries to reuse rows of tracked tables across statements and transactions.")));
		notice_sent = true;
	}
	if (slot && !exit_registered)
	{
		/* after the pool's own callback, so it runs before it */
		before_shmem_exit(cache_exit, (Datum) 0);
		exit_registered = true;
	}

	/*
	 * A table's own memory counts against max_backend_memory too.  With 0
	 * the cache is off and tables only count the bypasses of the relations
	 * that exist (dropped ones go, see table_sweep).
	 */
	while (cap > 0 && backend_bytes + TABLE_OVERHEAD > cap)
		if (!table_free_idle() && !evict_any(NULL))
			return NULL;

	cxt = AllocSetContextCreate(cache_cxt, "memoized_prefetch table",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	t = palloc0(sizeof(MpTable));
	t->cxt = cxt;
	t->relid = lk->ik->relid;
	t->indexid = lk->ik->indexid;
	t->indexonly = lk->ik->indexonly;
	t->last_call = call_counter;
	t->stats = mp_pool_alloc(sizeof(MpTableStats), &t->stats_dp, cxt);
	if (t->stats == NULL)
	{
		/* the pool is full: keep the statistics where only we see them */
		t->stats = palloc(sizeof(MpTableStats));
		t->stats_dp = InvalidDsaPointer;
	}
	memset(t->stats, 0, sizeof(MpTableStats));
	t->stats->dbid = MyDatabaseId;
	t->stats->relid = t->relid;
	t->stats->indexid = t->indexid;
	t->stats->next = InvalidDsaPointer;
	t->index = entryhash_create(cxt, 16, t);
	dlist_init(&t->lru);
	get_typlenbyval(lk->ik->keytype, &t->typlen, &t->typbyval);
	fmgr_info_cxt(lk->ik->hashproc, &t->hashfn, cxt);
	t->collation = lk->ik->collation;
	t->ssup.ssup_cxt = cxt;
	t->ssup.ssup_collation = lk->ik->collation;
	t->ssup.ssup_attno = 1;
	mp_sortsupport_from_index(lk->index, &t->ssup);
	MemoryContextSwitchTo(old);
	t->overhead = TABLE_OVERHEAD;
	backend_bytes += t->overhead;

	/* publish the statistics */
	if (slot && DsaPointerIsValid(t->stats_dp))
	{
		LWLockAcquire(slot->lock, LW_EXCLUSIVE);
		t->stats->next = slot->tables;
		slot->tables = t->stats_dp;
		LWLockRelease(slot->lock);
	}
	t->next = tables;
	tables = t;
	return t;
}

/* Forget the tables (entries and counters) of relid, or every table. */
void
mp_cache_reset(Oid relid)
{
	MpTable    *t;
	MpTable    *next;

	if (ncalls > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot reset the cache while a call of fk() or m2m() is in progress")));
	for (t = tables; t; t = next)
	{
		next = t->next;
		if (!OidIsValid(relid) || t->relid == relid)
			table_free(t);
	}
}

/* Local statistics, for the stats view without shared memory. */
MpTableStats *
mp_cache_local_stats(int i)
{
	MpTable    *t;

	for (t = tables; t && i > 0; t = t->next)
		i--;
	return t ? t->stats : NULL;
}

/* ---------- serving and filling ---------- */

static void prefetch(MpLookup *lk);

/* A call begins: what it touches stays until the outermost call ends. */
void
mp_cache_call_begin(void)
{
	mp_cache_setup();
	table_sweep();
	if (ncalls == maxcalls)
	{
		maxcalls = Max(maxcalls * 2, 4);
		calls = calls ? repalloc(calls, sizeof(SubTransactionId) * maxcalls) :
			MemoryContextAlloc(cache_cxt, sizeof(SubTransactionId) * maxcalls);
	}
	call_counter++;
	if (ncalls == 0)
		outer_call = call_counter;
	calls[ncalls++] = GetCurrentSubTransactionId();
}

void
mp_cache_call_end(void)
{
	Assert(ncalls > 0);
	ncalls--;
}

static void
cache_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		ncalls = 0;
}

static void
cache_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		while (ncalls > 0 && calls[ncalls - 1] >= mySubid)
			ncalls--;
}

/*
 * Decide how this call may use the cache for lk's relation and index;
 * "cacheable" is false for lookups that are not worth caching.
 */
void
mp_cache_begin(MpLookup *lk, bool cacheable)
{
	MpCacheUse *use = &lk->cache;
	Snapshot	snap = GetActiveSnapshot();
	Oid			relid = lk->ik->relid;

	memset(use, 0, sizeof(MpCacheUse));
	if (!cacheable || !lk->hashable)
		return;
	mp_cache_setup();
	use->table = table_for(lk);
	if (use->table == NULL)
		return;

	if (!mp_enabled || lk->via_spi || !lk->hashable || snap == NULL ||
		!IsMVCCSnapshot(snap) || RecoveryInProgress() ||
		mp_old_snapshot_threshold >= 0 || mp_written(lk->heap) ||
		cache_size_for(relid) <= 0 || mp_max_backend_memory_kb <= 0)
	{
		use->bypass = true;
		return;
	}

	use->snap = mp_snapshot_id(snap);
	use->xmin64 = mp_snapshot_xmin64(snap);
	use->cap = cache_size_for(relid);
	use->table->cap = use->cap;
	if (mp_shared_available() &&
		mp_witness(relid, mp_relfilenumber(lk->heap), lk->ik->indexid, snap,
				   &use->witness) &&
		mp_witness_trusted(relid, lk->ik->indexid, &use->witness, snap))
		use->xmin_rule = !IsolationIsSerializable();
	use->coarse = mp_coarse_bucket(relid);

	/* entries filled under another storage, shape or witness are not used */
	{
		MpTable    *t = use->table;
		Oid			relfilenode = mp_relfilenumber(lk->heap);

		if (t->relfilenode != relfilenode ||
			memcmp(&t->witness, &use->witness, sizeof(MpWitness)) != 0)
		{
			t->gen++;
			t->relfilenode = relfilenode;
			t->witness = use->witness;
		}
	}

	if (!use->table->prefetched && config_for(relid) && config_for(relid)->prefetch_all)
		prefetch(lk);
}

static inline bool
servable(MpCacheUse *use, EntryRef *ref, uint32 bucket)
{
	if (ref->gen != use->table->gen)
		return false;
	if (ref->snap == use->snap)
		return true;
	return use->xmin_rule && ref->stable && ref->m0 < use->xmin64 &&
		pg_atomic_read_u64(&mp_bucket(bucket)->gen) == ref->g0 &&
		pg_atomic_read_u64(&mp_bucket(use->coarse)->gen) == ref->gc0;
}

/* What a miss reads before looking the key up. */
typedef struct MissState
{
	uint64		g0;
	uint64		gc0;
	uint64		m0;
} MissState;

static void
miss_read(MpCacheUse *use, uint32 bucket, MissState *ms)
{
	if (!use->xmin_rule)
	{
		memset(ms, 0, sizeof(MissState));
		ms->m0 = PG_UINT64_MAX;
		return;
	}
	ms->g0 = pg_atomic_read_u64(&mp_bucket(bucket)->gen);
	ms->gc0 = pg_atomic_read_u64(&mp_bucket(use->coarse)->gen);
	pg_read_barrier();
	ms->m0 = Max(pg_atomic_read_u64(&mp_bucket(bucket)->maxw),
				 pg_atomic_read_u64(&mp_bucket(use->coarse)->maxw));
}

/* Store the rows of one key; NULL when there is no room. */
static MpEntry *
fill(MpLookup *lk, Datum key, uint32 hash, HeapTuple *rows, int nrows,
	 MissState *ms)
{
	MpCacheUse *use = &lk->cache;
	MpTable    *t = use->table;
	Size		keylen = t->typbyval ? 0 : MAXALIGN(datumGetSize(key, false, t->typlen));
	Size		size = MAXALIGN(offsetof(MpEntry, rows) + sizeof(HeapTupleData) * nrows) + keylen;
	Size		cap = (Size) mp_max_backend_memory_kb * 1024;
	MpEntry    *e;
	dsa_pointer dp;
	char	   *p;
	bool		found;
	EntryRef   *ref;
	int			i;

	for (i = 0; i < nrows; i++)
		size += MAXALIGN(rows[i]->t_len);

	/*
	 * An older entry for the key goes first, unless a call in progress may
	 * hold rows of it: then the new rows stay uncached.
	 */
	ref = entryhash_lookup_hash(t->index, key, hash);
	if (ref && ref->call >= outer_call)
		return NULL;
	if (ref)
		entry_free(t, ref->entry);

	/* this table's cap is met by its own entries, memory by any table's */
	while (t->nentries >= use->cap)
		if (!evict_one(t))
			return NULL;
	while (backend_bytes + size > cap)
		if (!evict_any(t))
			return NULL;
	while ((e = mp_pool_alloc(size, &dp, cache_cxt)) == NULL)
		if (!evict_any(t))
			return NULL;

	e->self = dp;
	e->size = size;
	e->hash = hash;
	e->nrows = nrows;
	p = (char *) e + MAXALIGN(offsetof(MpEntry, rows) + sizeof(HeapTupleData) * nrows);
	if (t->typbyval)
		e->key = key;
	else
	{
		memcpy(p, DatumGetPointer(key), datumGetSize(key, false, t->typlen));
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

	ref = entryhash_insert_hash(t->index, e->key, hash, &found);
	ref->entry = e;
	ref->nrows = nrows;
	ref->gen = t->gen;
	ref->g0 = ms->g0;
	ref->gc0 = ms->gc0;
	ref->m0 = ms->m0;
	ref->stable = ms->m0 < use->xmin64;
	ref->referenced = false;
	ref->served = false;
	ref->snap = use->snap;
	ref->call = call_counter;
	dlist_push_head(&t->lru, &e->lru);
	t->nentries++;
	backend_bytes += size;
	count(t, MP_ENTRIES, 1);
	count(t, MP_BYTES, (int64) size);
	return e;
}

/*
 * The lookup engine behind the cache: rows for every distinct key of ks,
 * served from the cache where the rules allow, looked up (and stored)
 * otherwise.
 */
void
mp_cache_rows(MpLookup *lk, const MpKeySet *ks, MpRows *out)
{
	MpCacheUse *use = &lk->cache;
	MpTable    *t = use->table;
	int			nd = ks->ndistinct;
	uint32	   *hashes;
	uint32	   *buckets;
	MpEntry   **hit;
	uint32	   *hitn;
	int		   *missof;
	MissState  *ms;
	MpKeySet	missks;
	MpRows		missrows;
	int			nmiss = 0;
	int			nrows = 0;
	int			k;
	int			n;

	if (t == NULL || use->bypass)
	{
		if (t)
			count(t, MP_BYPASSES, nd);
		mp_lookup_rows(lk, ks, out);
		return;
	}

	hit = palloc(sizeof(MpEntry *) * Max(nd, 1));
	hitn = palloc(sizeof(uint32) * Max(nd, 1));
	missof = palloc(sizeof(int) * Max(nd, 1));
	ms = palloc(sizeof(MissState) * Max(nd, 1));
	missks.distinct = palloc(sizeof(Datum) * Max(nd, 1));
	missks.hashes = palloc(sizeof(uint32) * Max(nd, 1));

	/* each key's hash (unless the key set has them) and bucket */
	hashes = ks->hashes ? ks->hashes : palloc(sizeof(uint32) * Max(nd, 1));
	buckets = palloc(sizeof(uint32) * Max(nd, 1));
	for (k = 0; k < nd; k++)
	{
		if (ks->hashes == NULL)
			hashes[k] = table_hash(t, ks->distinct[k]);
		buckets[k] = mp_bucket_of(t->relid, hashes[k]);
	}

	for (k = 0; k < nd; k++)
	{
		Datum		key = ks->distinct[k];
		uint32		h = hashes[k];
		uint32		bucket = buckets[k];
		EntryRef   *ref;

		/* start loading what the probe 8 keys on will read */
		if (k + 8 < nd)
		{
			mp_prefetch(&t->index->data[hashes[k + 8] & t->index->sizemask]);
			if (use->xmin_rule)
				mp_prefetch(mp_bucket(buckets[k + 8]));
		}
		ref = entryhash_lookup_hash(t->index, key, h);
		hit[k] = NULL;
		if (ref && servable(use, ref, bucket))
		{
			hit[k] = ref->entry;
			hitn[k] = ref->nrows;
			ref->call = call_counter;
			ref->referenced = true;
			ref->served = true;
			nrows += ref->nrows;
			continue;
		}
		if (ref)
			count(t, MP_INVALIDATIONS, 1);
		miss_read(use, bucket, &ms[nmiss]);
		missof[nmiss] = k;
		missks.distinct[nmiss] = key;
		missks.hashes[nmiss] = h;
		nmiss++;
	}
	count(t, MP_HITS, nd - nmiss);
	count(t, MP_MISSES, nmiss);
	if (t->doorkeeping && nd - nmiss > nmiss)
		doorkeeper_stop(t);

	/* the misses: one lookup, then store each key's rows */
	missks.n = missks.ndistinct = nmiss;
	missks.sorted = ks->sorted;
	missks.keys = missks.distinct;
	mp_lookup_rows(lk, &missks, &missrows);
	for (n = 0; n < nmiss; n++)
	{
		int			cnt = missrows.start[n + 1] - missrows.start[n];
		Datum		key = missks.distinct[n];

		hit[missof[n]] = !admit(t, missks.hashes[n]) ? NULL :
			fill(lk, key, missks.hashes[n],
				 &missrows.rows[missrows.start[n]], cnt, &ms[n]);
		hitn[missof[n]] = cnt;
		nrows += cnt;
	}

	/* assemble: entries where there is one, else the rows just read */
	out->start = palloc(sizeof(int) * (nd + 1));
	out->rows = palloc(sizeof(HeapTuple) * Max(nrows, 1));
	nrows = 0;
	n = 0;
	for (k = 0; k < nd; k++)
	{
		out->start[k] = nrows;
		if (n < nmiss && missof[n] == k && hit[k] == NULL)
		{
			int			r;

			for (r = missrows.start[n]; r < missrows.start[n + 1]; r++)
				out->rows[nrows++] = missrows.rows[r];
		}
		else
		{
			uint32		r;

			for (r = 0; r < hitn[k]; r++)
				out->rows[nrows++] = &hit[k]->rows[r];
		}
		if (n < nmiss && missof[n] == k)
			n++;
	}
	out->start[nd] = nrows;
}

/*
 * prefetch_all: load the whole relation (up to the table's cap) in one index
 * scan.  The buckets are read before the scan, so every key is filled under
 * the same rule as a miss.
 */
static void
prefetch(MpLookup *lk)
{
	MpCacheUse *use = &lk->cache;
	MpTable    *t = use->table;
	uint64	   *gens = NULL;
	uint64	   *maxws = NULL;
	MissState	ms;
	MpKeySet	ks;
	MpRows		rows;
	int			k;

	if (use->xmin_rule)
	{
		gens = palloc(sizeof(uint64) * MP_NBUCKETS);
		maxws = palloc(sizeof(uint64) * MP_NBUCKETS);
		for (k = 0; k < MP_NBUCKETS; k++)
			gens[k] = pg_atomic_read_u64(&mp_bucket(k)->gen);
		pg_read_barrier();
		for (k = 0; k < MP_NBUCKETS; k++)
			maxws[k] = pg_atomic_read_u64(&mp_bucket(k)->maxw);
	}
	miss_read(use, use->coarse, &ms);	/* the coarse bucket, read first */
	mp_lookup_all(lk, use->cap, &ks, &rows);
	for (k = 0; k < ks.ndistinct; k++)
	{
		Datum		key = ks.distinct[k];
		uint32		h = table_hash(t, key);
		MissState	kms = ms;

		if (use->xmin_rule)
		{
			uint32		b = mp_bucket_of(t->relid, h) & (MP_NBUCKETS - 1);

			kms.g0 = gens[b];
			kms.m0 = Max(maxws[b], ms.m0);
		}
		if (fill(lk, key, h, &rows.rows[rows.start[k]],
				 rows.start[k + 1] - rows.start[k], &kms) == NULL)
			break;
	}
	count(t, MP_MISSES, ks.ndistinct);
	t->prefetched = true;
}
