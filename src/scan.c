/*-------------------------------------------------------------------------
 *
 * scan.c
 *		The streaming path: a custom scan ("MemoizedPrefetch Scan") that
 *		takes the place of the function scan of fk(), m2m(), reverse_fk()
 *		or their _flat forms in FROM, and returns the rows of the call one at a time
 *		from where the call found them (the cache's entries, or the rows its
 *		lookups read), instead of materialising them into a tuplestore first.
 *
 * Planning.  set_rel_pathlist_hook offers the scan for a function RTE whose
 * single function is one of the four (known by the C symbol its pg_proc row
 * names in this library; see scan_function), with the function scan's
 * costs, a little lower (no tuplestore), its pathkeys (WITH ORDINALITY) and
 * its parameterization (LATERAL).  It is not offered when a whole-row
 * reference to the function's result is needed (which row marks for
 * EvalPlanQual also need), or when memoized_prefetch.streaming is off.
 *
 * The scan tuple (custom_scan_tlist) is every column of the function's
 * result, then, for fk() and m2m(), every field selection of the target
 * column, (s.target).col, that the query's target list or the rel's quals
 * contain: setrefs.c makes those expressions references to the scan
 * tuple, so that (s.target).* reads the cached row's columns directly and
 * no composite is formed or taken apart per row.  Where the selections are
 * made above the scan (a join), the scan returns the target column as the
 * cached row itself, a composite datum that is not copied.
 *
 * Execution.  On the first fetch after the start or a rescan whose
 * parameters reach the arguments, the arguments are evaluated and the
 * same code as the SQL function's runs (mp_fk_rows(), mp_set_rows()), with
 * a result that keeps the rows instead of storing them (result.c).  The
 * rows point into the cache's entries: a hold (cache_pins.c) keeps those
 * entries until the rows go, which is when the scan's memory for them is
 * reset or freed (a reset callback), so an error that frees the executor's
 * memory releases the hold too.  Then each fetch fills a virtual slot from
 * one row, forward or backward (so SCROLL cursors need no Material).  The
 * function's EXECUTE privilege is checked at executor start, as for a
 * function scan; everything else (table privileges, row-level security,
 * predicate locks, the cache's rules) is the call's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "call.h"

/* The functions the scan stands in for, by their C symbols. */
typedef enum ScanFunc
{
	SCAN_FK,
	SCAN_FK_FLAT,
	SCAN_M2M,
	SCAN_M2M_FLAT,
	SCAN_REVERSE,
	SCAN_REVERSE_FLAT,
	SCAN_NONE
} ScanFunc;

static const char *const scan_symbols[] = {
	"memoized_prefetch_fk",
	"memoized_prefetch_fk_flat",
	"memoized_prefetch_m2m",
	"memoized_prefetch_m2m_flat",
	"memoized_prefetch_reverse_fk",
	"memoized_prefetch_reverse_fk_flat"
};

#define SCAN_IS_FLAT(f)		((f) == SCAN_FK_FLAT || (f) == SCAN_M2M_FLAT || \
							 (f) == SCAN_REVERSE_FLAT)
#define SCAN_LEAD(f)		((f) == SCAN_FK || (f) == SCAN_FK_FLAT ? 2 : 1)

/* What a function oid is, kept per backend until pg_proc changes. */
typedef struct FuncEntry
{
	Oid			funcid;
	ScanFunc	func;
} FuncEntry;

static HTAB *scan_funcs = NULL;

/* Where a column of the scan's output comes from. */
typedef enum ColSource
{
	COL_NONE,					/* not read: NULL */
	COL_LEAD,					/* a leading column (source_id, attribute) */
	COL_FLAT,					/* the n-th column of the target (flat forms) */
	COL_FIELD,					/* the target's attribute number n */
	COL_ROW,					/* the target row, a composite */
	COL_ORDINALITY				/* WITH ORDINALITY */
} ColSource;

typedef struct ScanCol
{
	ColSource	source;
	int			n;
	Oid			type;			/* COL_FIELD: what the query expects */
} ScanCol;

