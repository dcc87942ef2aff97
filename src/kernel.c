/*
 * Update and norm kernels (kernel.h).  Plain loops over restrict pointers
 * that gcc vectorises with the flags Makefile.am gives this file; sums are
 * OpenMP SIMD reductions in double.  The per-element arithmetic of each rule
 * lives in one inline function shared by the update kernel and its *_ok
 * twin, so the twin predicts the kernel bit for bit.  Pure functions of
 * their arguments: safe on any thread for disjoint buffers.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernel.h"

#define K_EXP	0x7f800000u	/* float32 exponent bits */
/*
 * The update kernels sum squared changes in float over blocks of K_BLOCK
 * elements (SIMD lanes of 512/8 terms each: relative error below 1e-5)
 * and add the blocks in double.  Converting every square to double
 * instead halves the kernels' speed.
 */
#define K_BLOCK	512

/*
 * On x86-64 with GNU ifuncs, each kernel is compiled twice, for AVX2 and
 * for the baseline (SSE2), and the loader picks one for the CPU it runs
 * on.  The loops are memory-bound with AVX2 and compute-bound without
 * it: the fused norm's float-to-double conversions and ps_k_maxabs's
 * max run about three times faster.
 */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8 && \
    defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__)
#define K_CLONES __attribute__((__target_clones__("avx2", "default")))
#else
#define K_CLONES
#endif

static inline uint32_t	k_bits(float);
static inline int	k_bad(float);
static inline float	k_axpy1(float, float, float);
static inline float	k_mom_v(float, float, float);
static inline float	k_mom_w(float, float, float, float, float, int);
static inline float	k_adam_m(float, float, float, float);
static inline float	k_adam_v(float, float, float, float);
static inline float	k_adam_w(float, float, float, float, float);

static inline uint32_t
k_bits(float x)
{
	uint32_t	b;

	memcpy(&b, &x, sizeof b);
	return b;
}

/* 1 for an infinity or a NaN, by the exponent bits alone. */
static inline int
k_bad(float x)
{
	return (k_bits(x) & K_EXP) == K_EXP;
}

static inline float
k_axpy1(float w, float u, float a)
{
	return w + a * u;
}

static inline float
k_mom_v(float v, float g, float mu)
{
	return mu * v + g;
}

/* vn is the new momentum buffer value (k_mom_v). */
static inline float
k_mom_w(float w, float vn, float g, float lr, float mu, int nesterov)
{
	return w - lr * (nesterov ? g + mu * vn : vn);
}

static inline float
k_adam_m(float m, float g, float b1, float c1)
{
	return b1 * m + c1 * g;
}

static inline float
k_adam_v(float v, float g, float b2, float c2)
{
	return b2 * v + c2 * (g * g);
}

static inline float
k_adam_w(float w, float mn, float vn, float lr_t, float eps_t)
{
	return w - lr_t * (mn / (sqrtf(vn) + eps_t));
}

K_CLONES double
ps_k_axpy(float *restrict w, const float *restrict u, float a, size_t n)
{
	double	s = 0;
	size_t	b, e, i;

	for (b = 0; b < n; b = e) {
		float	fs = 0;

		e = n - b > K_BLOCK ? b + K_BLOCK : n;
#pragma omp simd reduction(+:fs)
		for (i = b; i < e; i++) {
			float	old = w[i], nw = k_axpy1(old, u[i], a);
			float	c = nw - old;

			w[i] = nw;
			fs += c * c;
		}
		s += fs;
	}
	return s;
}

K_CLONES double
ps_k_momentum(float *restrict w, float *restrict v, const float *restrict g,
    float lr, float mu, int nesterov, size_t n)
{
	double	s = 0;
	size_t	b, e, i;

	for (b = 0; b < n; b = e) {
		float	fs = 0;

		e = n - b > K_BLOCK ? b + K_BLOCK : n;
		/* Two loops so that neither carries the nesterov branch. */
		if (nesterov) {
#pragma omp simd reduction(+:fs)
			for (i = b; i < e; i++) {
				float	old = w[i];
				float	vn = k_mom_v(v[i], g[i], mu);
				float	nw = k_mom_w(old, vn, g[i], lr, mu, 1);
				float	c = nw - old;

				v[i] = vn;
				w[i] = nw;
				fs += c * c;
			}
		} else {
#pragma omp simd reduction(+:fs)
			for (i = b; i < e; i++) {
				float	old = w[i];
				float	vn = k_mom_v(v[i], g[i], mu);
				float	nw = k_mom_w(old, vn, g[i], lr, mu, 0);
				float	c = nw - old;

				v[i] = vn;
				w[i] = nw;
				fs += c * c;
			}
		}
		s += fs;
	}
	return s;
}

K_CLONES double
ps_k_adam(float *restrict w, float *restrict m, float *restrict v,
    const float *restrict g, float b1, float c1, float b2, float c2,
    float lr_t, float eps_t, size_t n)
{
	double	s = 0;
	size_t	b, e, i;

	for (b = 0; b < n; b = e) {
		float	fs = 0;

		e = n - b > K_BLOCK ? b + K_BLOCK : n;
#pragma omp simd reduction(+:fs)
		for (i = b; i < e; i++) {
			float	old = w[i];
			float	mn = k_adam_m(m[i], g[i], b1, c1);
			float	vn = k_adam_v(v[i], g[i], b2, c2);
			float	nw = k_adam_w(old, mn, vn, lr_t, eps_t);
			float	c = nw - old;

			m[i] = mn;
			v[i] = vn;
			w[i] = nw;
			fs += c * c;
		}
		s += fs;
	}
	return s;
}

