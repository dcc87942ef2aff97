/*
 * Tests for the parameter store (store.h) and its kernels.  Every rule is
 * checked against a scalar double-precision reference written here from
 * the textbook formulas, and against a few values worked out by hand.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "store.h"
#include "tap.h"

#define NT	3		/* tensors in the reference model */
#define STEPS	4

static const char	*names[NT] = { "dense/kernel", "dense/bias", "scale" };
static const unsigned	 ndims[NT] = { 2, 1, 0 };
static const uint64_t	 dims[NT][2] = { { 3, 5 }, { 7, 0 }, { 0, 0 } };
static const size_t	 sizes[NT] = { 15, 7, 1 };

static uint32_t		 rng = 12345;

/* Uniform in [-1, 1), from a fixed LCG so every run is the same. */
static float
frand(void)
{
	rng = rng * 1664525u + 1013904223u;
	return (float)((rng >> 8) / 8388608.0 - 1.0);
}

static struct ps_tview
view(const char *name, unsigned ndim, const uint64_t *d, const float *data,
    size_t n)
{
	struct ps_tview	v;

	memset(&v, 0, sizeof v);
	v.name = name;
	v.namelen = strlen(name);
	v.dtype = PS_DTYPE_F32;
	v.ndim = ndim;
	if (ndim > 0)
		memcpy(v.dims, d, ndim * sizeof *d);
	v.data = data;
	v.nbytes = n * sizeof (float);
	return v;
}

/*
 * ps_store_apply(), its result read as the new version or 0 for a
 * refusal; any return other than 0 or -1 is a failed test of its own.
 */
static uint64_t
apply(struct ps_store *s, const struct ps_tview *v, size_t n, int *code,
    char **cause)
{
	int	r;

	if ((r = ps_store_apply(s, v, n, code, cause)) == -1)
		return 0;
	if (r != 0)
		bail_out("ps_store_apply returned %d", r);
	return ps_store_version(s);
}

/*
 * ps_store_apply_mean(): the new version, or 0 when nothing was applied
 * (an empty round, or one dropped with a cause).
 */
static uint64_t
mean(struct ps_store *s, struct ps_accum *a)
{
	uint64_t	 before = ps_store_version(s);
	char		*cause = NULL;
	int		 r;

	if ((r = ps_store_apply_mean(s, a, &cause)) == -1) {
		if (cause == NULL)
			bail_out("ps_store_apply_mean: -1 without a cause");
		free(cause);
		return 0;
	}
	if (r != 0 || cause != NULL)
		bail_out("ps_store_apply_mean returned %d", r);
	return ps_store_version(s) != before ? ps_store_version(s) : 0;
}

/* Views of the reference model's tensors over bufs. */
static void
model_views(struct ps_tview *v, float *bufs[NT])
{
	size_t	i;

	for (i = 0; i < NT; i++)
		v[i] = view(names[i], ndims[i], dims[i], bufs[i], sizes[i]);
}

static struct ps_store *
new_store(enum ps_rule_kind kind, double lr, float *w0[NT])
{
	struct ps_rule	 r;
	struct ps_store	*s;
	struct ps_tview	 v[NT];
	char		*cause = NULL;
	int		 code = 0;

	ps_rule_defaults(&r, kind);
	r.lr = lr;
	s = ps_store_new(&r);
	model_views(v, w0);
	if (ps_store_init(s, v, NT, &code, &cause) != 0)
		bail_out("init: %s", cause);
	return s;
}

/* 1 when a and b hold byte-identical tensors, state and versions. */
static int
same_store(const struct ps_store *a, const struct ps_store *b)
{
	const struct ps_tensor	*x, *y;
	size_t			 i, bytes;

	if (ps_store_count(a) != ps_store_count(b) ||
	    ps_store_version(a) != ps_store_version(b))
		return 0;
	if (memcmp(&(double){ ps_store_last_update_l2(a) },
	    &(double){ ps_store_last_update_l2(b) }, sizeof (double)) != 0)
		return 0;
	for (i = 0; i < ps_store_count(a); i++) {
		x = ps_store_tensor(a, i);
		y = ps_store_tensor(b, i);
		bytes = x->n * sizeof (float);
		if (strcmp(x->name, y->name) != 0 || x->n != y->n ||
		    x->version != y->version || x->steps != y->steps ||
		    memcmp(&x->update_l2, &y->update_l2, sizeof (double)) != 0)
			return 0;
		if (memcmp(x->data, y->data, bytes) != 0)
			return 0;
		if ((x->m == NULL) != (y->m == NULL) ||
		    (x->m != NULL && memcmp(x->m, y->m, bytes) != 0))
			return 0;
		if ((x->v == NULL) != (y->v == NULL) ||
		    (x->v != NULL && memcmp(x->v, y->v, bytes) != 0))
			return 0;
	}
	return 1;
}

/*
 * Scalar references, in double, straight from the textbook formulas.
 * w, m, v are one element's state; g the value pushed.
 */
static void
ref_step(const struct ps_rule *r, double *w, double *m, double *v, double g,
    unsigned t)
{
	double	mhat, vhat;

	switch (r->kind) {
	case PS_RULE_ADD:
		*w = *w + g;
		break;
	case PS_RULE_ELEPHAS:
		*w = *w - g;
		break;
	case PS_RULE_SGD:
		*w = *w - r->lr * g;
		break;
	case PS_RULE_MOMENTUM:
		/* PyTorch: buf = mu buf + g; nesterov uses g + mu buf. */
		*m = r->momentum * *m + g;
		if (r->nesterov)
			*w = *w - r->lr * (g + r->momentum * *m);
		else
			*w = *w - r->lr * *m;
		break;
	case PS_RULE_ADAM:
		*m = r->beta1 * *m + (1 - r->beta1) * g;
		*v = r->beta2 * *v + (1 - r->beta2) * g * g;
		mhat = *m / (1 - pow(r->beta1, t));
		vhat = *v / (1 - pow(r->beta2, t));
		*w = *w - r->lr * mhat / (sqrt(vhat) + r->eps);
		break;
	}
}

