/*-------------------------------------------------------------------------
 *
 * plans.c
 *		Keeping resolved plans (resolve.c) per call site and per backend,
 *		and dropping them when the catalogs change.
 *
 * A repeated call reuses its plan:
 *
 *	- per call site, fn_extra points at the plan of the last arguments seen;
 *	- per backend, a short most-recently-used list of plans is searched by
 *	  the arguments' signature, so that new statements, PL/pgSQL functions
 *	  and Django queries with the same arguments find it.
 *
 * Invalidation: a relcache callback clears "valid" on every plan that uses
 * the relation (or on all of them); it only flips flags.  Each call locks the
 * plan's relations and then accepts pending invalidation messages, so a plan
 * that survives that point matches the catalogs the call reads under its
 * locks; otherwise it is resolved again.  A plan being resolved is not yet
 * among them: the relations invalidated meanwhile are noted, and a plan that
 * uses one is resolved again.  A call whose resolutions keep being disturbed
 * goes on with its last one after a few (mp_plan_for_call).
 *
 * Plans are reference counted (the backend's list and each call site that
 * points at one) and freed at zero; a call site releases its plan when its
 * fn_mcxt is reset.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "plan.h"


#define MP_PLAN_LIST_SIZE 64		/* plans the backend keeps by signature */

/* every live plan, most recently used first; "listed" ones form the list */
static dlist_head all_plans = DLIST_STATIC_INIT(all_plans);
static int	nlisted = 0;
static MemoryContext plans_cxt = NULL;
static bool callback_registered = false;

/*
 * The relations invalidated while a plan is being resolved (the plan is not
 * in all_plans yet); more than fit, or a reset of every cache, is "all".
 */
static bool resolving = false;
static Oid	seen[32];
static int	nseen;
static bool seen_all;

/*
 * Resolutions of one call disturbed by invalidations of their own relations
 * before the call goes on with the last one (see mp_plan_for_call).
 */
#define MP_RESOLVE_ATTEMPTS 3

/* What a call site remembers: the arguments of its last call and their plan. */
typedef struct MpSite
{
	MpKind		kind;
	Oid			relid;
	Oid			elemtype;
	Oid			rowtype;
	struct varlena *attributes; /* flat copy, or NULL */
	char	   *source_field;
	char	   *target_field;
	MpPlan	   *plan;
	MemoryContextCallback cb;
} MpSite;

/* ---------- plan lifetime ---------- */

static void
plan_release(MpPlan *plan)
{
	if (--plan->refcount > 0)
		return;
	dlist_delete(&plan->node);
	MemoryContextDelete(plan->cxt);
}

/* Whether the plan reads relation (or index) relid; InvalidOid: all. */
static bool
plan_uses(MpPlan *plan, Oid relid)
{
	int			i;

	if (relid == InvalidOid || plan->order_index == relid)
		return true;
	for (i = 0; i < plan->nrels; i++)
		if (plan->rels[i].relid == relid)
			return true;
	for (i = 0; i < plan->nirels; i++)
		if (plan->irels[i].indexid == relid)
			return true;
	return false;
}

static void
plan_relcache_callback(Datum arg, Oid relid)
{
	dlist_iter	it;

	dlist_foreach(it, &all_plans)
	{
		MpPlan	   *plan = dlist_container(MpPlan, node, it.cur);

		if (plan->valid && plan_uses(plan, relid))
			plan->valid = false;
	}
	/* during a resolution: what it may have read before the message */
	if (resolving)
	{
		if (relid == InvalidOid || nseen == lengthof(seen))
			seen_all = true;
		else
			seen[nseen++] = relid;
	}
}

static void
site_reset_callback(void *arg)
{
	MpSite	   *site = (MpSite *) arg;

	if (site->plan)
		plan_release(site->plan);
	site->plan = NULL;
}

