/*
 * Hot loops over float32 arrays, built with vectorisation forced on
 * (see Makefile.am) and OpenMP SIMD reductions.  No allocation, no I/O.
 * Each update kernel returns the squared L2 norm of the change it made to w
 * (new w minus old w as stored), summed in float within blocks of 512
 * elements and in double across them: relative error below 1e-5, squares
 * of changes under 1e-19 in magnitude lost, and +Inf when some change is
 * beyond 1.8e19 (its square overflows float).  The store then recomputes
 * the norm from the update itself.
 *
 * Every element is computed by the same expression in the update kernel and
 * in its *_ok twin, so a twin's answer is exact: it reports whether the
 * update would leave every value it writes finite, without writing.  The
 * file is C11 (-ffp-contract=off), so vector and scalar lanes round alike.
 */
#ifndef PS_KERNEL_H
#define PS_KERNEL_H

#include <stddef.h>

/* w += a * u */
double	ps_k_axpy(float *restrict w, const float *restrict u, float a, size_t n);
/* v = mu v + g; w -= lr * (nesterov ? g + mu v : v) */
double	ps_k_momentum(float *restrict w, float *restrict v,
	    const float *restrict g, float lr, float mu, int nesterov, size_t n);
/*
 * m = b1 m + c1 g; v = b2 v + c2 g^2; w -= lr_t * m / (sqrt(v) + eps_t),
 * lr_t and eps_t bias-corrected by the caller.  c1 = 1 - b1 and c2 = 1 - b2
 * come from the caller computed in double: 1 - (float)0.999 is 1.3e-5 off.
 */
double	ps_k_adam(float *restrict w, float *restrict m, float *restrict v,
	    const float *restrict g, float b1, float c1, float b2, float c2,
	    float lr_t, float eps_t, size_t n);
/* sum += u (the sync-round accumulator) */
void	ps_k_add(float *restrict sum, const float *restrict u, size_t n);
/* x /= d (the sync-round mean) */
void	ps_k_div(float *restrict x, float d, size_t n);
/* Sum of squares, in double. */
double	ps_k_sumsq(const float *x, size_t n);
/* 1 when every element is finite (bit tests: safe under -ffast-math). */
int	ps_k_finite(const float *x, size_t n);
/*
 * Largest |x|: +Inf when some element is infinite, NaN when some element is
 * a NaN (NaN wins), 0 for n == 0.  One pass does the finiteness check and
 * gives the magnitude bound the store uses to rule out overflow.
 */
float	ps_k_maxabs(const float *x, size_t n);
/*
 * ps_k_maxabs() and, in the same pass, the sum of squares in *sq (NaN
 * when some element is not finite): a push is read once to be checked
 * and measured.
 */
float	ps_k_maxabs_sumsq(const float *x, size_t n, double *sq);

/*
 * XORs n bytes at p, in place, with the 4-byte pattern key repeated from
 * p on (a WebSocket payload's unmasking, the key rotated to its phase).
 */
void	ps_k_xor4(unsigned char *p, const unsigned char key[4], size_t n);

/* 1 when the matching update kernel would write only finite values. */
int	ps_k_axpy_ok(const float *restrict w, const float *restrict u, float a,
	    size_t n);
int	ps_k_momentum_ok(const float *restrict w, const float *restrict v,
	    const float *restrict g, float lr, float mu, int nesterov,
	    size_t n);
int	ps_k_adam_ok(const float *restrict w, const float *restrict m,
	    const float *restrict v, const float *restrict g, float b1,
	    float c1, float b2, float c2, float lr_t, float eps_t, size_t n);
int	ps_k_add_ok(const float *restrict sum, const float *restrict u,
	    size_t n);

#endif
