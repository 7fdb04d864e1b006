/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *		What differs between the PostgreSQL majors this extension builds
 *		against (15, 17, 18), in one place: the rest of the sources are
 *		written against these names and contain no version tests.
 *
 * Each entry names the major that changed it.  Included by
 * memoized_prefetch.h.
 *
 * Checked beyond what the compiler reports, against the 17 and 18 sources:
 * lookup.c's use of the btree scan's private state (BTScanOpaque: currPos
 * items[firstItem .. lastItem] in index order, itemIndex advanced by
 * _bt_next before it reads the next item, currTuples for xs_want_itup) is
 * unchanged; 17's array-key (SAOP) work and 18's skip scan apply to scans
 * with arrays or with keys on later columns only, while lookups use one
 * ">= AND <=" pair on the first column.  MyProcNumber < MaxBackends for every
 * backend and background worker on 17 and 18 (auxiliary processes, 18's I/O
 * workers among them, come after), as MyBackendId <= MaxBackends was.
 * Snapshot fields read (xmin, xmax, xip, xcnt), dsa_create_in_place (a macro
 * over dsa_create_in_place_ext from 17, same defaults), shmem_request_hook
 * and the trigger interface are unchanged; 18 runs AFTER triggers as the role
 * that queued them, which changes nothing for triggers that only write
 * shared memory.  Calls that still compile but mean something else on 18 are
 * wrapped below (PrepareSortSupportFromIndexRel).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MP_PG_COMPAT_H
#define MP_PG_COMPAT_H

#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/tupdesc.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "utils/acl.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/sortsupport.h"

/* 18: ExplainState and the ExplainProperty functions moved to headers of their own. */
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif
#include "parser/parse_relation.h"

#if PG_VERSION_NUM < 150000
#error "memoized_prefetch needs PostgreSQL 15 or later"
#endif

/*
 * 17: storage/backendid.h became storage/procnumber.h, and MyBackendId
 * (1 .. MaxBackends, InvalidBackendId 0) became MyProcNumber (0-based,
 * INVALID_PROC_NUMBER -1).  Regular backends, autovacuum and background
 * workers and WAL senders still take the first MaxBackends numbers, so the
 * old numbering is MyProcNumber + 1.
 */
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#define MyBackendId		(MyProcNumber + 1)
#define InvalidBackendId	(INVALID_PROC_NUMBER + 1)
#else
#include "storage/backendid.h"
#endif

/* 17: old_snapshot_threshold was removed; it is as if it were -1 (off). */
#if PG_VERSION_NUM >= 170000
#define mp_old_snapshot_threshold	(-1)
#else
#define mp_old_snapshot_threshold	old_snapshot_threshold
#endif

/* 16: RelFileNode rd_node became RelFileLocator rd_locator. */
#if PG_VERSION_NUM >= 160000
#define mp_relfilenumber(rel)	((rel)->rd_locator.relNumber)
#else
#define mp_relfilenumber(rel)	((rel)->rd_node.relNode)
#endif

/* 18: index_beginscan takes the scan's instrumentation (none here). */
#if PG_VERSION_NUM >= 180000
#define mp_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, NULL, nkeys, norderbys)
#else
#define mp_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, nkeys, norderbys)
#endif

/*
 * 18: RelationGetPrimaryKeyIndex says whether a deferrable primary key will
 * do; before, a deferrable one was never returned.  It will not do here.
 */
#if PG_VERSION_NUM >= 180000
#define mp_primary_key_index(rel)	RelationGetPrimaryKeyIndex(rel, false)
#else
#define mp_primary_key_index(rel)	RelationGetPrimaryKeyIndex(rel)
#endif

/* 18: ConditionalXactLockTableWait can log its failure; we do not. */
#if PG_VERSION_NUM >= 180000
#define mp_conditional_xact_lock_wait(xid)	ConditionalXactLockTableWait(xid, false)
#else
#define mp_conditional_xact_lock_wait(xid)	ConditionalXactLockTableWait(xid)
#endif

