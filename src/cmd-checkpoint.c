/*
 * psctl checkpoint [--force] [name]: asks the server to write a checkpoint
 * into its --checkpoint-dir and prints the file's path.  A name in use is
 * replaced only with --force.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"

/* A checkpoint of a large model may take long; the reply waits for it. */
#define CKPT_WAIT	3600.0

static enum ps_cmd_retval	cmd_checkpoint_exec(struct ps_cmd *);

static const struct ps_cmd_opt cmd_checkpoint_opts[] = {
	{ "force", 0, 0 },
	PS_CMD_CTL_OPTS,
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_checkpoint_entry = {
	.name = "checkpoint",
	.args = { cmd_checkpoint_opts, 0, 1, "name" },
	.usage = "[--force] " PS_CMD_CTL_USAGE " [name]",
	.summary = "have the server write a checkpoint; print its path",
	.exec = cmd_checkpoint_exec
};

static enum ps_cmd_retval
cmd_checkpoint_exec(struct ps_cmd *self)
{
	struct ps_ctl_reply	 r;
	struct ps_ctl_result	 res;
	enum ps_cmd_retval	 ret;
	char			*cause;

	ret = ps_cmd_ctl_named(self, PS_CTL_CHECKPOINT,
	    ps_args_has(self->args, "force"), CKPT_WAIT, &r);
	if (ret != PS_CMD_OK)
		return ret;
	if (ps_ctl_result_parse(PS_CTL_CHECKPOINT, r.result, &res,
	    &cause) == 0)
		printf("%s\n", res.path);
	else {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		ret = PS_CMD_ERR_PROTOCOL;
	}
	ps_ctl_reply_clear(&r);
	return ret;
}
