/*-------------------------------------------------------------------------
 *
 * parts.h
 *		Lookups in a partitioned table, leaf by leaf (parts.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MP_PARTS_H
#define MP_PARTS_H

#include "access/tupconvert.h"

#include "cache.h"

/* A leaf partition, looked up through its partition of the lookup index. */
typedef struct MpLeaf
{
	Oid			relid;
	Oid			parent_index;	/* the lookup index of the level above */
	const char *colname;		/* the lookup column's name there */
	bool		opened;			/* the rest is set once a key reaches it */
	MpIndexedRel ik;
	MpLookup	lk;
	MpCacheUse	use;
	TupleConversionMap *map;	/* its rows to the root's layout, or NULL */
} MpLeaf;

typedef struct MpParts
{
	MpLookup   *root;			/* the partitioned table's lookup */
	bool		cacheable;
	int			nleaves;
	int			maxleaves;
	MpLeaf	  **leaves;
	int			nnodes;			/* nodes[0] is the root */
	int			maxnodes;
	struct MpPartNode *nodes;
} MpParts;

extern void mp_parts_open(MpParts *p, MpLookup *root, bool cacheable);
extern void mp_parts_close(MpParts *p);
extern void mp_parts_rows(MpParts *p, const MpKeySet *ks, MpRows *out);

#endif							/* MP_PARTS_H */
