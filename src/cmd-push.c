/*
 * psctl push: sends the tensors of a safetensors file as one update,
 * applied under the server's rule.  Exits 0 only when it was applied, and
 * prints the model version after it.
 */
#include "config.h"

#include "cmd.h"
#include "cmd-worker.h"

static enum ps_cmd_retval	cmd_push_exec(struct ps_cmd *);

static const struct ps_cmd_opt cmd_push_opts[] = {
	PS_CMD_WORKER_OPTS,
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_push_entry = {
	.name = "push",
	.args = { cmd_push_opts, 1, 1, "file" },
	.usage = PS_CMD_WORKER_USAGE " file",
	.summary = "push a safetensors file's tensors as one update",
	.exec = cmd_push_exec
};

static enum ps_cmd_retval
cmd_push_exec(struct ps_cmd *self)
{
	return ps_cmd_worker_send_file(self, psctl_push);
}
