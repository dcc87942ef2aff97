/*
 * psctl push: sends the tensors of a safetensors file as one update,
 * applied under the server's rule.  Exits 0 only when it was applied, and
 * prints the model version after it.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "cmd.h"
#include "cmd-worker.h"
#include "store.h"

static int	cmd_push_exec(int, char **);

const struct ps_cmd_entry ps_cmd_push_entry = {
	.name = "push",
	.usage = PS_CMD_WORKER_USAGE " FILE",
	.summary = "push a safetensors file's tensors as one update",
	.exec = cmd_push_exec
};

static int
cmd_push_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		PS_CMD_WORKER_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ps_cmd_worker	 w;
	struct ps_store		*store;
	struct psctl_tensor	*t;
	uint64_t		 version;
	size_t			 n;
	int			 ch, ex;

	ps_cmd_worker_init(&w, "push");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if ((ex = ps_cmd_worker_option(&w, ch, optarg)) > 1)
			return ex;
		if (ex == 1)
			continue;
		switch (ch) {
		case 'h':
			ps_cmd_usage(&ps_cmd_push_entry, stdout);
			return EX_OK;
		default:
			return ps_cmd_usage_error(&ps_cmd_push_entry, NULL);
		}
	}
	if (argc - optind != 1)
		return ps_cmd_usage_error(&ps_cmd_push_entry, argc == optind ?
		    "no FILE given" : "one FILE only");

	if ((ex = ps_cmd_worker_load("push", argv[optind], &store, &t,
	    &n)) != 0)
		return ex;
	if ((ex = ps_cmd_worker_open(&w)) == 0) {
		if (psctl_push(w.c, t, n, &version) == 0)
			printf("%llu\n", (unsigned long long)version);
		else
			ex = ps_cmd_worker_fail(&w, "push");
		ps_cmd_worker_close(&w);
	}
	free(t);
	ps_store_free(store);
	return ex;
}