K_CLONES void
ps_k_add(float *restrict sum, const float *restrict u, size_t n)
{
	size_t	i;

#pragma omp simd
	for (i = 0; i < n; i++)
		sum[i] += u[i];
}

K_CLONES void
ps_k_xor4(unsigned char *p, const unsigned char key[4], size_t n)
{
	uint32_t	k, w;
	size_t		i, words = n / 4;

	memcpy(&k, key, 4);
	/* memcpy: p has no alignment; the compiler makes these plain loads. */
#pragma omp simd
	for (i = 0; i < words; i++) {
		memcpy(&w, p + 4 * i, 4);
		w ^= k;
		memcpy(p + 4 * i, &w, 4);
	}
	for (i = 4 * words; i < n; i++)
		p[i] ^= key[i & 3];
}

K_CLONES void
ps_k_div(float *restrict x, float d, size_t n)
{
	size_t	i;

#pragma omp simd
	for (i = 0; i < n; i++)
		x[i] /= d;
}

K_CLONES double
ps_k_sumsq(const float *x, size_t n)
{
	double	s = 0;
	size_t	i;

#pragma omp simd reduction(+:s)
	for (i = 0; i < n; i++)
		s += (double)x[i] * x[i];
	return s;
}

K_CLONES int
ps_k_finite(const float *x, size_t n)
{
	int	bad = 0;
	size_t	i;

#pragma omp simd reduction(|:bad)
	for (i = 0; i < n; i++)
		bad |= k_bad(x[i]);
	return !bad;
}

K_CLONES float
ps_k_maxabs(const float *x, size_t n)
{
	float	mx = 0;
	int	bad = 0, nan = 0;
	size_t	i;

	/*
	 * A float max (maxps) and a bit test for non-finite values, as two
	 * reductions: cheaper than an integer max without SSE4.1, and NaNs
	 * (which a float max may drop) are caught by the bit test.
	 */
#pragma omp simd reduction(max:mx) reduction(|:bad)
	for (i = 0; i < n; i++) {
		float	a = fabsf(x[i]);

		bad |= k_bad(x[i]);
		mx = a > mx ? a : mx;
	}
	if (!bad)
		return mx;
	/* Rare: tell a NaN from an infinity. */
	for (i = 0; i < n; i++)
		nan |= isnan(x[i]);
	return nan ? NAN : INFINITY;
}

K_CLONES float
ps_k_maxabs_sumsq(const float *x, size_t n, double *sq)
{
	double	s = 0;
	float	mx = 0;
	int	bad = 0;
	size_t	b, e, i;

	for (b = 0; b < n; b = e) {
		float	fs = 0;

		e = n - b > K_BLOCK ? b + K_BLOCK : n;
#pragma omp simd reduction(max:mx) reduction(|:bad) reduction(+:fs)
		for (i = b; i < e; i++) {
			float	a = fabsf(x[i]);

			bad |= k_bad(x[i]);
			mx = a > mx ? a : mx;
			fs += a * a;
		}
		s += fs;
	}
	if (bad) {
		*sq = NAN;
		return ps_k_maxabs(x, n);
	}
	/* Squares past FLT_MAX (|x| over about 1.8e19): in double. */
	*sq = isfinite(s) ? s : ps_k_sumsq(x, n);
	return mx;
}

K_CLONES int
ps_k_axpy_ok(const float *restrict w, const float *restrict u, float a,
    size_t n)
{
	int	bad = 0;
	size_t	i;

#pragma omp simd reduction(|:bad)
	for (i = 0; i < n; i++)
		bad |= k_bad(k_axpy1(w[i], u[i], a));
	return !bad;
}

K_CLONES int
ps_k_momentum_ok(const float *restrict w, const float *restrict v,
    const float *restrict g, float lr, float mu, int nesterov, size_t n)
{
	int	bad = 0;
	size_t	i;

#pragma omp simd reduction(|:bad)
	for (i = 0; i < n; i++) {
		float	vn = k_mom_v(v[i], g[i], mu);

		bad |= k_bad(vn) |
		    k_bad(k_mom_w(w[i], vn, g[i], lr, mu, nesterov));
	}
	return !bad;
}

K_CLONES int
ps_k_adam_ok(const float *restrict w, const float *restrict m,
    const float *restrict v, const float *restrict g, float b1, float c1,
    float b2, float c2, float lr_t, float eps_t, size_t n)
{
	int	bad = 0;
	size_t	i;

#pragma omp simd reduction(|:bad)
	for (i = 0; i < n; i++) {
		float	mn = k_adam_m(m[i], g[i], b1, c1);
		float	vn = k_adam_v(v[i], g[i], b2, c2);

		bad |= k_bad(mn) | k_bad(vn) |
		    k_bad(k_adam_w(w[i], mn, vn, lr_t, eps_t));
	}
	return !bad;
}

K_CLONES int
ps_k_add_ok(const float *restrict sum, const float *restrict u, size_t n)
{
	int	bad = 0;
	size_t	i;

#pragma omp simd reduction(|:bad)
	for (i = 0; i < n; i++)
		bad |= k_bad(sum[i] + u[i]);
	return !bad;
}
