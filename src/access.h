/*-------------------------------------------------------------------------
 *
 * access.h
 *		What a call may read (access.c): relation kinds it can serve exactly,
 *		the plain join's privileges, whether row-level security applies.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MP_ACCESS_H
#define MP_ACCESS_H

#include "plan.h"

/* access.c */
extern void mp_check_relation(Relation rel, const char *role);
extern Relation mp_open_relation(Oid relid, const char *role);
extern void mp_check_access(MpPlan *plan);
extern bool mp_rls_applies(Oid relid);

#endif							/* MP_ACCESS_H */
