/*-------------------------------------------------------------------------
 *
 * parts.c
 *		Lookups in a partitioned table: the rows of a key set are looked up
 *		in the leaf partitions that can hold them, each leaf through its own
 *		index (the partition of the lookup index) and its own cache, and
 *		returned in the partitioned table's row type.
 *
 * The leaves are found for every call, under its locks and its active
 * snapshot, as the plain join's plan finds them: RelationGetPartitionDesc()
 * leaves out a partition whose concurrent detach that snapshot sees.  A key
 * goes to one partition of a level whose partition key is the lookup column
 * (a composite key's first column) with the same equality and collation, found by the partition bounds as
 * tuple routing finds it; at any other level it goes to every partition.
 * A leaf is opened (locked, its index found, its cache begun) only when a
 * key of the call first reaches it, as the plain join's run-time pruning
 * leaves out the partitions no key can be in.
 *
 * Each leaf is an ordinary table to the cache (cache.c): its own triggers
 * (track() on a partitioned table tracks every leaf), witness, storage and
 * generation, so that writes to a partition, rows moved between partitions
 * by an update of the partition key and a partition's TRUNCATE follow the
 * rules of any table.  A change of the partition set (ATTACH, DETACH)
 * changes the leaves the next call looks in; a leaf's rows are exact for
 * that leaf whatever else it belongs to.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tupconvert.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"

#include "access.h"
#include "parts.h"

/* A level of the partition tree. */
typedef struct MpPartNode
{
	Relation	rel;			/* opened here, except the root */
	PartitionKey key;			/* NULL: every partition holds any key */
	PartitionDesc desc;
	int		   *child;			/* per partition: leaf >= 0, or -1 - node */
	int			last;			/* range: the bound offset of the last key */
} MpPartNode;

/* Whether a level's partition key routes keys of ik's lookup column. */
static bool
routes_by(PartitionKey key, AttrNumber attno, MpIndexedRel *ik)
{
	if (key->partnatts != 1 || key->partattrs[0] != attno ||
		key->partcollation[0] != ik->collation)
		return false;
	if (key->strategy == PARTITION_STRATEGY_HASH)
		return op_in_opfamily(ik->eqop, key->partopfamily[0]);
	return key->partopfamily[0] == ik->opfamily;
}

static int	add_level(MpParts *p, Relation rel, Oid indexid, AttrNumber attno);
struct LeafKeys;
static void reach(MpParts *p, int n, int g, Datum key, struct LeafKeys *lists);

/* The partition of parent_index on partition rel, which it must have. */
static Oid
partition_index(MpParts *p, Relation rel, Oid parent_index)
{
	Oid			indexid = index_get_partition(rel, parent_index);

	if (!OidIsValid(indexid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("partition \"%s\" has no index of \"%s\"",
						RelationGetRelationName(rel), get_rel_name(p->root->ik->indexid))));
	return indexid;
}

/*
 * A leaf below a level whose lookup index is "indexid" and whose lookup
 * column is named "colname": only noted here, opened when a key first
 * reaches it (leaf_open), so that a call pays nothing for the leaves none of
 * its keys can be in.
 */
static int
add_leaf(MpParts *p, Oid relid, Oid indexid, const char *colname)
{
	MpLeaf	   *leaf;

	/* each leaf stays where it is: its lookup points at its ik */
	if (p->nleaves == p->maxleaves)
		p->leaves = mp_grow(p->leaves, sizeof(MpLeaf *), &p->maxleaves, p->nleaves + 1);
	leaf = p->leaves[p->nleaves] = palloc0(sizeof(MpLeaf));
	leaf->relid = relid;
	leaf->parent_index = indexid;
	leaf->colname = colname;
	return p->nleaves++;
}

/* Open a leaf, its index, its lookup and its cache: at its first key. */
static void
leaf_open(MpParts *p, MpLeaf *leaf)
{
	Relation	rel = table_open(leaf->relid, AccessShareLock);
	Oid			indexid;

	mp_check_relation(rel, "partition");
	indexid = partition_index(p, rel, leaf->parent_index);
	leaf->ik = *p->root->ik;
	leaf->ik.relid = leaf->relid;
	leaf->ik.indexid = indexid;
	leaf->ik.attno = get_attnum(leaf->relid, leaf->colname);
	leaf->ik.indexonly = false;	/* its columns are not the root's */
	mp_lookup_open(&leaf->lk, &leaf->ik, false, NULL);
	if (leaf->ik.nkeys > 1)
	{
		/* the leaf's own numbers of the key's columns */
		int			i;

		leaf->ik.cols = palloc(sizeof(MpKeyColumn) * leaf->ik.nkeys);
		memcpy(leaf->ik.cols, p->root->ik->cols, sizeof(MpKeyColumn) * leaf->ik.nkeys);
		for (i = 0; i < leaf->ik.nkeys; i++)
			leaf->ik.cols[i].attno = leaf->lk.index->rd_index->indkey.values[i];
	}
	leaf->map = convert_tuples_by_name(RelationGetDescr(leaf->lk.heap),
									   RelationGetDescr(p->root->heap));
	/*
	 * Rows of the same layout are formed in the type they are returned as,
	 * so that no read of them takes the slow path of the check some servers
	 * make of a composite's type against the descriptor it is read with.
	 */
	if (leaf->map == NULL)
		leaf->lk.rowrel = p->root->heap;
	mp_cache_begin(&leaf->use, &leaf->lk, p->cacheable);
	table_close(rel, NoLock);	/* the leaf's lookup has it open */
	leaf->opened = true;
}

