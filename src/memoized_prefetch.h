/*-------------------------------------------------------------------------
 *
 * memoized_prefetch.h
 *		Private declarations shared by the files of the extension, grouped by
 *		the file that defines them.
 *
 * The extension answers "give me the rows related to this chunk of source
 * ids" with exactly the rows the plain SQL join returns under the caller's
 * snapshot.  A call goes through three layers:
 *
 *	plan.c		resolves the arguments (relations, key columns, indexes,
 *				coercions) from the catalogs once per call site and backend;
 *	keys.c		turns a batch of values into sorted, distinct keys of the
 *				index's type, with the index's own equality and order;
 *	lookup.c	fetches the rows of a batch of distinct keys through a btree
 *				index under the active snapshot (or through SPI when
 *				row-level security applies), the interface a cache sits in
 *				front of;
 *
 * and fk.c / m2m.c walk the paths and emit the result.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMOIZED_PREFETCH_H
#define MEMOIZED_PREFETCH_H

#include "postgres.h"

#include "access/htup.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "lib/ilist.h"
#include "nodes/pg_list.h"
#include "access/transam.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/array.h"
#include "utils/dsa.h"
#include "utils/snapshot.h"
#include "utils/relcache.h"
#include "utils/sortsupport.h"

#include "pg_compat.h"

/* Start loading memory that is about to be read (a hint; no effect if none). */
#if defined(__GNUC__)
#define mp_prefetch(addr) __builtin_prefetch(addr)
#else
#define mp_prefetch(addr) ((void) (addr))
#endif

/*
 * How values of one type become keys of another.  Resolved once per plan.
 */
typedef enum MpCoercionKind
{
	MP_COERCE_NONE,				/* same or binary-coercible type */
	MP_COERCE_NARROW,			/* a wider integer type: range-checked */
	MP_COERCE_FUNC,				/* an implicit cast function */
	MP_COERCE_INPUT				/* a string parsed by the key type's input */
} MpCoercionKind;

typedef struct MpCoercion
{
	MpCoercionKind kind;
	int			nargs;			/* arguments of the cast function */
	FmgrInfo	func;			/* cast function, or the output function of
								 * the string type for MP_COERCE_INPUT */
	FmgrInfo	input;			/* input function of the key type */
	Oid			ioparam;		/* its type I/O parameter */
	int64		min;			/* range of the key type, for MP_COERCE_NARROW */
	int64		max;
	bool		srcint8;		/* int8 source, else int4 */
	bool		keyint4;		/* int4 key, else int2 */
} MpCoercion;

/*
 * A relation reached through one btree index whose first key column is
 * "attno": the unit the lookup engine works on.
 */
typedef struct MpIndexKey
{
	Oid			relid;
	Oid			indexid;
	AttrNumber	attno;			/* heap column the index's first key is */
	Oid			keytype;		/* base type of that column */
	Oid			collation;		/* collation of the index column */
	Oid			opfamily;		/* btree operator family of the index column */
	Oid			eqop;			/* btree "=" of the index's opfamily */
	RegProcedure eqproc;		/* its function */
	RegProcedure geproc;		/* btree ">=", same types */
	RegProcedure leproc;		/* btree "<=", same types */
	RegProcedure hashproc;		/* hash function of "=", or InvalidOid */
	int			rel;			/* index into MpPlan.rels */
	bool		indexonly;		/* the index holds every column read */
} MpIndexKey;

/* One step of a path: the column of the previous row that holds the key. */
typedef struct MpHop
{
	AttrNumber	attno;			/* column of the previous relation */
	int			target;			/* index into MpPlan.targets */
	MpCoercion	coerce;			/* column type -> target key type */
} MpHop;

typedef struct MpPath
{
	char	   *name;			/* as the caller spelled it */
	int			nhops;
	MpHop	   *hops;
} MpPath;

/* A relation a call reads, with the columns the plain join would read. */
typedef struct MpRel
{
	Oid			relid;
	Oid			nspid;
	Bitmapset  *cols;			/* attnums - FirstLowInvalidHeapAttributeNumber */
} MpRel;

typedef enum MpKind
{
	MP_FK = 'f',
	MP_M2M = 'm'
} MpKind;

/*
 * A resolved call: where the source ids are looked up (targets[0]), the paths
 * from there to the target table, and everything the privilege checks need.
 * fk: targets[0] is the source's primary key, one path per attribute.
 * m2m: targets[0] is the link table through an index on its source column,
 * and the one path is its target column.
 */
