/*-------------------------------------------------------------------------
 *
 * main.c
 *		Module entry point: the GUCs, the shared state when the library is
 *		preloaded, and the transaction callbacks the caches rely on.
 *
 * Without shared_preload_libraries the library still works: the caches then
 * live in backend-local memory and reuse rows only under the same snapshot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "memoized_prefetch.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	mp_define_gucs();
	if (process_shared_preload_libraries_in_progress)
		mp_shmem_init();
	mp_track_init();
}