/*
 * Runs STEPS updates of random values through the store and through the
 * reference; returns the largest difference seen in w, m and v, and sets
 * *l2ok when every update_l2 matched the change actually made.
 */
static double
rule_vs_reference(enum ps_rule_kind kind, int nesterov, double lr, int *l2ok,
    int *verok)
{
	struct ps_rule		 r;
	struct ps_store		*s;
	struct ps_tview		 v[NT];
	const struct ps_tensor	*t;
	double			 rw[NT][15], rm[NT][15], rv[NT][15], diff = 0;
	double			 d, sq;
	float			 w0[NT][15], g[NT][15], before[NT][15];
	float			*bufs[NT];
	size_t			 i, j;
	unsigned		 step;
	uint64_t		 ver;
	char			*cause = NULL;
	int			 code = 0;

	*l2ok = *verok = 1;
	ps_rule_defaults(&r, kind);
	r.lr = lr;
	r.nesterov = nesterov;
	s = ps_store_new(&r);
	for (i = 0; i < NT; i++) {
		for (j = 0; j < sizes[i]; j++) {
			w0[i][j] = frand();
			rw[i][j] = w0[i][j];
			rm[i][j] = rv[i][j] = 0;
		}
		bufs[i] = w0[i];
	}
	model_views(v, bufs);
	if (ps_store_init(s, v, NT, &code, &cause) != 0)
		bail_out("init: %s", cause);

	for (step = 1; step <= STEPS; step++) {
		for (i = 0; i < NT; i++) {
			t = ps_store_tensor(s, i);
			memcpy(before[i], t->data, sizes[i] * sizeof (float));
			for (j = 0; j < sizes[i]; j++) {
				g[i][j] = frand();
				ref_step(&r, &rw[i][j], &rm[i][j], &rv[i][j],
				    g[i][j], step);
			}
			bufs[i] = g[i];
		}
		model_views(v, bufs);
		ver = apply(s, v, NT, &code, &cause);
		if (ver != step)
			*verok = 0;
		for (i = 0; i < NT; i++) {
			t = ps_store_tensor(s, i);
			if (t->version != step || t->steps != step)
				*verok = 0;
			sq = 0;
			for (j = 0; j < sizes[i]; j++) {
				d = (double)t->data[j] - before[i][j];
				sq += d * d;
				diff = fmax(diff, fabs(t->data[j] - rw[i][j]));
				if (t->m != NULL)
					diff = fmax(diff, fabs(t->m[j] -
					    rm[i][j]));
				if (t->v != NULL)
					diff = fmax(diff, fabs(t->v[j] -
					    rv[i][j]));
			}
			/* The kernel sums squares in float. */
			if (fabs(t->update_l2 - sqrt(sq)) >
			    1e-5 * sqrt(sq) + 1e-12)
				*l2ok = 0;
		}
	}
	ps_store_free(s);
	return diff;
}

/* One element through one rule for `steps` steps of g; returns w. */
static double
hand(enum ps_rule_kind kind, int nesterov, double lr, float w, float g,
    int steps)
{
	struct ps_rule		 r;
	struct ps_store		*s;
	struct ps_tview		 v;
	uint64_t		 d = 1;
	double			 out;
	char			*cause = NULL;
	int			 code = 0, i;

	ps_rule_defaults(&r, kind);
	r.lr = lr;
	r.nesterov = nesterov;
	s = ps_store_new(&r);
	v = view("w", 1, &d, &w, 1);
	if (ps_store_init(s, &v, 1, &code, &cause) != 0)
		bail_out("init: %s", cause);
	v = view("w", 1, &d, &g, 1);
	for (i = 0; i < steps; i++) {
		if (apply(s, &v, 1, &code, &cause) == 0)
			bail_out("apply: %s", cause);
	}
	out = ps_store_tensor(s, 0)->data[0];
	ps_store_free(s);
	return out;
}

static void
test_rules(void)
{
	static const struct {
		enum ps_rule_kind	 kind;
		int			 nesterov;
		double			 lr;
		const char		*what;
	} rules[] = {
		{ PS_RULE_ADD, 0, 0.01, "add" },
		{ PS_RULE_ELEPHAS, 0, 0.01, "elephas" },
		{ PS_RULE_SGD, 0, 0.3, "sgd" },
		{ PS_RULE_MOMENTUM, 0, 0.1, "momentum" },
		{ PS_RULE_MOMENTUM, 1, 0.1, "nesterov momentum" },
		{ PS_RULE_ADAM, 0, 0.1, "adam" }
	};
	size_t	i;
	double	diff;
	int	l2ok, verok;

	for (i = 0; i < sizeof rules / sizeof *rules; i++) {
		diff = rule_vs_reference(rules[i].kind, rules[i].nesterov,
		    rules[i].lr, &l2ok, &verok);
		ok(diff < 2e-6, "%s matches the double-precision reference "
		    "over %d steps (max diff %.3g)", rules[i].what, STEPS,
		    diff);
		ok(l2ok && verok, "%s: versions, steps and update_l2 follow "
		    "each update", rules[i].what);
	}

	/* Worked by hand. */
	is_near(hand(PS_RULE_ADD, 0, 0, 1.0f, 0.5f, 1), 1.5, 1e-7,
	    "add: 1 + 0.5 = 1.5");
	is_near(hand(PS_RULE_ELEPHAS, 0, 0, 1.0f, 0.25f, 2), 0.5, 1e-7,
	    "elephas: 1 - 0.25 - 0.25 = 0.5");
	is_near(hand(PS_RULE_SGD, 0, 0.1, 1.0f, 2.0f, 1), 0.8, 1e-7,
	    "sgd: 1 - 0.1 * 2 = 0.8");
	/* buf 1, w 0.9; buf 1.9, w 0.9 - 0.19 = 0.71 */
	is_near(hand(PS_RULE_MOMENTUM, 0, 0.1, 1.0f, 1.0f, 2), 0.71, 1e-6,
	    "momentum 0.9: two steps of g = 1 give 0.71");
	/* buf 1, w 1 - 0.1 * 1.9 = 0.81; buf 1.9, w 0.81 - 0.1 * 2.71 */
	is_near(hand(PS_RULE_MOMENTUM, 1, 0.1, 1.0f, 1.0f, 2), 0.539, 1e-6,
	    "nesterov 0.9: two steps of g = 1 give 0.539");
	/* mhat = g, vhat = g^2: each step moves lr * g / (|g| + eps). */
	is_near(hand(PS_RULE_ADAM, 0, 0.1, 1.0f, 2.0f, 3), 0.7, 1e-6,
	    "adam: three steps of g = 2 at lr 0.1 give 0.7");
}

