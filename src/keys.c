/*-------------------------------------------------------------------------
 *
 * keys.c
 *		Values made into keys of an index: coercion to the key type, key
 *		sets (sorted, distinct keys with the map back to the inputs), and
 *		composite keys (records of a key's columns).
 *
 * Keys are compared only with the btree comparison of the index they are
 * looked up in, so "equal" here means exactly what it means to the index
 * (int4 1 and int8 1, numeric 1.0 and 1.00, nondeterministic collations).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parse_oper.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "lookup.h"

/*
 * Decide how values of srctype become keys of keytype: unchanged when the
 * types are binary compatible, narrowed when they are wider integers, through
 * an implicit cast otherwise, and, when
 * "strings" is set, by the key type's input function for string types (what
 * an untyped literal such as '{1,2}' resolves to) and for the fields of a
 * record left unknown (ROW('1', '2')).  Anything else would not
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
	if (strings && (TypeCategory(src) == TYPCATEGORY_STRING || src == UNKNOWNOID))
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

/* ---------- composite keys ---------- */

/*
 * A composite key is a record of the key's columns (MpIndexedRel.keydesc),
 * never with a NULL field: a row or an id with a NULL key column matches
 * nothing, as "(a, b) = (x, y)" is then not true.  Keys are compared column
 * by column with the index's own order of each column, and hashed by
 * combining each column's hash of its equality (mp_key_hash_add), the same
 * way the trigger of a tracked table hashes the rows it bumps.
 */
typedef struct CompositeKeys
{
	int			nkeys;
	TupleDesc	keydesc;
	SortSupport cols;			/* each column's order, from the index */
	FmgrInfo   *hash;			/* each column's hash function */
	Oid		   *collations;
	/* when every column has a fixed width: where each field is */
	bool		fixed;
	int		   *offset;			/* from the start of the record's data */
	int16	   *len;
	bool	   *byval;
} CompositeKeys;

static void
deform_record(Datum record, TupleDesc desc, Datum *values, bool *nulls)
{
	HeapTupleHeader th = (HeapTupleHeader) DatumGetPointer(record);
	HeapTupleData tuple;

	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	heap_deform_tuple(&tuple, desc, values, nulls);
}

/*
 * Field i of a key: keys have no NULLs, so fastgetattr() finds a field after
 * fixed-width ones at its cached offset, without deforming the record.
 */
static inline Datum
key_field(Datum key, TupleDesc keydesc, int i)
{
	HeapTupleData tuple;
	bool		isnull;

	tuple.t_data = (HeapTupleHeader) DatumGetPointer(key);
	tuple.t_len = HeapTupleHeaderGetDatumLength(tuple.t_data);
	return fastgetattr(&tuple, i + 1, keydesc, &isnull);
}

/* Field i of a key, at its fixed place when every field has one. */
static inline Datum
ck_field(CompositeKeys *ck, Datum key, int i)
{
	HeapTupleHeader th;

	if (!ck->fixed)
		return key_field(key, ck->keydesc, i);
	th = (HeapTupleHeader) DatumGetPointer(key);
	return fetch_att((char *) th + th->t_hoff + ck->offset[i], ck->byval[i], ck->len[i]);
}

static int
composite_compare(Datum x, Datum y, SortSupport ssup)
{
	CompositeKeys *ck = (CompositeKeys *) ssup->ssup_extra;
	int			i;

	for (i = 0; i < ck->nkeys; i++)
	{
		int			r = ApplySortComparator(ck_field(ck, x, i), false,
											ck_field(ck, y, i), false,
											&ck->cols[i]);

		if (r != 0)
			return r;
	}
	return 0;
}

static Datum
composite_hash(PG_FUNCTION_ARGS)
{
	CompositeKeys *ck = (CompositeKeys *) fcinfo->flinfo->fn_extra;
	uint32		h = 0;
	int			i;

	for (i = 0; i < ck->nkeys; i++)
		h = mp_key_hash_add(h, i,
							DatumGetUInt32(FunctionCall1Coll(&ck->hash[i],
															 ck->collations[i],
															 ck_field(ck, PG_GETARG_DATUM(0), i))));
	PG_RETURN_UINT32(h);
}

