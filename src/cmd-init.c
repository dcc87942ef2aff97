/*
 * psctl init: creates the server's model from a safetensors file (first
 * writer wins; the same names and shapes again just get the model back).
 * Prints the model version.
 */
#include "config.h"

#include "cmd.h"
#include "cmd-worker.h"

static int	cmd_init_exec(int, char **);

const struct ps_cmd_entry ps_cmd_init_entry = {
	.name = "init",
	.usage = PS_CMD_WORKER_USAGE " FILE",
	.summary = "create the server's model from a safetensors file",
	.exec = cmd_init_exec
};

static int
cmd_init_exec(int argc, char **argv)
{
	return ps_cmd_worker_send_file(&ps_cmd_init_entry, argc, argv,
	    psctl_init);
}
