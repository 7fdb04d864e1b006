/*-------------------------------------------------------------------------
 *
 * resolve.c
 *		Resolving the arguments of a call from the catalogs into a plan:
 *		which relations, key columns, indexes, equality operators and
 *		coercions it uses (see MpPlan in plan.h).
 *
 * Resolving opens and locks every relation involved and refuses, with an
 * error, whatever the plain join would not answer the same way (access.c,
 * keys.c).  plans.c keeps the result for later calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/pg_am.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "nodes/parsenodes.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "access.h"
#include "plan.h"

/* ---------- resolution ---------- */

static const char *
relname(Oid relid)
{
	char	   *name = get_rel_name(relid);

	return name ? name : "?";
}

/* The entry of rels[] for relid, added if new, with column attno read. */
static int
plan_add_rel(MpPlan *plan, Relation rel, AttrNumber attno)
{
	Oid			relid = RelationGetRelid(rel);
	int			i;

	for (i = 0; i < plan->nrels; i++)
		if (plan->rels[i].relid == relid)
			break;
	if (i == plan->nrels)
	{
		plan->rels = repalloc(plan->rels, sizeof(MpRel) * (plan->nrels + 1));
		plan->rels[i].relid = relid;
		plan->rels[i].nspid = RelationGetNamespace(rel);
		plan->rels[i].cols = NULL;
		plan->nrels++;
	}
	plan->rels[i].cols = bms_add_member(plan->rels[i].cols,
										attno - FirstLowInvalidHeapAttributeNumber);
	return i;
}

/*
 * The columns of the composite key of ik, the first nkeys columns of its
 * index: each must be a plain column, in ascending order, in the column's
 * collation.  The key's record type has their base types.
 */
static void
composite_key(MpIndexedRel *ik, Relation rel, Relation index, int nkeys)
{
	int			i;

	ik->nkeys = nkeys;
	ik->keytype = RECORDOID;
	ik->cols = palloc0(sizeof(MpKeyColumn) * nkeys);
	ik->keydesc = CreateTemplateTupleDesc(nkeys);
	for (i = 0; i < nkeys; i++)
	{
		MpKeyColumn *col = &ik->cols[i];
		AttrNumber	attno = index->rd_index->indkey.values[i];
		Form_pg_attribute att;

		if (attno <= 0 || (index->rd_indoption[i] & INDOPTION_DESC) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("index \"%s\" cannot be used to look up rows of \"%s\"",
							RelationGetRelationName(index), RelationGetRelationName(rel)),
					 errdetail("Every column of a composite key must be a column in ascending order.")));
		att = TupleDescAttr(RelationGetDescr(rel), attno - 1);
		if (index->rd_indcollation[i] != att->attcollation)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("index \"%s\" uses another collation than column \"%s\"",
							RelationGetRelationName(index), NameStr(att->attname))));
		col->attno = attno;
		col->coltype = att->atttypid;
		col->keytype = getBaseType(att->atttypid);
		col->collation = index->rd_indcollation[i];
		col->opfamily = index->rd_opfamily[i];
		col->eqop = get_opfamily_member(col->opfamily, index->rd_opcintype[i],
										index->rd_opcintype[i], BTEqualStrategyNumber);
		if (!OidIsValid(col->eqop))
			elog(ERROR, "missing equality operator in operator family %u",
				 col->opfamily);
		if (!get_op_hash_functions(col->eqop, &col->hashproc, NULL))
			col->hashproc = InvalidOid;
		if (!OidIsValid(col->hashproc))
			ik->hashproc = InvalidOid;	/* the key is hashable if every column is */
		TupleDescInitEntry(ik->keydesc, i + 1, NameStr(att->attname),
						   col->keytype, -1, 0);
		TupleDescInitEntryCollation(ik->keydesc, i + 1, col->collation);
	}
}

/*
 * The target for rows of "rel" looked up through index "indexid" on column
 * "attno", added if new.  "unique" demands a plain, immediate unique index
 * of nkeys columns; a key of several is composite.
 */
