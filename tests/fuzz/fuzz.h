/*
 * What the libFuzzer harnesses in tests/fuzz/ share (configure
 * --enable-fuzzing builds them; make fuzz-smoke runs them).  Each harness
 * defines LLVMFuzzerTestOneInput() and checks a property beyond "does not
 * crash": fuzz_check() reports a broken property the way a crash is
 * reported, so libFuzzer keeps the input that broke it.
 */
#ifndef PS_FUZZ_H
#define PS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

/* Aborts with file:line and the condition when cond does not hold. */
#define fuzz_check(cond, what) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: property violated: %s (%s)\n",	\
		    __FILE__, __LINE__, (what), #cond);			\
		abort();						\
	}								\
} while (0)

#endif
