/*
 * psctl reset [NAME]: rolls the server's model and optimizer state back to
 * its newest checkpoint, the named one, or the model as first created.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include <jansson.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"

#define RESET_WAIT	3600.0

static int	cmd_reset_exec(int, char **);

const struct ps_cmd_entry ps_cmd_reset_entry = {
	.name = "reset",
	.usage = PS_CMD_CTL_USAGE " [name]",
	.summary = "roll the model back to a checkpoint",
	.exec = cmd_reset_exec
};

static int
cmd_reset_exec(int argc, char **argv)
{
	struct ps_ctl_reply	 r;
	json_t			*from;
	int			 ex;

	ex = ps_cmd_ctl_named(&ps_cmd_reset_entry, PS_CTL_RESET, RESET_WAIT, argc, argv,
	    &r);
	if (ex != 0)
		return ex;
	from = json_object_get(r.result, "from");
	printf("reset to %s, model version %lld\n", json_is_string(from) ?
	    json_string_value(from) : "?", (long long)json_integer_value(
	    json_object_get(r.result, "model_version")));
	ps_ctl_reply_clear(&r);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("psctl reset: stdout");
		return EX_IOERR;
	}
	return EX_OK;
}