static void
test_parse(void)
{
	struct ps_rule		r;
	enum ps_rule_kind	k = PS_RULE_ADD;
	char			*cause = NULL;
	int			 rc;

	ok(ps_rule_parse("momentum", &k) == 0 && k == PS_RULE_MOMENTUM &&
	    strcmp(ps_rule_name(PS_RULE_ELEPHAS), "elephas") == 0,
	    "rule names parse and print");
	ok(ps_rule_parse("rmsprop", &k) == -1, "an unknown rule is refused");
	ps_rule_defaults(&r, PS_RULE_ADAM);
	ok(r.lr == 0.01 && r.momentum == 0.9 && r.beta1 == 0.9 &&
	    r.beta2 == 0.999 && r.eps == 1e-8 && !r.nesterov,
	    "defaults are lr 0.01, momentum 0.9, betas 0.9/0.999, eps 1e-8");
	ok(ps_rule_has_m(PS_RULE_MOMENTUM) && !ps_rule_has_v(PS_RULE_MOMENTUM)
	    && ps_rule_has_v(PS_RULE_ADAM) && !ps_rule_has_m(PS_RULE_SGD),
	    "momentum keeps m, adam keeps m and v, sgd keeps none");
	r.eps = 0;
	rc = ps_rule_check(&r, &cause);
	ok(rc == -1 && cause != NULL, "ps_rule_check refuses eps 0 (%s)",
	    cause);
	free(cause);
}

static void
test_init(void)
{
	struct ps_rule		 r;
	struct ps_store		*s;
	struct ps_tview		 v[3];
	const struct ps_tensor	*t;
	/* Little-endian f16: 1, -2, 0.5, 65504; bf16: 1, -2, 3.140625. */
	static const unsigned char f16[] = {
		0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b
	};
	static const unsigned char bf16[] = {
		0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40
	};
	double		 f64[2] = { 0.1, -3.5 }, huge = 1e300;
	float		 a[2] = { 1, 2 }, nan1[2] = { 0, NAN };
	uint64_t	 d4 = 4, d3 = 3, d2 = 2, d9[9] = {1,1,1,1,1,1,1,1,1};
	size_t		 idx = 99;
	char		*cause = NULL;
	int		 code = 0, rc;

	ps_rule_defaults(&r, PS_RULE_ADD);
	s = ps_store_new(&r);
	ok(ps_store_empty(s), "a new store is empty");

	v[0] = view("half", 1, &d4, NULL, 0);
	v[0].dtype = PS_DTYPE_F16;
	v[0].data = f16;
	v[0].nbytes = sizeof f16;
	v[1] = view("brain", 1, &d3, NULL, 0);
	v[1].dtype = PS_DTYPE_BF16;
	v[1].data = bf16;
	v[1].nbytes = sizeof bf16;
	v[2] = view("double", 1, &d2, NULL, 0);
	v[2].dtype = PS_DTYPE_F64;
	v[2].data = f64;
	v[2].nbytes = sizeof f64;
	rc = ps_store_init(s, v, 3, &code, &cause);
	ok(rc == 0, "init accepts F16, BF16 and F64 views");
	t = ps_store_tensor(s, 0);
	ok(t->data[0] == 1.0f && t->data[1] == -2.0f && t->data[2] == 0.5f &&
	    t->data[3] == 65504.0f, "F16 converts to 1, -2, 0.5, 65504");
	t = ps_store_tensor(s, 1);
	ok(t->data[0] == 1.0f && t->data[1] == -2.0f &&
	    t->data[2] == 3.140625f, "BF16 converts to 1, -2, 3.140625");
	t = ps_store_tensor(s, 2);
	ok(t->data[0] == 0.1f && t->data[1] == -3.5f,
	    "F64 converts to the nearest float");
	ok(((uintptr_t)ps_store_tensor(s, 0)->data & 63) == 0,
	    "tensor data is 64-byte aligned");
	ok(ps_store_count(s) == 3 && ps_store_params(s) == 9 &&
	    ps_store_version(s) == 0 && ps_store_tensor(s, 2)->version == 0,
	    "three tensors, nine parameters, version 0");
	ok(strcmp(ps_store_tensor(s, 1)->name, "brain") == 0,
	    "tensors keep the order init gave");
	ok(ps_store_find(s, "double", 6, &idx) != NULL && idx == 2 &&
	    ps_store_find(s, "doubl", 5, NULL) == NULL,
	    "find returns a tensor by name and nothing for a prefix");
	ok(ps_store_tensor(s, 3) == NULL, "an index past the end is NULL");
	rc = ps_store_init(s, v, 3, &code, &cause);
	ok(rc == -1 && code == PS_E_INTERNAL, "a second init is refused");
	free(cause);
	ps_store_free(s);

#define REFUSE(views, nviews, want, what) do {				\
	s = ps_store_new(&r);						\
	cause = NULL;							\
	rc = ps_store_init(s, (views), (nviews), &code, &cause);	\
	ok(rc == -1 && code == (want) && ps_store_empty(s),		\
	    "init refuses %s (%s)", (what), cause ? cause : "");	\
	free(cause);							\
	ps_store_free(s);						\
} while (0)

	v[0] = view("__psctl.m.w", 1, &d2, a, 2);
	REFUSE(v, 1, PS_E_MALFORMED, "a reserved name");
	v[0] = view("w", 1, &d2, a, 2);
	v[1] = view("w", 1, &d2, a, 2);
	REFUSE(v, 2, PS_E_DUPLICATE, "a name given twice");
	v[0] = view("\xff" "x", 1, &d2, a, 2);
	REFUSE(v, 1, PS_E_MALFORMED, "a name that is not UTF-8");
	v[0] = view("", 1, &d2, a, 2);
	REFUSE(v, 1, PS_E_MALFORMED, "an empty name");
	v[0] = view("w", 9, d9, a, 1);
	REFUSE(v, 1, PS_E_SHAPE, "nine dimensions");
	v[0] = view("w", 1, &d3, a, 2);
	REFUSE(v, 1, PS_E_MALFORMED, "a byte size that is not the shape's");
	v[0] = view("w", 1, &d2, a, 2);
	v[1] = view("n", 1, &d2, nan1, 2);
	REFUSE(v, 2, PS_E_NONFINITE, "a NaN");
	v[0] = view("w", 0, NULL, NULL, 0);
	v[0].dtype = PS_DTYPE_F64;
	v[0].data = &huge;
	v[0].nbytes = sizeof huge;
	REFUSE(v, 1, PS_E_NONFINITE, "an F64 value beyond float32");
	v[0] = view("w", 1, &d2, a, 2);
	v[0].dtype = PS_DTYPE_NONE;
	REFUSE(v, 1, PS_E_DTYPE, "dtype NONE");
	REFUSE(v, 0, PS_E_MALFORMED, "no tensors at all");
