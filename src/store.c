/*
 * The parameter store (store.h).  Runs on whichever thread owns the store
 * (the server's service thread for the live model); clones are read by
 * others.  No I/O, no locks.
 *
 * Every mutating call works in two phases: validate everything (names,
 * shapes, dtypes, finiteness, and that the result will be finite), then
 * write.  Nothing is written before the first phase has passed for the
 * whole input, so a refusal leaves the store byte-identical.
 *
 * No I/O: a refusal is returned to the caller with its cause, and only a
 * broken invariant (a bug) is fatal.
 *
 * Overflow: finite inputs can still overflow (w = 3e38 plus u = 3e38).
 * Each tensor carries upper bounds on |w|, |m| and |v|; when the bound of
 * the result is safely below FLT_MAX the update is written directly, else
 * the kernel's *_ok twin decides exactly, reading only.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "log.h"
#include "store.h"
#include "xmalloc.h"

/* Results whose bound stays under this cannot overflow float32. */
#define STORE_SAFE	((double)FLT_MAX / 4)
/* Slack for float rounding in the bounds (and the kernels' float norms). */
#define STORE_SLACK	(1 + 1e-4)

/* Per-call working memory, sized for the model at init (no allocation). */
struct store_scratch {
	unsigned char	*mark;	/* count bytes, all zero between calls */
	size_t		*vidx;	/* tensor index of each entry */
	const float	**uptr;	/* update values of each entry */
	double		*umax;	/* bound on |u| of each entry */
	double		 usq;	/* sum of u*u over the entries */
};

struct ps_store {
	struct ps_rule		 rule;
	struct ps_tensor	*t;		/* owned, count; NULL if empty */
	size_t			 count;
	size_t			 params;
	uint64_t		 version;
	double			 last_update_l2;
	double			 push_l2;	/* of the last update applied */
	size_t			*hash;		/* owned: index + 1, 0 = free */
	size_t			 hashsize;	/* power of two */
	struct store_scratch	 sc;
};

struct ps_accum {
	size_t			 count;
	size_t			*n;		/* elements of each tensor */
	float			**sum;		/* owned, 64-byte aligned */
	size_t			*contrib;	/* contributions per tensor */
	double			*sbound;	/* bound on |sum| */
	size_t			 updates;
	double			 push_l2;	/* of the last update added */
	struct store_scratch	 sc;
};

static uint64_t	 store_hash(const char *, size_t);
static size_t	 store_hash_size(size_t);
static size_t	*store_hash_slot(size_t *, size_t, const struct ps_tensor *,
		     const char *, size_t);
static size_t	 store_lookup(const struct ps_store *, const char *, size_t,
		     size_t);
static int	 store_reserved(const char *, size_t);
static float	*store_falloc(size_t, int);
static void	 store_scratch_init(struct store_scratch *, size_t);
static void	 store_scratch_free(struct store_scratch *);
static void	 store_fail(int *, char **, int, const char *, ...)
		     __attribute__((__format__(__printf__, 4, 5)));
static int	 store_check(const struct ps_store *, const struct ps_tview *,
		     size_t, struct store_scratch *, int *, char **);
static void	 store_bounds(struct ps_tensor *);
static void	 store_adam_t(const struct ps_rule *, uint64_t, float *,
		     float *);
static float	 store_axpy_a(const struct ps_rule *);
static int	 store_accum_fits(const struct ps_accum *,
		     const struct ps_store *);
static int	 store_safe(const struct ps_store *, struct ps_tensor *,
		     const float *, double);
static double	 store_change_sq(const struct ps_store *,
		     const struct ps_tensor *, const float *, float, float);
static int	 store_commit(struct ps_store *, size_t, int *, char **);
static void	 store_tensor_free(struct ps_tensor *);
static int	 store_init(struct ps_store *, const struct ps_tview *, size_t,
		     int, int *, char **);

struct ps_store *
ps_store_new(const struct ps_rule *rule)
{
	struct ps_store	*s;
	char		*cause;

	if (ps_rule_check(rule, &cause) != 0)
		fatalx("%s: %s", __func__, cause);
	s = xcalloc(1, sizeof *s);
	s->rule = *rule;
	return s;
}

static void
store_tensor_free(struct ps_tensor *t)
{
	free(t->name);
	free(t->data);
	free(t->m);
	free(t->v);
}

void
ps_store_free(struct ps_store *s)
{
	size_t	i;

	if (s == NULL)
		return;
	for (i = 0; i < s->count; i++)
		store_tensor_free(&s->t[i]);
	free(s->t);
	free(s->hash);
	store_scratch_free(&s->sc);
	free(s);
}

/*
 * A deep copy of s whose model values are data[i] (copied), or s's own
 * when data is NULL; with values 0 it has none at all (ps_store_clone_meta).
 * One memcpy per buffer: this is the checkpoint snapshot.
 */