static int
plan_add_irel(MpPlan *plan, Relation rel, Oid indexid, AttrNumber attno,
			  int nkeys, bool need_unique, const char *role)
{
	Relation	index;
	Form_pg_index ix;
	MpIndexedRel *ik;
	Form_pg_attribute att;
	int			i;

	for (i = 0; i < plan->nirels; i++)
		if (plan->irels[i].relid == RelationGetRelid(rel) &&
			plan->irels[i].indexid == indexid)
			return i;

	mp_check_relation(rel, role);
	index = index_open(indexid, AccessShareLock);
	ix = index->rd_index;
	if (index->rd_rel->relam != BTREE_AM_OID || !ix->indisvalid ||
		!ix->indisready || ix->indkey.values[0] != attno ||
		(index->rd_indoption[0] & INDOPTION_DESC) != 0 ||
		!heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL) ||
		(need_unique && (!ix->indisunique || !ix->indimmediate ||
						 ix->indnkeyatts != nkeys)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" cannot be used to look up rows of \"%s\"",
						RelationGetRelationName(index), RelationGetRelationName(rel)),
				 need_unique ?
				 errdetail("A key must be a valid, non-deferrable, ascending unique btree index on its columns, without a predicate.") :
				 errdetail("A lookup index must be a valid ascending btree index whose first column is the key, without a predicate.")));

	att = TupleDescAttr(RelationGetDescr(rel), attno - 1);
	if (index->rd_indcollation[0] != att->attcollation)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" uses another collation than column \"%s\"",
						RelationGetRelationName(index), NameStr(att->attname))));

	plan->irels = repalloc(plan->irels,
							 sizeof(MpIndexedRel) * (plan->nirels + 1));
	ik = &plan->irels[plan->nirels];
	ik->relid = RelationGetRelid(rel);
	ik->indexid = indexid;
	ik->config_relid = ik->relid;
	ik->attno = attno;
	ik->keytype = getBaseType(att->atttypid);
	ik->collation = index->rd_indcollation[0];
	ik->opfamily = index->rd_opfamily[0];
	ik->eqop = get_opfamily_member(index->rd_opfamily[0],
								   index->rd_opcintype[0],
								   index->rd_opcintype[0],
								   BTEqualStrategyNumber);
	if (!OidIsValid(ik->eqop))
		elog(ERROR, "missing equality operator in operator family %u",
			 index->rd_opfamily[0]);
	ik->eqproc = get_opcode(ik->eqop);
	ik->geproc = get_opcode(get_opfamily_member(index->rd_opfamily[0],
												index->rd_opcintype[0],
												index->rd_opcintype[0],
												BTGreaterEqualStrategyNumber));
	ik->leproc = get_opcode(get_opfamily_member(index->rd_opfamily[0],
												index->rd_opcintype[0],
												index->rd_opcintype[0],
												BTLessEqualStrategyNumber));
	if (!get_op_hash_functions(ik->eqop, &ik->hashproc, NULL))
		ik->hashproc = InvalidOid;
	ik->unique = need_unique;
	ik->nkeys = 1;
	ik->rel = plan_add_rel(plan, rel, attno);
	if (nkeys > 1)
	{
		composite_key(ik, rel, index, nkeys);
		for (i = 1; i < nkeys; i++)
			plan_add_rel(plan, rel, ik->cols[i].attno);
	}
	index_close(index, NoLock);
	return plan->nirels++;
}

/* The target for the primary key of rel. */
static int
plan_add_pkey(MpPlan *plan, Relation rel, const char *role)
{
	Oid			pkey = mp_primary_key_index(rel);
	Relation	index;
	AttrNumber	attno;
	int			nkeys;

	if (!OidIsValid(pkey))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s \"%s\" has no usable primary key",
						role, RelationGetRelationName(rel)),
				 errdetail("Rows are looked up by a primary key that is not deferrable.")));
	index = index_open(pkey, AccessShareLock);
	attno = index->rd_index->indkey.values[0];
	nkeys = index->rd_index->indnkeyatts;
	index_close(index, NoLock);
	return plan_add_irel(plan, rel, pkey, attno, nkeys, true, role);
}