/*
 * 18: PrepareSortSupportFromIndexRel takes "reverse" where it took the btree
 * strategy (BTLessStrategyNumber for ascending order).  An int still converts
 * to bool, so the old call compiles on 18 and sorts in reverse: use this.
 */
#if PG_VERSION_NUM >= 180000
#define mp_sortsupport_from_index(indexrel, ssup) \
	PrepareSortSupportFromIndexRel(indexrel, false, ssup)
#else
#define mp_sortsupport_from_index(indexrel, ssup) \
	PrepareSortSupportFromIndexRel(indexrel, BTLessStrategyNumber, ssup)
#endif

/*
 * 18: a TupleDesc keeps a compact copy of each attribute (CompactAttribute),
 * which must be refreshed when a field of the attribute is changed in place.
 */
#if PG_VERSION_NUM >= 180000
#define mp_tupdesc_attr_changed(desc, i)	populate_compact_attribute(desc, i)
#else
#define mp_tupdesc_attr_changed(desc, i)	((void) 0)
#endif

/* 16: pg_namespace_aclcheck became object_aclcheck on pg_namespace. */
#if PG_VERSION_NUM >= 160000
#define mp_namespace_aclcheck(nspid, roleid, mode) \
	object_aclcheck(NamespaceRelationId, nspid, roleid, mode)
#else
#define mp_namespace_aclcheck(nspid, roleid, mode) \
	pg_namespace_aclcheck(nspid, roleid, mode)
#endif

/*
 * 16: the executor's permission check moved from the RangeTblEntry fields
 * (requiredPerms, checkAsUser, selectedCols; ExecCheckRTPerms) to a list of
 * RTEPermissionInfo that the entries point at (ExecCheckPermissions).
 * mp_add_select_rte() appends to *rtable (and *perminfos) an entry that
 * needs SELECT on "cols" of relid, checked as the current user;
 * mp_check_rte_perms() raises the executor's error for any entry whose
 * privileges are missing.
 */
static inline void
mp_add_select_rte(List **rtable, List **perminfos, Oid relid, Bitmapset *cols)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = AccessShareLock;
#if PG_VERSION_NUM >= 160000
	{
		RTEPermissionInfo *perminfo = makeNode(RTEPermissionInfo);

		perminfo->relid = relid;
		perminfo->inh = false;
		perminfo->requiredPerms = ACL_SELECT;
		perminfo->checkAsUser = InvalidOid;
		perminfo->selectedCols = cols;
		*perminfos = lappend(*perminfos, perminfo);
		rte->perminfoindex = list_length(*perminfos);
	}
#else
	rte->requiredPerms = ACL_SELECT;
	rte->checkAsUser = InvalidOid;
	rte->selectedCols = cols;
#endif
	*rtable = lappend(*rtable, rte);
}

static inline void
mp_check_rte_perms(List *rtable, List *perminfos)
{
#if PG_VERSION_NUM >= 160000
	ExecCheckPermissions(rtable, perminfos, true);
#else
	ExecCheckRTPerms(rtable, true);
#endif
}

/*
 * 18: expandRTE takes the kind of Vars to make (RETURNING old/new); plain
 * ones here.  The names and Vars of every column of rte, dropped ones left
 * out.
 */
#if PG_VERSION_NUM >= 180000
#define mp_expand_rte(rte, rtindex, names, vars) \
	expandRTE(rte, rtindex, 0, VAR_RETURNING_DEFAULT, -1, false, names, vars)
#else
#define mp_expand_rte(rte, rtindex, names, vars) \
	expandRTE(rte, rtindex, 0, -1, false, names, vars)
#endif

/* 16: pg_proc_aclcheck became object_aclcheck on pg_proc. */
#if PG_VERSION_NUM >= 160000
#define mp_proc_aclcheck(funcid, roleid, mode) \
	object_aclcheck(ProcedureRelationId, funcid, roleid, mode)
#else
#define mp_proc_aclcheck(funcid, roleid, mode) \
	pg_proc_aclcheck(funcid, roleid, mode)
#endif

#endif							/* MP_PG_COMPAT_H */
