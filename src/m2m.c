/*-------------------------------------------------------------------------
 *
 * m2m.c
 *		The functions that return a set of target rows per source id:
 *
 *		m2m(through, source_ids, target_type, source_field, target_field):
 *		the target rows linked to each id through a link table;
 *
 *		reverse_fk(source, source_ids, target_type, fk_column): the rows of
 *		the target table whose fk_column holds the id;
 *
 *		and their _flat forms, with the target's columns spread (result.c).
 *
 * Rows are ordered by the source id's first position in source_ids, then by
 * the target's key (plan->order_index).  The rows found for an id at
 * irels[0] are link rows followed to their target (m2m), or the target rows
 * themselves (reverse_fk); either way they are cached per id.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "call.h"

PG_FUNCTION_INFO_V1(memoized_prefetch_m2m);
PG_FUNCTION_INFO_V1(memoized_prefetch_m2m_flat);
PG_FUNCTION_INFO_V1(memoized_prefetch_reverse_fk);
PG_FUNCTION_INFO_V1(memoized_prefetch_reverse_fk_flat);

/* The order of the rows of one id: the columns of the target's key. */
typedef struct SetOrder
{
	HeapTuple  *rows;
	TupleDesc	desc;
	int			nkeys;
	AttrNumber *attnos;
	SortSupport ssup;
} SetOrder;

static void
set_order_init(SetOrder *so, Oid indexid, HeapTuple *rows, TupleDesc desc)
{
	Relation	index;
	int			k;

	so->rows = rows;
	so->desc = desc;
	so->nkeys = 0;
	if (!OidIsValid(indexid))
		return;
	index = index_open(indexid, AccessShareLock);	/* locked by the plan */
	so->nkeys = index->rd_index->indnkeyatts;
	so->attnos = palloc(sizeof(AttrNumber) * so->nkeys);
	so->ssup = palloc0(sizeof(SortSupportData) * so->nkeys);
	for (k = 0; k < so->nkeys; k++)
	{
		so->attnos[k] = index->rd_index->indkey.values[k];
		so->ssup[k].ssup_cxt = CurrentMemoryContext;
		so->ssup[k].ssup_collation = index->rd_indcollation[k];
		so->ssup[k].ssup_attno = k + 1;
		mp_sortsupport_from_index(index, &so->ssup[k]);
	}
	index_close(index, NoLock);
}

/* Order rows by the target's key, then by position. */
static int
compare_rows(const void *a, const void *b, void *arg)
{
	SetOrder   *so = (SetOrder *) arg;
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;
	int			k;

	for (k = 0; k < so->nkeys; k++)
	{
		bool		na;
		bool		nb;
		Datum		ka = mp_row_getattr(so->rows[ia], so->attnos[k], so->desc, &na);
		Datum		kb = mp_row_getattr(so->rows[ib], so->attnos[k], so->desc, &nb);
		int			r = ApplySortComparator(ka, na, kb, nb, &so->ssup[k]);

		if (r != 0)
			return r;
	}
	return (ia > ib) - (ia < ib);
}

/*
 * The rows of one call of m2m() (kind MP_M2M) or reverse_fk() (MP_REVERSE),
 * into res: a tuplestore for the SQL function, or kept for the streaming
 * scan (result.c).
 */
void
mp_set_rows(FunctionCallInfo fcinfo, MpKind kind, bool flat, MpResult *res)
{
	MpPlan	   *plan;
	MpCall		call;
	MpKeySet   *ks;
	MpRows	   *found;
	HeapTuple  *final;
	SetOrder	so;
	int		   *order;
	int			i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", kind == MP_M2M ? "through" : "source")));
	mp_result_init(res, fcinfo, 1, flat);

	plan = mp_plan_for_call(fcinfo, kind, PG_GETARG_OID(0), (Datum) 0, true,
							PG_ARGISNULL(3) ? NULL : NameStr(*PG_GETARG_NAME(3)),
							kind == MP_M2M && !PG_ARGISNULL(4) ?
							NameStr(*PG_GETARG_NAME(4)) : NULL);
	mp_call_begin(&call, plan, mp_call_ids(fcinfo));
	mp_result_check(res, &call.idtype, call.rowdesc);

	/* the rows of each distinct id at irels[0], followed to the target */
	ks = &call.idkeys;
	found = &call.idrows;
	final = plan->npaths == 0 ? found->rows :
		mp_call_walk(&call, found->rows, found->start[ks->ndistinct]);

	set_order_init(&so, plan->order_index, final, call.rowdesc);
	order = palloc(sizeof(int) * (found->start[ks->ndistinct] + 1));

	res->nulls[0] = false;
	for (i = 0; i < ks->n; i++)
	{
		int			g = ks->group[i];
		int			n = 0;
		int			r;

		if (ks->first[g] != i)
			continue;
		for (r = found->start[g]; r < found->start[g + 1]; r++)
			if (final[r] != NULL)
				order[n++] = r;
		/* an index on (source, target key) already gives them in order */
		for (r = 1; r < n; r++)
			if (compare_rows(&order[r - 1], &order[r], &so) > 0)
				break;
		if (r < n)
			qsort_arg(order, n, sizeof(int), compare_rows, &so);

		res->values[0] = call.ids[i];
		for (r = 0; r < n; r++)
			mp_emit(res, final[order[r]]);
	}

	mp_result_end(res, &call);
}

static Datum
set_call(FunctionCallInfo fcinfo, MpKind kind, bool flat)
{
	MpResult	res = {0};

	mp_set_rows(fcinfo, kind, flat, &res);
	return (Datum) 0;
}

Datum
memoized_prefetch_m2m(PG_FUNCTION_ARGS)
{
	return set_call(fcinfo, MP_M2M, false);
}

Datum
memoized_prefetch_m2m_flat(PG_FUNCTION_ARGS)
{
	return set_call(fcinfo, MP_M2M, true);
}

Datum
memoized_prefetch_reverse_fk(PG_FUNCTION_ARGS)
{
	return set_call(fcinfo, MP_REVERSE, false);
}

Datum
memoized_prefetch_reverse_fk_flat(PG_FUNCTION_ARGS)
{
	return set_call(fcinfo, MP_REVERSE, true);
}