#undef REFUSE
}

/*
 * ps_store_init_shapes(): the same names, shapes and refusals as init, no
 * data needed; the caller's values are what the norm and bounds see.
 */
static void
test_init_shapes(void)
{
	struct ps_rule		 r;
	struct ps_store		*s;
	struct ps_tview		 v[NT], u;
	struct ps_tensor	*t;
	float			 g[2] = { 3e38f, 0 };
	uint64_t		 d2 = 2;
	size_t			 i, j, n;
	double			 sq;
	char			*cause = NULL;
	int			 code = 0, rc, zero;

	ps_rule_defaults(&r, PS_RULE_ADAM);
	s = ps_store_new(&r);
	for (i = 0; i < NT; i++) {
		v[i] = view(names[i], ndims[i], dims[i], NULL, 0);
		v[i].dtype = PS_DTYPE_NONE;	/* ignored */
	}
	rc = ps_store_init_shapes(s, v, NT, &code, &cause);
	ok(rc == 0 && ps_store_count(s) == NT && ps_store_params(s) == 23 &&
	    ps_store_version(s) == 0,
	    "init_shapes takes names and shapes without data: three "
	    "tensors, 23 parameters, version 0");
	zero = 1;
	for (i = 0; i < NT; i++) {
		t = ps_store_tensor_mut(s, i);
		n = t->n;
		if (strcmp(t->name, names[i]) != 0 || n != sizes[i] ||
		    t->ndim != ndims[i] || ((uintptr_t)t->data & 63) != 0 ||
		    t->m == NULL || t->v == NULL)
			zero = -1;
		for (j = 0; zero == 1 && j < n; j++)
			zero = t->m[j] == 0 && t->v[j] == 0;
	}
	ok(zero == 1, "each tensor has its name, shape and aligned data in "
	    "order, with adam's m and v zeroed");
	/* Write 0, 1, 2, ... and check the norm against sum k^2. */
	t = ps_store_tensor_mut(s, 0);
	for (j = 0; j < t->n; j++)
		t->data[j] = (float)j;
	for (i = 1; i < NT; i++) {
		t = ps_store_tensor_mut(s, i);
		for (j = 0; j < t->n; j++)
			t->data[j] = 0;
	}
	sq = 14.0 * 15 * 29 / 6;	/* 0^2 + ... + 14^2 = 1015 */
	is_near(ps_store_l2(s, 0), sqrt(sq), 1e-12,
	    "the norm is that of the values the caller wrote (sqrt 1015)");
	ok(ps_store_find(s, "dense/bias", 10, &i) != NULL && i == 1,
	    "find knows the tensors init_shapes made");
	ps_store_free(s);

	/* The bounds come from the written values, not from zero. */
	ps_rule_defaults(&r, PS_RULE_ADD);
	s = ps_store_new(&r);
	v[0] = view("w", 1, &d2, NULL, 0);
	if (ps_store_init_shapes(s, v, 1, &code, &cause) != 0)
		bail_out("init_shapes: %s", cause);
	t = ps_store_tensor_mut(s, 0);
	t->data[0] = 3e38f;
	t->data[1] = 0;
	u = view("w", 1, &d2, g, 2);
	ok(apply(s, &u, 1, &code, &cause) == 0 &&
	    code == PS_E_NONFINITE && ps_store_tensor(s, 0)->data[0] == 3e38f,
	    "an update that would overflow the written 3e38 is refused");
	free(cause);
	cause = NULL;
	ps_store_free(s);

	/* Its refusals are init's. */
	s = ps_store_new(&r);
	v[0] = view("w", 1, &d2, NULL, 0);
	v[1] = view("w", 1, &d2, NULL, 0);
	rc = ps_store_init_shapes(s, v, 2, &code, &cause);
	ok(rc == -1 && code == PS_E_DUPLICATE && ps_store_empty(s),
	    "init_shapes refuses a name given twice (%s)", cause);
	free(cause);
	cause = NULL;
	v[0] = view("__psctl.v.w", 1, &d2, NULL, 0);
	rc = ps_store_init_shapes(s, v, 1, &code, &cause);
	ok(rc == -1 && code == PS_E_MALFORMED && ps_store_empty(s),
	    "init_shapes refuses a reserved name (%s)", cause);
	free(cause);
	cause = NULL;
	v[0] = view("w", 1, &d2, NULL, 0);
	v[0].ndim = PS_DIMS_MAX + 1;
	rc = ps_store_init_shapes(s, v, 1, &code, &cause);
	ok(rc == -1 && code == PS_E_SHAPE && ps_store_empty(s),
	    "init_shapes refuses nine dimensions (%s)", cause);
	free(cause);
	cause = NULL;
	/* Only ps_store_init() refuses missing data, as it always did. */
	v[0] = view("w", 1, &d2, NULL, 0);
	v[0].nbytes = 2 * sizeof (float);
	rc = ps_store_init(s, v, 1, &code, &cause);
	ok(rc == -1 && code == PS_E_MALFORMED && ps_store_empty(s),
	    "init still refuses a view without data (%s)", cause);
	free(cause);
	ps_store_free(s);
}

