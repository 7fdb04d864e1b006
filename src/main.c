/*-------------------------------------------------------------------------
 *
 * main.c
 *		Module entry point.
 *
 * Version 0.1 keeps no shared state: everything it resolves lives in
 * backend-local memory (plan.c), so the library works with or without
 * shared_preload_libraries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "memoized_prefetch.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	MarkGUCPrefixReserved("memoized_prefetch");
}
