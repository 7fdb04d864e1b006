/*-------------------------------------------------------------------------
 *
 * plan.h
 *		A call's arguments resolved from the catalogs (resolve.c), kept per
 *		call site and backend (plans.c), and the coercions of values into
 *		keys they use (keys.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MP_PLAN_H
#define MP_PLAN_H

#include "access/htup.h"
#include "fmgr.h"
#include "lib/ilist.h"
#include "nodes/bitmapset.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/relcache.h"

#include "memoized_prefetch.h"

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
 * One column of a composite key: the index column of the same number.
 */
typedef struct MpKeyColumn
{
	AttrNumber	attno;			/* its heap column */
	Oid			coltype;		/* the heap column's type */
	Oid			keytype;		/* its base type, the type of the key field */
	Oid			collation;		/* the index column's (the heap column's) */
	Oid			opfamily;		/* its btree operator family */
	Oid			eqop;			/* the family's "=" of the index column */
	RegProcedure hashproc;		/* hash function of its "=", or InvalidOid */
} MpKeyColumn;

/*
 * A relation reached through one btree index whose first key column is
 * "attno": the unit the lookup engine works on.  A key is the value of that
 * column or, for a composite key (nkeys > 1), the values of the index's
 * first nkeys columns as one record of keydesc's type, none of them NULL
 * (see keys.c).  The operator fields then describe the first column, which
 * partition routing uses.
 */
typedef struct MpIndexedRel
{
	Oid			relid;
	Oid			indexid;
	Oid			config_relid;	/* whose configure() settings apply: relid,
								 * or the partitioned table of a leaf */
	AttrNumber	attno;			/* heap column the index's first key is */
	Oid			keytype;		/* base type of that column; RECORDOID for a
								 * composite key */
	Oid			collation;		/* collation of the index column */
	Oid			opfamily;		/* btree operator family of the index column */
	Oid			eqop;			/* btree "=" of the index's opfamily */
	RegProcedure eqproc;		/* its function */
	RegProcedure geproc;		/* btree ">=", same types */
	RegProcedure leproc;		/* btree "<=", same types */
	RegProcedure hashproc;		/* hash function of "=", or InvalidOid; a
								 * composite key's is set (to the first
								 * column's) when every column has one */
	int			nkeys;			/* 1, or a composite key's columns */
	MpKeyColumn *cols;			/* composite: each column */
	struct TupleDescData *keydesc;	/* composite: the key record's type */
	int			rel;			/* index into MpPlan.rels */
	bool		indexonly;		/* the index holds every column read */
	bool		unique;			/* a key has one row (unique, immediate) */
} MpIndexedRel;

/* One step of a path: the column of the previous row that holds the key. */
typedef struct MpHop
{
	AttrNumber	attno;			/* column of the previous relation */
	int			irel;			/* index into MpPlan.irels */
	MpCoercion	coerce;			/* column type -> target key type */
	/* a composite foreign key: its columns in the order of the key's */
	AttrNumber *attnos;			/* or NULL */
	MpCoercion *coerces;
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
	MP_M2M = 'm',
	MP_REVERSE = 'r'
} MpKind;

/*
 * A resolved call: where the source ids are looked up (irels[0]), the paths
 * from there to the target table, and everything the privilege checks need.
 * fk: irels[0] is the source through its primary key, one path per
 * attribute.  m2m: irels[0] is the link table through an index on its source
 * column, and the one path is its target column.  reverse_fk: irels[0] is
 * the target through an index on the column that holds source keys, and
 * there is no path.
 */
typedef struct MpPlan
{
	dlist_node	node;			/* in the list of all live plans */
	MemoryContext cxt;			/* holds the plan and everything below */
	char	   *signature;		/* the arguments it was resolved from */
	bool		valid;			/* cleared by invalidation callbacks */
	bool		listed;			/* still in the backend's list of plans */
	int			refcount;		/* the list + call sites that point at it */

	MpKind		kind;
	Oid			target_relid;	/* the table of target_type */
	MpCoercion	idcoerce;		/* source id element -> irels[0] key (a
								 * composite key's: per call, keys.c) */

	int			nrels;
	MpRel	   *rels;
	List	   *rtable;			/* RangeTblEntry per rel, for the executor's check */
	List	   *perminfos;		/* and their RTEPermissionInfo (16+) */

	int			nirels;
	MpIndexedRel *irels;

	int			npaths;
	MpPath	   *paths;
	int			maxhops;

	/* m2m, reverse_fk: the unique index whose order the rows of an id take */
	Oid			order_index;	/* or InvalidOid: as found */
} MpPlan;

/* plans.c */
extern MpPlan *mp_plan_for_call(FunctionCallInfo fcinfo, MpKind kind, Oid relid,
								Datum attributes, bool attributes_null,
								const char *source_field,
								const char *target_field);

/* resolve.c */
extern MpPlan *mp_plan_resolve(MpKind kind, Oid relid, Oid elemtype, Oid rowtype,
							   ArrayType *attributes, const char *sf,
							   const char *tf, char *signature);

/* keys.c: values made into keys */
extern void mp_coercion_init(MpCoercion *c, Oid srctype, Oid keytype,
							 bool strings, MemoryContext cxt, const char *what);
extern bool mp_coerce(MpCoercion *c, Datum value, Datum *key);
extern void mp_check_join_operator(Oid keycoltype, Oid coltype, Oid opfamily,
								   const char *what, bool need_operator);

/*
 * keys.c: composite keys.  An id of a composite key is a record whose fields
 * are the key's columns in order; how a record type's fields become key
 * fields is resolved once per type (and typmod) a call meets.
 */
typedef struct MpRecordCoercion
{
	Oid			typid;			/* the record type resolved, or InvalidOid */
	int32		typmod;
	struct TupleDescData *desc;	/* its descriptor */
	int		   *fieldno;		/* each key column's attribute (0-based) */
	MpCoercion *coerces;		/* and its coercion */
	Datum	   *values;			/* scratch: a record deformed */
	bool	   *nulls;
} MpRecordCoercion;

extern void mp_record_coercion(MpRecordCoercion *rc, MpIndexedRel *ik,
							   HeapTupleHeader record, const char *what);
extern bool mp_coerce_record(MpRecordCoercion *rc, MpIndexedRel *ik,
							 HeapTupleHeader record, Datum *key);
extern bool mp_key_from_values(MpIndexedRel *ik, MpCoercion *coerces,
							   const Datum *values, const bool *nulls,
							   Datum *key);
extern Datum mp_key_field(MpIndexedRel *ik, Datum key, int field);
extern bool mp_key_of_row(MpIndexedRel *ik, HeapTuple row,
						  struct TupleDescData *desc, Datum *key);

#endif							/* MP_PLAN_H */