/* The index column (0-based) that returns heap column attno as is, or -1. */
static int
index_column_of(Relation index, Relation rel, AttrNumber attno)
{
	int			i;

	for (i = 0; i < index->rd_index->indnatts; i++)
		if (index->rd_index->indkey.values[i] == attno &&
			TupleDescAttr(RelationGetDescr(index), i)->atttypid ==
			TupleDescAttr(RelationGetDescr(rel), attno - 1)->atttypid &&
			index_can_return(index, i + 1))
			return i;
	return -1;
}

/*
 * Whether the index of ik returns every column in cols (as plan_add_rel
 * numbers them; the whole row is never covered).
 */
static bool
index_covers(MpIndexedRel *ik, Bitmapset *cols)
{
	Relation	rel = table_open(ik->relid, NoLock);
	Relation	index = index_open(ik->indexid, NoLock);
	bool		covers = true;
	int			c = -1;

	while (covers && (c = bms_next_member(cols, c)) >= 0)
	{
		AttrNumber	attno = c + FirstLowInvalidHeapAttributeNumber;

		covers = attno > 0 && index_column_of(index, rel, attno) >= 0;
	}
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return covers;
}

static AttrNumber
column_attno(Relation rel, const char *name, const char *path)
{
	AttrNumber	attno = get_attnum(RelationGetRelid(rel), name);

	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						name, RelationGetRelationName(rel)),
				 path ? errcontext("attribute \"%s\"", path) : 0));
	return attno;
}

/* Whether two foreign keys take the same columns to the same columns. */
static bool
same_fkey(ForeignKeyCacheInfo *a, ForeignKeyCacheInfo *b)
{
	return a->confrelid == b->confrelid && a->nkeys == b->nkeys &&
		memcmp(a->conkey, b->conkey, sizeof(AttrNumber) * a->nkeys) == 0 &&
		memcmp(a->confkey, b->confkey, sizeof(AttrNumber) * a->nkeys) == 0;
}

/* Whether foreign key fk has column attno. */
static bool
fkey_has(ForeignKeyCacheInfo *fk, AttrNumber attno)
{
	int			i;

	for (i = 0; i < fk->nkeys; i++)
		if (fk->conkey[i] == attno)
			return true;
	return false;
}

/*
 * The foreign key of rel that column attno is in (of one column, or a
 * composite one), preferring one that references "prefer", then one of that
 * column alone; NULL when there is none.  Two that reference "prefer" with
 * different columns are ambiguous: a composite foreign key is named by a
 * column of its own, such as author_id of (tenant, author_id).  Returned in
 * the caller's memory context.
 */
static ForeignKeyCacheInfo *
column_fkey(Relation rel, AttrNumber attno, Oid prefer, const char *path)
{
	ForeignKeyCacheInfo *found = NULL;
	int			foundrank = 0;
	ListCell   *lc;

	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);
		int			rank;

		if (!fkey_has(fk, attno))
			continue;
		rank = (fk->confrelid == prefer ? 2 : 0) + (fk->nkeys == 1 ? 1 : 0);
		if (found == NULL || rank > foundrank)
		{
			found = fk;
			foundrank = rank;
		}
		else if (rank == foundrank && found->confrelid == fk->confrelid &&
				 !same_fkey(found, fk) && fk->confrelid == prefer)
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" has foreign keys to different columns of \"%s\"",
							get_attname(RelationGetRelid(rel), attno, false),
							RelationGetRelationName(rel), relname(fk->confrelid)),
					 fk->nkeys > 1 || found->nkeys > 1 ?
					 errhint("Name a column that only one of the foreign keys has.") : 0,
					 path ? errcontext("attribute \"%s\"", path) : 0));
	}

	/*
	 * A copy: the list belongs to the relcache entry, which any catalog
	 * access of the caller (opening the referenced table processes
	 * invalidations) may rebuild and free, e.g. after a VACUUM of rel.
	 */
	return found ? copyObject(found) : NULL;
}

/*
 * The column that names foreign key fk of rel among those to the same table:
 * its first column that no other of them has (its first, if none).
 */
