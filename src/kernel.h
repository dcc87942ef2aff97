/*
 * Hot loops over float32 arrays, built with vectorisation forced on
 * (see Makefile.am) and OpenMP SIMD reductions.  No allocation, no I/O.
 * Each update kernel returns the squared L2 norm of the change it made to w.
 */
#ifndef PS_KERNEL_H
#define PS_KERNEL_H

#include <stddef.h>

/* w += a * u */
double	ps_k_axpy(float *restrict w, const float *restrict u, float a, size_t n);
/* v = mu v + g; w -= lr * (nesterov ? g + mu v : v) */
double	ps_k_momentum(float *restrict w, float *restrict v,
	    const float *restrict g, float lr, float mu, int nesterov, size_t n);
/* m, v moments; w -= lr_t * m / (sqrt(v) + eps_t), lr_t and eps_t bias-corrected by the caller */
double	ps_k_adam(float *restrict w, float *restrict m, float *restrict v,
	    const float *restrict g, float b1, float b2, float lr_t, float eps_t,
	    size_t n);
/* sum += u (the sync-round accumulator) */
void	ps_k_add(float *restrict sum, const float *restrict u, size_t n);
/* Sum of squares, in double. */
double	ps_k_sumsq(const float *x, size_t n);
/* 1 when every element is finite. */
int	ps_k_finite(const float *x, size_t n);

#endif