static void
test_refusals(void)
{
	struct ps_rule		 r;
	struct ps_store		*s, *c;
	struct ps_tview		 v[NT + 1];
	float			 w0[NT][15], g[NT][15], *bufs[NT];
	uint16_t		 half[15];
	uint64_t		 wrong[2] = { 5, 3 };
	size_t			 i, j;
	uint64_t		 ver;
	char			*cause = NULL;
	int			 code;

	for (i = 0; i < NT; i++) {
		for (j = 0; j < sizes[i]; j++) {
			w0[i][j] = frand();
			g[i][j] = frand();
		}
		bufs[i] = w0[i];
	}
	memset(half, 0, sizeof half);

	/* Adam, so that m and v are live state that must not move either. */
	s = new_store(PS_RULE_ADAM, 0.1, bufs);
	for (i = 0; i < NT; i++)
		bufs[i] = g[i];
	model_views(v, bufs);
	if (apply(s, v, NT, &code, &cause) != 1)
		bail_out("apply: %s", cause);
	c = ps_store_clone(s);
	ok(same_store(s, c), "a clone is identical to its store");

#define REFUSE(nviews, want, what) do {					\
	cause = NULL;							\
	code = 0;							\
	ver = apply(s, v, (nviews), &code, &cause);		\
	ok(ver == 0 && code == (want), "push refuses %s (%s)", (what),	\
	    cause ? cause : "");					\
	ok(same_store(s, c) && ps_store_version(s) == 1,		\
	    "the model is byte-identical after refusing %s", (what));	\
	free(cause);							\
	model_views(v, bufs);						\
} while (0)

	model_views(v, bufs);
	v[2] = view("no/such/tensor", 0, NULL, g[2], 1);
	REFUSE(NT, PS_E_UNKNOWN_TENSOR, "an unknown tensor");
	v[2] = v[0];
	REFUSE(NT, PS_E_DUPLICATE, "a tensor named twice");
	v[NT] = v[0];
	REFUSE(NT + 1, PS_E_DUPLICATE, "more views than tensors");
	v[1] = view("__psctl.m.dense/bias", 1, dims[1], g[1], 7);
	REFUSE(NT, PS_E_UNKNOWN_TENSOR, "a reserved name");
	v[0] = view(names[0], 2, wrong, g[0], 15);
	REFUSE(NT, PS_E_SHAPE, "a transposed shape");
	v[2] = view(names[2], 1, wrong, g[2], 1);
	v[2].dims[0] = 1;
	REFUSE(NT, PS_E_SHAPE, "[1] for a scalar");
	v[1].dtype = PS_DTYPE_F16;
	v[1].data = half;
	v[1].nbytes = 7 * 2;
	REFUSE(NT, PS_E_DTYPE, "an F16 update");
	g[0][3] = NAN;
	REFUSE(NT, PS_E_NONFINITE, "a NaN");
	g[0][3] = 0.5f;
	g[NT - 1][sizes[NT - 1] - 1] = INFINITY;
	REFUSE(NT, PS_E_NONFINITE, "+Inf in the last element of the last "
	    "tensor");
	g[NT - 1][sizes[NT - 1] - 1] = 0.25f;
#undef REFUSE

	/* The same push, now valid, goes through. */
	ok(apply(s, v, NT, &code, &cause) == 2,
	    "the corrected push is applied as version 2");
	ps_store_free(c);
	ps_store_free(s);

	ps_rule_defaults(&r, PS_RULE_ADD);
	s = ps_store_new(&r);
	cause = NULL;
	ok(apply(s, v, 1, &code, &cause) == 0 &&
	    code == PS_E_NO_MODEL && ps_store_empty(s),
	    "a push before init is refused with no-model");
	free(cause);
	cause = NULL;
	ok(ps_store_check(s, v, 1, &code, &cause) == -1 &&
	    code == PS_E_NO_MODEL, "so is a check");
	free(cause);
	ps_store_free(s);
}

