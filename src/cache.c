/*-------------------------------------------------------------------------
 *
 * cache.c
 *		The rules that decide when a cached lookup result may be served, and
 *		the cache's front for a call: begin, rows for a key set.
 *
 * The entries are kept by cache_store.c, one cache per relation and index;
 * which misses are stored is cache_admit.c's, what calls in progress hold,
 * cache_pins.c's.
 *
 * Rules (see track.c and witness.c for buckets and witnesses).  A call
 * bypasses the cache when the snapshot is not MVCC, when
 * old_snapshot_threshold is set, when row-level security applies, or when
 * the transaction may have written the relation (it holds a lock that lets
 * it write: track.c, mp_written); a key type with no hash function is never
 * cached.  Otherwise an entry e is served under snapshot S when its witness
 * and relfilenode are the current ones, no relcache invalidation of the
 * relation came since it was filled (both start a new generation of the
 * cache), and either
 *
 *	- the xmin rule (tracked relation, not SERIALIZABLE, not in recovery):
 *	  e.stable && B[b].gen == e.g0 && C.gen == e.gc0 && e.m0 < xmin(S),
 *	  with C the relation's coarse bucket; or
 *	- the same-snapshot rule: e was filled under a snapshot with the same
 *	  fingerprint as S (snapid.c); or
 *	- the validated rule (on a hot standby, or without the preload, where
 *	  no bucket moves; not SERIALIZABLE): e holds the one row of a key of a
 *	  unique, immediate index, read from the heap, at TID t with raw xmin X;
 *	  the heap tuple at t is visible under S with raw xmin X, t's block lies
 *	  below the relation's current size, and e is younger than 2^31
 *	  transactions.
 *
 * A miss reads g0 = B[b].gen and gc0 = C.gen, then (read barrier)
 * m0 = max(B[b].maxw, C.maxw), then looks the key up under S and stores the
 * result with stable = m0 < xmin(S).  The xmin rule is used only under a
 * snapshot that sees every writer that could have written without moving a
 * bucket as ended (witness.c, mp_witness_trusted), for the fill and the serve
 * alike.
 *
 * Why the validated rule is exact.  A heap tuple's contents never change
 * once written (only its xmax, hint bits and line pointer do; catalogs,
 * which are updated in place, are refused), and a TID of one relfilenode
 * holds one tuple at a time.  The tuple at t with raw xmin X is the version V
 * the entry copied: another tuple at t with xmin X would have had to be
 * written by X after V was removed, but V was visible to the snapshot that
 * filled e, so X had committed by then and writes nothing more; X cannot
 * name another transaction while e is younger than 2^31 transactions (raw
 * xmins survive freezing).  If V is visible under S, it is the row the plain
 * join returns under S: the key is unique and V has the key.  What can happen
 * to the page makes a hit fail, never lie: HOT pruning turns t into a
 * redirect or a dead or unused pointer (heap_fetch finds no tuple there) and
 * a reused pointer holds a tuple of another xmin; VACUUM, and its replay on a
 * standby, only remove tuples dead to every snapshot (or, without
 * hot_standby_feedback, ones a standby snapshot still needs, and replay then
 * cancels the queries whose snapshots conflict, as for any scan); page
 * defragmentation moves tuples within their page but keeps their line
 * pointers; VACUUM FULL, CLUSTER and TRUNCATE write new storage, whose
 * relfilenode change (seen through the relcache, replay included) starts a
 * new generation of the cache, and a relation truncated by VACUUM is shorter
 * than t's block.  Absent keys, link rows and rows of non-unique keys have no
 * such witness: they are served only by the same-snapshot rule there.
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

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_am.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "cache_store.h"
#include "shmem.h"

/*
 * A validated hit is served only from an entry younger than this many
 * transactions, so that its raw xmin cannot name another transaction after
 * wraparound.
 */
#define VALIDATED_MAX_AGE (UINT64CONST(1) << 31)

static void load_all(MpCacheUse *use, MpLookup *lk);

/* A call begins: what it touches stays until the outermost call ends. */
void
mp_cache_call_begin(void)
{
	mp_cache_setup();
	mp_cache_sweep();
	mp_pins_push();
}

void
mp_cache_call_end(void)
{
	mp_pins_pop();
}