static struct ps_store *
store_clone(const struct ps_store *s, int values, const float *const *data)
{
	struct ps_store		*c;
	const struct ps_tensor	*from;
	struct ps_tensor	*to;
	size_t			 i, bytes;

	c = xcalloc(1, sizeof *c);
	*c = *s;
	memset(&c->sc, 0, sizeof c->sc);
	if (s->count == 0) {
		c->t = NULL;
		c->hash = NULL;
		return c;
	}
	c->t = xcalloc(s->count, sizeof *c->t);
	for (i = 0; i < s->count; i++) {
		from = &s->t[i];
		to = &c->t[i];
		*to = *from;
		bytes = (from->n > 0 ? from->n : 1) * sizeof (float);
		to->name = xstrndup(from->name, from->namelen);
		if (values) {
			to->data = xaligned_alloc(bytes);
			memcpy(to->data, data != NULL ? data[i] : from->data,
			    bytes);
		} else
			to->data = NULL;
		if (from->m != NULL) {
			to->m = xaligned_alloc(bytes);
			memcpy(to->m, from->m, bytes);
		}
		if (from->v != NULL) {
			to->v = xaligned_alloc(bytes);
			memcpy(to->v, from->v, bytes);
		}
	}
	c->hash = xreallocarray(NULL, s->hashsize, sizeof *c->hash);
	memcpy(c->hash, s->hash, s->hashsize * sizeof *c->hash);
	store_scratch_init(&c->sc, c->count);
	return c;
}

struct ps_store *
ps_store_clone(const struct ps_store *s)
{
	return store_clone(s, 1, NULL);
}

struct ps_store *
ps_store_clone_meta(const struct ps_store *s)
{
	return store_clone(s, 0, NULL);
}

struct ps_store *
ps_store_clone_with(const struct ps_store *s, const float *const *data)
{
	return store_clone(s, 1, data);
}