static void
test_overflow(void)
{
	struct ps_rule		 r;
	struct ps_store		*s, *c;
	struct ps_accum		*a;
	struct ps_tview		 v;
	float			 w[2] = { 3e38f, 0 }, u[2], g[2] = { 1e20f, 0 };
	uint64_t		 d = 2;
	char			*cause = NULL;
	int			 code = 0;

	ps_rule_defaults(&r, PS_RULE_ADD);
	s = ps_store_new(&r);
	v = view("w", 1, &d, w, 2);
	if (ps_store_init(s, &v, 1, &code, &cause) != 0)
		bail_out("init: %s", cause);
	c = ps_store_clone(s);
	u[0] = 3e38f;
	u[1] = 0;
	v = view("w", 1, &d, u, 2);
	ok(apply(s, &v, 1, &code, &cause) == 0 &&
	    code == PS_E_NONFINITE && same_store(s, c),
	    "finite values that would overflow w are refused, w untouched");
	free(cause);
	cause = NULL;
	u[0] = 0;
	u[1] = 3e38f;
	ok(apply(s, &v, 1, &code, &cause) == 1 &&
	    ps_store_tensor(s, 0)->data[1] == 3e38f,
	    "large values that do not overflow are applied");
	is_near(ps_store_last_update_l2(s), 3e38, 1e-6,
	    "a change whose square overflows float still has its norm");
	is_near(ps_store_push_l2(s), 3e38, 1e-6,
	    "and so has the push as it came");

	a = ps_accum_new(s);
	u[0] = -3e38f;
	u[1] = 0;
	ok(ps_accum_add(a, s, &v, 1, &code, &cause) == 0,
	    "a large contribution is accumulated");
	is_near(ps_accum_push_l2(a), 3e38, 1e-6,
	    "the round knows the norm of the push it took");
	ok(ps_accum_add(a, s, &v, 1, &code, &cause) == -1 &&
	    code == PS_E_NONFINITE && ps_accum_updates(a) == 1,
	    "one that would overflow the sum is refused");
	free(cause);
	cause = NULL;
	ps_accum_free(a);
	ps_store_free(c);
	ps_store_free(s);

	/* Adam squares g: 1e20 is finite, 1e40 is not. */
	ps_rule_defaults(&r, PS_RULE_ADAM);
	s = ps_store_new(&r);
	w[0] = 1;
	v = view("w", 1, &d, w, 2);
	if (ps_store_init(s, &v, 1, &code, &cause) != 0)
		bail_out("init: %s", cause);
	c = ps_store_clone(s);
	v = view("w", 1, &d, g, 2);
	ok(apply(s, &v, 1, &code, &cause) == 0 &&
	    code == PS_E_NONFINITE && same_store(s, c),
	    "adam refuses a g whose square would overflow v");
	free(cause);
	ps_store_free(c);
	ps_store_free(s);
}

static void
test_versions_norms_clone(void)
{
	struct ps_store		*s, *c;
	struct ps_tview		 v[NT], one;
	const struct ps_tensor	*t;
	float			 w0[NT][15], u[15], *bufs[NT];
	double			 sq[NT], total, change, l2;
	size_t			 i, j;
	char			*cause = NULL;
	int			 code = 0;

	for (i = 0; i < NT; i++) {
		sq[i] = 0;
		for (j = 0; j < sizes[i]; j++) {
			/* Multiples of 1/1024: adding 0.5 is exact. */
			w0[i][j] = roundf(frand() * 4096) / 1024;
			sq[i] += (double)w0[i][j] * w0[i][j];
		}
		bufs[i] = w0[i];
	}
	s = new_store(PS_RULE_ADD, 0, bufs);
	is_near(ps_store_l2(s, 0), sqrt(sq[0]), 1e-12,
	    "the L2 norm of a tensor is sqrt of its sum of squares");
	is_near(ps_store_model_l2(s), sqrt(sq[0] + sq[1] + sq[2]), 1e-12,
	    "the model's L2 norm covers every tensor");

	/* u = 0.5 everywhere: an exact change in float. */
	for (j = 0; j < 15; j++)
		u[j] = 0.5f;
	one = view(names[1], ndims[1], dims[1], u, sizes[1]);
	ok(apply(s, &one, 1, &code, &cause) == 1,
	    "an update of one tensor is version 1");
	l2 = ps_store_model_l2_const(s, NULL);
	ok(l2 == ps_store_model_l2(s) &&
	    l2 == ps_store_model_l2_const(s, NULL),
	    "the read-only model norm, stale or cached, is the same number");
	t = ps_store_tensor(s, 1);
	ok(t->version == 1 && t->steps == 1 &&
	    ps_store_tensor(s, 0)->version == 0 &&
	    ps_store_tensor(s, 0)->steps == 0,
	    "only the tensor it names takes the new version and a step");
	is_near(ps_store_last_update_l2(s), sqrt(7 * 0.25), 1e-12,
	    "the last update's norm is that of the change (sqrt(7)/2)");
	total = 0;
	for (j = 0; j < 7; j++)
		total += ((double)w0[1][j] + 0.5) * ((double)w0[1][j] + 0.5);
	is_near(ps_store_l2(s, 1), sqrt(total), 1e-12,
	    "a tensor's norm is recomputed after an update");

	c = ps_store_clone(s);
	model_views(v, (float *[]){ u, u, u });
	ok(apply(s, v, NT, &code, &cause) == 2,
	    "an update of every tensor is version 2");
	change = sqrt(15 * 0.25 + 7 * 0.25 + 0.25);
	is_near(ps_store_last_update_l2(s), change, 1e-12,
	    "the last update's norm spans every tensor it touched");
	ok(ps_store_version(c) == 1 && ps_store_tensor(c, 0)->data[0] ==
	    w0[0][0] && ps_store_tensor(c, 0)->data != ps_store_tensor(s,
	    0)->data, "the clone did not see the update");
	ok(apply(c, &one, 1, &code, &cause) == 2 &&
	    ps_store_tensor(s, 1)->version == 2 &&
	    ps_store_tensor(s, 1)->steps == 2 &&
	    ps_store_tensor(c, 1)->steps == 2 &&
	    ps_store_tensor(c, 0)->steps == 0 &&
	    ps_store_tensor(s, 0)->steps == 1,
	    "an update of the clone leaves the store alone");
	ps_store_set_version(s, 41);
	ok(apply(s, &one, 1, &code, &cause) == 42,
	    "set_version moves the version the next update builds on");
	ps_store_free(c);
	ps_store_free(s);
}