/*
 * A streaming scan keeps the rows of its next call until mp_cache_unhold().
 * The sweep that the call would make at its start is made first, since the
 * hold already counts as a call in progress.
 */
void
mp_cache_hold(MpCacheHold *hold)
{
	mp_cache_setup();
	mp_cache_sweep();
	mp_pins_hold(hold);
}

void
mp_cache_unhold(MpCacheHold *hold)
{
	mp_pins_unhold(hold);
}

/*
 * Decide how this call may use the cache for lk's relation and index;
 * "cacheable" is false for lookups that are not worth caching.
 */
void
mp_cache_begin(MpCacheUse *use, MpLookup *lk, bool cacheable)
{
	Snapshot	snap = GetActiveSnapshot();
	Oid			relid = lk->ik->relid;
	MpCache    *c;
	Oid			relfilenode;
	uint32		load;

	memset(use, 0, sizeof(MpCacheUse));
	if (!cacheable || !lk->hashable)
		return;
	mp_cache_setup();
	use->cache = c = mp_cache_for(lk);
	if (c == NULL)
		return;

	if (!mp_enabled || lk->via_spi || snap == NULL ||
		!IsMVCCSnapshot(snap) ||
		mp_old_snapshot_threshold >= 0 || mp_written(lk->heap) ||
		mp_cache_size_for(lk->ik->config_relid) <= 0 || mp_max_backend_memory_kb <= 0)
	{
		use->bypass = true;
		return;
	}

	use->snap = mp_snapshot_id(snap);
	use->xmin64 = mp_snapshot_xmin64(snap);
	use->cap = mp_cache_size_for(lk->ik->config_relid);
	c->cap = use->cap;
	relfilenode = mp_relfilenumber(lk->heap);
	if (mp_shared_available() && !RecoveryInProgress() &&
		mp_witness(relid, relfilenode, lk->ik->indexid, snap, &use->witness) &&
		mp_witness_trusted(relid, lk->ik->indexid, &use->witness, snap))
		use->xmin_rule = !IsolationIsSerializable();
	use->validate = !use->xmin_rule && !IsolationIsSerializable() &&
		(RecoveryInProgress() || !mp_shared_available()) &&
		lk->ik->unique && !lk->ik->indexonly &&
		lk->heap->rd_rel->relam == HEAP_TABLE_AM_OID;
	if (use->validate)
		use->next64 = U64FromFullTransactionId(ReadNextFullTransactionId());
	use->nblocks = InvalidBlockNumber;
	use->coarse = mp_coarse_bucket(relid);

	/* entries filled under another storage or witness are not used */
	if (c->relfilenode != relfilenode ||
		memcmp(&c->witness, &use->witness, sizeof(MpWitness)) != 0)
	{
		c->gen++;
		c->relfilenode = relfilenode;
		c->witness = use->witness;
	}
	/* what the call stores is of this generation, whatever comes in later */
	use->gen = c->gen;

	load = mp_cache_load_all_for(lk->ik->config_relid);
	if (load != 0 && c->loaded != load)
	{
		load_all(use, lk);
		c->loaded = load;
	}
}

