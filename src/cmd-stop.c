/*
 * psctl stop [--checkpoint]: asks the server to stop gracefully, after a
 * final checkpoint if asked, and waits until it has closed the connection.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"

#define STOP_WAIT	3600.0

static enum ps_cmd_retval	cmd_stop_exec(struct ps_cmd *);

static const struct ps_cmd_opt cmd_stop_opts[] = {
	{ "checkpoint", 0, 0 },
	PS_CMD_CTL_OPTS,
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_stop_entry = {
	.name = "stop",
	.args = { cmd_stop_opts, 0, 0, NULL },
	.usage = "[--checkpoint] " PS_CMD_CTL_USAGE,
	.summary = "stop the server gracefully",
	.exec = cmd_stop_exec
};

static enum ps_cmd_retval
cmd_stop_exec(struct ps_cmd *self)
{
	struct ps_cmd_ctl	 c;
	struct ps_ctl_reply	 r;
	struct ps_ctl_result	 res;
	enum ps_cmd_retval	 ret;
	char			*cause;

	if ((ret = ps_cmd_ctl_init(&c, self, PS_CMD_CTL_TIMEOUT)) != PS_CMD_OK ||
	    (ret = ps_cmd_ctl_open(&c)) != PS_CMD_OK)
		return ret;
	ret = ps_cmd_ctl_call(&c, PS_CTL_STOP, NULL,
	    ps_args_has(self->args, "checkpoint"), STOP_WAIT, &r);
	if (ret == PS_CMD_OK) {
		if (ps_ctl_result_parse(PS_CTL_STOP, r.result, &res,
		    &cause) != 0) {
			/* The server stops all the same: say so, and wait. */
			ps_cmd_error(self, "%s", cause);
			free(cause);
			ret = PS_CMD_ERR_PROTOCOL;
		} else if (res.checkpoint != NULL)
			printf("%s\n", res.checkpoint);
		else if (ps_args_has(self->args, "checkpoint")) {
			/* Asked for a file and none was written (no model). */
			ps_cmd_error(self, "the server is stopping without a "
			    "checkpoint: it has no model to save");
			ret = PS_CMD_ERR_CANTCREAT;
		}
		ps_ctl_reply_clear(&r);
		/* The server closes every connection as it goes. */
		if (ps_cmd_ctl_wait_close(&c, c.timeout) != 0)
			ps_cmd_error(self, "the server is stopping but had "
			    "not closed the connection after %g s", c.timeout);
	}
	ps_cmd_ctl_close(&c);
	return ret;
}