static void
test_matches(void)
{
	struct ps_store	*s;
	struct ps_tview	 v[NT], tmp;
	float		 w0[NT][15], *bufs[NT];
	uint64_t	 other[2] = { 5, 3 };
	size_t		 i;
	char		*cause = NULL;
	int		 code = 0, rc;

	memset(w0, 0, sizeof w0);
	for (i = 0; i < NT; i++)
		bufs[i] = w0[i];
	s = new_store(PS_RULE_SGD, 0.1, bufs);
	model_views(v, bufs);
	v[0].data = NULL;		/* data is ignored */
	ok(ps_store_matches(s, v, NT, &code, &cause) == 0,
	    "matches accepts the same names and shapes");
	ok(ps_store_matches(s, v, NT - 1, &code, &cause) == -1 &&
	    code == PS_E_MISMATCH, "and refuses a tensor fewer");
	free(cause);
	tmp = v[0];
	v[0] = v[1];
	v[1] = tmp;
	rc = ps_store_matches(s, v, NT, &code, &cause);
	ok(rc == -1 && code == PS_E_MISMATCH, "and refuses another order (%s)",
	    cause);
	free(cause);
	model_views(v, bufs);
	v[0].dims[0] = other[0];
	v[0].dims[1] = other[1];
	rc = ps_store_matches(s, v, NT, &code, &cause);
	ok(rc == -1 && code == PS_E_MISMATCH, "and refuses another shape (%s)",
	    cause);
	free(cause);
	ps_store_free(s);
}

static void
test_mean(void)
{
	struct ps_store		*s;
	struct ps_accum		*a;
	struct ps_tview		 v[NT];
	const struct ps_tensor	*t;
	float			 w0[NT][15], u[3][NT][15], *bufs[NT];
	double			 want, diff = 0;
	float			 kept;
	size_t			 i, j, k;
	uint64_t		 ver;
	char			*cause = NULL;
	int			 code = 0;
	/*
	 * Which tensors each of the three updates names, in which order:
	 * dense/kernel twice, dense/bias three times, scale once (the last
	 * update lists them against model order).
	 */
	static const int	 order[3][NT] = {
		{ 0, 1, -1 }, { 1, -1, -1 }, { 2, 1, 0 }
	};

	for (i = 0; i < NT; i++) {
		for (j = 0; j < sizes[i]; j++) {
			w0[i][j] = frand();
			u[0][i][j] = frand();
			u[1][i][j] = frand();
			u[2][i][j] = frand();
		}
		bufs[i] = w0[i];
	}
	/* sgd at lr 0.5: the mean is applied under the rule. */
	s = new_store(PS_RULE_SGD, 0.5, bufs);
	ps_store_set_version(s, 10);
	a = ps_accum_new(s);
	ok(mean(s, a) == 0,
	    "an empty round applies nothing");
	for (j = 0; j < 3; j++) {
		for (k = 0; k < NT && order[j][k] != -1; k++) {
			i = (size_t)order[j][k];
			v[k] = view(names[i], ndims[i], dims[i], u[j][i],
			    sizes[i]);
		}
		if (ps_accum_add(a, s, v, k, &code, &cause) != 0)
			bail_out("accum: %s", cause);
	}
	/* A bad contribution adds nothing. */
	v[0] = view(names[0], ndims[0], dims[0], u[0][0], sizes[0]);
	v[1] = view(names[2], ndims[2], dims[2], u[0][2], sizes[2]);
	u[0][2][0] = NAN;
	ok(ps_accum_add(a, s, v, 2, &code, &cause) == -1 &&
	    code == PS_E_NONFINITE && ps_accum_updates(a) == 3,
	    "a contribution with a NaN is refused and not counted");
	free(cause);
	cause = NULL;

	ver = mean(s, a);
	ok(ver == 11, "the round is one update: version 10 becomes 11");
	for (i = 0; i < NT; i++) {
		t = ps_store_tensor(s, i);
		for (j = 0; j < sizes[i]; j++) {
			if (i == 0)	/* named by updates 1 and 3 */
				want = ((double)u[0][0][j] + u[2][0][j]) / 2;
			else if (i == 1)	/* named by all three */
				want = ((double)u[0][1][j] + u[1][1][j] +
				    u[2][1][j]) / 3;
			else		/* named by update 3 alone */
				want = u[2][2][j];
			want = w0[i][j] - 0.5 * want;
			diff = fmax(diff, fabs(t->data[j] - want));
		}
	}
	ok(diff < 1e-6, "each tensor moves by lr times the mean of its own "
	    "contributions (max diff %.3g)", diff);
	ok(ps_store_tensor(s, 0)->version == 11 &&
	    ps_store_tensor(s, 2)->version == 11 &&
	    ps_store_tensor(s, 0)->steps == 1 &&
	    ps_store_tensor(s, 1)->steps == 1 &&
	    ps_store_tensor(s, 2)->steps == 1,
	    "every tensor the round touched steps once, to version 11");
	ok(ps_accum_updates(a) == 0 && mean(s, a) == 0,
	    "the round resets the accumulator");

	/* The next round starts from zero sums. */
	v[0] = view(names[1], ndims[1], dims[1], u[1][1], sizes[1]);
	if (ps_accum_add(a, s, v, 1, &code, &cause) != 0)
		bail_out("accum: %s", cause);
	want = ps_store_tensor(s, 1)->data[4] - 0.5 * (double)u[1][1][4];
	kept = ps_store_tensor(s, 2)->data[0];
	ok(mean(s, a) == 12 &&
	    fabs(ps_store_tensor(s, 1)->data[4] - want) < 1e-6,
	    "a second round of one update applies that update alone");
	ok(ps_store_tensor(s, 1)->version == 12 &&
	    ps_store_tensor(s, 0)->version == 11 &&
	    ps_store_tensor(s, 2)->version == 11 &&
	    ps_store_tensor(s, 2)->data[0] == kept,
	    "tensors the round did not name keep their version and values");

	/* A mean that would overflow the model: dropped, with its cause. */
	ps_store_tensor_mut(s, 2)->data[0] = 3e38f;
	u[0][2][0] = -3e38f;
	v[0] = view(names[2], ndims[2], dims[2], u[0][2], sizes[2]);
	if (ps_accum_add(a, s, v, 1, &code, &cause) != 0)
		bail_out("accum: %s", cause);
	ok(ps_store_apply_mean(s, a, &cause) == -1 && cause != NULL &&
	    strstr(cause, "\"scale\": the update would make it non-finite") !=
	    NULL && ps_store_version(s) == 12 &&
	    ps_store_tensor(s, 2)->data[0] == 3e38f &&
	    ps_accum_updates(a) == 0, "a round whose mean would overflow is "
	    "dropped and says why (%s)", cause != NULL ? cause : "");
	free(cause);
	ps_accum_free(a);
	ps_store_free(s);
}

