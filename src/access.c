/*-------------------------------------------------------------------------
 *
 * access.c
 *		What a call may read: relation kinds it can serve exactly, the
 *		privileges of the plain join, and whether row-level security applies.
 *
 * Privileges are checked on every call, as the executor checks them for the
 * plain join: the executor's check on one RangeTblEntry per relation that lists
 * the columns the join reads (the whole row of the target), plus USAGE on
 * each relation's schema, which the plain join needs to name the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "access/relation.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "access.h"

/*
 * Refuse relations whose plain join this extension cannot reproduce exactly:
 * anything but an ordinary or partitioned table, system catalogs (updated in
 * place), and tables with inheritance children: the plain join would read
 * the children's rows too, and a key unique in each table of the tree can
 * have rows in several of them, where fk() returns one row per key.
 */
void
mp_check_relation(Relation rel, const char *role)
{
	char		relkind = rel->rd_rel->relkind;

	if (IsCatalogRelation(rel))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s \"%s\" is a system catalog",
						role, RelationGetRelationName(rel)),
				 errdetail("System catalogs are updated in place, which no cached row can follow.")));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s \"%s\" is not a table",
						role, RelationGetRelationName(rel)),
				 errdetail_relkind_not_supported(relkind)));
	if (relkind == RELKIND_RELATION && rel->rd_rel->relhassubclass &&
		find_inheritance_children(RelationGetRelid(rel), NoLock) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s \"%s\" has inheritance children",
						role, RelationGetRelationName(rel)),
				 errdetail("The plain join would read its children's rows too, and a key unique in each table of the tree can have rows in several of them."),
				 errhint("Partitioned tables are supported.")));
}

/* Open a relation named by OID, with an error if there is none. */
Relation
mp_open_relation(Oid relid, const char *role)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("%s with OID %u does not exist", role, relid)));
	return rel;
}

/* Raise the error the plain join would raise for missing privileges. */
void
mp_check_access(MpPlan *plan)
{
	Oid			userid = GetUserId();
	int			i;

	for (i = 0; i < plan->nrels; i++)
	{
		Oid			nspid = plan->rels[i].nspid;

		if (mp_namespace_aclcheck(nspid, userid, ACL_USAGE) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_SCHEMA,
						   get_namespace_name(nspid));
	}
	mp_check_rte_perms(plan->rtable, plan->perminfos);
}

/*
 * Whether row-level security filters the relation for the current user.
 * Raises the plain join's error when row_security = off would have to be
 * overridden.
 */
bool
mp_rls_applies(Oid relid)
{
	return check_enable_rls(relid, InvalidOid, false) == RLS_ENABLED;
}