/*
 * The order (ssup) and, if hashfn is given and the key is hashable, the hash
 * function of ik's keys, as its index "index" orders them, allocated in cxt.
 */
void
mp_key_support(MpIndexedRel *ik, Relation index, SortSupport ssup,
			   FmgrInfo *hashfn, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	CompositeKeys *ck;
	Form_pg_attribute att;
	int			offset = 0;
	int			i;

	memset(ssup, 0, sizeof(SortSupportData));
	ssup->ssup_cxt = cxt;
	ssup->ssup_collation = ik->collation;
	ssup->ssup_attno = 1;
	if (ik->nkeys == 1)
	{
		mp_sortsupport_from_index(index, ssup);
		if (hashfn && OidIsValid(ik->hashproc))
			fmgr_info_cxt(ik->hashproc, hashfn, cxt);
		MemoryContextSwitchTo(old);
		return;
	}

	ck = palloc0(sizeof(CompositeKeys));
	ck->nkeys = ik->nkeys;
	ck->keydesc = CreateTupleDescCopy(ik->keydesc);	/* may outlive the plan */
	ck->cols = palloc0(sizeof(SortSupportData) * ik->nkeys);
	ck->hash = palloc0(sizeof(FmgrInfo) * ik->nkeys);
	ck->collations = palloc(sizeof(Oid) * ik->nkeys);
	ck->offset = palloc(sizeof(int) * ik->nkeys);
	ck->len = palloc(sizeof(int16) * ik->nkeys);
	ck->byval = palloc(sizeof(bool) * ik->nkeys);
	ck->fixed = true;
	for (i = 0; i < ik->nkeys; i++)
	{
		ck->cols[i].ssup_cxt = cxt;
		ck->cols[i].ssup_collation = ik->cols[i].collation;
		ck->cols[i].ssup_nulls_first =
			(index->rd_indoption[i] & INDOPTION_NULLS_FIRST) != 0;
		ck->cols[i].ssup_attno = i + 1;
		mp_sortsupport_from_index(index, &ck->cols[i]);
		ck->collations[i] = ik->cols[i].collation;

		/* laid out as heap_fill_tuple() lays out a row without NULLs */
		att = TupleDescAttr(ck->keydesc, i);
		ck->fixed = ck->fixed && att->attlen > 0;
		offset = att_align_nominal(offset, att->attalign);
		ck->offset[i] = offset;
		ck->len[i] = att->attlen;
		ck->byval[i] = att->attbyval;
		offset += att->attlen;
	}
	ssup->comparator = composite_compare;
	ssup->ssup_extra = ck;
	if (hashfn && OidIsValid(ik->hashproc))
	{
		for (i = 0; i < ik->nkeys; i++)
			fmgr_info_cxt(ik->cols[i].hashproc, &ck->hash[i], cxt);
		memset(hashfn, 0, sizeof(FmgrInfo));
		hashfn->fn_addr = composite_hash;
		hashfn->fn_oid = InvalidOid;
		hashfn->fn_nargs = 1;
		hashfn->fn_strict = true;
		hashfn->fn_extra = ck;
		hashfn->fn_mcxt = cxt;
	}
	MemoryContextSwitchTo(old);
}

/*
 * Compare the key of index tuple itup (the first nkeys columns of lk's
 * index, NULLs where the index puts them) with "key".
 */
int
mp_key_compare_itup(MpLookup *lk, IndexTuple itup, TupleDesc itupdesc, Datum key)
{
	CompositeKeys *ck;
	bool		isnull;
	int			i;

	if (lk->ik->nkeys == 1)
	{
		Datum		d = index_getattr(itup, 1, itupdesc, &isnull);

		return ApplySortComparator(d, isnull, key, false, &lk->ssup);
	}
	ck = (CompositeKeys *) lk->ssup.ssup_extra;
	for (i = 0; i < ck->nkeys; i++)
	{
		Datum		d = index_getattr(itup, i + 1, itupdesc, &isnull);
		int			r = ApplySortComparator(d, isnull, ck_field(ck, key, i),
											false, &ck->cols[i]);

		if (r != 0)
			return r;
	}
	return 0;
}

/*
 * The key of ik made of values[i], nulls[i] (its columns in order), each
 * coerced by coerces[i] when coerces is given: a new record in the current
 * memory context.  False when a value is NULL or no key can equal it.
 */