typedef struct MpScanState
{
	CustomScanState css;
	ScanFunc	func;
	Oid			funcid;
	int			lead;			/* leading columns */
	int			nresult;		/* columns of the function's result */
	FuncExpr   *funcexpr;
	List	   *args;			/* ExprStates of the arguments */
	Bitmapset  *argparams;		/* PARAM_EXEC ids the arguments read */
	bool		argsubplans;	/* the arguments have subplans */
	FmgrInfo	flinfo;
	FunctionCallInfo fcinfo;
	TupleDesc	coldesc;		/* flat forms: the column definition list */

	/* what each fetch fills: the scan tuple, or the output directly */
	TupleTableSlot *out;
	int			ncols;
	ScanCol    *cols;			/* as planned */
	ScanCol    *runcols;		/* as resolved against the call's rows */
	int			maxatt;			/* target attributes to deform */
	bool		contiguous;		/* leads, then every target attribute */

	/* the call's rows, until the next call or the end */
	MemoryContext runcxt;
	MemoryContextCallback unhold;
	MpCacheHold hold;
	bool		called;
	MpResult	res;
	TupleTableSlot *rowslot;	/* a target row, deformed as far as needed */
	int			cur;			/* the current row, -1 before the first */

	/* for EXPLAIN ANALYZE, over every call */
	uint64		hits;
	uint64		misses;
	uint64		bypasses;
} MpScanState;

static set_rel_pathlist_hook_type prev_set_rel_pathlist = NULL;

static Plan *scan_plan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
					   List *tlist, List *clauses, List *custom_plans);
static Node *scan_create_state(CustomScan *cscan);
static void scan_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *scan_exec(CustomScanState *node);
static void scan_end(CustomScanState *node);
static void scan_rescan(CustomScanState *node);
static void scan_explain(CustomScanState *node, List *ancestors, ExplainState *es);

static const CustomPathMethods scan_path_methods = {
	.CustomName = "MemoizedPrefetch Scan",
	.PlanCustomPath = scan_plan,
};

static const CustomScanMethods scan_plan_methods = {
	.CustomName = "MemoizedPrefetch Scan",
	.CreateCustomScanState = scan_create_state,
};

static const CustomExecMethods scan_exec_methods = {
	.CustomName = "MemoizedPrefetch Scan",
	.BeginCustomScan = scan_begin,
	.ExecCustomScan = scan_exec,
	.EndCustomScan = scan_end,
	.ReScanCustomScan = scan_rescan,
	.ExplainCustomScan = scan_explain,
};

/* ---------- which functions ---------- */

static void
scan_funcs_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS seq;
	FuncEntry  *e;

	hash_seq_init(&seq, scan_funcs);
	while ((e = hash_seq_search(&seq)) != NULL)
		hash_search(scan_funcs, &e->funcid, HASH_REMOVE, NULL);
}

/*
 * Is funcid one of the four, as this library's C function, called as its
 * SQL definition says (not strict, not security definer, no SET)?
 */
static ScanFunc
scan_function_lookup(Oid funcid)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	ScanFunc	func = SCAN_NONE;
	Datum		d;
	bool		isnull;
	char	   *probin;
	char	   *base;
	int			i;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		return SCAN_NONE;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prolang != ClanguageId || !proc->proretset || proc->proisstrict ||
		proc->prosecdef || !heap_attisnull(tup, Anum_pg_proc_proconfig, NULL))
	{
		ReleaseSysCache(tup);
		return SCAN_NONE;
	}
	d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &isnull);
	if (!isnull)
	{
		probin = TextDatumGetCString(d);
		base = last_dir_separator(probin);
		base = base ? base + 1 : probin;
		if (strcmp(base, "memoized_prefetch") == 0 ||
			strcmp(base, "memoized_prefetch" DLSUFFIX) == 0)
		{
			char	   *prosrc;

			d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
			prosrc = isnull ? NULL : TextDatumGetCString(d);
			for (i = 0; prosrc && i < lengthof(scan_symbols); i++)
				if (strcmp(prosrc, scan_symbols[i]) == 0)
					func = (ScanFunc) i;
		}
	}
	ReleaseSysCache(tup);
	return func;
}