static AttrNumber
fkey_name_column(Relation rel, ForeignKeyCacheInfo *fk)
{
	int			i;

	for (i = 0; i < fk->nkeys; i++)
	{
		bool		shared = false;
		ListCell   *lc;

		foreach(lc, RelationGetFKeyList(rel))
		{
			ForeignKeyCacheInfo *other = lfirst(lc);

			if (other->confrelid == fk->confrelid && !same_fkey(other, fk) &&
				fkey_has(other, fk->conkey[i]))
				shared = true;
		}
		if (!shared)
			return fk->conkey[i];
	}
	return fk->conkey[0];
}

/* The unique index of the key that foreign key fk references. */
static Oid
fkey_index(ForeignKeyCacheInfo *fk)
{
	HeapTuple	contup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(fk->conoid));
	Oid			conindid;

	if (!HeapTupleIsValid(contup))
		elog(ERROR, "cache lookup failed for constraint %u", fk->conoid);
	conindid = ((Form_pg_constraint) GETSTRUCT(contup))->conindid;
	ReleaseSysCache(contup);
	return conindid;
}

/*
 * The columns of foreign key fk in the order of the columns of the key it
 * references (index indexid), into attnos[fk->nkeys]; returns the key's
 * first column.
 */
static AttrNumber
fkey_in_key_order(ForeignKeyCacheInfo *fk, Oid indexid, AttrNumber *attnos)
{
	Relation	index = index_open(indexid, AccessShareLock);
	AttrNumber	first = index->rd_index->indkey.values[0];
	int			i;
	int			j;

	for (i = 0; i < fk->nkeys; i++)
		for (j = 0; j < fk->nkeys; j++)
			if (fk->confkey[j] == index->rd_index->indkey.values[i])
				attnos[i] = fk->conkey[j];
	index_close(index, NoLock);
	return first;
}

/*
 * Resolve one hop: column "attno" of "rel" leads to a row of another
 * relation.  The last hop must reach "target"; it follows the column's
 * foreign key, or joins to the target's primary key when there is none.
 * Returns the relation reached, opened.
 */
static Relation
resolve_hop(MpPlan *plan, Relation rel, AttrNumber attno, bool last,
			Oid target, MpHop *hop, const char *path)
{
	ForeignKeyCacheInfo *fk = column_fkey(rel, attno, last ? target : InvalidOid, path);
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attno - 1);
	Relation	next;
	MpIndexedRel *ik;
	char		what[NAMEDATALEN + 16];

	if (fk == NULL && !last)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FOREIGN_KEY),
				 errmsg("column \"%s\" of relation \"%s\" has no foreign key",
						NameStr(att->attname), RelationGetRelationName(rel)),
				 errdetail("Every step of a path but the last must follow a foreign key constraint."),
				 errcontext("attribute \"%s\"", path)));
	if (fk != NULL && last && fk->confrelid != target)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attribute \"%s\" leads to table \"%s\", not to \"%s\"",
						path, relname(fk->confrelid), relname(target))));

	hop->attno = attno;
	plan_add_rel(plan, rel, attno);
	next = table_open(fk ? fk->confrelid : target, AccessShareLock);
	if (fk)
	{
		Oid			conindid = fkey_index(fk);
		AttrNumber	first = fk->confkey[0];

		if (fk->nkeys > 1)
		{
			/* the foreign key's columns in the order of the key's */
			hop->attnos = palloc(sizeof(AttrNumber) * fk->nkeys);
			first = fkey_in_key_order(fk, conindid, hop->attnos);
		}
		hop->irel = plan_add_irel(plan, next, conindid, first, fk->nkeys, true,
								  "referenced table");
	}
	else
		hop->irel = plan_add_pkey(plan, next, "target table");

	ik = &plan->irels[hop->irel];
	if (ik->nkeys > 1 && hop->attnos == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FOREIGN_KEY),
				 errmsg("column \"%s\" of relation \"%s\" has no foreign key to the composite primary key of \"%s\"",
						NameStr(att->attname), RelationGetRelationName(rel),
						RelationGetRelationName(next)),
				 errdetail("A composite key is reached through a foreign key constraint of its columns."),
				 errcontext("attribute \"%s\"", path)));
	if (ik->nkeys == 1)
	{
		snprintf(what, sizeof(what), "column \"%s\"", NameStr(att->attname));
		mp_check_join_operator(TupleDescAttr(RelationGetDescr(next), ik->attno - 1)->atttypid,
							   att->atttypid, ik->opfamily, what, true);
		mp_coercion_init(&hop->coerce, att->atttypid, ik->keytype, false,
						 plan->cxt, what);
	}
	else
	{
		int			i;

		hop->coerces = palloc(sizeof(MpCoercion) * ik->nkeys);
		for (i = 0; i < ik->nkeys; i++)
		{
			Form_pg_attribute a = TupleDescAttr(RelationGetDescr(rel), hop->attnos[i] - 1);

			plan_add_rel(plan, rel, hop->attnos[i]);
			snprintf(what, sizeof(what), "column \"%s\"", NameStr(a->attname));
			mp_check_join_operator(ik->cols[i].coltype, a->atttypid,
								   ik->cols[i].opfamily, what, true);
			mp_coercion_init(&hop->coerces[i], a->atttypid, ik->cols[i].keytype,
							 false, plan->cxt, what);
		}
	}
	return next;
}