bool
mp_key_from_values(MpIndexedRel *ik, MpCoercion *coerces, const Datum *values,
				   const bool *nulls, Datum *key)
{
	Datum		kv[INDEX_MAX_KEYS];
	bool		kn[INDEX_MAX_KEYS];
	int			i;

	for (i = 0; i < ik->nkeys; i++)
	{
		if (nulls[i])
			return false;
		kv[i] = values[i];
		if (coerces && !mp_coerce(&coerces[i], values[i], &kv[i]))
			return false;
		kn[i] = false;
	}
	/* the values are never TOAST pointers: rows read are flattened */
	*key = PointerGetDatum(heap_form_tuple(ik->keydesc, kv, kn)->t_data);
	return true;
}

/* Field "field" (0-based) of a composite key of ik. */
Datum
mp_key_field(MpIndexedRel *ik, Datum key, int field)
{
	return key_field(key, ik->keydesc, field);
}

/* The key of a row of ik's relation (desc), if it has one without NULLs. */
bool
mp_key_of_row(MpIndexedRel *ik, HeapTuple row, TupleDesc desc, Datum *key)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];
	int			i;

	if (ik->nkeys == 1)
	{
		*key = heap_getattr(row, ik->attno, desc, &nulls[0]);
		return !nulls[0];
	}
	for (i = 0; i < ik->nkeys; i++)
		values[i] = heap_getattr(row, ik->cols[i].attno, desc, &nulls[i]);
	return mp_key_from_values(ik, NULL, values, nulls, key);
}

/*
 * How records of the type of "record" become keys of ik: field by field, in
 * order (dropped attributes left out), each by the rules of a single key.
 */
void
mp_record_coercion(MpRecordCoercion *rc, MpIndexedRel *ik, HeapTupleHeader record,
				   const char *what)
{
	Oid			typid = HeapTupleHeaderGetTypeId(record);
	int32		typmod = HeapTupleHeaderGetTypMod(record);
	TupleDesc	desc = lookup_rowtype_tupdesc(typid, typmod);
	int			nfields = 0;
	int			a;

	rc->fieldno = palloc(sizeof(int) * ik->nkeys);
	rc->coerces = palloc(sizeof(MpCoercion) * ik->nkeys);
	for (a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		char		fieldwhat[NAMEDATALEN + 64];

		if (att->attisdropped)
			continue;
		if (nfields < ik->nkeys)
		{
			snprintf(fieldwhat, sizeof(fieldwhat), "field %d of %s",
					 nfields + 1, what);
			mp_check_join_operator(ik->cols[nfields].coltype, att->atttypid,
								   ik->cols[nfields].opfamily, fieldwhat, false);
			mp_coercion_init(&rc->coerces[nfields], att->atttypid,
							 ik->cols[nfields].keytype, true, CurrentMemoryContext,
							 fieldwhat);
			rc->fieldno[nfields] = a;
		}
		nfields++;
	}
	if (nfields != ik->nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s of type %s have %d fields, but the key of \"%s\" has %d columns",
						what, format_type_be(typid), nfields,
						get_rel_name(ik->relid), ik->nkeys),
				 errhint("Pass records of the key's columns in the key's order.")));
	rc->desc = CreateTupleDescCopy(desc);
	rc->values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	rc->nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	ReleaseTupleDesc(desc);
	rc->typid = typid;
	rc->typmod = typmod;
}

/* The key of ik that the record "record" equals; false when none can. */
bool
mp_coerce_record(MpRecordCoercion *rc, MpIndexedRel *ik, HeapTupleHeader record,
				 Datum *key)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];
	int			i;

	if (rc->typid != HeapTupleHeaderGetTypeId(record) ||
		rc->typmod != HeapTupleHeaderGetTypMod(record))
		mp_record_coercion(rc, ik, record, "source_ids elements");
	deform_record(PointerGetDatum(record), rc->desc, rc->values, rc->nulls);
	for (i = 0; i < ik->nkeys; i++)
	{
		values[i] = rc->values[rc->fieldno[i]];
		nulls[i] = rc->nulls[rc->fieldno[i]];
	}
	return mp_key_from_values(ik, rc->coerces, values, nulls, key);
}
