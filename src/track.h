/*-------------------------------------------------------------------------
 *
 * track.h
 *		What a reader knows about writers: the trigger of tracked tables and
 *		the transaction's own writes (track.c), the witness that a table is
 *		tracked under a snapshot and the trust in it (witness.c), snapshot
 *		fingerprints (snapid.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MP_TRACK_H
#define MP_TRACK_H

#include "catalog/pg_trigger.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

#include "memoized_prefetch.h"

/* The xmins that show a relation tracked under a snapshot (witness.c). */
typedef struct MpWitness
{
	TransactionId row;			/* the row trigger's pg_trigger row */
	TransactionId truncate;		/* the truncate trigger's */
	TransactionId function;		/* bump()'s pg_proc row */
	TransactionId index;		/* the lookup index's pg_index row */
	TransactionId relation;		/* the relation's pg_class row */
} MpWitness;

/* The triggers track() creates: names and types (pg_trigger.tgtype). */
#define MP_ROW_TRIGGER "memoized_prefetch_row"
#define MP_TRUNCATE_TRIGGER "memoized_prefetch_truncate"
#define MP_ROW_TRIGGER_TYPE \
	(TRIGGER_TYPE_ROW | TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE)
#define MP_TRUNCATE_TRIGGER_TYPE TRIGGER_TYPE_TRUNCATE

/* track.c */
extern uint32 mp_bucket_of(Oid relid, uint32 keyhash);
extern uint32 mp_coarse_bucket(Oid relid);
extern bool mp_written(Relation rel);

/* witness.c */
extern bool mp_witness(Oid relid, Oid relfilenode, Oid indexid, Snapshot snap,
					   MpWitness *w);
extern bool mp_witness_trusted(Oid relid, Oid indexid, const MpWitness *w,
							   Snapshot snap);
extern void mp_witness_forget(Oid relid, Oid indexid);

/* snapid.c */
extern void mp_snapid_init(void);
extern uint64 mp_snapshot_id(Snapshot s);
extern uint64 mp_snapshot_xmin64(Snapshot s);

#endif							/* MP_TRACK_H */