/* Split "a.b__c" into its column names. */
static List *
split_path(const char *path)
{
	List	   *names = NIL;
	const char *start = path;
	const char *p = path;

	for (;;)
	{
		int			seplen = (*p == '.') ? 1 : (p[0] == '_' && p[1] == '_') ? 2 : 0;

		if (*p == '\0' || seplen > 0)
		{
			if (p == start)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid attribute \"%s\"", path),
						 errdetail("An attribute is a column name or a path of column names separated by \".\" or \"__\".")));
			names = lappend(names, pnstrdup(start, p - start));
			if (*p == '\0')
				return names;
			p += seplen;
			start = p;
			continue;
		}
		p++;
	}
}

static void
resolve_path(MpPlan *plan, MpPath *mpath, Relation source, const char *path,
			 Oid target)
{
	List	   *names = split_path(path);
	Relation	rel = source;
	ListCell   *lc;
	int			h = 0;

	mpath->name = pstrdup(path);
	mpath->nhops = list_length(names);
	mpath->hops = palloc0(sizeof(MpHop) * mpath->nhops);
	foreach(lc, names)
	{
		AttrNumber	attno = column_attno(rel, lfirst(lc), path);
		Relation	next = resolve_hop(plan, rel, attno,
									   h == mpath->nhops - 1, target,
									   &mpath->hops[h], path);

		/* every relation but the source was opened here */
		if (h > 0)
			table_close(rel, NoLock);
		rel = next;
		h++;
	}
	if (h > 0)
		table_close(rel, NoLock);
	plan->maxhops = Max(plan->maxhops, mpath->nhops);
}

/* fk: every path from the source's primary key to the target. */
static void
resolve_fk(MpPlan *plan, Relation source, ArrayType *attributes, Oid target)
{
	List	   *paths = NIL;
	ListCell   *lc;
	int			i;

	plan_add_pkey(plan, source, "source table");

	if (attributes == NULL)
	{
		/*
		 * every foreign key of source to target, by its column (a composite
		 * one by a column of its own)
		 */
		Bitmapset  *cols = NULL;
		int			attno = -1;

		foreach(lc, RelationGetFKeyList(source))
		{
			ForeignKeyCacheInfo *fk = lfirst(lc);

			if (fk->confrelid == target)
				cols = bms_add_member(cols, fkey_name_column(source, fk));
		}
		if (cols == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("table \"%s\" has no foreign key to table \"%s\"",
							RelationGetRelationName(source), relname(target)),
					 errhint("Name the attributes to follow.")));
		while ((attno = bms_next_member(cols, attno)) >= 0)
			paths = lappend(paths, get_attname(RelationGetRelid(source), attno, false));
	}
	else
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		if (ARR_NDIM(attributes) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("attributes must be a one-dimensional array")));
		deconstruct_array(attributes, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		for (i = 0; i < n; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("attributes must not contain NULL")));
			paths = lappend(paths, TextDatumGetCString(elems[i]));
		}
	}

	plan->npaths = list_length(paths);
	plan->paths = palloc0(sizeof(MpPath) * Max(plan->npaths, 1));
	i = 0;
	foreach(lc, paths)
		resolve_path(plan, &plan->paths[i++], source, lfirst(lc), target);
}