static ScanFunc
scan_function(Oid funcid)
{
	FuncEntry  *e;
	bool		found;

	if (scan_funcs == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(FuncEntry);
		scan_funcs = hash_create("memoized_prefetch functions", 16, &ctl,
								 HASH_ELEM | HASH_BLOBS);
		CacheRegisterSyscacheCallback(PROCOID, scan_funcs_callback, (Datum) 0);
	}
	e = hash_search(scan_funcs, &funcid, HASH_FIND, NULL);
	if (e == NULL)
	{
		ScanFunc	func = scan_function_lookup(funcid);

		e = hash_search(scan_funcs, &funcid, HASH_ENTER, &found);
		e->func = func;
	}
	return e->func;
}

/* ---------- planning ---------- */

/* Does anything the rel must produce or check read its whole row? */
static bool
needs_whole_row(RelOptInfo *rel)
{
	Bitmapset  *attrs = NULL;
	ListCell   *lc;

	pull_varattnos((Node *) rel->reltarget->exprs, rel->relid, &attrs);
	foreach(lc, rel->baserestrictinfo)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause,
					   rel->relid, &attrs);
	return bms_is_member(InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber,
						 attrs);
}

static void
scan_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
					  RangeTblEntry *rte)
{
	RangeTblFunction *rtfunc;
	ScanFunc	func;
	Path	   *fpath = NULL;
	CustomPath *cpath;
	ListCell   *lc;

	if (prev_set_rel_pathlist)
		prev_set_rel_pathlist(root, rel, rti, rte);

	if (!mp_streaming || rte->rtekind != RTE_FUNCTION || !IS_SIMPLE_REL(rel) ||
		IS_DUMMY_REL(rel) || list_length(rte->functions) != 1 ||
		root->rowMarks != NIL)
		return;
	rtfunc = linitial_node(RangeTblFunction, rte->functions);
	if (!IsA(rtfunc->funcexpr, FuncExpr))
		return;
	func = scan_function(((FuncExpr *) rtfunc->funcexpr)->funcid);
	if (func == SCAN_NONE || FmgrHookIsNeeded(((FuncExpr *) rtfunc->funcexpr)->funcid))
		return;
	if (needs_whole_row(rel))
		return;
	foreach(lc, rel->pathlist)
		if (((Path *) lfirst(lc))->pathtype == T_FunctionScan)
			fpath = (Path *) lfirst(lc);
	if (fpath == NULL)
		return;

	cpath = makeNode(CustomPath);
	cpath->path.pathtype = T_CustomScan;
	cpath->path.parent = rel;
	cpath->path.pathtarget = rel->reltarget;
	cpath->path.param_info = fpath->param_info;
	cpath->path.parallel_aware = false;
	cpath->path.parallel_safe = fpath->parallel_safe;
	cpath->path.parallel_workers = 0;
	cpath->path.rows = fpath->rows;
	/* the same call; each row costs less without the tuplestore */
	cpath->path.startup_cost = fpath->startup_cost;
	cpath->path.total_cost = Max(fpath->startup_cost,
								 fpath->total_cost - 0.5 * cpu_tuple_cost * fpath->rows);
	cpath->path.pathkeys = fpath->pathkeys;
	cpath->flags = CUSTOMPATH_SUPPORT_BACKWARD_SCAN | CUSTOMPATH_SUPPORT_PROJECTION;
	cpath->custom_private = list_make1(makeInteger(func));
	cpath->methods = &scan_path_methods;
	add_path(rel, &cpath->path);
}

typedef struct FieldsContext
{
	Index		relid;
	AttrNumber	attno;			/* the target column */
	List	   *fields;			/* distinct FieldSelects of it */
} FieldsContext;

static bool
collect_fields(Node *node, FieldsContext *cxt)
{
	if (node == NULL)
		return false;
	if (IsA(node, FieldSelect))
	{
		FieldSelect *fs = (FieldSelect *) node;
		Var		   *var = (Var *) fs->arg;

		if (IsA(var, Var) && var->varno == cxt->relid &&
			var->varattno == cxt->attno && var->varlevelsup == 0)
		{
			if (!list_member(cxt->fields, fs))
				cxt->fields = lappend(cxt->fields, fs);
			return false;
		}
	}
	return expression_tree_walker(node, collect_fields, (void *) cxt);
}

