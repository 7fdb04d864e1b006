/*-------------------------------------------------------------------------
 *
 * result.c
 *		The result set of a call: a tuplestore (InitMaterializedSRF) whose
 *		rows hold a few leading columns (source_id, attribute) and then the
 *		target row, either as one composite column (fk, m2m) or spread into
 *		the target table's columns (fk_flat, m2m_flat).
 *
 * For the streaming scan (scan.c) the result collects the rows instead: the
 * leading values and the target row of each, pointers into the cache's
 * entries or into the call's memory, which the scan keeps.
 *
 * The flat forms return SETOF record: the caller's column definition list
 * gives the result's descriptor, and it is checked here, once per call,
 * against the leading columns and the target's row type, column by column,
 * since the values are stored in it as they are.  Spread columns spare the
 * caller the field selections of (s.target).* and make each stored row
 * smaller by the composite's header.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "call.h"

/* Check that column "col" of the result has the type the call returns there. */
static void
check_column(MpResult *res, int col, Oid typid, int32 typmod)
{
	Form_pg_attribute att = TupleDescAttr(res->desc, col);

	if (att->atttypid != typid ||
		(att->atttypmod != -1 && att->atttypmod != typmod))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of the column definition list has type %s, but the call returns %s there",
						NameStr(att->attname),
						format_type_with_typemod(att->atttypid, att->atttypmod),
						format_type_with_typemod(typid, typmod))));
}

/*
 * Set up the result of a call with "lead" leading columns, followed by the
 * target row, spread into its columns when "flat".  res->collect and, for
 * the flat forms, res->desc are the caller's.
 */
void
mp_result_init(MpResult *res, FunctionCallInfo fcinfo, int lead, bool flat)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		collect = res->collect;
	TupleDesc	desc = res->desc;

	memset(res, 0, sizeof(MpResult));
	res->lead = lead;
	res->flat = flat;
	if (collect)
	{
		int			natts = flat ? desc->natts : lead + 1;

		res->collect = true;
		res->desc = flat ? desc : NULL;
		res->values = palloc(sizeof(Datum) * natts);
		res->nulls = palloc(sizeof(bool) * natts);
		res->maxrows = 64;
		res->leads = palloc(sizeof(Datum) * lead * res->maxrows);
		res->rows = palloc(sizeof(HeapTuple) * res->maxrows);
		return;
	}

	/*
	 * The flat forms return record: their descriptor is the executor's
	 * expectedDesc, which the executor frees once the call has returned, so
	 * the result gets a copy of it.
	 */
	InitMaterializedSRF(fcinfo, flat && rsinfo->expectedDesc != NULL ?
						MAT_SRF_USE_EXPECTED_DESC : 0);
	res->rsinfo = rsinfo;
	res->desc = rsinfo->setDesc;
	res->values = palloc(sizeof(Datum) * rsinfo->setDesc->natts);
	res->nulls = palloc(sizeof(bool) * rsinfo->setDesc->natts);

	/*
	 * The composite target column is stored as it is (plain storage), not
	 * converted to a short varlena that every field selection, such as
	 * (s.target).*, would have to copy back.
	 */
	if (!flat)
	{
		TupleDescAttr(rsinfo->setDesc, lead)->attstorage = TYPSTORAGE_PLAIN;
		mp_tupdesc_attr_changed(rsinfo->setDesc, lead);
	}
}

/*
 * For the flat forms, check the column definition list: the leading columns
 * of types leadtypes, then every column of rowdesc, the descriptor of the
 * target table (locked by the call), which the rows are in.
 */