/* The single-column foreign-key columns of rel, optionally only to "to". */
static Bitmapset *
fkey_columns(Relation rel, Oid to)
{
	Bitmapset  *cols = NULL;
	ListCell   *lc;

	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);

		if (fk->nkeys == 1 && (!OidIsValid(to) || fk->confrelid == to))
			cols = bms_add_member(cols, fk->conkey[0]);
	}
	return cols;
}

/* The only member of cols, or an error that names the parameter to pass. */
static AttrNumber
only_column(Bitmapset *cols, Relation rel, const char *role, const char *param,
			const char *what)
{
	if (bms_num_members(cols) == 1)
		return bms_singleton_member(cols);
	ereport(ERROR,
			(errcode(bms_is_empty(cols) ? ERRCODE_UNDEFINED_OBJECT : ERRCODE_AMBIGUOUS_COLUMN),
			 bms_is_empty(cols) ?
			 errmsg("%s \"%s\" has no foreign key %s",
					role, RelationGetRelationName(rel), what) :
			 errmsg("%s \"%s\" has several foreign keys %s",
					role, RelationGetRelationName(rel), what),
			 errhint("Pass %s.", param)));
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/* Whether the first n columns of index are attnos[], ascending, in their collations. */
static bool
index_leads_with(Relation index, Relation rel, const AttrNumber *attnos, int n)
{
	int			i;

	if (index->rd_rel->relam != BTREE_AM_OID || !index->rd_index->indisvalid ||
		!index->rd_index->indisready || index->rd_index->indnkeyatts < n ||
		!heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
		return false;
	for (i = 0; i < n; i++)
		if (index->rd_index->indkey.values[i] != attnos[i] ||
			(index->rd_indoption[i] & INDOPTION_DESC) != 0 ||
			index->rd_indcollation[i] !=
			TupleDescAttr(RelationGetDescr(rel), attnos[i] - 1)->attcollation)
			return false;
	return true;
}

/*
 * The valid btree index of rel whose first columns are attnos[n] (a column,
 * or those of a composite foreign key), preferring one that also returns
 * column "also" (its rows can then be read from the index alone), then the
 * one with fewest columns.
 */
static Oid
lookup_index_on(Relation rel, const AttrNumber *attnos, int n, AttrNumber also,
				const char *role)
{
	Oid			best = InvalidOid;
	int			bestscore = INT_MAX;
	ListCell   *lc;

	foreach(lc, RelationGetIndexList(rel))
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		int			score = index->rd_index->indnatts +
			(index_column_of(index, rel, also) < 0 ? INDEX_MAX_KEYS : 0);

		if (index_leads_with(index, rel, attnos, n) && score < bestscore)
		{
			best = RelationGetRelid(index);
			bestscore = score;
		}
		index_close(index, NoLock);
	}
	if (!OidIsValid(best))
	{
		const char *table = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													   RelationGetRelationName(rel));
		StringInfoData cols;
		int			i;

		initStringInfo(&cols);
		for (i = 0; i < n; i++)
			appendStringInfo(&cols, "%s%s", i > 0 ? ", " : "",
							 quote_identifier(get_attname(RelationGetRelid(rel), attnos[i], false)));
		if (n == 1)
		{
			char	   *col = get_attname(RelationGetRelid(rel), attnos[0], false);

			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s \"%s\" has no index on column \"%s\"",
							role, RelationGetRelationName(rel), col),
					 errhint("Create a btree index whose first column is \"%s\", in ascending order: CREATE INDEX ON %s (%s);",
							 col, table, cols.data)));
		}
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s \"%s\" has no index on columns (%s)",
						role, RelationGetRelationName(rel), cols.data),
				 errhint("Create a btree index whose first columns are these, in this order and ascending: CREATE INDEX ON %s (%s);",
						 table, cols.data)));
	}
	return best;
}