/* Drop invalid plans from the list and find a valid one by signature. */
static MpPlan *
plan_list_find(const char *signature)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &all_plans)
	{
		MpPlan	   *plan = dlist_container(MpPlan, node, it.cur);

		if (!plan->listed)
			continue;
		if (!plan->valid)
		{
			plan->listed = false;
			nlisted--;
			plan_release(plan);
			continue;
		}
		if (strcmp(plan->signature, signature) == 0)
		{
			dlist_move_head(&all_plans, &plan->node);
			return plan;
		}
	}
	return NULL;
}

static void
plan_list_add(MpPlan *plan)
{
	MemoryContextSetParent(plan->cxt, plans_cxt);
	plan->listed = true;
	plan->refcount = 1;
	dlist_push_head(&all_plans, &plan->node);
	if (++nlisted > MP_PLAN_LIST_SIZE)
	{
		dlist_iter	it;

		dlist_reverse_foreach(it, &all_plans)
		{
			MpPlan	   *old = dlist_container(MpPlan, node, it.cur);

			if (old->listed)
			{
				old->listed = false;
				nlisted--;
				plan_release(old);
				break;
			}
		}
	}
}

static char *
plan_signature(MpKind kind, Oid relid, Oid elemtype, Oid rowtype,
			   ArrayType *attributes, const char *sf, const char *tf)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "%c %u %u %u", kind, relid, elemtype, rowtype);
	if (attributes)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int			i;

		deconstruct_array(attributes, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		appendStringInfo(&s, " [%d]", ARR_NDIM(attributes));
		for (i = 0; i < n; i++)
		{
			char	   *name = nulls[i] ? NULL : TextDatumGetCString(elems[i]);

			appendStringInfo(&s, " %d:%s", name ? (int) strlen(name) : -1,
							 name ? name : "");
		}
	}
	appendStringInfo(&s, " %d:%s %d:%s", sf ? (int) strlen(sf) : -1, sf ? sf : "",
					 tf ? (int) strlen(tf) : -1, tf ? tf : "");
	return s.data;
}

/* ---------- call sites ---------- */

static bool
site_matches(MpSite *site, MpKind kind, Oid relid, Oid elemtype, Oid rowtype,
			 struct varlena *attributes, const char *sf, const char *tf)
{
	if (site->plan == NULL || site->kind != kind || site->relid != relid ||
		site->elemtype != elemtype || site->rowtype != rowtype)
		return false;
	if ((site->attributes == NULL) != (attributes == NULL) ||
		(attributes && (VARSIZE(attributes) != VARSIZE(site->attributes) ||
						memcmp(attributes, site->attributes, VARSIZE(attributes)) != 0)))
		return false;
	if ((site->source_field == NULL) != (sf == NULL) ||
		(sf && strcmp(sf, site->source_field) != 0))
		return false;
	if ((site->target_field == NULL) != (tf == NULL) ||
		(tf && strcmp(tf, site->target_field) != 0))
		return false;
	return true;
}

static void
site_set(MpSite *site, MpPlan *plan, MemoryContext cxt, MpKind kind, Oid relid,
		 Oid elemtype, Oid rowtype, struct varlena *attributes,
		 const char *sf, const char *tf)
{
	if (site->plan)
		plan_release(site->plan);
	if (site->attributes)
		pfree(site->attributes);
	if (site->source_field)
		pfree(site->source_field);
	if (site->target_field)
		pfree(site->target_field);

	site->kind = kind;
	site->relid = relid;
	site->elemtype = elemtype;
	site->rowtype = rowtype;
	site->attributes = attributes ?
		(struct varlena *) MemoryContextAlloc(cxt, VARSIZE(attributes)) : NULL;
	if (attributes)
		memcpy(site->attributes, attributes, VARSIZE(attributes));
	site->source_field = sf ? MemoryContextStrdup(cxt, sf) : NULL;
	site->target_field = tf ? MemoryContextStrdup(cxt, tf) : NULL;
	site->plan = plan;
	plan->refcount++;
}

