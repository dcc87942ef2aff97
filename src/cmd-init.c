/*
 * psctl init: creates the server's model from a safetensors file (first
 * writer wins; the same names and shapes again just get the model back).
 * Prints the model version.
 */
#include "config.h"

#include "cmd.h"
#include "cmd-worker.h"

static enum ps_cmd_retval	cmd_init_exec(struct ps_cmd *);

static const struct ps_cmd_opt cmd_init_opts[] = {
	PS_CMD_WORKER_OPTS,
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_init_entry = {
	.name = "init",
	.args = { cmd_init_opts, 1, 1, "file" },
	.usage = PS_CMD_WORKER_USAGE " file",
	.summary = "create the server's model from a safetensors file",
	.exec = cmd_init_exec
};

static enum ps_cmd_retval
cmd_init_exec(struct ps_cmd *self)
{
	return ps_cmd_worker_send_file(self, psctl_init);
}
