/*
 * psctl checkpoint [NAME]: asks the server to write a checkpoint into its
 * --checkpoint-dir and prints the file's path.
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
#include "xmalloc.h"

/* A checkpoint of a large model may take long; the reply waits for it. */
#define CKPT_WAIT	3600.0

static int	cmd_checkpoint_exec(int, char **);

const struct ps_cmd_entry ps_cmd_checkpoint_entry = {
	.name = "checkpoint",
	.usage = PS_CMD_CTL_USAGE " [name]",
	.summary = "have the server write a checkpoint; print its path",
	.exec = cmd_checkpoint_exec
};

static int
cmd_checkpoint_exec(int argc, char **argv)
{
	struct ps_ctl_reply	 r;
	json_t			*path;
	int			 ex;

	ex = ps_cmd_ctl_named(&ps_cmd_checkpoint_entry, PS_CTL_CHECKPOINT, CKPT_WAIT, argc, argv,
	    &r);
	if (ex != 0)
		return ex;
	path = json_object_get(r.result, "path");
	if (!json_is_string(path)) {
		fprintf(stderr, "psctl checkpoint: the reply has no path\n");
		ps_ctl_reply_clear(&r);
		return EX_PROTOCOL;
	}
	printf("%s\n", json_string_value(path));
	ps_ctl_reply_clear(&r);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("psctl checkpoint: stdout");
		return EX_IOERR;
	}
	return EX_OK;
}
