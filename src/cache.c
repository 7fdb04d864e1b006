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
 * Rules (see track.c and witness.c for buckets and witnesses).  A call bypasses the cache
 * when the snapshot is not MVCC, during recovery, when old_snapshot_threshold
 * is set, when row-level security applies, when the key type has no hash
 * function, or when the transaction may have written the relation (it holds
 * a lock that lets it write: track.c, mp_written).  Otherwise an entry e is
 * served under snapshot S when its witness and relfilenode are the current
 * ones, no relcache invalidation of the relation came since it was filled
 * (both start a new generation of the cache), and either
 *
 *	- the xmin rule (tracked relation, not SERIALIZABLE):
 *	  e.stable && B[b].gen == e.g0 && C.gen == e.gc0 && e.m0 < xmin(S),
 *	  with C the relation's coarse bucket; or
 *	- the same-snapshot rule: e was filled under a snapshot with the same
 *	  fingerprint as S (snapid.c).
 *
 * A miss reads g0 = B[b].gen and gc0 = C.gen, then (read barrier)
 * m0 = max(B[b].maxw, C.maxw), then looks the key up under S and stores the
 * result with stable = m0 < xmin(S).  The xmin rule is used only under a
 * snapshot that sees every writer that could have written without moving a
 * bucket as ended (witness.c, mp_witness_trusted), for the fill and the serve
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

#include "access/xact.h"
#include "access/xlog.h"
#include "utils/snapmgr.h"

#include "cache_store.h"
#include "shmem.h"

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
		!IsMVCCSnapshot(snap) || RecoveryInProgress() ||
		mp_old_snapshot_threshold >= 0 || mp_written(lk->heap) ||
		mp_cache_size_for(relid) <= 0 || mp_max_backend_memory_kb <= 0)
	{
		use->bypass = true;
		return;
	}

	use->snap = mp_snapshot_id(snap);
	use->xmin64 = mp_snapshot_xmin64(snap);
	use->cap = mp_cache_size_for(relid);
	c->cap = use->cap;
	relfilenode = mp_relfilenumber(lk->heap);
	if (mp_shared_available() &&
		mp_witness(relid, relfilenode, lk->ik->indexid, snap, &use->witness) &&
		mp_witness_trusted(relid, lk->ik->indexid, &use->witness, snap))
		use->xmin_rule = !IsolationIsSerializable();
	use->coarse = mp_coarse_bucket(relid);

	/* entries filled under another storage or witness are not used */
	if (c->relfilenode != relfilenode ||
		memcmp(&c->witness, &use->witness, sizeof(MpWitness)) != 0)
	{
		c->gen++;
		c->relfilenode = relfilenode;
		c->witness = use->witness;
	}

	load = mp_cache_load_all_for(relid);
	if (load != 0 && c->loaded != load)
	{
		load_all(use, lk);
		c->loaded = load;
	}
}

static inline bool
servable(MpCacheUse *use, MpEntryRef *ref, uint32 bucket)
{
	if (ref->gen != use->cache->gen)
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

/* Store the rows a miss read, under what it read first; NULL if not kept. */
static MpEntry *
fill(MpCacheUse *use, Datum key, uint32 hash, HeapTuple *rows, int nrows,
	 MissState *ms)
{
	MpEntryRef *ref = mp_cache_store(use->cache, use->cap, key, hash, rows, nrows);

	if (ref == NULL)
		return NULL;
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
			mp_cache_count(t, MP_BYPASSES, nd);
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
		if (ref && servable(use, ref, bucket))
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
			fill(use, key, missks.hashes[n],
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
		if (fill(use, key, h, &rows.rows[rows.start[k]],
				 rows.start[k + 1] - rows.start[k], &kms) == NULL)
			break;
	}
	mp_cache_count(t, MP_MISSES, ks.ndistinct);
}