static inline bool
servable(MpCacheUse *use, MpLookup *lk, MpEntryRef *ref, uint32 bucket)
{
	/* (what this call stored carries use->gen, older than a moved gen) */
	if (ref->gen != use->cache->gen)
		return false;
	if (ref->snap == use->snap)
		return true;
	if (use->xmin_rule)
		return ref->stable && ref->m0 < use->xmin64 &&
			pg_atomic_read_u64(&mp_bucket(bucket)->gen) == ref->g0 &&
			pg_atomic_read_u64(&mp_bucket(use->coarse)->gen) == ref->gc0;
	return use->validate && TransactionIdIsValid(ref->xmin) &&
		use->next64 - ref->born < VALIDATED_MAX_AGE &&
		mp_lookup_unchanged(lk, &ref->tid, ref->xmin, &use->nblocks);
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

/*
 * Store the rows a miss read, under what it read first; NULL if not kept.
 * xmins: the rows' raw xmins (NULL: not known).
 */
static MpEntry *
fill(MpCacheUse *use, Datum key, uint32 hash, HeapTuple *rows,
	 TransactionId *xmins, int nrows, MissState *ms)
{
	MpEntryRef *ref = mp_cache_store(use->cache, use->cap, key, hash, rows, nrows);

	if (ref == NULL)
		return NULL;
	/* one row of a unique key, read from the heap: it can be validated */
	ref->xmin = use->validate && nrows == 1 && xmins ? xmins[0] : InvalidTransactionId;
	if (nrows == 1)
		ref->tid = rows[0]->t_self;
	ref->born = use->next64;
	ref->gen = use->gen;
	ref->g0 = ms->g0;
	ref->gc0 = ms->gc0;
	ref->m0 = ms->m0;
	ref->stable = ms->m0 < use->xmin64;
	ref->snap = use->snap;
	return ref->entry;
}

/*
 * The lookup engine behind the cache: rows for every distinct key of ks,
 * served from the cache where the rules allow, looked up (and stored)
 * otherwise.
 */
void
mp_cache_rows(MpCacheUse *use, MpLookup *lk, const MpKeySet *ks, MpRows *out)
{
	MpCache    *t = use->cache;
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
		{
			mp_cache_count(t, MP_BYPASSES, nd);
			use->bypasses += nd;
		}
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
			hashes[k] = mp_cache_hash(t, ks->distinct[k]);
		buckets[k] = mp_bucket_of(t->key.relid, hashes[k]);
	}

	for (k = 0; k < nd; k++)
	{
		Datum		key = ks->distinct[k];
		uint32		h = hashes[k];
		uint32		bucket = buckets[k];
		MpEntryRef *ref;

		/* start loading what the probe 8 keys on will read */
		if (k + 8 < nd)
		{
			mp_cpu_prefetch(&t->index->data[hashes[k + 8] & t->index->sizemask]);
			if (use->xmin_rule)
				mp_cpu_prefetch(mp_bucket(buckets[k + 8]));
		}
		ref = entryhash_lookup_hash(t->index, key, h);
		hit[k] = NULL;
		if (ref && servable(use, lk, ref, bucket))
		{
			hit[k] = ref->entry;
			hitn[k] = ref->nrows;
			ref->call = mp_current_call;
			ref->referenced = true;
			ref->served = true;
			nrows += ref->nrows;
			continue;
		}
		if (ref)
			mp_cache_count(t, MP_INVALIDATIONS, 1);
		miss_read(use, bucket, &ms[nmiss]);
		missof[nmiss] = k;
		missks.distinct[nmiss] = key;
		missks.hashes[nmiss] = h;
		nmiss++;
	}
	mp_cache_count(t, MP_HITS, nd - nmiss);
	mp_cache_count(t, MP_MISSES, nmiss);
	use->hits += nd - nmiss;
	use->misses += nmiss;
	mp_admit_served(t, nd - nmiss, nmiss);

	/* the misses: one lookup, then store each key's rows */
	missks.n = missks.ndistinct = nmiss;
	missks.sorted = ks->sorted;
	missks.keys = missks.distinct;
	mp_lookup_rows(lk, &missks, &missrows);
	for (n = 0; n < nmiss; n++)
	{
		int			cnt = missrows.start[n + 1] - missrows.start[n];
		Datum		key = missks.distinct[n];

		hit[missof[n]] = !mp_admit(t, missks.hashes[n]) ? NULL :
			fill(use, key, missks.hashes[n], &missrows.rows[missrows.start[n]],
				 missrows.xmins ? &missrows.xmins[missrows.start[n]] : NULL,
				 cnt, &ms[n]);
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
 * configure(prefetch_all): load the whole relation (up to the cache's cap)
 * in one index scan.  The buckets are read before the scan, so every key is filled under
 * the same rule as a miss.
 */
static void
load_all(MpCacheUse *use, MpLookup *lk)
{
	MpCache    *t = use->cache;
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
		uint32		h = mp_cache_hash(t, key);
		MissState	kms = ms;

		if (use->xmin_rule)
		{
			uint32		b = mp_bucket_of(t->key.relid, h) & (MP_NBUCKETS - 1);

			kms.g0 = gens[b];
			kms.m0 = Max(maxws[b], ms.m0);
		}
		if (fill(use, key, h, &rows.rows[rows.start[k]], &rows.xmins[rows.start[k]],
				 rows.start[k + 1] - rows.start[k], &kms) == NULL)
			break;
	}
	mp_cache_count(t, MP_MISSES, ks.ndistinct);
	use->misses += ks.ndistinct;
}