/* A partitioned level (rel, opened and locked) and everything below it. */
static int
add_level(MpParts *p, Relation rel, Oid indexid, AttrNumber attno)
{
	MpPartNode *node;
	PartitionKey key = RelationGetPartitionKey(rel);
	PartitionDesc desc = RelationGetPartitionDesc(rel, true);
	char	   *colname;
	int			n = p->nnodes;
	int			i;

	if (p->nnodes == p->maxnodes)
		p->nodes = mp_grow(p->nodes, sizeof(MpPartNode), &p->maxnodes, p->nnodes + 1);
	node = &p->nodes[n];
	node->rel = rel;
	node->key = routes_by(key, attno, p->root->ik) ? key : NULL;
	node->desc = desc;
	node->child = palloc(sizeof(int) * Max(desc->nparts, 1));
	node->last = -2;
	p->nnodes++;

	colname = get_attname(RelationGetRelid(rel), attno, false);
	for (i = 0; i < desc->nparts; i++)
	{
		Relation	child;
		Oid			childindex;

		if (desc->is_leaf[i])
		{
			p->nodes[n].child[i] = add_leaf(p, desc->oids[i], indexid, colname);
			continue;
		}
		child = table_open(desc->oids[i], AccessShareLock);
		childindex = partition_index(p, child, indexid);
		p->nodes[n].child[i] = -1 - add_level(p, child, childindex,
											  get_attnum(desc->oids[i], colname));
	}
	return n;
}

void
mp_parts_open(MpParts *p, MpLookup *root, bool cacheable)
{
	memset(p, 0, sizeof(MpParts));
	p->root = root;
	p->cacheable = cacheable;
	p->maxleaves = 8;
	p->leaves = palloc(sizeof(MpLeaf *) * p->maxleaves);
	p->maxnodes = 4;
	p->nodes = palloc(sizeof(MpPartNode) * p->maxnodes);
	add_level(p, root->heap, root->ik->indexid, root->ik->attno);
}

void
mp_parts_close(MpParts *p)
{
	int			i;

	for (i = 0; i < p->nleaves; i++)
		if (p->leaves[i]->opened)
			mp_lookup_close(&p->leaves[i]->lk);
	for (i = 1; i < p->nnodes; i++)
		table_close(p->nodes[i].rel, NoLock);
}

/*
 * Whether key is in the range between the bounds at offsets "offset" and
 * "offset" + 1 (what partition_range_datum_bsearch() gives for it): at least
 * the first, below the second.  Offset -1 is below every bound; -2, none.
 */
static bool
in_range_slot(PartitionKey pk, PartitionBoundInfo bounds, int offset, Datum key)
{
	if (offset < -1)
		return false;
	if (offset + 1 < bounds->ndatums &&
		partition_rbound_datum_cmp(pk->partsupfunc, pk->partcollation,
								   bounds->datums[offset + 1], bounds->kind[offset + 1],
								   &key, 1) <= 0)
		return false;
	return offset < 0 ||
		partition_rbound_datum_cmp(pk->partsupfunc, pk->partcollation,
								   bounds->datums[offset], bounds->kind[offset],
								   &key, 1) <= 0;
}

/* The partition of a routing level that can hold key, or -1. */
static int
route(MpPartNode *node, Datum key)
{
	PartitionKey pk = node->key;
	PartitionBoundInfo bounds = node->desc->boundinfo;
	int			part = -1;
	bool		equal = false;
	bool		isnull = false;
	int			offset;

	if (bounds == NULL)
		return -1;
	switch (pk->strategy)
	{
		case PARTITION_STRATEGY_HASH:
			part = bounds->indexes[compute_partition_hash_value(1, pk->partsupfunc,
																pk->partcollation,
																&key, &isnull) %
								   bounds->nindexes];
			break;
		case PARTITION_STRATEGY_LIST:
			offset = partition_list_bsearch(pk->partsupfunc, pk->partcollation,
											bounds, key, &equal);
			if (offset >= 0 && equal)
				part = bounds->indexes[offset];
			break;
		case PARTITION_STRATEGY_RANGE:
			/* a chunk's keys come in runs of one partition: try the last */
			if (!in_range_slot(pk, bounds, node->last, key))
				node->last = partition_range_datum_bsearch(pk->partsupfunc,
														   pk->partcollation,
														   bounds, 1, &key, &equal);
			part = bounds->indexes[node->last + 1];
			break;
	}
	if (part < 0)
		part = bounds->default_index;
	return part;
}

