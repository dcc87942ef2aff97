/*
 * psctl bench: a load generator in the spirit of redis-benchmark (bench.c
 * runs it): workers on connections of their own pull, push or both in a
 * closed loop for a fixed time, against a server or one it spawns, and
 * the rates and latency percentiles are printed as text or JSON.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cmd.h"
#include "xmalloc.h"

static enum ps_cmd_retval cmd_bench_exec(struct ps_cmd *);

static const struct ps_cmd_opt cmd_bench_opts[] = {
	{ "connect", 0, 1 },
	{ "spawn", 0, 0 },
	{ "workers", 0, 1 },
	{ "params", 0, 1 },
	{ "tensors", 0, 1 },
	{ "seconds", 0, 1 },
	{ "op", 0, 1 },
	{ "json", 0, 0 },
	{ "mode", 0, 1 },
	{ "rule", 0, 1 },
	{ "token-file", 0, 1 },
	{ "ca-file", 0, 1 },
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_bench_entry = {
	.name = "bench",
	.args = { cmd_bench_opts, 0, 0, NULL },
	.usage = "[--connect url | --spawn] [--workers n] [--params p] "
	    "[--tensors k] [--seconds s] [--op pull | push | pushpull] "
	    "[--json] [--mode mode] [--rule rule] [--token-file file] "
	    "[--ca-file file]",
	.summary = "measure pull and push throughput and latency",
	.man = "psctl-bench.1",
	.exec = cmd_bench_exec
};

/* Reads the options into o; the usage error after a message. */
static enum ps_cmd_retval
bench_options(struct ps_cmd *self, struct ps_bench_opts *o)
{
	struct ps_args	*args = self->args;
	const char	*op = ps_args_get(args, "op");
	char		*cause = NULL;

	memset(o, 0, sizeof *o);
	if (!ps_args_has(args, "spawn"))
		o->url = ps_cmd_url(self, ps_args_get(args, "connect"));
	o->nworkers = 1;
	o->params = 1000000;
	o->ntensors = 1;
	o->seconds = 5;
	o->op = PS_BENCH_PUSHPULL;
	o->mode = ps_args_get(args, "mode");
	o->rule = ps_args_get(args, "rule");
	o->token_file = ps_args_get(args, "token-file");
	o->ca_file = ps_args_get(args, "ca-file");
	o->json = ps_args_has(args, "json");
	if (ps_args_has(args, "workers"))
		o->nworkers = (unsigned)ps_args_strtonum(args, "workers", 1,
		    1024, &cause);
	if (cause == NULL && ps_args_has(args, "params"))
		o->params = (uint64_t)ps_args_strtonum(args, "params", 1,
		    1ll << 40, &cause);
	if (cause == NULL && ps_args_has(args, "tensors"))
		o->ntensors = (unsigned)ps_args_strtonum(args, "tensors", 1,
		    65536, &cause);
	if (cause == NULL && ps_args_has(args, "seconds"))
		o->seconds = ps_args_strtod(args, "seconds", 0, 86400,
		    PS_ARGS_ABOVE_MIN, &cause);
	if (cause == NULL && op != NULL) {
		if (strcmp(op, "pull") == 0)
			o->op = PS_BENCH_PULL;
		else if (strcmp(op, "push") == 0)
			o->op = PS_BENCH_PUSH;
		else if (strcmp(op, "pushpull") == 0)
			o->op = PS_BENCH_PUSHPULL;
		else
			cause = xasprintf("--op is pull, push or pushpull, "
			    "not \"%s\"", op);
	}
	if (cause == NULL && ps_args_has(args, "connect") &&
	    ps_args_has(args, "spawn"))
		cause = xstrdup("--connect and --spawn exclude each other");
	if (cause == NULL && !ps_args_has(args, "spawn") &&
	    (o->mode != NULL || o->rule != NULL))
		cause = xstrdup("--mode and --rule need --spawn");
	if (cause == NULL && o->ntensors > o->params)
		cause = xasprintf("--tensors %u is more than --params %" PRIu64,
		    o->ntensors, o->params);
	if (cause == NULL)
		return PS_CMD_OK;
	ps_cmd_error(self, "%s", cause);
	free(cause);
	return PS_CMD_ERR_USAGE;
}

static enum ps_cmd_retval
cmd_bench_exec(struct ps_cmd *self)
{
	struct ps_bench_opts	o;
	enum ps_cmd_retval	ret;

	if ((ret = bench_options(self, &o)) != PS_CMD_OK)
		return ret;
	return ps_bench_run(self, &o);
}
