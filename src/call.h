/*-------------------------------------------------------------------------
 *
 * call.h
 *		One call of fk(), m2m() or reverse_fk(), for the SQL functions (fk.c,
 *		m2m.c) and
 *		the streaming scan (scan.c): from source ids to target rows (call.c),
 *		the result set (result.c), and what the call may read (access.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MP_CALL_H
#define MP_CALL_H

#include "nodes/execnodes.h"

#include "access.h"
#include "cache.h"
#include "parts.h"

/* call.c: one call of either function, from source ids to target rows */
typedef struct MpCall
{
	MemoryContext cxt;			/* everything of the call */
	MemoryContext oldcxt;
	MpPlan	   *plan;
	MpLookup   *lookups;		/* one per irel */
	MpCacheUse *uses;			/* how each may use the cache */
	MpParts   **parts;			/* the leaves of a partitioned one, or NULL */
	Oid			idtype;			/* the element type of source_ids */
	Datum	   *ids;			/* the elements of source_ids that can match */
	MpKeySet	idkeys;			/* their keys at irels[0] */
	MpRows		idrows;			/* rows found for them at irels[0] */
	TupleDesc	rowdesc;		/* descriptor of the target table */
} MpCall;

extern ArrayType *mp_call_ids(FunctionCallInfo fcinfo);
extern void mp_call_begin(MpCall *call, MpPlan *plan, ArrayType *ids);
extern void mp_call_end(MpCall *call);
extern void mp_call_end_keep(MpCall *call);
extern HeapTuple *mp_call_walk(MpCall *call, HeapTuple *start, int nstart);

/*
 * result.c: the result set of a call, either a tuplestore (the SQL
 * functions) or, when "collect" is set before the call, the rows kept as
 * they are, with the call's memory, for the streaming scan to return.
 */
typedef struct MpResult
{
	bool		collect;		/* keep the rows, set by the caller */
	TupleDesc	desc;			/* the result's descriptor; set by the caller
								 * for the flat forms when collecting */
	ReturnSetInfo *rsinfo;		/* tuplestore only */
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
	/* collect only: the rows, in the call's memory */
	int			nrows;
	int			maxrows;
	Datum	   *leads;			/* nrows * lead leading values */
	HeapTuple  *rows;			/* each row's target row */
	/* the call's use of the cache, for EXPLAIN */
	uint64		hits;
	uint64		misses;
	uint64		bypasses;
} MpResult;

extern void mp_result_init(MpResult *res, FunctionCallInfo fcinfo, int lead,
						   bool flat);
extern void mp_result_check(MpResult *res, const Oid *leadtypes,
							TupleDesc rowdesc);
extern void mp_emit(MpResult *res, HeapTuple target);
extern void mp_result_end(MpResult *res, MpCall *call);

/* fk.c, m2m.c: the rows of one call, into res */
extern void mp_fk_rows(FunctionCallInfo fcinfo, bool flat, MpResult *res);
extern void mp_set_rows(FunctionCallInfo fcinfo, MpKind kind, bool flat,
						MpResult *res);

#endif							/* MP_CALL_H */
