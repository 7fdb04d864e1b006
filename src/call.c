/*-------------------------------------------------------------------------
 *
 * call.c
 *		One call of fk() or m2m(): source ids to rows at targets[0], then
 *		along every path, hop by hop, to the target rows.
 *
 * Each hop is batched: at depth d, the keys that all paths and all rows need
 * from one target (relation + index) are gathered, made distinct and looked
 * up once, so a target shared by several attributes and several source rows
 * is fetched once per call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "call.h"

/*
 * The source_ids argument; NULL as an empty array, so that a NULL chunk is
 * checked (arguments, privileges) as any other and returns no rows.
 */
ArrayType *
mp_call_ids(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(1))
		return construct_empty_array(get_base_element_type(get_fn_expr_argtype(fcinfo->flinfo, 1)));
	return PG_GETARG_ARRAYTYPE_P(1);
}

/* The rows of a key set at irels[t]: through the cache, leaf by leaf. */
static void
call_rows(MpCall *call, int t, const MpKeySet *ks, MpRows *rows)
{
	if (call->parts[t])
		mp_parts_rows(call->parts[t], ks, rows);
	else
		mp_cache_rows(&call->uses[t], &call->lookups[t], ks, rows);
}

/*
 * Check the caller's privileges, open the lookups of every target and find
 * the rows of the source ids at targets[0].  Everything until mp_call_end()
 * is allocated in the call's own memory context.
 */
void
mp_call_begin(MpCall *call, MpPlan *plan, ArrayType *ids)
{
	Oid			elemtype = ARR_ELEMTYPE(ids);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	Datum	   *keys;
	MpRecordCoercion rc;		/* composite ids: how records become keys */
	int			nelems;
	int			n = 0;
	int			i;

	if (ARR_NDIM(ids) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("source_ids must be a one-dimensional array")));

	memset(call, 0, sizeof(MpCall));
	call->cxt = AllocSetContextCreate(CurrentMemoryContext,
									  "memoized_prefetch call",
									  ALLOCSET_DEFAULT_SIZES);
	call->oldcxt = MemoryContextSwitchTo(call->cxt);
	mp_check_access(plan);
	call->plan = plan;
	call->idtype = elemtype;
	call->lookups = palloc0(sizeof(MpLookup) * plan->nirels);
	call->uses = palloc0(sizeof(MpCacheUse) * plan->nirels);
	call->parts = palloc0(sizeof(MpParts *) * plan->nirels);
	mp_cache_call_begin();
	for (i = 0; i < plan->nirels; i++)
	{
		MpIndexedRel *ik = &plan->irels[i];
		MpLookup   *lk = &call->lookups[i];
		/* fk's source rows are the chunk itself: not worth keeping */
		bool		cacheable = !(plan->kind == MP_FK && i == 0);

		mp_lookup_open(lk, ik, mp_rls_applies(ik->relid), plan->rels[ik->rel].cols);
		/* row-level security: the query reads a partitioned table as a whole */
		if (lk->heap->rd_rel->relkind == RELKIND_PARTITIONED_TABLE && !lk->via_spi)
		{
			call->parts[i] = palloc(sizeof(MpParts));
			mp_parts_open(call->parts[i], lk, cacheable);
			cacheable = false;
		}
		mp_cache_begin(&call->uses[i], lk, cacheable);
	}
	/* the last hop of every path reaches the target table */
	if (plan->npaths > 0)
	{
		MpPath	   *path = &plan->paths[0];

		call->rowdesc = RelationGetDescr(call->lookups[path->hops[path->nhops - 1].irel].heap);
	}
	else
	{
		Relation	trel = table_open(plan->target_relid, NoLock);	/* locked by the plan */

		call->rowdesc = CreateTupleDescCopy(RelationGetDescr(trel));
		table_close(trel, NoLock);
	}

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(ids, elemtype, typlen, typbyval, typalign,
					  &elems, &nulls, &nelems);
	call->ids = palloc(sizeof(Datum) * Max(nelems, 1));
	keys = palloc(sizeof(Datum) * Max(nelems, 1));
	memset(&rc, 0, sizeof(rc));
	for (i = 0; i < nelems; i++)
	{
		if (nulls[i])
			continue;
		if (plan->irels[0].nkeys > 1 ?
			!mp_coerce_record(&rc, &plan->irels[0],
							  DatumGetHeapTupleHeader(elems[i]), &keys[n]) :
			!mp_coerce(&plan->idcoerce, elems[i], &keys[n]))
			continue;
		call->ids[n] = elems[i];
		n++;
	}
	mp_keyset_build(&call->idkeys, &call->lookups[0], keys, n);
	call_rows(call, 0, &call->idkeys, &call->idrows);
}