typedef struct MpPlan
{
	dlist_node	node;			/* in the list of all live plans */
	MemoryContext cxt;			/* holds the plan and everything below */
	char	   *signature;		/* the arguments it was resolved from */
	bool		valid;			/* cleared by invalidation callbacks */
	bool		cached;			/* still in the backend's plan cache */
	int			refcount;		/* cache + call sites that point at it */

	MpKind		kind;
	Oid			target;			/* the table of target_type */
	MpCoercion	idcoerce;		/* source id element -> targets[0] key */

	int			nrels;
	MpRel	   *rels;
	List	   *rtable;			/* RangeTblEntry per rel, for the executor's check */
	List	   *perminfos;		/* and their RTEPermissionInfo (16+) */

	int			ntargets;
	MpIndexKey *targets;

	int			npaths;
	MpPath	   *paths;
	int			maxhops;
} MpPlan;

/* plan.c */
extern MpPlan *mp_plan_for_call(FunctionCallInfo fcinfo, MpKind kind, Oid relid,
								Datum attributes, bool attributes_null,
								const char *source_field,
								const char *target_field);

/* The xmins that show a relation tracked under a snapshot (track.c). */
typedef struct MpWitness
{
	TransactionId row;			/* the row trigger's pg_trigger row */
	TransactionId truncate;		/* the truncate trigger's */
	TransactionId function;		/* bump()'s pg_proc row */
	TransactionId index;		/* the lookup index's pg_index row */
	TransactionId relation;		/* the relation's pg_class row */
} MpWitness;

/* How one call may use the cache of one target (cache.c). */
typedef struct MpCacheUse
{
	struct MpTable *table;		/* NULL: not cached */
	bool		bypass;			/* read the table, serve and fill nothing */
	bool		xmin_rule;		/* tracked, not SERIALIZABLE */
	int			cap;			/* entries */
	uint64		snap;			/* snapshot fingerprint id */
	uint64		xmin64;
	uint32		coarse;			/* the relation's coarse bucket */
	MpWitness	witness;
} MpCacheUse;

/* The lookup of one target during a call (lookup.c). */
typedef struct MpLookup
{
	MpIndexKey *ik;
	Relation	heap;
	Relation	index;
	bool		via_spi;		/* row-level security applies */
	Bitmapset  *cols;			/* columns to read when via_spi */
	SortSupportData ssup;		/* the index's order on its first column */
	bool		hashable;		/* hashfn agrees with the index's equality */
	FmgrInfo	hashfn;
	MpCacheUse	cache;
} MpLookup;

/* Distinct keys of a batch, with the map back to the inputs (keys.c). */
typedef struct MpKeySet
{
	int			n;				/* input keys */
	Datum	   *keys;			/* input keys, of the index's key type */
	int		   *group;			/* for each input key, its distinct key */
	int			ndistinct;
	Datum	   *distinct;		/* distinct keys */
	uint32	   *hashes;			/* their hashes, or NULL */
	bool		sorted;			/* distinct keys are in index order */
	int		   *first;			/* for each distinct key, its first input */
} MpKeySet;

/*
 * Rows found for each distinct key of a key set (lookup.c).  Each row's
 * t_data is a composite datum of the relation's row type, with no external
 * TOAST pointers: it can be returned as is, and read with heap_getattr.
 */
typedef struct MpRows
{
	int		   *start;			/* ndistinct + 1 offsets into rows */
	HeapTuple  *rows;
} MpRows;

/* keys.c */
extern void mp_coercion_init(MpCoercion *c, Oid srctype, Oid keytype,
							 bool strings, MemoryContext cxt, const char *what);
extern bool mp_coerce(MpCoercion *c, Datum value, Datum *key);
extern void mp_check_join_operator(Oid keycoltype, Oid coltype, Oid opfamily,
								   const char *what);
extern void mp_keyset_build(MpKeySet *ks, MpLookup *lk, Datum *keys, int n);
extern int *mp_keyset_order(const MpKeySet *ks, SortSupport ssup);
extern int	mp_keyset_find(const MpKeySet *ks, const int *order, SortSupport ssup,
						   Datum key);

/* lookup.c */
extern void mp_lookup_open(MpLookup *lk, MpIndexKey *ik, bool via_spi,
						   Bitmapset *cols);
extern void mp_lookup_close(MpLookup *lk);
extern void mp_lookup_rows(MpLookup *lk, const MpKeySet *ks, MpRows *out);
extern void mp_lookup_all(MpLookup *lk, int limit, MpKeySet *ks, MpRows *out);

/* shmem.c: shared state */
#define MP_NBUCKETS 65536		/* a power of two */

typedef struct MpBucket
{
	pg_atomic_uint64 gen;		/* moved by every write of a key here */
	pg_atomic_uint64 maxw;		/* largest FullTransactionId that wrote one */
} MpBucket;

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

/* Statistics of one cache table, readable by other backends. */
typedef struct MpTableStats
{
	dsa_pointer next;			/* next table of the same backend */
	Oid			dbid;
	Oid			relid;
	Oid			indexid;
	pg_atomic_uint64 counters[MP_NCOUNTERS];
} MpTableStats;

/* One backend's slot: its tables' statistics. */
typedef struct MpSlot
{
	LWLock	   *lock;
	int			pid;
	Oid			dbid;
	dsa_pointer tables;
} MpSlot;