/* m2m: link rows by their source column, then one hop to the target. */
static void
resolve_m2m(MpPlan *plan, Relation through, Oid target,
			const char *source_field, const char *target_field)
{
	AttrNumber	tattno;
	AttrNumber	sattno;
	Relation	trel;
	char		what[NAMEDATALEN + 16];

	/* a named column is never a candidate for the other one */
	sattno = source_field ? column_attno(through, source_field, NULL) : InvalidAttrNumber;
	if (target_field)
		tattno = column_attno(through, target_field, NULL);
	else
		tattno = only_column(bms_del_member(fkey_columns(through, target), sattno),
							 through, "link table", "target_field",
							 psprintf("to \"%s\"", relname(target)));
	if (!source_field)
		sattno = only_column(bms_del_member(fkey_columns(through, InvalidOid), tattno),
							 through, "link table", "source_field", "to a source table");
	if (sattno == tattno)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source_field and target_field are the same column \"%s\"",
						get_attname(RelationGetRelid(through), sattno, false))));

	plan_add_irel(plan, through, lookup_index_on(through, &sattno, 1, tattno, "link table"),
				  sattno, 1, false, "link table");

	plan->npaths = 1;
	plan->paths = palloc0(sizeof(MpPath));
	plan->paths[0].name = get_attname(RelationGetRelid(through), tattno, false);
	plan->paths[0].nhops = 1;
	plan->paths[0].hops = palloc0(sizeof(MpHop));
	plan->maxhops = 1;
	snprintf(what, sizeof(what), "%s", "target_field");
	trel = resolve_hop(plan, through, tattno, true, target,
					   &plan->paths[0].hops[0], what);
	table_close(trel, NoLock);
	plan->order_index = plan->irels[plan->paths[0].hops[0].irel].indexid;
}

/*
 * The composite foreign keys of rel to the primary key of "source" (only
 * those with column attno, if valid), each once.  Copies, as in
 * column_fkey().
 */
static List *
composite_fkeys(Relation rel, Relation source, AttrNumber attno)
{
	Oid			pkey = mp_primary_key_index(source);
	List	   *found = NIL;
	ListCell   *lc;

	foreach(lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);
		bool		seen = false;
		ListCell   *lc2;

		if (fk->nkeys < 2 || fk->confrelid != RelationGetRelid(source) ||
			(AttributeNumberIsValid(attno) && !fkey_has(fk, attno)))
			continue;
		foreach(lc2, found)
			seen = seen || same_fkey(lfirst(lc2), fk);
		if (!seen)
			found = lappend(found, copyObject(fk));
	}
	/* after the copies: a catalog read may rebuild the relcache's list */
	foreach(lc, found)
		if (fkey_index(lfirst(lc)) != pkey)
			found = foreach_delete_current(found, lc);
	return found;
}

/*
 * reverse_fk: the target's rows by an index on the column that holds source
 * keys (its foreign key to source, unless named), in the order of the
 * target's primary key.  A source with a composite primary key is reached
 * by a composite foreign key to it (named by any of its columns), through
 * an index whose first columns are the foreign key's, in the order of the
 * key's; its ids are records of the key's columns, as fk()'s.  No path:
 * the rows found are the result.  The source table is only named, never
 * read, as in the plain query.
 */
static void
resolve_reverse(MpPlan *plan, Relation source, Relation target,
				const char *fk_column)
{
	AttrNumber	attno = InvalidAttrNumber;
	List	   *composites;
	AttrNumber	attnos[INDEX_MAX_KEYS];
	int			n = 1;

	if (fk_column)
		attno = column_attno(target, fk_column, NULL);
	composites = composite_fkeys(target, source, attno);
	if (composites == NIL && !AttributeNumberIsValid(attno))
		attno = only_column(fkey_columns(target, RelationGetRelid(source)),
							target, "target table", "fk_column",
							psprintf("to \"%s\"", RelationGetRelationName(source)));
	else if (composites != NIL)
	{
		ForeignKeyCacheInfo *fk = linitial(composites);

		if (list_length(composites) > 1 ||
			(!AttributeNumberIsValid(attno) &&
			 !bms_is_empty(fkey_columns(target, RelationGetRelid(source)))))
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_COLUMN),
					 errmsg("target table \"%s\" has several foreign keys to \"%s\"",
							RelationGetRelationName(target), RelationGetRelationName(source)),
					 errhint("Pass fk_column, a column that only one of them has.")));
		n = fk->nkeys;
		fkey_in_key_order(fk, mp_primary_key_index(source), attnos);
	}
	if (n == 1)
		attnos[0] = attno;
	plan_add_irel(plan, target, lookup_index_on(target, attnos, n, InvalidAttrNumber,
												"target table"),
				  attnos[0], n, false, "target table");
	plan->order_index = mp_primary_key_index(target);
}

