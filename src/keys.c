/*-------------------------------------------------------------------------
 *
 * keys.c
 *		Values made into keys of an index: coercion to the key type, and key
 *		sets (sorted, distinct keys with the map back to the inputs).
 *
 * Keys are compared only with the btree comparison of the index they are
 * looked up in, so "equal" here means exactly what it means to the index
 * (int4 1 and int8 1, numeric 1.0 and 1.00, nondeterministic collations).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "access/stratnum.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parse_oper.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "lookup.h"

/*
 * Decide how values of srctype become keys of keytype: unchanged when the
 * types are binary compatible, narrowed when they are wider integers, through
 * an implicit cast otherwise, and, when
 * "strings" is set, by the key type's input function for string types (what
 * an untyped literal such as '{1,2}' resolves to).  Anything else would not
 * compare as the plain join does, so it is an error.
 */
void
mp_coercion_init(MpCoercion *c, Oid srctype, Oid keytype, bool strings,
				 MemoryContext cxt, const char *what)
{
	Oid			src = getBaseType(srctype);
	Oid			funcid;
	CoercionPathType path;

	memset(c, 0, sizeof(MpCoercion));
	if (src == keytype || IsBinaryCoercible(src, keytype))
	{
		c->kind = MP_COERCE_NONE;
		return;
	}

	/*
	 * Integers of a wider type than the key: the plain join compares them
	 * with a cross-type operator, so a value out of the key type's range
	 * equals no key.
	 */
	if ((src == INT8OID || src == INT4OID) &&
		(keytype == INT4OID || keytype == INT2OID) && src != keytype)
	{
		c->kind = MP_COERCE_NARROW;
		c->min = keytype == INT4OID ? PG_INT32_MIN : PG_INT16_MIN;
		c->max = keytype == INT4OID ? PG_INT32_MAX : PG_INT16_MAX;
		c->srcint8 = (src == INT8OID);
		c->keyint4 = (keytype == INT4OID);
		return;
	}

	path = find_coercion_pathway(keytype, src, COERCION_IMPLICIT, &funcid);
	if (path == COERCION_PATH_RELABELTYPE)
	{
		c->kind = MP_COERCE_NONE;
		return;
	}
	if (path == COERCION_PATH_FUNC && OidIsValid(funcid))
	{
		c->kind = MP_COERCE_FUNC;
		c->nargs = get_func_nargs(funcid);
		fmgr_info_cxt(funcid, &c->func, cxt);
		return;
	}
	if (strings && TypeCategory(src) == TYPCATEGORY_STRING)
	{
		Oid			outfunc;
		Oid			infunc;
		bool		isvarlena;

		c->kind = MP_COERCE_INPUT;
		getTypeOutputInfo(src, &outfunc, &isvarlena);
		getTypeInputInfo(keytype, &infunc, &c->ioparam);
		fmgr_info_cxt(outfunc, &c->func, cxt);
		fmgr_info_cxt(infunc, &c->input, cxt);
		return;
	}

	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("%s of type %s cannot be used as keys of type %s",
					what, format_type_be(srctype), format_type_be(keytype)),
			 errdetail("Only implicit casts are applied to keys."),
			 errhint("Cast the values to %s.", format_type_be(keytype))));
}

/*
 * The plain join compares a column with the key column by the "=" that the
 * parser picks for their types.  Looking the column's values up in the
 * index is the same only when that operator is the index's own equality (or
 * a cross-type member of its operator family, as int4 = int8 is).  A text
 * column against a char(n) key is compared as text, where trailing spaces
 * count, and not as the char(n) index compares: refuse it.
 */
void
mp_check_join_operator(Oid keycoltype, Oid coltype, Oid opfamily,
					   const char *what, bool need_operator)
{
	Operator	op = oper(NULL, list_make1(makeString("=")), keycoltype, coltype,
						  true, -1);
	Oid			opno = op ? oprid(op) : InvalidOid;

	if (op)
		ReleaseSysCache(op);
	if (!OidIsValid(opno) && !need_operator)
		return;
	if (!OidIsValid(opno) ||
		get_op_opfamily_strategy(opno, opfamily) != BTEqualStrategyNumber)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s of type %s cannot be looked up in an index on type %s",
						what, format_type_be(coltype), format_type_be(keycoltype)),
				 OidIsValid(opno) ?
				 errdetail("The join compares them with operator %s, which is not in the index's operator family.",
						   format_operator(opno)) :
				 errdetail("There is no operator = for these types."),
				 need_operator ? errhint("Give the column the key's type.") :
				 errhint("Cast the values to %s.", format_type_be(keycoltype))));
}

/*
 * The key equal to "value", in *key.  False when no key of the key type can
 * equal it (an integer out of the key type's range).
 */
bool
mp_coerce(MpCoercion *c, Datum value, Datum *key)
{
	switch (c->kind)
	{
		case MP_COERCE_NONE:
			*key = value;
			return true;
		case MP_COERCE_NARROW:
			{
				int64		v = c->srcint8 ? DatumGetInt64(value) : DatumGetInt32(value);

				if (v < c->min || v > c->max)
					return false;
				*key = c->keyint4 ? Int32GetDatum((int32) v) : Int16GetDatum((int16) v);
				return true;
			}
		case MP_COERCE_FUNC:
			if (c->nargs == 1)
				*key = FunctionCall1(&c->func, value);
			else
				*key = FunctionCall3(&c->func, value, Int32GetDatum(-1),
									 BoolGetDatum(false));
			return true;
		case MP_COERCE_INPUT:
			*key = InputFunctionCall(&c->input,
									 OutputFunctionCall(&c->func, value),
									 c->ioparam, -1);
			return true;
	}
	pg_unreachable();
}