/*
 * End the call but keep its memory, which holds the rows it found (those
 * not in the cache) and goes with the context the call began in.
 */
void
mp_call_end_keep(MpCall *call)
{
	int			i;

	for (i = 0; i < call->plan->nirels; i++)
	{
		if (call->parts[i])
			mp_parts_close(call->parts[i]);
		mp_lookup_close(&call->lookups[i]);
	}
	mp_cache_call_end();
	MemoryContextSwitchTo(call->oldcxt);
}

void
mp_call_end(MpCall *call)
{
	mp_call_end_keep(call);
	MemoryContextDelete(call->cxt);
}

/* Keys gathered for one target at one depth, and where each result goes. */
typedef struct Batch
{
	int			n;
	int			cap;
	Datum	   *keys;
	int		   *refs;
} Batch;

/* The key a composite foreign key of row (of desc) holds, if any. */
static bool
hop_key(MpHop *hop, MpIndexedRel *ik, HeapTuple row, TupleDesc desc, Datum *key)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];
	int			i;

	for (i = 0; i < ik->nkeys; i++)
		values[i] = mp_row_getattr(row, hop->attnos[i], desc, &nulls[i]);
	return mp_key_from_values(ik, hop->coerces, values, nulls, key);
}

/*
 * Follow every path from the rows "start" (of targets[0]).  Returns
 * final[p * nstart + s], the target row reached by path p from start[s], or
 * NULL when a key on the way is NULL or has no row.
 */
HeapTuple *
mp_call_walk(MpCall *call, HeapTuple *start, int nstart)
{
	MpPlan	   *plan = call->plan;
	HeapTuple  *cur;
	Batch	   *batches;
	int			d;
	int			p;
	int			s;
	int			t;

	/*
	 * One slot per path and source row, each also a key of some batch, whose
	 * arrays grow by doubling: keep every array below MaxAllocSize.
	 */
	if ((uint64) plan->npaths * nstart > MaxAllocSize / (2 * sizeof(Datum)))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many rows to follow: %d attributes for each of %d source rows",
						plan->npaths, nstart),
				 errhint("Pass fewer source ids or fewer attributes in one call.")));
	cur = palloc(sizeof(HeapTuple) * Max((Size) plan->npaths * nstart, 1));
	batches = palloc0(sizeof(Batch) * plan->nirels);
	for (t = 0; t < plan->nirels; t++)
	{
		batches[t].cap = 64;
		batches[t].keys = palloc(sizeof(Datum) * batches[t].cap);
		batches[t].refs = palloc(sizeof(int) * batches[t].cap);
	}
	for (p = 0; p < plan->npaths; p++)
		memcpy(&cur[(Size) p * nstart], start, sizeof(HeapTuple) * nstart);

	for (d = 0; d < plan->maxhops; d++)
	{
		for (p = 0; p < plan->npaths; p++)
		{
			MpPath	   *path = &plan->paths[p];
			MpHop	   *hop;
			TupleDesc	desc;
			Batch	   *b;

			if (d >= path->nhops)
				continue;
			hop = &path->hops[d];
			desc = RelationGetDescr(call->lookups[d == 0 ? 0 : path->hops[d - 1].irel].heap);
			b = &batches[hop->irel];
			for (s = 0; s < nstart; s++)
			{
				int			ref = p * nstart + s;
				bool		isnull;
				Datum		value;

				if (cur[ref] == NULL)
					continue;
				if (hop->attnos ? !hop_key(hop, &call->plan->irels[hop->irel],
										   cur[ref], desc, &value) :
					((value = mp_row_getattr(cur[ref], hop->attno, desc, &isnull)),
					 isnull || !mp_coerce(&hop->coerce, value, &value)))
				{
					cur[ref] = NULL;
					continue;
				}
				if (b->n == b->cap)
				{
					int			cap = b->cap;

					b->keys = mp_grow(b->keys, sizeof(Datum), &cap, b->n + 1);
					b->refs = mp_grow(b->refs, sizeof(int), &b->cap, b->n + 1);
				}
				b->keys[b->n] = value;
				b->refs[b->n] = ref;
				b->n++;
			}
		}

		for (t = 0; t < plan->nirels; t++)
		{
			Batch	   *b = &batches[t];
			MpKeySet	ks;
			MpRows		rows;
			int			i;

			if (b->n == 0)
				continue;
			mp_keyset_build(&ks, &call->lookups[t], b->keys, b->n);
			call_rows(call, t, &ks, &rows);
			for (i = 0; i < b->n; i++)
			{
				int			g = ks.group[i];

				cur[b->refs[i]] = rows.start[g] < rows.start[g + 1] ?
					rows.rows[rows.start[g]] : NULL;
			}
			b->n = 0;
		}
	}
	return cur;
}