void
mp_result_check(MpResult *res, const Oid *leadtypes, TupleDesc rowdesc)
{
	TupleDesc	setdesc = res->desc;
	int			i;

	res->rowdesc = rowdesc;
	if (!res->flat)
		return;
	res->attnos = palloc(sizeof(AttrNumber) * rowdesc->natts);
	for (i = 0; i < rowdesc->natts; i++)
		if (!TupleDescAttr(rowdesc, i)->attisdropped)
			res->attnos[res->ncols++] = i + 1;
	if (setdesc->natts != res->lead + res->ncols)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the column definition list has %d columns, but the call returns %d",
						setdesc->natts, res->lead + res->ncols),
				 errdetail_plural("The call returns %d leading column, then the columns of type %s.",
								  "The call returns %d leading columns, then the columns of type %s.",
								  res->lead, res->lead, format_type_be(rowdesc->tdtypeid))));
	for (i = 0; i < res->lead; i++)
		check_column(res, i, leadtypes[i], -1);
	for (i = 0; i < res->ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(rowdesc, res->attnos[i] - 1);

		check_column(res, res->lead + i, att->atttypid, att->atttypmod);
	}
	res->rowvalues = palloc(sizeof(Datum) * rowdesc->natts);
	res->rownulls = palloc(sizeof(bool) * rowdesc->natts);
}

/*
 * A target row as a composite datum of the target's row type.  The lookups
 * form every row in its target's type (a leaf partition's in its partitioned
 * table's, parts.c), so it is returned as it is; a row of any other type
 * would be copied, in cxt, as a datum of the target's.
 */
Datum
mp_row_datum(HeapTuple row, TupleDesc rowdesc, MemoryContext cxt)
{
	MemoryContext old;
	Datum		d;

	if (HeapTupleHeaderGetTypeId(row->t_data) == rowdesc->tdtypeid)
		return PointerGetDatum(row->t_data);
	/* as the executor forms a composite of the type (header fields included) */
	old = MemoryContextSwitchTo(cxt);
	d = heap_copy_tuple_as_datum(row, rowdesc);
	MemoryContextSwitchTo(old);
	return d;
}

/*
 * Add one result row: res->values/nulls[0 .. lead - 1] as the caller set
 * them, then the target row (a composite datum, see MpRows).
 */
void
mp_emit(MpResult *res, HeapTuple target)
{
	int			i;

	if (res->collect)
	{
		if (res->nrows == res->maxrows)
		{
			if ((Size) res->maxrows * 2 * Max(res->lead, 1) * sizeof(Datum) > MaxAllocSize)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("too many result rows in one call: %d", res->nrows)));
			res->maxrows *= 2;
			res->leads = repalloc(res->leads, sizeof(Datum) * res->lead * res->maxrows);
			res->rows = repalloc(res->rows, sizeof(HeapTuple) * res->maxrows);
		}
		memcpy(&res->leads[res->nrows * res->lead], res->values,
			   sizeof(Datum) * res->lead);
		res->rows[res->nrows++] = target;
		return;
	}
	if (!res->flat)
	{
		res->values[res->lead] = mp_row_datum(target, res->rowdesc, CurrentMemoryContext);
		res->nulls[res->lead] = false;
	}
	else
	{
		heap_deform_tuple(target, res->rowdesc, res->rowvalues, res->rownulls);
		for (i = 0; i < res->ncols; i++)
		{
			res->values[res->lead + i] = res->rowvalues[res->attnos[i] - 1];
			res->nulls[res->lead + i] = res->rownulls[res->attnos[i] - 1];
		}
	}
	tuplestore_putvalues(res->rsinfo->setResult, res->rsinfo->setDesc,
						 res->values, res->nulls);
}

/*
 * End the call of this result.  Collected rows keep the call's memory, and
 * the target table's descriptor, copied there (the relation is closed).
 */
void
mp_result_end(MpResult *res, MpCall *call)
{
	int			i;

	for (i = 0; i < call->plan->nirels; i++)
	{
		res->hits += call->uses[i].hits;
		res->misses += call->uses[i].misses;
		res->bypasses += call->uses[i].bypasses;
	}
	if (!res->collect)
	{
		mp_call_end(call);
		return;
	}
	res->rowdesc = CreateTupleDescCopyConstr(call->rowdesc);
	mp_call_end_keep(call);
}
