/*
 * psctl reset [name]: rolls the server's model and optimizer state back to
 * its newest checkpoint, the named one, or the model as first created.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"

#define RESET_WAIT	3600.0

static enum ps_cmd_retval	cmd_reset_exec(struct ps_cmd *);

static const struct ps_cmd_opt cmd_reset_opts[] = {
	PS_CMD_CTL_OPTS,
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_reset_entry = {
	.name = "reset",
	.args = { cmd_reset_opts, 0, 1, "name" },
	.usage = PS_CMD_CTL_USAGE " [name]",
	.summary = "roll the model back to a checkpoint",
	.exec = cmd_reset_exec
};

static enum ps_cmd_retval
cmd_reset_exec(struct ps_cmd *self)
{
	struct ps_ctl_reply	 r;
	struct ps_ctl_result	 res;
	enum ps_cmd_retval	 ret;
	char			*cause;

	ret = ps_cmd_ctl_named(self, PS_CTL_RESET, 0, RESET_WAIT, &r);
	if (ret != PS_CMD_OK)
		return ret;
	if (ps_ctl_result_parse(PS_CTL_RESET, r.result, &res, &cause) == 0)
		printf("reset to %s, model version %" PRIu64 "\n", res.from,
		    res.model_version);
	else {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		ret = PS_CMD_ERR_PROTOCOL;
	}
	ps_ctl_reply_clear(&r);
	return ret;
}