static Plan *
scan_plan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
		  List *tlist, List *clauses, List *custom_plans)
{
	CustomScan *cscan = makeNode(CustomScan);
	RangeTblEntry *rte = planner_rt_fetch(rel->relid, root);
	RangeTblFunction *rtfunc = linitial_node(RangeTblFunction, rte->functions);
	ScanFunc	func = (ScanFunc) intVal(linitial(best_path->custom_private));
	List	   *names;
	List	   *vars;
	List	   *scan_tlist = NIL;
	ListCell   *ln;
	ListCell   *lv;

	clauses = extract_actual_clauses(clauses, false);

	/* every column of the result, then the target's fields the query reads */
	mp_expand_rte(rte, rel->relid, &names, &vars);
	forboth(ln, names, lv, vars)
		scan_tlist = lappend(scan_tlist,
							 makeTargetEntry((Expr *) lfirst(lv),
											 list_length(scan_tlist) + 1,
											 strVal(lfirst(ln)), false));
	if (!SCAN_IS_FLAT(func))
	{
		FieldsContext cxt;
		ListCell   *lc;

		cxt.relid = rel->relid;
		cxt.attno = SCAN_LEAD(func) + 1;
		cxt.fields = NIL;
		collect_fields((Node *) root->processed_tlist, &cxt);
		collect_fields((Node *) tlist, &cxt);
		collect_fields((Node *) clauses, &cxt);
		foreach(lc, cxt.fields)
			scan_tlist = lappend(scan_tlist,
								 makeTargetEntry((Expr *) lfirst(lc),
												 list_length(scan_tlist) + 1,
												 NULL, false));
	}

	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = clauses;
	/* a function RTE has no relation to open: the scan tuple is ours */
	cscan->scan.scanrelid = 0;
	cscan->flags = best_path->flags;
	cscan->custom_scan_tlist = scan_tlist;
	cscan->custom_exprs = list_make1(copyObject(rtfunc->funcexpr));
	cscan->custom_private = list_make2(makeInteger(func),
									   makeInteger(list_length(names) -
												   (rte->funcordinality ? 1 : 0)));
	cscan->methods = &scan_plan_methods;
	return &cscan->scan.plan;
}

/* ---------- execution ---------- */

static Node *
scan_create_state(CustomScan *cscan)
{
	MpScanState *st = (MpScanState *) newNode(sizeof(MpScanState),
											  T_CustomScanState);

	st->css.methods = &scan_exec_methods;
	return (Node *) st;
}

typedef struct ParamsContext
{
	Bitmapset  *params;
	bool		subplans;
} ParamsContext;

static bool
collect_params(Node *node, ParamsContext *cxt)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXEC)
		cxt->params = bms_add_member(cxt->params, ((Param *) node)->paramid);
	if (IsA(node, SubPlan) || IsA(node, AlternativeSubPlan))
		cxt->subplans = true;
	return expression_tree_walker(node, collect_params, (void *) cxt);
}

/* Attribute numbers of INDEX_VAR Vars: the scan tuple's columns read. */
static bool
collect_index_vars(Node *node, Bitmapset **attrs)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) && ((Var *) node)->varno == INDEX_VAR)
		*attrs = bms_add_member(*attrs, ((Var *) node)->varattno);
	return expression_tree_walker(node, collect_index_vars, (void *) attrs);
}