MpPlan *
mp_plan_resolve(MpKind kind, Oid relid, Oid elemtype, Oid rowtype,
			 ArrayType *attributes, const char *sf, const char *tf,
			 char *signature)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "memoized_prefetch plan",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MpPlan	   *plan = palloc0(sizeof(MpPlan));
	Oid			target = typeidTypeRelid(rowtype);
	Relation	rel;
	Relation	trel;
	const char *role;
	int			i;

	plan->cxt = cxt;
	plan->signature = pstrdup(signature);
	plan->valid = true;
	plan->kind = kind;
	plan->rels = palloc(sizeof(MpRel));
	plan->irels = palloc(sizeof(MpIndexedRel));

	if (!OidIsValid(target) || get_rel_relkind(target) == RELKIND_COMPOSITE_TYPE)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("target_type must be the row type of a table, not %s",
						format_type_be(rowtype)),
				 errhint("Pass a value such as NULL::mytable.")));

	trel = table_open(target, AccessShareLock);
	mp_check_relation(trel, "target table");
	plan->target_relid = target;

	/*
	 * rels[] in the order the plain join's range table lists them.  Opened
	 * as any relation (an error for an OID of none), so that
	 * mp_check_relation() words the error for an index or a composite type
	 * as for any other non-table, on every major.
	 */
	role = kind == MP_M2M ? "link table" : "source table";
	rel = mp_open_relation(relid, role);
	mp_check_relation(rel, role);
	if (kind == MP_FK)
		resolve_fk(plan, rel, attributes, target);
	else if (kind == MP_M2M)
		resolve_m2m(plan, rel, target, sf, tf);
	else
		resolve_reverse(plan, rel, trel, sf);
	table_close(rel, NoLock);

	/* the target table is read whole */
	plan_add_rel(plan, trel, InvalidAttrNumber);
	table_close(trel, NoLock);

	if (plan->irels[0].nkeys > 1)
	{
		/* records, their fields coerced per record type (keys.c) */
		if (!type_is_rowtype(elemtype))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("source_ids must be an array of records for the composite key of \"%s\", not of %s",
							relname(plan->irels[0].relid), format_type_be(elemtype)),
					 errhint("Pass records of the key's columns, such as ARRAY[ROW(1, 10), ROW(1, 11)].")));
	}
	else
	{
		mp_coercion_init(&plan->idcoerce, elemtype, plan->irels[0].keytype, true,
						 cxt, "source_ids");

		/*
		 * The ids are compared as the plain join's "key = ANY (ids)"
		 * compares them: text ids against a char(n) key compare as text,
		 * which the key's index cannot do.  Without any such operator (text
		 * ids for an integer key, as an untyped literal resolves) they are
		 * read as keys.
		 */
		mp_check_join_operator(get_atttype(plan->irels[0].relid, plan->irels[0].attno),
							   elemtype, plan->irels[0].opfamily, "source_ids", false);
	}

	for (i = 0; i < plan->nirels; i++)
		plan->irels[i].indexonly =
			index_covers(&plan->irels[i], plan->rels[plan->irels[i].rel].cols);

	for (i = 0; i < plan->nrels; i++)
		mp_add_select_rte(&plan->rtable, &plan->perminfos,
						  plan->rels[i].relid, plan->rels[i].cols);

	MemoryContextSwitchTo(old);
	return plan;
}
