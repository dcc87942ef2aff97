/*
 * store-bench: throughput of ps_store_apply() under the add rule on one
 * 1M-float (4 MB) tensor, against memcpy() of the same 4 MB, as GB/s of
 * tensor bytes and as a ratio.  Not a test: make check builds it and never
 * runs it.  Pin it for stable figures:
 *
 *	taskset -c 1 tests/bench/store-bench [elements [rounds]]
 *
 * Each figure is the best of `rounds` rounds of 50 operations.  The
 * breakdown lines time the two passes apply makes (the validation pass,
 * ps_k_maxabs, and the update, ps_k_axpy) on their own.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel.h"
#include "store.h"

#define OPS	50

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static float *
falloc(size_t n)
{
	void	*p;

	if (posix_memalign(&p, 64, n * sizeof (float)) != 0) {
		fprintf(stderr, "store-bench: out of memory\n");
		exit(1);
	}
	return p;
}

int
main(int argc, char **argv)
{
	struct ps_rule		 r;
	struct ps_store		*s;
	struct ps_tview		 v;
	float			*w, *u, *dst, *sw;
	volatile float		 sink;
	volatile double		 dsink = 0;
	size_t			 n = 1 << 20, i, rounds = 20, k, op;
	double			 t, best_apply = 1e9, best_copy = 1e9;
	double			 best_check = 1e9, best_axpy = 1e9, gb;
	char			*cause = NULL;
	int			 code;

	if (argc > 1)
		n = strtoull(argv[1], NULL, 10);
	if (argc > 2)
		rounds = strtoull(argv[2], NULL, 10);
	if (n == 0 || rounds == 0) {
		fprintf(stderr, "usage: store-bench [elements [rounds]]\n");
		return 1;
	}
	w = falloc(n);
	u = falloc(n);
	dst = falloc(n);
	sw = falloc(n);
	for (i = 0; i < n; i++) {
		w[i] = (float)(i % 1000) / 1000;
		u[i] = 1e-6f * (float)(i % 7);
		sw[i] = w[i];
	}

	ps_rule_defaults(&r, PS_RULE_ADD);
	s = ps_store_new(&r);
	memset(&v, 0, sizeof v);
	v.name = "w";
	v.namelen = 1;
	v.dtype = PS_DTYPE_F32;
	v.ndim = 1;
	v.dims[0] = n;
	v.data = w;
	v.nbytes = n * sizeof (float);
	if (ps_store_init(s, &v, 1, &code, &cause) != 0) {
		fprintf(stderr, "store-bench: init: %s\n", cause);
		return 1;
	}
	v.data = u;

	for (k = 0; k < rounds; k++) {
		t = now();
		for (op = 0; op < OPS; op++) {
			if (ps_store_apply(s, &v, 1, &code, &cause) != 0) {
				fprintf(stderr, "store-bench: apply: %s\n",
				    cause);
				return 1;
			}
		}
		t = (now() - t) / OPS;
		if (t < best_apply)
			best_apply = t;

		t = now();
		for (op = 0; op < OPS; op++) {
			memcpy(dst, w, n * sizeof (float));
			sink = dst[op % n];
		}
		t = (now() - t) / OPS;
		if (t < best_copy)
			best_copy = t;

		t = now();
		for (op = 0; op < OPS; op++)
			dsink = dsink + ps_k_maxabs(u, n);
		t = (now() - t) / OPS;
		if (t < best_check)
			best_check = t;

		t = now();
		for (op = 0; op < OPS; op++)
			dsink = dsink + ps_k_axpy(sw, u, 1.0f, n);
		t = (now() - t) / OPS;
		if (t < best_axpy)
			best_axpy = t;
	}
	(void)sink;

	gb = n * sizeof (float) / 1e9;
	printf("tensor: %zu floats (%.1f MB), best of %zu rounds of %d\n",
	    n, gb * 1e3, rounds, OPS);
	printf("ps_store_apply (add): %6.1f GB/s  (%.1f us)\n",
	    gb / best_apply, best_apply * 1e6);
	printf("memcpy:               %6.1f GB/s  (%.1f us)\n",
	    gb / best_copy, best_copy * 1e6);
	printf("ratio apply/memcpy:   %6.2f\n", best_copy / best_apply);
	printf("  check pass (ps_k_maxabs): %6.1f GB/s\n", gb / best_check);
	printf("  update pass (ps_k_axpy):  %6.1f GB/s\n", gb / best_axpy);

	ps_store_free(s);
	free(w);
	free(u);
	free(dst);
	free(sw);
	return 0;
}