static void
scan_begin(CustomScanState *node, EState *estate, int eflags)
{
	MpScanState *st = (MpScanState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	FuncExpr   *fexpr = linitial_node(FuncExpr, cscan->custom_exprs);
	ParamsContext pcxt = {NULL, false};
	Bitmapset  *read = NULL;
	AclResult	aclresult;
	ListCell   *lc;
	bool		direct;
	int			nscan;
	int			i;

	st->func = (ScanFunc) intVal(linitial(cscan->custom_private));
	st->nresult = intVal(lsecond(cscan->custom_private));
	st->lead = SCAN_LEAD(st->func);
	st->funcexpr = fexpr;
	st->funcid = fexpr->funcid;

	/* as a function scan checks at its start */
	aclresult = mp_proc_aclcheck(fexpr->funcid, GetUserId(), ACL_EXECUTE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(fexpr->funcid));
	InvokeFunctionExecuteHook(fexpr->funcid);

	st->args = ExecInitExprList(fexpr->args, &node->ss.ps);
	collect_params((Node *) fexpr->args, &pcxt);
	st->argparams = pcxt.params;
	st->argsubplans = pcxt.subplans;
	fmgr_info_cxt(fexpr->funcid, &st->flinfo, estate->es_query_cxt);
	fmgr_info_set_expr((Node *) fexpr, &st->flinfo);
	st->fcinfo = palloc0(SizeForFunctionCallInfo(list_length(fexpr->args)));
	InitFunctionCallInfoData(*st->fcinfo, &st->flinfo, list_length(fexpr->args),
							 fexpr->inputcollid, NULL, NULL);
	if (SCAN_IS_FLAT(st->func))
		st->coldesc = ExecTypeFromTL(list_truncate(list_copy(cscan->custom_scan_tlist),
												   st->nresult));

	/*
	 * Where each column comes from.  When there is no qual and the target
	 * list only references scan columns, each fetch fills the output slot
	 * itself and no projection runs.
	 */
	direct = cscan->scan.plan.qual == NIL && node->ss.ps.ps_ProjInfo != NULL;
	foreach(lc, cscan->scan.plan.targetlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (!IsA(tle->expr, Var) || ((Var *) tle->expr)->varno != INDEX_VAR)
			direct = false;
	}
	collect_index_vars((Node *) cscan->scan.plan.targetlist, &read);
	collect_index_vars((Node *) cscan->scan.plan.qual, &read);

	nscan = list_length(cscan->custom_scan_tlist);
	st->ncols = direct ? list_length(cscan->scan.plan.targetlist) : nscan;
	st->cols = palloc0(sizeof(ScanCol) * Max(st->ncols, 1));
	st->runcols = palloc0(sizeof(ScanCol) * Max(st->ncols, 1));
	for (i = 0; i < st->ncols; i++)
	{
		int			attno;
		TargetEntry *tle;
		ScanCol    *col = &st->cols[i];

		if (direct)
			attno = ((Var *) list_nth_node(TargetEntry, cscan->scan.plan.targetlist, i)->expr)->varattno;
		else
			attno = i + 1;
		if (!direct && !bms_is_member(attno, read))
			continue;
		tle = list_nth_node(TargetEntry, cscan->custom_scan_tlist, attno - 1);
		if (IsA(tle->expr, FieldSelect))
		{
			col->source = COL_FIELD;
			col->n = ((FieldSelect *) tle->expr)->fieldnum;
			col->type = ((FieldSelect *) tle->expr)->resulttype;
			continue;
		}
		attno = castNode(Var, tle->expr)->varattno;
		if (attno > st->nresult)
			col->source = COL_ORDINALITY;
		else if (attno <= st->lead)
		{
			col->source = COL_LEAD;
			col->n = attno - 1;
		}
		else if (SCAN_IS_FLAT(st->func))
		{
			col->source = COL_FLAT;
			col->n = attno - st->lead - 1;
		}
		else
			col->source = COL_ROW;
	}
	if (direct)
	{
		node->ss.ps.ps_ProjInfo = NULL;
		st->out = node->ss.ps.ps_ResultTupleSlot;
	}
	else
		st->out = node->ss.ss_ScanTupleSlot;

	st->runcxt = AllocSetContextCreate(estate->es_query_cxt,
									   "memoized_prefetch scan",
									   ALLOCSET_DEFAULT_SIZES);
	st->cur = -1;
}

static void
scan_unhold(void *arg)
{
	MpScanState *st = (MpScanState *) arg;

	mp_cache_unhold(&st->hold);
	st->called = false;
}

/*
 * Resolve the planned columns against the rows of this call, whose target
 * table's descriptor may not be the one the query was planned with: a
 * field selection of a dropped column gives NULL, one of another type fails
 * as ExecEvalFieldSelect does.
 */
static void
scan_resolve(MpScanState *st)
{
	TupleDesc	rowdesc = st->res.rowdesc;
	int			i;

	st->maxatt = 0;
	st->contiguous = !SCAN_IS_FLAT(st->func) || st->res.ncols == rowdesc->natts;
	for (i = 0; i < st->ncols; i++)
	{
		ScanCol    *col = &st->runcols[i];

		*col = st->cols[i];
		if (col->source == COL_FLAT)
		{
			col->source = COL_FIELD;
			col->n = st->res.attnos[col->n];
		}
		else if (col->source == COL_FIELD)
		{
			Form_pg_attribute att;

			if (col->n > rowdesc->natts)
				elog(ERROR, "attribute number %d exceeds number of columns %d",
					 col->n, rowdesc->natts);
			att = TupleDescAttr(rowdesc, col->n - 1);
			if (att->attisdropped)
				col->source = COL_NONE;
			else if (att->atttypid != col->type)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("attribute %d has wrong type", col->n),
						 errdetail("Table has type %s, but query expects %s.",
								   format_type_be(att->atttypid),
								   format_type_be(col->type))));
		}
		if (col->source == COL_FIELD)
			st->maxatt = Max(st->maxatt, col->n);
		if (!(i < st->lead ? col->source == COL_LEAD && col->n == i :
			  col->source == COL_FIELD && col->n == i - st->lead + 1))
			st->contiguous = false;
	}
	if (st->ncols != st->lead + rowdesc->natts)
		st->contiguous = false;
	st->rowslot = st->maxatt > 0 && !st->contiguous ?
		MakeSingleTupleTableSlot(rowdesc, &TTSOpsHeapTuple) : NULL;
}