/* FNV-1a, 64 bits. */
static uint64_t
store_hash(const char *name, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* A power of two at least twice count, so probes stay short. */
static size_t
store_hash_size(size_t count)
{
	size_t	size = 8;

	while (size < count * 2)
		size *= 2;
	return size;
}

/*
 * The slot holding name in table (tensors t), or the free slot where it
 * would go.  Linear probing; the table is never full.
 */
static size_t *
store_hash_slot(size_t *table, size_t size, const struct ps_tensor *t,
    const char *name, size_t len)
{
	size_t			 i, j;
	const struct ps_tensor	*e;

	i = (size_t)store_hash(name, len) & (size - 1);
	for (j = 0; j < size; j++) {
		if (table[i] == 0)
			return &table[i];
		e = &t[table[i] - 1];
		if (e->namelen == len && memcmp(e->name, name, len) == 0)
			return &table[i];
		i = (i + 1) & (size - 1);
	}
	fatalx("%s: hash table full", __func__);
}

/*
 * Index of the tensor called name, or SIZE_MAX.  hint is the index to try
 * first (updates usually list tensors in model order).
 */
static size_t
store_lookup(const struct ps_store *s, const char *name, size_t len,
    size_t hint)
{
	const struct ps_tensor	*t;
	size_t			*slot;

	if (s->count == 0)
		return SIZE_MAX;
	if (hint < s->count) {
		t = &s->t[hint];
		if (t->namelen == len && memcmp(t->name, name, len) == 0)
			return hint;
	}
	slot = store_hash_slot(s->hash, s->hashsize, s->t, name, len);
	if (*slot == 0)
		return SIZE_MAX;
	return *slot - 1;
}

static int
store_reserved(const char *name, size_t len)
{
	return len >= 2 && name[0] == '_' && name[1] == '_';
}

/* n floats, 64-byte aligned, at least one element; zeroed if asked. */
static float *
store_falloc(size_t n, int zero)
{
	float	*p;
	size_t	 bytes = (n > 0 ? n : 1) * sizeof *p;

	p = xaligned_alloc(bytes);
	if (zero)
		memset(p, 0, bytes);
	return p;
}

static void
store_scratch_init(struct store_scratch *sc, size_t count)
{
	sc->mark = xcalloc(count, 1);
	sc->vidx = xcalloc(count, sizeof *sc->vidx);
	sc->uptr = xcalloc(count, sizeof *sc->uptr);
	sc->umax = xcalloc(count, sizeof *sc->umax);
}

static void
store_scratch_free(struct store_scratch *sc)
{
	free(sc->mark);
	free(sc->vidx);
	free(sc->uptr);
	free(sc->umax);
}

static void
store_fail(int *code, char **cause, int c, const char *fmt, ...)
{
	va_list	ap;

	*code = c;
	va_start(ap, fmt);
	*cause = xvasprintf(fmt, ap);
	va_end(ap);
}

/*
 * ps_store_init() (fill) and ps_store_init_shapes() (!fill: names and
 * shapes only, data allocated and left for the caller to write).
 */
static int
store_init(struct ps_store *s, const struct ps_tview *v, size_t n, int fill,
    int *code, char **cause)
{
	struct ps_tensor	*t;
	size_t			*table, size, i, j, count, params, *slot;
	size_t			 elsize;
	float			 mx;
	const float		*x;

	if (s->count != 0) {
		store_fail(code, cause, PS_E_INTERNAL,
		    "the model already exists");
		return -1;
	}
	if (n == 0) {
		store_fail(code, cause, PS_E_MALFORMED,
		    "init names no tensors");
		return -1;
	}

	/*
	 * Phase one, names and sizes only: nothing large is allocated for
	 * an init that is refused here.
	 */
	t = xcalloc(n, sizeof *t);
	size = store_hash_size(n);
	table = xcalloc(size, sizeof *table);
	params = 0;
	for (i = 0; i < n; i++) {
		if (!ps_name_valid(v[i].name, v[i].namelen)) {
			store_fail(code, cause, PS_E_MALFORMED, "tensor %zu: "
			    "name is not 1..%d bytes of valid UTF-8", i,
			    PS_NAME_MAX);
			goto fail;
		}
		if (store_reserved(v[i].name, v[i].namelen)) {
			store_fail(code, cause, PS_E_MALFORMED, "tensor "
			    "\"%.*s\": names beginning with \"__\" are "
			    "reserved", (int)v[i].namelen, v[i].name);
			goto fail;
		}
		slot = store_hash_slot(table, size, t, v[i].name,
		    v[i].namelen);
		if (*slot != 0) {
			store_fail(code, cause, PS_E_DUPLICATE, "tensor "
			    "\"%.*s\" is named twice", (int)v[i].namelen,
			    v[i].name);
			goto fail;
		}
		if (v[i].ndim > PS_DIMS_MAX) {
			store_fail(code, cause, PS_E_SHAPE, "tensor \"%.*s\": "
			    "%u dimensions (at most %d)", (int)v[i].namelen,
			    v[i].name, v[i].ndim, PS_DIMS_MAX);
			goto fail;
		}
		elsize = fill ? ps_dtype_size(v[i].dtype) : sizeof (float);
		if (elsize == 0) {
			store_fail(code, cause, PS_E_DTYPE, "tensor \"%.*s\": "
			    "dtype %d is not F32, F16, BF16 or F64",
			    (int)v[i].namelen, v[i].name, (int)v[i].dtype);
			goto fail;
		}
		if (ps_shape_count(v[i].ndim, v[i].dims, elsize,
		    &count) != 0 || ps_shape_count(v[i].ndim, v[i].dims,
		    sizeof (float), &count) != 0 || count > SIZE_MAX - params) {
			store_fail(code, cause, PS_E_TOO_LARGE, "tensor "
			    "\"%.*s\": size overflows", (int)v[i].namelen,
			    v[i].name);
			goto fail;
		}
		if (fill && (v[i].nbytes != count * elsize ||
		    (count > 0 && v[i].data == NULL))) {
			store_fail(code, cause, PS_E_MALFORMED, "tensor "
			    "\"%.*s\": %zu bytes of data, the shape needs %zu",
			    (int)v[i].namelen, v[i].name,
			    v[i].data == NULL ? 0 : v[i].nbytes,
			    count * elsize);
			goto fail;
		}
		params += count;
		/* Named now so that later duplicates find it. */
		t[i].name = xstrndup(v[i].name, v[i].namelen);
		t[i].namelen = v[i].namelen;
		t[i].n = count;
		t[i].ndim = v[i].ndim;
		memcpy(t[i].dims, v[i].dims, v[i].ndim * sizeof *v[i].dims);
		*slot = i + 1;
	}

	/*
	 * Phase two: convert, then refuse non-finite values; or only
	 * allocate, the bounds and norm to be computed from whatever the
	 * caller writes.
	 */
	for (i = 0; i < n; i++) {
		t[i].data = store_falloc(t[i].n, 0);
		t[i].l2_stale = 1;
		if (!fill) {
			t[i].bounds_stale = 1;
			continue;
		}
		switch (v[i].dtype) {
		case PS_DTYPE_F32:
			if (t[i].n > 0)
				memcpy(t[i].data, v[i].data, v[i].nbytes);
			break;
		case PS_DTYPE_F16:
			ps_f16_to_f32(v[i].data, t[i].data, t[i].n);
			break;
		case PS_DTYPE_BF16:
			ps_bf16_to_f32(v[i].data, t[i].data, t[i].n);
			break;
		case PS_DTYPE_F64:
			ps_f64_to_f32(v[i].data, t[i].data, t[i].n);
			break;
		default:
			fatalx("%s: dtype %d", __func__, (int)v[i].dtype);
		}
		mx = ps_k_maxabs(t[i].data, t[i].n);
		if (!isfinite(mx)) {
			x = t[i].data;
			for (j = 0; j < t[i].n && isfinite(x[j]); j++)
				/* nothing */;
			store_fail(code, cause, PS_E_NONFINITE, "tensor "
			    "\"%.*s\": element %zu is %s", (int)v[i].namelen,
			    v[i].name, j, isnan(x[j]) ? "NaN" :
			    v[i].dtype == PS_DTYPE_F64 ? "infinite or beyond "
			    "float32's range" : "infinite");
			goto fail;
		}
		t[i].wmax = mx;
	}

	s->t = t;
	s->count = n;
	s->params = params;
	s->hash = table;
	s->hashsize = size;
	s->last_update_l2 = 0;
	store_scratch_init(&s->sc, n);
	ps_store_alloc_state(s);
	return 0;

fail:
	for (i = 0; i < n; i++)
		store_tensor_free(&t[i]);
	free(t);
	free(table);
	return -1;
}

int
ps_store_init(struct ps_store *s, const struct ps_tview *v, size_t n,
    int *code, char **cause)
{
	return store_init(s, v, n, 1, code, cause);
}

int
ps_store_init_shapes(struct ps_store *s, const struct ps_tview *v, size_t n,
    int *code, char **cause)
{
	return store_init(s, v, n, 0, code, cause);
}

int
ps_store_matches(const struct ps_store *s, const struct ps_tview *v,
    size_t n, int *code, char **cause)
{
	const struct ps_tensor	*t;
	char			 want[128], got[128];
	size_t			 i;

	if (s->count == 0) {
		store_fail(code, cause, PS_E_NO_MODEL, "there is no model");
		return -1;
	}
	if (n != s->count) {
		store_fail(code, cause, PS_E_MISMATCH, "the model has %zu "
		    "tensors, init sends %zu", s->count, n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		t = &s->t[i];
		if (v[i].namelen != t->namelen ||
		    memcmp(v[i].name, t->name, t->namelen) != 0) {
			if (ps_name_valid(v[i].name, v[i].namelen))
				store_fail(code, cause, PS_E_MISMATCH, "tensor "
				    "%zu is \"%s\" in the model, init sends "
				    "\"%.*s\"", i, t->name, (int)v[i].namelen,
				    v[i].name);
			else
				store_fail(code, cause, PS_E_MISMATCH, "tensor "
				    "%zu is \"%s\" in the model, init sends "
				    "an invalid name", i, t->name);
			return -1;
		}
		if (v[i].ndim != t->ndim || memcmp(v[i].dims, t->dims,
		    t->ndim * sizeof *t->dims) != 0) {
			ps_shape_format(t->ndim, t->dims, want, sizeof want);
			ps_shape_format(v[i].ndim > PS_DIMS_MAX ? PS_DIMS_MAX :
			    v[i].ndim, v[i].dims, got, sizeof got);
			store_fail(code, cause, PS_E_MISMATCH, "tensor \"%s\": "
			    "shape %s in the model, init sends %s%s", t->name,
			    want, got, v[i].ndim > PS_DIMS_MAX ? "..." : "");
			return -1;
		}
	}
	return 0;
}

int
ps_store_empty(const struct ps_store *s)
{
	return s->count == 0;
}

size_t
ps_store_count(const struct ps_store *s)
{
	return s->count;
}

size_t
ps_store_params(const struct ps_store *s)
{
	return s->params;
}

uint64_t
ps_store_version(const struct ps_store *s)
{
	return s->version;
}

void
ps_store_set_version(struct ps_store *s, uint64_t version)
{
	s->version = version;
}

const struct ps_rule *
ps_store_rule(const struct ps_store *s)
{
	return &s->rule;
}

const struct ps_tensor *
ps_store_tensor(const struct ps_store *s, size_t i)
{
	if (i >= s->count)
		return NULL;
	return &s->t[i];
}

struct ps_tensor *
ps_store_tensor_mut(struct ps_store *s, size_t i)
{
	if (i >= s->count)
		return NULL;
	s->t[i].l2_stale = 1;
	s->t[i].bounds_stale = 1;
	return &s->t[i];
}

const struct ps_tensor *
ps_store_find(const struct ps_store *s, const char *name, size_t namelen,
    size_t *index)
{
	size_t	i;

	if ((i = store_lookup(s, name, namelen, SIZE_MAX)) == SIZE_MAX)
		return NULL;
	if (index != NULL)
		*index = i;
	return &s->t[i];
}

void
ps_store_alloc_state(struct ps_store *s)
{
	struct ps_tensor	*t;
	size_t			 i;

	for (i = 0; i < s->count; i++) {
		t = &s->t[i];
		if (ps_rule_has_m(s->rule.kind) && t->m == NULL) {
			t->m = store_falloc(t->n, 1);
			t->mmax = 0;
		}
		if (ps_rule_has_v(s->rule.kind) && t->v == NULL) {
			t->v = store_falloc(t->n, 1);
			t->vmax = 0;
		}
	}
}

/*
 * Validates views against the model.  On success sc->vidx[i] is the tensor
 * of view i, sc->uptr[i] its data and sc->umax[i] its largest |value|; a
 * view is recorded only after it passed, and n views that all pass are
 * distinct tensors, so i < count.  sc->mark is left all zero.
 */
static int
store_check(const struct ps_store *s, const struct ps_tview *v, size_t n,
    struct store_scratch *sc, int *code, char **cause)
{
	const struct ps_tensor	*t;
	const struct ps_tview	*w;
	const float		*x;
	char			 want[128], got[128];
	size_t			 i, j, idx, marked = 0, bytes;
	double			 sq;
	float			 mx;
	int			 error = -1;

	sc->usq = 0;
	if (s->count == 0) {
		store_fail(code, cause, PS_E_NO_MODEL, "there is no model: "
		    "init first");
		return -1;
	}
	for (i = 0; i < n; i++) {
		w = &v[i];
		if (!ps_name_valid(w->name, w->namelen)) {
			store_fail(code, cause, PS_E_UNKNOWN_TENSOR, "tensor "
			    "%zu: name is not 1..%d bytes of valid UTF-8", i,
			    PS_NAME_MAX);
			goto out;
		}
		if (store_reserved(w->name, w->namelen)) {
			store_fail(code, cause, PS_E_UNKNOWN_TENSOR, "tensor "
			    "\"%.*s\": names beginning with \"__\" are "
			    "reserved", (int)w->namelen, w->name);
			goto out;
		}
		idx = store_lookup(s, w->name, w->namelen,
		    i == 0 ? 0 : sc->vidx[i - 1] + 1);
		if (idx == SIZE_MAX) {
			store_fail(code, cause, PS_E_UNKNOWN_TENSOR, "tensor "
			    "\"%.*s\" is not in the model", (int)w->namelen,
			    w->name);
			goto out;
		}
		if (sc->mark[idx]) {
			store_fail(code, cause, PS_E_DUPLICATE, "tensor "
			    "\"%.*s\" is named twice", (int)w->namelen,
			    w->name);
			goto out;
		}
		sc->mark[idx] = 1;
		sc->vidx[i] = idx;
		marked = i + 1;

		t = &s->t[idx];
		if (w->dtype != PS_DTYPE_F32) {
			store_fail(code, cause, PS_E_DTYPE, "tensor \"%s\": "
			    "dtype %s, updates must be F32", t->name,
			    ps_dtype_name(w->dtype) != NULL ?
			    ps_dtype_name(w->dtype) : "unknown");
			goto out;
		}
		if (w->ndim != t->ndim || memcmp(w->dims, t->dims,
		    t->ndim * sizeof *t->dims) != 0) {
			ps_shape_format(t->ndim, t->dims, want, sizeof want);
			ps_shape_format(w->ndim > PS_DIMS_MAX ? PS_DIMS_MAX :
			    w->ndim, w->dims, got, sizeof got);
			store_fail(code, cause, PS_E_SHAPE, "tensor \"%s\": "
			    "shape %s%s, the model's is %s", t->name, got,
			    w->ndim > PS_DIMS_MAX ? "..." : "", want);
			goto out;
		}
		bytes = t->n * sizeof (float);
		if (w->nbytes != bytes || (bytes > 0 && w->data == NULL)) {
			store_fail(code, cause, PS_E_MALFORMED, "tensor "
			    "\"%s\": %zu bytes of data, the shape needs %zu",
			    t->name, w->data == NULL ? 0 : w->nbytes, bytes);
			goto out;
		}
		if (((uintptr_t)w->data & (_Alignof(float) - 1)) != 0) {
			store_fail(code, cause, PS_E_MALFORMED, "tensor "
			    "\"%s\": data is not aligned for float32",
			    t->name);
			goto out;
		}
		x = w->data;
		mx = ps_k_maxabs_sumsq(x, t->n, &sq);
		if (!isfinite(mx)) {
			for (j = 0; j < t->n && isfinite(x[j]); j++)
				/* nothing */;
			store_fail(code, cause, PS_E_NONFINITE, "tensor "
			    "\"%s\": element %zu is %s", t->name, j,
			    isnan(x[j]) ? "NaN" : "infinite");
			goto out;
		}
		sc->uptr[i] = x;
		sc->umax[i] = mx;
		sc->usq += sq;
	}
	error = 0;
out:
	for (i = 0; i < marked; i++)
		sc->mark[sc->vidx[i]] = 0;
	return error;
}

int
ps_store_check(const struct ps_store *s, const struct ps_tview *v, size_t n,
    int *code, char **cause)
{
	struct store_scratch	sc;
	int			error;

	if (s->count == 0) {
		store_fail(code, cause, PS_E_NO_MODEL, "there is no model: "
		    "init first");
		return -1;
	}
	/* The store is const here, so its own scratch is not ours to use. */
	store_scratch_init(&sc, s->count);
	error = store_check(s, v, n, &sc, code, cause);
	store_scratch_free(&sc);
	return error;
}

/* Recomputes a tensor's bounds from its buffers after an outside write. */
static void
store_bounds(struct ps_tensor *t)
{
	if (!t->bounds_stale)
		return;
	t->wmax = ps_k_maxabs(t->data, t->n);
	t->mmax = t->m != NULL ? ps_k_maxabs(t->m, t->n) : 0;
	t->vmax = t->v != NULL ? ps_k_maxabs(t->v, t->n) : 0;
	/* A NaN bound compares false below: make it fail safe. */
	if (isnan(t->wmax))
		t->wmax = INFINITY;
	if (isnan(t->mmax))
		t->mmax = INFINITY;
	if (isnan(t->vmax))
		t->vmax = INFINITY;
	t->bounds_stale = 0;
}

/* Adam's bias-corrected step size and epsilon for step t (1-based). */
static void
store_adam_t(const struct ps_rule *r, uint64_t t, float *lr_t, float *eps_t)
{
	double	bc1, bc2;

	bc1 = 1 - pow(r->beta1, (double)t);
	bc2 = 1 - pow(r->beta2, (double)t);
	*lr_t = (float)(r->lr * sqrt(bc2) / bc1);
	*eps_t = (float)(r->eps * sqrt(bc2));
}

/* Coefficient of u for the rules that are one axpy. */
static float
store_axpy_a(const struct ps_rule *r)
{
	switch (r->kind) {
	case PS_RULE_ADD:
		return 1.0f;
	case PS_RULE_ELEPHAS:
		return -1.0f;
	default:
		return -(float)r->lr;
	}
}

/*
 * 1 when applying u (|u| <= umax) to t leaves every value it writes
 * finite: from the bounds when they are conclusive, else exactly from the
 * kernel's *_ok twin.
 */
static int
store_safe(const struct ps_store *s, struct ps_tensor *t, const float *u,
    double umax)
{
	const struct ps_rule	*r = &s->rule;
	double			 bound, vn, mn, step, q;
	float			 a, lr_t, eps_t;

	store_bounds(t);
	switch (r->kind) {
	case PS_RULE_ADD:
	case PS_RULE_ELEPHAS:
	case PS_RULE_SGD:
		a = store_axpy_a(r);
		bound = (t->wmax + fabs((double)a) * umax * STORE_SLACK) *
		    STORE_SLACK;
		if (bound <= STORE_SAFE)
			return 1;
		return ps_k_axpy_ok(t->data, u, a, t->n);
	case PS_RULE_MOMENTUM:
		vn = ((float)r->momentum * t->mmax + umax) * STORE_SLACK;
		step = r->nesterov ? (umax + r->momentum * vn) * STORE_SLACK :
		    vn;
		bound = (t->wmax + (float)r->lr * step * STORE_SLACK) *
		    STORE_SLACK;
		if (vn <= STORE_SAFE && step <= STORE_SAFE &&
		    bound <= STORE_SAFE)
			return 1;
		return ps_k_momentum_ok(t->data, t->m, u, (float)r->lr,
		    (float)r->momentum, r->nesterov, t->n);
	case PS_RULE_ADAM:
		store_adam_t(r, t->steps + 1, &lr_t, &eps_t);
		mn = (r->beta1 * t->mmax + (1 - r->beta1) * umax) *
		    STORE_SLACK;
		vn = (r->beta2 * t->vmax + (1 - r->beta2) * umax * umax) *
		    STORE_SLACK;
		q = eps_t > 0 ? mn / eps_t * STORE_SLACK : INFINITY;
		bound = (t->wmax + lr_t * q * STORE_SLACK) * STORE_SLACK;
		if (umax * umax <= STORE_SAFE && mn <= STORE_SAFE &&
		    vn <= STORE_SAFE && q <= STORE_SAFE && bound <= STORE_SAFE)
			return 1;
		return ps_k_adam_ok(t->data, t->m, t->v, u, (float)r->beta1,
		    (float)(1 - r->beta1), (float)r->beta2,
		    (float)(1 - r->beta2), lr_t, eps_t, t->n);
	}
	return 0;
}

/*
 * The squared norm of the change just made to t, in double from the update
 * and the new optimizer state, for when the kernel's float sum overflowed
 * (a change beyond 1.8e19).  Equal to what the kernel would have summed up
 * to the rounding of w.
 */
static double
store_change_sq(const struct ps_store *s, const struct ps_tensor *t,
    const float *u, float lr_t, float eps_t)
{
	const struct ps_rule	*r = &s->rule;
	double			 sq = 0, c, a;
	size_t			 i;

	for (i = 0; i < t->n; i++) {
		switch (r->kind) {
		case PS_RULE_MOMENTUM:
			c = r->nesterov ? u[i] + (float)r->momentum * t->m[i] :
			    t->m[i];
			c *= (float)r->lr;
			break;
		case PS_RULE_ADAM:
			c = lr_t * (t->m[i] / (sqrt(t->v[i]) + eps_t));
			break;
		default:
			a = store_axpy_a(r);
			c = a * u[i];
			break;
		}
		sq += c * c;
	}
	return sq;
}

/*
 * Applies the k entries of s->sc (distinct tensors, validated) as one
 * update.  Returns 0, or -1 with *code and *cause and nothing written when
 * some result would not be finite.
 */
static int
store_commit(struct ps_store *s, size_t k, int *code, char **cause)
{
	const struct ps_rule	*r = &s->rule;
	struct store_scratch	*sc = &s->sc;
	struct ps_tensor	*t;
	const float		*u;
	double			 sq, total = 0, umax;
	float			 lr_t = 0, eps_t = 0;
	size_t			 i;

	for (i = 0; i < k; i++) {
		t = &s->t[sc->vidx[i]];
		if (!store_safe(s, t, sc->uptr[i], sc->umax[i])) {
			store_fail(code, cause, PS_E_NONFINITE, "tensor "
			    "\"%s\": the update would make it non-finite",
			    t->name);
			return -1;
		}
	}

	s->version++;
	for (i = 0; i < k; i++) {
		t = &s->t[sc->vidx[i]];
		u = sc->uptr[i];
		umax = sc->umax[i];
		switch (r->kind) {
		case PS_RULE_ADD:
		case PS_RULE_ELEPHAS:
		case PS_RULE_SGD:
			sq = ps_k_axpy(t->data, u, store_axpy_a(r), t->n);
			break;
		case PS_RULE_MOMENTUM:
			sq = ps_k_momentum(t->data, t->m, u, (float)r->lr,
			    (float)r->momentum, r->nesterov, t->n);
			t->mmax = ((float)r->momentum * t->mmax + umax) *
			    STORE_SLACK;
			break;
		case PS_RULE_ADAM:
			store_adam_t(r, t->steps + 1, &lr_t, &eps_t);
			sq = ps_k_adam(t->data, t->m, t->v, u,
			    (float)r->beta1, (float)(1 - r->beta1),
			    (float)r->beta2, (float)(1 - r->beta2), lr_t,
			    eps_t, t->n);
			t->mmax = (r->beta1 * t->mmax + (1 - r->beta1) *
			    umax) * STORE_SLACK;
			t->vmax = (r->beta2 * t->vmax + (1 - r->beta2) *
			    umax * umax) * STORE_SLACK;
			break;
		default:
			fatalx("%s: rule %d", __func__, (int)r->kind);
		}
		if (!isfinite(sq))
			sq = store_change_sq(s, t, u, lr_t, eps_t);
		/* max |new w| <= max |old w| + max |change|. */
		t->wmax = (t->wmax + sqrt(sq)) * STORE_SLACK;
		t->version = s->version;
		t->steps++;
		t->update_l2 = sqrt(sq);
		t->l2_stale = 1;
		total += sq;
	}
	s->last_update_l2 = sqrt(total);
	return 0;
}

int
ps_store_apply(struct ps_store *s, const struct ps_tview *v, size_t n,
    int *code, char **cause)
{
	if (store_check(s, v, n, &s->sc, code, cause) != 0)
		return -1;
	if (store_commit(s, n, code, cause) != 0)
		return -1;
	s->push_l2 = sqrt(s->sc.usq);
	return 0;
}

double
ps_store_l2(struct ps_store *s, size_t i)
{
	struct ps_tensor	*t;

	if (i >= s->count)
		return 0;
	t = &s->t[i];
	if (t->l2_stale) {
		t->l2 = sqrt(ps_k_sumsq(t->data, t->n));
		t->l2_stale = 0;
		/* max |w| <= ||w||: a fresh, often much tighter bound. */
		if (!t->bounds_stale && t->l2 * STORE_SLACK < t->wmax)
			t->wmax = t->l2 * STORE_SLACK;
	}
	return t->l2;
}

double
ps_store_model_l2(struct ps_store *s)
{
	double	sq = 0, l2;
	size_t	i;

	for (i = 0; i < s->count; i++) {
		l2 = ps_store_l2(s, i);
		sq += l2 * l2;
	}
	return sqrt(sq);
}

double
ps_store_model_l2_const(const struct ps_store *s,
    const float *const *data)
{
	const struct ps_tensor	*t;
	double			 sq = 0, l2;
	size_t			 i;

	for (i = 0; i < s->count; i++) {
		t = &s->t[i];
		l2 = t->l2_stale ? sqrt(ps_k_sumsq(data != NULL ? data[i] :
		    t->data, t->n)) : t->l2;
		sq += l2 * l2;
	}
	return sqrt(sq);
}

double
ps_store_last_update_l2(const struct ps_store *s)
{
	return s->last_update_l2;
}

double
ps_store_push_l2(const struct ps_store *s)
{
	return s->push_l2;
}

struct ps_accum *
ps_accum_new(const struct ps_store *s)
{
	struct ps_accum	*a;
	size_t		 i;

	a = xcalloc(1, sizeof *a);
	a->count = s->count;
	if (a->count == 0)
		return a;
	a->n = xcalloc(a->count, sizeof *a->n);
	a->sum = xcalloc(a->count, sizeof *a->sum);
	a->contrib = xcalloc(a->count, sizeof *a->contrib);
	a->sbound = xcalloc(a->count, sizeof *a->sbound);
	for (i = 0; i < a->count; i++) {
		a->n[i] = s->t[i].n;
		a->sum[i] = store_falloc(a->n[i], 1);
	}
	store_scratch_init(&a->sc, a->count);
	return a;
}

void
ps_accum_free(struct ps_accum *a)
{
	size_t	i;

	if (a == NULL)
		return;
	for (i = 0; i < a->count; i++)
		free(a->sum[i]);
	free(a->sum);
	free(a->n);
	free(a->contrib);
	free(a->sbound);
	store_scratch_free(&a->sc);
	free(a);
}

/* 1 when a was made for a model shaped like s. */
static int
store_accum_fits(const struct ps_accum *a, const struct ps_store *s)
{
	size_t	i;

	if (a->count != s->count)
		return 0;
	for (i = 0; i < a->count; i++) {
		if (a->n[i] != s->t[i].n)
			return 0;
	}
	return 1;
}

int
ps_accum_add(struct ps_accum *a, const struct ps_store *s,
    const struct ps_tview *v, size_t n, int *code, char **cause)
{
	struct store_scratch	*sc = &a->sc;
	size_t			 i, j;

	if (s->count == 0) {
		store_fail(code, cause, PS_E_NO_MODEL, "there is no model: "
		    "init first");
		return -1;
	}
	if (!store_accum_fits(a, s)) {
		store_fail(code, cause, PS_E_INTERNAL, "the accumulator was "
		    "made for another model");
		return -1;
	}
	if (store_check(s, v, n, sc, code, cause) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		j = sc->vidx[i];
		if ((a->sbound[j] + sc->umax[i]) * STORE_SLACK > STORE_SAFE &&
		    !ps_k_add_ok(a->sum[j], sc->uptr[i], a->n[j])) {
			store_fail(code, cause, PS_E_NONFINITE, "tensor "
			    "\"%s\": the sum of this round's updates would "
			    "overflow", s->t[j].name);
			return -1;
		}
	}
	for (i = 0; i < n; i++) {
		j = sc->vidx[i];
		ps_k_add(a->sum[j], sc->uptr[i], a->n[j]);
		a->sbound[j] = (a->sbound[j] + sc->umax[i]) * STORE_SLACK;
		a->contrib[j]++;
	}
	a->updates++;
	a->push_l2 = sqrt(sc->usq);
	return 0;
}

size_t
ps_accum_updates(const struct ps_accum *a)
{
	return a->updates;
}

double
ps_accum_push_l2(const struct ps_accum *a)
{
	return a->push_l2;
}

void
ps_accum_reset(struct ps_accum *a)
{
	size_t	i;

	for (i = 0; i < a->count; i++) {
		if (a->contrib[i] == 0)
			continue;
		memset(a->sum[i], 0, a->n[i] * sizeof *a->sum[i]);
		a->contrib[i] = 0;
		a->sbound[i] = 0;
	}
	a->updates = 0;
}

int
ps_store_apply_mean(struct ps_store *s, struct ps_accum *a, char **cause)
{
	struct store_scratch	*sc = &s->sc;
	size_t			 i, k = 0;
	char			*why;
	int			 code, rc;

	if (a->updates == 0)
		return 0;
	if (!store_accum_fits(a, s)) {
		*cause = xstrdup("the accumulator was made for another model");
		ps_accum_reset(a);
		return -1;
	}
	for (i = 0; i < a->count; i++) {
		if (a->contrib[i] == 0)
			continue;
		if (a->contrib[i] > 1)
			ps_k_div(a->sum[i], (float)a->contrib[i], a->n[i]);
		sc->vidx[k] = i;
		sc->uptr[k] = a->sum[i];
		sc->umax[k] = a->sbound[i] / a->contrib[i] * STORE_SLACK;
		k++;
	}
	if ((rc = store_commit(s, k, &code, &why)) != 0) {
		*cause = xasprintf("round of %zu updates dropped: %s",
		    a->updates, why);
		free(why);
	}
	ps_accum_reset(a);
	return rc;
}
