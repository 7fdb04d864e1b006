/*-------------------------------------------------------------------------
 *
 * fk.c
 *		memoized_prefetch.fk(source, source_ids, attributes, target_type):
 *		the target rows that foreign-key columns (or paths of them) of a
 *		chunk of source rows point at; fk_flat() returns the same rows with
 *		the target's columns spread (result.c).
 *
 * One row per distinct source id and attribute whose key is not NULL and
 * whose target row exists, ordered by the source id's first position in
 * source_ids, then by the order of the attributes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "call.h"

PG_FUNCTION_INFO_V1(memoized_prefetch_fk);
PG_FUNCTION_INFO_V1(memoized_prefetch_fk_flat);

/*
 * Rows are emitted in source order, which is random in the cache: their
 * loads are started this many rows ahead.  A cached row's HeapTupleData and
 * its data follow each other in its entry, so the first three cache lines
 * from it hold both for a typical row.
 */
#define CPU_PREFETCH_AHEAD 12

static inline void
cpu_prefetch_row(HeapTuple row)
{
	if (row)
	{
		mp_cpu_prefetch(row);
		mp_cpu_prefetch((char *) row + 64);
		mp_cpu_prefetch((char *) row + 128);
	}
}

/*
 * The rows of one call, into res: a tuplestore for the SQL function, or
 * kept for the streaming scan (result.c).
 */
void
mp_fk_rows(FunctionCallInfo fcinfo, bool flat, MpResult *res)
{
	Oid			leadtypes[2];
	MpPlan	   *plan;
	MpCall		call;
	MpKeySet   *ks;
	HeapTuple  *start;
	HeapTuple  *final;
	text	  **names;
	int			nd;
	int			g;
	int			i;
	int			p;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be NULL")));
	mp_result_init(res, fcinfo, 2, flat);

	plan = mp_plan_for_call(fcinfo, MP_FK, PG_GETARG_OID(0),
							PG_GETARG_DATUM(2), PG_ARGISNULL(2), NULL, NULL);
	mp_call_begin(&call, plan, mp_call_ids(fcinfo));
	leadtypes[0] = call.idtype;
	leadtypes[1] = TEXTOID;
	mp_result_check(res, leadtypes, call.rowdesc);

	/* the source row of each distinct id, then every path from it */
	ks = &call.idkeys;
	nd = ks->ndistinct;
	start = palloc(sizeof(HeapTuple) * Max(nd, 1));
	for (g = 0; g < nd; g++)
		start[g] = call.idrows.start[g] < call.idrows.start[g + 1] ?
			call.idrows.rows[call.idrows.start[g]] : NULL;
	final = mp_call_walk(&call, start, nd);

	names = palloc(sizeof(text *) * Max(plan->npaths, 1));
	for (p = 0; p < plan->npaths; p++)
		names[p] = cstring_to_text(plan->paths[p].name);

	/* distinct ids in order of first appearance, attributes in order */
	res->nulls[0] = res->nulls[1] = false;
	for (i = 0; i < ks->n; i++)
	{
		if (i + CPU_PREFETCH_AHEAD < ks->n)
			for (p = 0; p < plan->npaths; p++)
				cpu_prefetch_row(final[p * nd + ks->group[i + CPU_PREFETCH_AHEAD]]);
		g = ks->group[i];
		if (ks->first[g] != i)
			continue;
		res->values[0] = call.ids[i];
		for (p = 0; p < plan->npaths; p++)
		{
			HeapTuple	target = final[p * nd + g];

			if (target == NULL)
				continue;
			res->values[1] = PointerGetDatum(names[p]);
			mp_emit(res, target);
		}
	}

	mp_result_end(res, &call);
}

Datum
memoized_prefetch_fk(PG_FUNCTION_ARGS)
{
	MpResult	res = {0};

	mp_fk_rows(fcinfo, false, &res);
	return (Datum) 0;
}

Datum
memoized_prefetch_fk_flat(PG_FUNCTION_ARGS)
{
	MpResult	res = {0};

	mp_fk_rows(fcinfo, true, &res);
	return (Datum) 0;
}