/* Evaluate the arguments and make the call, keeping its rows. */
static void
scan_call(MpScanState *st)
{
	ExprContext *econtext = st->css.ss.ps.ps_ExprContext;
	FunctionCallInfo fcinfo = st->fcinfo;
	MemoryContext oldcxt;
	ListCell   *lc;
	int			i = 0;

	MemoryContextReset(st->runcxt);
	oldcxt = MemoryContextSwitchTo(st->runcxt);
	foreach(lc, st->args)
	{
		fcinfo->args[i].value = ExecEvalExpr((ExprState *) lfirst(lc), econtext,
											 &fcinfo->args[i].isnull);
		i++;
	}
	fcinfo->isnull = false;

	mp_cache_hold(&st->hold);
	st->unhold.func = scan_unhold;
	st->unhold.arg = st;
	MemoryContextRegisterResetCallback(st->runcxt, &st->unhold);

	memset(&st->res, 0, sizeof(MpResult));
	st->res.collect = true;
	st->res.desc = st->coldesc;
	if (st->func == SCAN_FK || st->func == SCAN_FK_FLAT)
		mp_fk_rows(fcinfo, SCAN_IS_FLAT(st->func), &st->res);
	else
		mp_set_rows(fcinfo,
					st->func == SCAN_M2M || st->func == SCAN_M2M_FLAT ? MP_M2M : MP_REVERSE,
					SCAN_IS_FLAT(st->func), &st->res);
	st->hits += st->res.hits;
	st->misses += st->res.misses;
	st->bypasses += st->res.bypasses;
	scan_resolve(st);
	MemoryContextSwitchTo(oldcxt);
	st->called = true;
	st->cur = -1;
}

