/*
 * psctl pull: writes the live model to a safetensors checkpoint, crash-safe
 * (ps_ckpt_save(): temporary file, fsync, rename).  Prints the version.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "checkpoint.h"
#include "cmd.h"
#include "cmd-worker.h"
#include "store.h"
#include "tensor.h"
#include "xmalloc.h"

static int	cmd_pull_exec(int, char **);

const struct ps_cmd_entry ps_cmd_pull_entry = {
	.name = "pull",
	.usage = PS_CMD_WORKER_USAGE " -o FILE",
	.summary = "save the live model to a safetensors file",
	.exec = cmd_pull_exec
};

/*
 * A store holding the pulled tensors (copied) at the pulled version, under
 * the rule add: the wire does not carry the server's rule.
 */
static struct ps_store *
cmd_pull_store(const struct psctl_tensor *t, size_t n, uint64_t version,
    char **cause)
{
	struct ps_store	*s;
	struct ps_tview	*v;
	struct ps_rule	 rule;
	size_t		 i;
	int		 code;

	v = xcalloc(n > 0 ? n : 1, sizeof *v);
	for (i = 0; i < n; i++) {
		v[i].name = t[i].name;
		v[i].namelen = strlen(t[i].name);
		v[i].dtype = PS_DTYPE_F32;
		v[i].ndim = t[i].ndim;
		memcpy(v[i].dims, t[i].dims, t[i].ndim * sizeof v[i].dims[0]);
		v[i].data = t[i].data;
		v[i].nbytes = t[i].n * sizeof(float);
	}
	ps_rule_defaults(&rule, PS_RULE_ADD);
	s = ps_store_new(&rule);
	if (ps_store_init(s, v, n, &code, cause) != 0) {
		ps_store_free(s);
		s = NULL;
	} else
		ps_store_set_version(s, version);
	free(v);
	return s;
}

static int
cmd_pull_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		PS_CMD_WORKER_LONGOPTS,
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ps_cmd_worker		 w;
	struct ps_store			*store;
	const struct psctl_tensor	*t;
	const char			*out = NULL;
	char				*cause = NULL;
	uint64_t			 version;
	size_t				 n;
	int				 ch, ex;

	ps_cmd_worker_init(&w, "pull");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		if ((ex = ps_cmd_worker_option(&w, ch, optarg)) > 1)
			return ex;
		if (ex == 1)
			continue;
		switch (ch) {
		case 'o':
			out = optarg;
			break;
		case 'h':
			ps_cmd_usage(&ps_cmd_pull_entry, stdout);
			return EX_OK;
		default:
			return ps_cmd_usage_error(&ps_cmd_pull_entry, NULL);
		}
	}
	if (optind != argc)
		return ps_cmd_usage_error(&ps_cmd_pull_entry,
		    "unexpected argument: %s", argv[optind]);
	if (out == NULL)
		return ps_cmd_usage_error(&ps_cmd_pull_entry,
		    "-o FILE is required");

	if ((ex = ps_cmd_worker_open(&w)) != 0)
		return ex;
	if (psctl_pull(w.c, NULL, 0, &t, &n, &version) != 0) {
		ex = ps_cmd_worker_fail(&w, "pull");
		ps_cmd_worker_close(&w);
		return ex;
	}
	/* The tensors point into the connection: copy before closing. */
	store = cmd_pull_store(t, n, version, &cause);
	ps_cmd_worker_close(&w);
	if (store == NULL) {
		fprintf(stderr, "psctl pull: the server's model does not "
		    "verify: %s\n", cause);
		free(cause);
		return EX_PROTOCOL;
	}
	if (ps_ckpt_save(store, out, NULL, &cause) != 0) {
		fprintf(stderr, "psctl pull: %s\n", cause);
		free(cause);
		ps_store_free(store);
		return EX_CANTCREAT;
	}
	ps_store_free(store);
	printf("%llu\n", (unsigned long long)version);
	return EX_OK;
}
