/*-------------------------------------------------------------------------
 *
 * m2m.c
 *		memoized_prefetch.m2m(through, source_ids, target_type, source_field,
 *		target_field): the target rows linked to a chunk of source ids
 *		through a link table; m2m_flat() returns the same rows with the
 *		target's columns spread (result.c).
 *
 * One row per link row whose source value is in source_ids and whose target
 * row exists, ordered by the source id's first position, then by the
 * target's key.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "call.h"

PG_FUNCTION_INFO_V1(memoized_prefetch_m2m);
PG_FUNCTION_INFO_V1(memoized_prefetch_m2m_flat);

typedef struct LinkSortArg
{
	HeapTuple  *rows;			/* the target row of each link row */
	TupleDesc	desc;
	AttrNumber	attno;
	SortSupport ssup;
} LinkSortArg;

/* Order link rows by their target's key, then by position. */
static int
compare_links(const void *a, const void *b, void *arg)
{
	LinkSortArg *la = (LinkSortArg *) arg;
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;
	bool		na;
	bool		nb;
	Datum		ka = heap_getattr(la->rows[ia], la->attno, la->desc, &na);
	Datum		kb = heap_getattr(la->rows[ib], la->attno, la->desc, &nb);
	int			r = ApplySortComparator(ka, na, kb, nb, la->ssup);

	return r != 0 ? r : (ia > ib) - (ia < ib);
}

/*
 * The rows of one call, into res: a tuplestore for the SQL function, or
 * kept for the streaming scan (result.c).
 */
void
mp_m2m_rows(FunctionCallInfo fcinfo, bool flat, MpResult *res)
{
	MpPlan	   *plan;
	MpCall		call;
	MpKeySet   *ks;
	MpRows	   *links;
	HeapTuple  *final;
	LinkSortArg arg;
	int		   *order;
	int			irel;
	int			i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("through must not be NULL")));
	mp_result_init(res, fcinfo, 1, flat);

	plan = mp_plan_for_call(fcinfo, MP_M2M, PG_GETARG_OID(0), (Datum) 0, true,
							PG_ARGISNULL(3) ? NULL : NameStr(*PG_GETARG_NAME(3)),
							PG_ARGISNULL(4) ? NULL : NameStr(*PG_GETARG_NAME(4)));
	mp_call_begin(&call, plan, mp_call_ids(fcinfo));
	mp_result_check(res, &call.idtype, call.rowdesc);

	/* the link rows of each distinct id, and the target of each */
	ks = &call.idkeys;
	links = &call.idrows;
	final = mp_call_walk(&call, links->rows, links->start[ks->ndistinct]);

	irel = plan->paths[0].hops[0].irel;
	arg.rows = final;
	arg.desc = call.rowdesc;
	arg.attno = plan->irels[irel].attno;
	arg.ssup = &call.lookups[irel].ssup;
	order = palloc(sizeof(int) * (links->start[ks->ndistinct] + 1));

	res->nulls[0] = false;
	for (i = 0; i < ks->n; i++)
	{
		int			g = ks->group[i];
		int			n = 0;
		int			r;

		if (ks->first[g] != i)
			continue;
		for (r = links->start[g]; r < links->start[g + 1]; r++)
			if (final[r] != NULL)
				order[n++] = r;
		/* an index on (source, target) already gives them in order */
		for (r = 1; r < n; r++)
			if (compare_links(&order[r - 1], &order[r], &arg) > 0)
				break;
		if (r < n)
			qsort_arg(order, n, sizeof(int), compare_links, &arg);

		res->values[0] = call.ids[i];
		for (r = 0; r < n; r++)
			mp_emit(res, final[order[r]]);
	}

	mp_result_end(res, &call);
}

Datum
memoized_prefetch_m2m(PG_FUNCTION_ARGS)
{
	MpResult	res = {0};

	mp_m2m_rows(fcinfo, false, &res);
	return (Datum) 0;
}

Datum
memoized_prefetch_m2m_flat(PG_FUNCTION_ARGS)
{
	MpResult	res = {0};

	mp_m2m_rows(fcinfo, true, &res);
	return (Datum) 0;
}