static TupleTableSlot *
scan_next(ScanState *ss)
{
	MpScanState *st = (MpScanState *) ss;
	TupleTableSlot *slot = st->out;
	Datum	   *values;
	bool	   *nulls;
	Datum	   *leads;
	HeapTuple	row;
	int			i;

	if (!st->called)
		scan_call(st);
	if (ScanDirectionIsBackward(ss->ps.state->es_direction))
	{
		if (st->cur >= 0)
			st->cur--;
	}
	else if (st->cur < st->res.nrows)
		st->cur++;
	if (st->cur < 0 || st->cur >= st->res.nrows)
		return ExecClearTuple(slot);

	ExecClearTuple(slot);
	values = slot->tts_values;
	nulls = slot->tts_isnull;
	row = st->res.rows[st->cur];
	leads = &st->res.leads[st->cur * st->lead];
	if (st->contiguous)
	{
		for (i = 0; i < st->lead; i++)
		{
			values[i] = leads[i];
			nulls[i] = false;
		}
		heap_deform_tuple(row, st->res.rowdesc, values + st->lead, nulls + st->lead);
		return ExecStoreVirtualTuple(slot);
	}
	if (st->rowslot)
	{
		ExecStoreHeapTuple(row, st->rowslot, false);
		slot_getsomeattrs(st->rowslot, st->maxatt);
	}
	for (i = 0; i < st->ncols; i++)
	{
		ScanCol    *col = &st->runcols[i];

		nulls[i] = false;
		switch (col->source)
		{
			case COL_NONE:
				values[i] = (Datum) 0;
				nulls[i] = true;
				break;
			case COL_LEAD:
				values[i] = leads[col->n];
				break;
			case COL_FIELD:
				values[i] = st->rowslot->tts_values[col->n - 1];
				nulls[i] = st->rowslot->tts_isnull[col->n - 1];
				break;
			case COL_ROW:
				values[i] = PointerGetDatum(row->t_data);
				break;
			case COL_ORDINALITY:
				values[i] = Int64GetDatum((int64) st->cur + 1);
				break;
			case COL_FLAT:
				Assert(false);	/* resolved */
				break;
		}
	}
	return ExecStoreVirtualTuple(slot);
}

/* No row marks reach the scan (it is not offered then): nothing to recheck. */
static bool
scan_recheck(ScanState *ss, TupleTableSlot *slot)
{
	elog(ERROR, "memoized_prefetch scan cannot be rechecked");
	return false;
}

static TupleTableSlot *
scan_exec(CustomScanState *node)
{
	return ExecScan(&node->ss, scan_next, scan_recheck);
}

static void
scan_end(CustomScanState *node)
{
	MpScanState *st = (MpScanState *) node;

	MemoryContextDelete(st->runcxt);
}

/*
 * A rescan returns the same rows again, unless a parameter the arguments
 * read has changed: then the call is made again, on the next fetch.
 */
static void
scan_rescan(CustomScanState *node)
{
	MpScanState *st = (MpScanState *) node;
	Bitmapset  *changed = node->ss.ps.chgParam;

	if (st->called && changed != NULL &&
		(st->argsubplans || bms_overlap(changed, st->argparams)))
		MemoryContextReset(st->runcxt);
	st->cur = -1;
	ExecScanReScan(&node->ss);
}

static void
scan_explain(CustomScanState *node, List *ancestors, ExplainState *es)
{
	MpScanState *st = (MpScanState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	TargetEntry *first = linitial_node(TargetEntry, cscan->custom_scan_tlist);
	Index		rti = castNode(Var, first->expr)->varno;
	char	   *refname = (char *) list_nth(es->rtable_names, rti - 1);

	ExplainPropertyText("Function Name", get_func_name(st->funcid), es);
	if (refname)
		ExplainPropertyText("Alias", refname, es);
	if (es->verbose)
	{
		List	   *context = set_deparse_context_plan(es->deparse_cxt,
													   &cscan->scan.plan,
													   ancestors);

		ExplainPropertyText("Function Call",
							deparse_expression((Node *) st->funcexpr, context,
											   true, false),
							es);
	}
	if (es->analyze)
	{
		ExplainPropertyInteger("Cache Hits", NULL, st->hits, es);
		ExplainPropertyInteger("Cache Misses", NULL, st->misses, es);
		if (st->bypasses > 0 || es->format != EXPLAIN_FORMAT_TEXT)
			ExplainPropertyInteger("Cache Bypasses", NULL, st->bypasses, es);
	}
}

/* Once per backend, from _PG_init. */
void
mp_scan_init(void)
{
	RegisterCustomScanMethods(&scan_plan_methods);
	prev_set_rel_pathlist = set_rel_pathlist_hook;
	set_rel_pathlist_hook = scan_set_rel_pathlist;
}
