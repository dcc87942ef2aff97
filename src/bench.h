/*
 * The load generator behind psctl bench, in the spirit of
 * redis-benchmark.  Each worker is a thread with its own libpsctl
 * connection; all of them connect first, then pull, push or both in a
 * closed loop for a fixed time while their latencies go into log-linear
 * histograms.  Runs in the psctl process (xmalloc, stdout, stderr).
 */
#ifndef PS_BENCH_H
#define PS_BENCH_H

#include <stdint.h>

#include "cmd.h"

enum ps_bench_op {
	PS_BENCH_PULL,
	PS_BENCH_PUSH,
	PS_BENCH_PUSHPULL
};

/* What to run; strings borrowed for the run. */
struct ps_bench_opts {
	const char		*url;		/* NULL: spawn a psctl serve */
	const char		*token_file;	/* NULL: $PSCTL_TOKEN */
	const char		*ca_file;
	const char		*mode;		/* the spawned server's, or NULL */
	const char		*rule;		/* the spawned server's, or NULL */
	unsigned		 nworkers;
	uint64_t		 params;	/* in the model */
	unsigned		 ntensors;	/* params split over this many */
	double			 seconds;
	enum ps_bench_op	 op;
	int			 json;		/* one JSON object, not text */
};

/*
 * Makes sure the server holds a model of that size (init on an empty
 * server, reuse of a matching one), runs the workers, shows progress on
 * stderr when it is a terminal, and prints the totals.  Failures are
 * printed as cmd's and come back as its retval.
 */
enum ps_cmd_retval ps_bench_run(struct ps_cmd *cmd, const struct ps_bench_opts *);

#endif