/* The distinct keys (their numbers in the key set) a leaf is asked for. */
typedef struct LeafKeys
{
	int			n;
	int			cap;
	int		   *g;
} LeafKeys;

/* Add key g to the lists of the leaves below partition i of node. */
static void
reach_part(MpParts *p, MpPartNode *node, int i, int g, Datum key, LeafKeys *lists)
{
	int			c = node->child[i];

	if (c >= 0)
	{
		LeafKeys   *l = &lists[c];

		if (l->n == l->cap)
			l->g = l->cap == 0 ? palloc(sizeof(int) * (l->cap = 16)) :
				mp_grow(l->g, sizeof(int), &l->cap, l->n + 1);
		l->g[l->n++] = g;
	}
	else
		reach(p, -1 - c, g, key, lists);
}

/* Add key g to the lists of the leaves below node n that can hold it. */
static void
reach(MpParts *p, int n, int g, Datum key, LeafKeys *lists)
{
	MpPartNode *node = &p->nodes[n];
	int			i;

	if (node->key)
	{
		/* a routing level: the one partition the bounds give, if any */
		i = route(node, key);
		if (i >= 0)
			reach_part(p, node, i, g, key, lists);
		return;
	}
	for (i = 0; i < node->desc->nparts; i++)
		reach_part(p, node, i, g, key, lists);
}

/*
 * A row of a leaf in the partitioned table's layout and row type: the leaf's
 * own row when the layouts agree (its lookup formed it in that type, and its
 * cache for that type holds only such rows, see leaf_open()), else a
 * converted copy, formed as a datum of the partitioned table's type.
 */
static HeapTuple
root_row(MpLeaf *leaf, HeapTuple row)
{
	return leaf->map ? execute_attr_map_tuple(row, leaf->map) : row;
}

void
mp_parts_rows(MpParts *p, const MpKeySet *ks, MpRows *out)
{
	int			nd = ks->ndistinct;
	LeafKeys   *lists = palloc0(sizeof(LeafKeys) * Max(p->nleaves, 1));
	MpKeySet   *lks = palloc(sizeof(MpKeySet) * Max(p->nleaves, 1));
	MpRows	   *lrows = palloc(sizeof(MpRows) * Max(p->nleaves, 1));
	int		   *count = palloc0(sizeof(int) * (nd + 1));
	Datum	   *keys = palloc(sizeof(Datum) * Max(nd, 1));
	uint32	   *hashes = ks->hashes ? palloc(sizeof(uint32) * Max(nd, 1)) : NULL;
	int			total = 0;
	int			g;
	int			j;

	/* memory in proportion to the (key, leaf) pairs asked for */
	for (g = 0; g < nd; g++)
		reach(p, 0, g, p->root->ik->nkeys > 1 ?
			  mp_key_field(p->root->ik, ks->distinct[g], 0) : ks->distinct[g],
			  lists);

	/* each leaf's keys, looked up through its cache */
	for (j = 0; j < p->nleaves; j++)
	{
		int		   *back = lists[j].g;
		int			n = lists[j].n;
		int			i;

		lks[j].n = 0;
		if (n == 0)
			continue;			/* a leaf no key routes to */
		if (!p->leaves[j]->opened)
			leaf_open(p, p->leaves[j]);
		for (i = 0; i < n; i++)
		{
			keys[i] = ks->distinct[back[i]];
			if (hashes)
				hashes[i] = ks->hashes[back[i]];
		}
		/* a leaf's keys are distinct, its hash function the root's */
		mp_keyset_distinct(&lks[j], &p->leaves[j]->lk, keys, hashes, n);
		mp_cache_rows(&p->leaves[j]->use, &p->leaves[j]->lk, &lks[j], &lrows[j]);
		for (i = 0; i < n; i++)
		{
			int			lg = lks[j].group[i];
			int			nrows = lrows[j].start[lg + 1] - lrows[j].start[lg];

			count[back[i]] += nrows;
			total += nrows;
		}
	}

	/* gathered per key, leaf by leaf */
	out->start = palloc(sizeof(int) * (nd + 1));
	out->rows = palloc(sizeof(HeapTuple) * Max(total, 1));
	out->xmins = NULL;			/* as from the cache: the leaves' caches kept them */
	out->start[0] = 0;
	for (g = 0; g < nd; g++)
		out->start[g + 1] = out->start[g] + count[g];
	memset(count, 0, sizeof(int) * nd);
	for (j = 0; j < p->nleaves; j++)
	{
		int			i;

		for (i = 0; i < lks[j].n; i++)
		{
			int			lg = lks[j].group[i];
			int			r;

			g = lists[j].g[i];
			if (lks[j].first[lg] != i)
				continue;
			for (r = lrows[j].start[lg]; r < lrows[j].start[lg + 1]; r++)
			{
				int			at = out->start[g] + count[g]++;

				out->rows[at] = root_row(p->leaves[j], lrows[j].rows[r]);
			}
		}
	}
}