static void
test_kernels(void)
{
	float	x[37];
	size_t	i;

	for (i = 0; i < 37; i++)
		x[i] = (float)i - 18;
	ok(ps_k_finite(x, 37) && ps_k_maxabs(x, 37) == 18.0f,
	    "finite values: maxabs is the largest magnitude");
	x[36] = -INFINITY;
	ok(!ps_k_finite(x, 37) && isinf(ps_k_maxabs(x, 37)),
	    "-Inf in the last element is seen");
	x[5] = NAN;
	ok(!ps_k_finite(x, 37) && isnan(ps_k_maxabs(x, 37)),
	    "a NaN wins over an infinity");
	ok(ps_k_finite(x, 0) && ps_k_maxabs(x, 0) == 0,
	    "no elements are finite, of magnitude 0");
}

/* The fused check and norm against the two kernels it replaces. */
static void
test_maxabs_sumsq(void)
{
	static float	 x[3000];
	struct ps_rule	 r;
	struct ps_store	*s;
	struct ps_tview	 v;
	double		 sq, ref;
	float		 u[2] = { 3, -4 }, w[2] = { 1, 1 }, mx;
	uint64_t	 d = 2;
	char		*cause = NULL;
	int		 code = 0, same = 1;
	size_t		 i, n;

	srand(7);
	for (i = 0; i < 3000; i++)
		x[i] = ((float)rand() / (float)RAND_MAX - 0.5f) * 1e3f;
	/* Lengths around the blocks and the SIMD tails. */
	for (n = 0; n <= 3000; n += n < 40 ? 1 : 487) {
		mx = ps_k_maxabs_sumsq(x, n, &sq);
		ref = ps_k_sumsq(x, n);
		if (mx != ps_k_maxabs(x, n) ||
		    fabs(sq - ref) > 1e-5 * ref) {
			diag("n %zu: max %g, not %g; sumsq %.9g, not %.9g", n,
			    mx, ps_k_maxabs(x, n), sq, ref);
			same = 0;
		}
	}
	ok(same, "one pass gives ps_k_maxabs and ps_k_sumsq, 0 to 3000 "
	    "elements");
	x[100] = 1e30f;
	mx = ps_k_maxabs_sumsq(x, 3000, &sq);
	is_near(sq, ps_k_sumsq(x, 3000), 1e-6,
	    "squares past FLT_MAX are summed in double");
	x[100] = INFINITY;
	mx = ps_k_maxabs_sumsq(x, 3000, &sq);
	ok(isinf(mx) && isnan(sq), "an infinity: +Inf, and no norm");
	x[7] = NAN;
	mx = ps_k_maxabs_sumsq(x, 3000, &sq);
	ok(isnan(mx) && isnan(sq), "a NaN wins");

	/* What the server shows as a worker's UPD_L2: the push as sent. */
	ps_rule_defaults(&r, PS_RULE_SGD);
	r.lr = 0.5;
	s = ps_store_new(&r);
	v = view("w", 1, &d, w, 2);
	if (ps_store_init(s, &v, 1, &code, &cause) != 0)
		bail_out("init: %s", cause);
	v = view("w", 1, &d, u, 2);
	if (apply(s, &v, 1, &code, &cause) != 1)
		bail_out("apply: %s", cause);
	ok(ps_store_push_l2(s) == 5 && ps_store_last_update_l2(s) == 2.5,
	    "the push's norm is as it came (5), the change as applied (2.5)");
	u[0] = NAN;
	ok(apply(s, &v, 1, &code, &cause) == 0 && ps_store_push_l2(s) == 5,
	    "a refused push leaves the last accepted one's norm");
	free(cause);
	ps_store_free(s);
}

int
main(void)
{
	plan(118);
	test_parse();
	test_rules();
	test_init();
	test_init_shapes();
	test_refusals();
	test_overflow();
	test_versions_norms_clone();
	test_matches();
	test_mean();
	test_kernels();
	test_maxabs_sumsq();
	return exit_status();
}