/*
 * Resolve a plan, noting the relations invalidated meanwhile: a plan that
 * uses one of them comes back invalid, to be resolved again, since what was
 * read before the message may have changed.
 */
static MpPlan *
resolve_noting(MpKind kind, Oid relid, Oid elemtype, Oid rowtype,
			   ArrayType *attrs, const char *sf, const char *tf, char *signature)
{
	MpPlan	   *plan;
	int			i;

	resolving = true;
	nseen = 0;
	seen_all = false;
	PG_TRY();
	{
		plan = mp_plan_resolve(kind, relid, elemtype, rowtype, attrs, sf, tf,
							   signature);
	}
	PG_FINALLY();
	{
		resolving = false;
	}
	PG_END_TRY();

	plan->valid = !seen_all;
	for (i = 0; i < nseen && plan->valid; i++)
		if (plan_uses(plan, seen[i]))
			plan->valid = false;
	return plan;
}

/*
 * The plan for this call's arguments, with every relation it reads locked
 * and the catalogs caught up: resolved on first use, reused afterwards.
 */
MpPlan *
mp_plan_for_call(FunctionCallInfo fcinfo, MpKind kind, Oid relid,
				 Datum attributes, bool attributes_null,
				 const char *source_field, const char *target_field)
{
	FmgrInfo   *flinfo = fcinfo->flinfo;
	MpSite	   *site = (MpSite *) flinfo->fn_extra;
	Oid			elemtype = get_fn_expr_argtype(flinfo, 1);
	Oid			rowtype = get_fn_expr_argtype(flinfo, kind == MP_FK ? 3 : 2);
	ArrayType  *attrs = attributes_null ? NULL : DatumGetArrayTypeP(attributes);
	int			attempt;

	if (!callback_registered)
	{
		plans_cxt = AllocSetContextCreate(TopMemoryContext,
										  "memoized_prefetch plans",
										  ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(plan_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (site == NULL)
	{
		site = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(MpSite));
		site->cb.func = site_reset_callback;
		site->cb.arg = site;
		MemoryContextRegisterResetCallback(flinfo->fn_mcxt, &site->cb);
		flinfo->fn_extra = site;
	}
	elemtype = get_base_element_type(elemtype);
	if (!OidIsValid(elemtype))
		elog(ERROR, "could not determine the element type of source_ids");

	for (attempt = 1;; attempt++)
	{
		MpPlan	   *plan;
		int			i;

		if (!site_matches(site, kind, relid, elemtype, rowtype,
						  (struct varlena *) attrs, source_field, target_field) ||
			!site->plan->valid)
		{
			char	   *signature = plan_signature(kind, relid, elemtype, rowtype,
												   attrs, source_field,
												   target_field);

			plan = plan_list_find(signature);
			if (plan == NULL)
			{
				plan = resolve_noting(kind, relid, elemtype, rowtype, attrs,
									  source_field, target_field, signature);
				plan_list_add(plan);
			}
			site_set(site, plan, flinfo->fn_mcxt, kind, relid, elemtype,
					 rowtype, (struct varlena *) attrs, source_field,
					 target_field);
			pfree(signature);
		}
		plan = site->plan;

		/* lock, then see every invalidation committed before the locks */
		for (i = 0; i < plan->nrels; i++)
			LockRelationOid(plan->rels[i].relid, AccessShareLock);
		AcceptInvalidationMessages();
		if (plan->valid)
			return plan;

		/*
		 * Invalidations keep coming (a busy catalog, or caches reset at every
		 * chance): this call goes on with the plan just resolved, which is
		 * as current as the planner's plan of a statement is.  It was read
		 * with every relation already locked, so only changes made under a
		 * weaker lock than the call's can have come in between, as for that
		 * plan.  It stays invalid: the next call resolves again.
		 */
		if (attempt >= MP_RESOLVE_ATTEMPTS)
			return plan;
	}
}
