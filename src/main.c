/*-------------------------------------------------------------------------
 *
 * main.c
 *		Module entry point: the settings (GUCs) of the whole module, the
 *		shared state when the library is preloaded, the transaction
 *		callbacks snapshot fingerprints rely on, and the planner hook of the
 *		streaming scan.
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

#include "shmem.h"
#include "track.h"

/* the settings, declared in memoized_prefetch.h */
int			mp_shared_memory_kb = 64 * 1024;
int			mp_max_backend_memory_kb = 16 * 1024;
int			mp_cache_size = 10000;
bool		mp_enabled = true;
bool		mp_streaming = true;

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/* a PGC_POSTMASTER variable can only be defined while preloading */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("memoized_prefetch.shared_memory",
								"Size of the shared pool that holds every backend's cache.",
								"Needs the library in shared_preload_libraries.",
								&mp_shared_memory_kb,
								64 * 1024, 1024, MAX_KILOBYTES,
								PGC_POSTMASTER, GUC_UNIT_KB,
								NULL, NULL, NULL);
	DefineCustomIntVariable("memoized_prefetch.max_backend_memory",
							"Most memory one backend's cache may take.",
							"From the shared pool when there is one, else from the backend's own memory.",
							&mp_max_backend_memory_kb,
							16 * 1024, 0, MAX_KILOBYTES,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("memoized_prefetch.cache_size",
							"Most entries a backend keeps for one target table.",
							"memoized_prefetch.configure() overrides it per table.",
							&mp_cache_size,
							10000, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("memoized_prefetch.enabled",
							 "Serves and fills the cache of fetched rows.",
							 "When off, every lookup reads the tables.",
							 &mp_enabled,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("memoized_prefetch.streaming",
							 "Plans calls in FROM as a scan that streams the rows of the call.",
							 "When off, such calls are function scans, which store every row of the call before returning the first.",
							 &mp_streaming,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("memoized_prefetch");

	if (process_shared_preload_libraries_in_progress)
		mp_shmem_init();
	mp_snapid_init();
	mp_scan_init();
}
