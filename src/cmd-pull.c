/*
 * psctl pull: writes the live model to a safetensors checkpoint, crash-safe
 * (ps_ckpt_save(): temporary file, fsync, rename).  Prints the version.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cmd.h"
#include "cmd-worker.h"
#include "store.h"
#include "tensor.h"
#include "xmalloc.h"

static enum ps_cmd_retval	cmd_pull_exec(struct ps_cmd *);

static const struct ps_cmd_opt cmd_pull_opts[] = {
	PS_CMD_WORKER_OPTS,
	{ "output", 'o', 1 },
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_pull_entry = {
	.name = "pull",
	.args = { cmd_pull_opts, 0, 0, NULL },
	.usage = PS_CMD_WORKER_USAGE " -o file",
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

static enum ps_cmd_retval
cmd_pull_exec(struct ps_cmd *self)
{
	struct ps_cmd_worker		 w;
	struct ps_store			*store;
	const struct psctl_tensor	*t;
	const char			*out = ps_args_get(self->args, "output");
	enum ps_cmd_retval		 ret;
	char				*cause = NULL;
	uint64_t			 version;
	size_t				 n;

	if (out == NULL) {
		ps_cmd_error(self, "-o file is required");
		return PS_CMD_ERR_USAGE;
	}
	if ((ret = ps_cmd_worker_init(&w, self)) != PS_CMD_OK ||
	    (ret = ps_cmd_worker_open(&w)) != PS_CMD_OK)
		return ret;
	if (psctl_pull(w.c, NULL, 0, &t, &n, &version) != 0) {
		ret = ps_cmd_worker_fail(&w, "pull");
		ps_cmd_worker_close(&w);
		return ret;
	}
	/* The tensors point into the connection: copy before closing. */
	store = cmd_pull_store(t, n, version, &cause);
	ps_cmd_worker_close(&w);
	if (store == NULL) {
		ps_cmd_error(self, "the server's model does not verify: %s",
		    cause);
		free(cause);
		return PS_CMD_ERR_PROTOCOL;
	}
	if (ps_ckpt_save(store, out, NULL, &cause) != 0) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		ps_store_free(store);
		return PS_CMD_ERR_CANTCREAT;
	}
	ps_store_free(store);
	printf("%llu\n", (unsigned long long)version);
	return PS_CMD_OK;
}
