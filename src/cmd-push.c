/*
 * psctl push: sends the tensors of a safetensors file as one update,
 * applied under the server's rule.  Exits 0 only when it was applied, and
 * prints the model version after it.
 */
#include "config.h"

#include "cmd.h"
#include "cmd-worker.h"

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
	return ps_cmd_worker_send_file(&ps_cmd_push_entry, argc, argv,
	    psctl_push);
}