extern int	mp_shared_memory_kb;
extern int	mp_max_backend_memory_kb;
extern int	mp_cache_size;
extern bool mp_enabled;

extern void mp_define_gucs(void);
extern void mp_shmem_init(void);
extern bool mp_shared_available(void);
extern MpBucket *mp_bucket(uint32 b);
extern void mp_bucket_bump(MpBucket *bucket, uint64 xid);
extern uint64 mp_widen_xid(TransactionId xid, FullTransactionId next);
extern MpSlot *mp_my_slot(void);
extern int	mp_nslots(void);
extern MpSlot *mp_slot(int i);
extern void *mp_pool_alloc(Size size, dsa_pointer *dp, MemoryContext cxt);
extern void mp_pool_free(void *p, dsa_pointer dp);
extern void *mp_pool_address(dsa_pointer dp);

/* track.c */
extern void mp_track_init(void);
extern uint32 mp_bucket_of(Oid relid, uint32 keyhash);
extern uint32 mp_coarse_bucket(Oid relid);
extern bool mp_written(Relation rel);
extern uint64 mp_snapshot_id(Snapshot s);
extern uint64 mp_snapshot_xmin64(Snapshot s);
extern bool mp_witness(Oid relid, Oid relfilenode, Oid indexid, Snapshot snap,
					   MpWitness *w);
extern bool mp_witness_trusted(Oid relid, Oid indexid, const MpWitness *w,
							   Snapshot snap);
extern void mp_track_forget(Oid relid, Oid indexid);
extern Datum memoized_prefetch_bump(PG_FUNCTION_ARGS);

/* cache.c */
extern void mp_cache_setup(void);
extern void mp_cache_call_begin(void);
extern void mp_cache_call_end(void);
extern void mp_cache_begin(MpLookup *lk, bool cacheable);
extern void mp_cache_rows(MpLookup *lk, const MpKeySet *ks, MpRows *out);
extern void mp_cache_configure(Oid relid, int cache_size, bool prefetch_all);
extern void mp_cache_reset(Oid relid);
extern MpTableStats *mp_cache_local_stats(int i);

/* stats.c */
extern Datum memoized_prefetch_stats(PG_FUNCTION_ARGS);
extern Datum memoized_prefetch_reset(PG_FUNCTION_ARGS);
extern Datum memoized_prefetch_configure(PG_FUNCTION_ARGS);

/* access.c */
extern void mp_check_relation(Relation rel, const char *role);
extern Relation mp_open_relation(Oid relid, const char *role);
extern void mp_check_access(MpPlan *plan);
extern bool mp_rls_applies(Oid relid);

/* call.c: one call of either function, from source ids to target rows */
typedef struct MpCall
{
	MemoryContext cxt;			/* everything of the call */
	MemoryContext oldcxt;
	MpPlan	   *plan;
	MpLookup   *lookups;		/* one per target */
	Oid			idtype;			/* the element type of source_ids */
	Datum	   *ids;			/* the elements of source_ids that can match */
	MpKeySet	idkeys;			/* their keys at targets[0] */
	MpRows		idrows;			/* rows found for them at targets[0] */
	TupleDesc	rowdesc;		/* descriptor of the target table */
} MpCall;

extern void mp_call_begin(MpCall *call, MpPlan *plan, ArrayType *ids);
extern void mp_call_end(MpCall *call);
extern HeapTuple *mp_call_walk(MpCall *call, HeapTuple *start, int nstart);

/* result.c: the result set of a call */
typedef struct MpResult
{
	ReturnSetInfo *rsinfo;
	int			lead;			/* columns before the target row's */
	bool		flat;			/* the target row spread into its columns */
	Datum	   *values;			/* a result row; the caller sets the lead */
	bool	   *nulls;
	/* flat only */
	TupleDesc	rowdesc;		/* the target table's descriptor */
	int			ncols;			/* its columns, dropped ones left out */
	AttrNumber *attnos;			/* their attribute numbers */
	Datum	   *rowvalues;		/* a target row, deformed */
	bool	   *rownulls;
} MpResult;

extern void mp_result_init(MpResult *res, FunctionCallInfo fcinfo, int lead,
						   bool flat);
extern void mp_result_check(MpResult *res, const Oid *leadtypes,
							TupleDesc rowdesc);
extern void mp_emit(MpResult *res, HeapTuple target);

/* fk.c, m2m.c: the SQL-callable functions */
extern Datum memoized_prefetch_fk(PG_FUNCTION_ARGS);
extern Datum memoized_prefetch_fk_flat(PG_FUNCTION_ARGS);
extern Datum memoized_prefetch_m2m(PG_FUNCTION_ARGS);
extern Datum memoized_prefetch_m2m_flat(PG_FUNCTION_ARGS);

#endif							/* MEMOIZED_PREFETCH_H */
