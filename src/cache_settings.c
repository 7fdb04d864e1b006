/*-------------------------------------------------------------------------
 *
 * cache_settings.c
 *		configure() and reset(): what a session sets for its own caches.
 *
 * configure(target, cache_size, prefetch_all) overrides the cache_size GUC
 * for one table in this session and can ask for the table to be loaded whole
 * on its next use.  The settings are kept in a hash table by relation and
 * go when the relation is dropped (mp_settings_sweep).  reset() empties the
 * calling backend's caches.  Both act on the calling backend only: no
 * backend touches another's cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/hsearch.h"
#include "utils/syscache.h"

#include "cache_store.h"

PG_FUNCTION_INFO_V1(memoized_prefetch_configure);
PG_FUNCTION_INFO_V1(memoized_prefetch_reset);

typedef struct MpSettings
{
	Oid			relid;			/* the hash key */
	int			cache_size;		/* -1: the GUC */
	uint32		load_all;		/* 0, or which configure() asked to load it */
} MpSettings;

static HTAB *settings = NULL;
static uint32 nconfigured = 0;

static MpSettings *
settings_for(Oid relid)
{
	return settings ? hash_search(settings, &relid, HASH_FIND, NULL) : NULL;
}

/* The cache_size of relid's caches in this session. */
int
mp_cache_size_for(Oid relid)
{
	MpSettings *s = settings_for(relid);

	return (s && s->cache_size >= 0) ? s->cache_size : mp_cache_size;
}

/*
 * Whether relid is to be loaded whole: 0 if not, else a number that changes
 * with every configure() that asks for it (a cache loads once per number).
 */
uint32
mp_cache_load_all_for(Oid relid)
{
	MpSettings *s = settings_for(relid);

	return s ? s->load_all : 0;
}

/* Forget the settings of relations that no longer exist. */
void
mp_settings_sweep(void)
{
	HASH_SEQ_STATUS seq;
	MpSettings *s;

	if (settings == NULL)
		return;
	hash_seq_init(&seq, settings);
	while ((s = hash_seq_search(&seq)) != NULL)
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(s->relid)))
			hash_search(settings, &s->relid, HASH_REMOVE, NULL);
}

Datum
memoized_prefetch_configure(PG_FUNCTION_ARGS)
{
	int			cache_size = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1);
	bool		load_all = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	Oid			relid;
	MpSettings *s;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be NULL")));
	relid = PG_GETARG_OID(0);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!PG_ARGISNULL(1) && cache_size < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache_size must not be negative")));

	mp_cache_setup();
	if (settings == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(MpSettings);
		ctl.hcxt = mp_cache_cxt;
		settings = hash_create("memoized_prefetch settings", 16, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	s = hash_search(settings, &relid, HASH_ENTER, NULL);
	s->cache_size = cache_size;
	s->load_all = load_all ? ++nconfigured : 0;
	PG_RETURN_VOID();
}

Datum
memoized_prefetch_reset(PG_FUNCTION_ARGS)
{
	mp_cache_reset(PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0));
	PG_RETURN_VOID();
}