typedef struct KeySortArg
{
	SortSupport ssup;
	Datum	   *keys;
} KeySortArg;

/* Order positions of keys[] by key, then by position. */
static int
compare_positions(const void *a, const void *b, void *arg)
{
	KeySortArg *ka = (KeySortArg *) arg;
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;
	int			r;

	r = ApplySortComparator(ka->keys[ia], false, ka->keys[ib], false, ka->ssup);
	if (r != 0)
		return r;
	return (ia > ib) - (ia < ib);
}

/* A hash table of keys, hashed and compared as the index's equality does. */
typedef struct KeyEntry
{
	Datum		key;
	uint32		hash;
	int			id;				/* order of first appearance */
	char		status;
} KeyEntry;

static inline uint32
key_hash(MpLookup *lk, Datum key)
{
	return DatumGetUInt32(FunctionCall1Coll(&lk->hashfn, lk->ik->collation, key));
}

#define SH_PREFIX keyhash
#define SH_ELEMENT_TYPE KeyEntry
#define SH_KEY_TYPE Datum
#define SH_KEY key
#define SH_HASH_KEY(tb, k) key_hash((MpLookup *) (tb)->private_data, k)
#define SH_EQUAL(tb, a, b) \
	(ApplySortComparator(a, false, b, false, &((MpLookup *) (tb)->private_data)->ssup) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Whether keys are in strictly ascending order of lk's index. */
static bool
keys_ascending(MpLookup *lk, const Datum *keys, int n)
{
	int			i;

	for (i = 1; i < n; i++)
		if (ApplySortComparator(keys[i - 1], false, keys[i], false, &lk->ssup) >= 0)
			return false;
	return true;
}

/*
 * Build the key set of n keys (no NULLs) for the index of lk.  The arrays are
 * allocated in the current memory context.
 *
 * Keys already in strictly ascending index order (a chunk of ids usually is)
 * are their own distinct keys, in order: nothing to hash or sort.  Otherwise,
 * when the index's equality has a hash function, keys are made distinct by a
 * hash table, in order of first appearance, and their hashes are kept (the
 * cache uses them); else by sorting them.  Lookups put the keys they read in
 * index order themselves (mp_keyset_order).
 */
void
mp_keyset_build(MpKeySet *ks, MpLookup *lk, Datum *keys, int n)
{
	int			nd = 0;
	int			i;

	ks->n = n;
	ks->keys = keys;
	ks->group = palloc(sizeof(int) * Max(n, 1));
	ks->first = palloc(sizeof(int) * Max(n, 1));
	ks->hashes = NULL;

	ks->sorted = keys_ascending(lk, keys, n);
	if (ks->sorted)
	{
		ks->distinct = keys;
		for (i = 0; i < n; i++)
			ks->group[i] = ks->first[i] = i;
		ks->ndistinct = n;
		return;
	}

	ks->distinct = palloc(sizeof(Datum) * Max(n, 1));
	if (lk->hashable)
	{
		keyhash_hash *h = keyhash_create(CurrentMemoryContext, n, lk);

		ks->hashes = palloc(sizeof(uint32) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			bool		found;
			KeyEntry   *e = keyhash_insert(h, keys[i], &found);

			if (!found)
			{
				e->id = nd;
				ks->distinct[nd] = keys[i];
				ks->hashes[nd] = e->hash;
				ks->first[nd] = i;
				nd++;
			}
			ks->group[i] = e->id;
		}
		keyhash_destroy(h);
	}
	else
	{
		int		   *order = palloc(sizeof(int) * Max(n, 1));
		KeySortArg	arg = {&lk->ssup, keys};

		for (i = 0; i < n; i++)
			order[i] = i;
		qsort_arg(order, n, sizeof(int), compare_positions, &arg);
		for (i = 0; i < n; i++)
		{
			int			pos = order[i];

			if (nd == 0 ||
				ApplySortComparator(ks->distinct[nd - 1], false,
									keys[pos], false, &lk->ssup) != 0)
			{
				ks->distinct[nd] = keys[pos];
				ks->first[nd] = pos;
				nd++;
			}
			ks->group[pos] = nd - 1;
		}
		pfree(order);
	}
	ks->ndistinct = nd;
}

/*
 * The key set of n keys already distinct (a subset of another key set's
 * distinct keys, as a leaf partition is asked for), with their hashes if
 * known: nothing to hash or de-duplicate again.
 */
void
mp_keyset_distinct(MpKeySet *ks, MpLookup *lk, Datum *keys, uint32 *hashes, int n)
{
	int			i;

	ks->n = ks->ndistinct = n;
	ks->keys = ks->distinct = keys;
	ks->hashes = hashes;
	ks->group = ks->first = palloc(sizeof(int) * Max(n, 1));
	for (i = 0; i < n; i++)
		ks->group[i] = i;
	ks->sorted = keys_ascending(lk, keys, n);
}

/* The distinct keys of ks in index order, as positions in ks->distinct. */
int *
mp_keyset_order(const MpKeySet *ks, SortSupport ssup)
{
	int		   *order = palloc(sizeof(int) * Max(ks->ndistinct, 1));
	KeySortArg	arg = {ssup, ks->distinct};
	int			i;

	for (i = 0; i < ks->ndistinct; i++)
		order[i] = i;
	if (!ks->sorted)
		qsort_arg(order, ks->ndistinct, sizeof(int), compare_positions, &arg);
	return order;
}

/* The distinct key equal to "key" (order from mp_keyset_order), or -1. */
int
mp_keyset_find(const MpKeySet *ks, const int *order, SortSupport ssup, Datum key)
{
	int			lo = 0;
	int			hi = ks->ndistinct - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			r = ApplySortComparator(ks->distinct[order[mid]], false, key, false, ssup);

		if (r == 0)
			return order[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}
