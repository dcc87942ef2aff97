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
	static const struct option longopts[] = {
		PS_CMD_CTL_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ps_cmd_ctl	 c;
	struct ps_ctl_reply	 r;
	const char		*name = NULL;
	char			 file[PS_CTL_NAME_MAX + 32], *cause = NULL;
	json_t			*path;
	int			 ch, ex;

	ps_cmd_ctl_init(&c, "checkpoint");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if ((ex = ps_cmd_ctl_option(&c, ch, optarg)) > 1)
			return ex;
		if (ex == 1)
			continue;
		if (ch == 'h') {
			ps_cmd_usage(&ps_cmd_checkpoint_entry, stdout);
			return EX_OK;
		}
		return ps_cmd_usage_error(&ps_cmd_checkpoint_entry, NULL);
	}
	if (argc - optind > 1)
		return ps_cmd_usage_error(&ps_cmd_checkpoint_entry,
		    "one name at most");
	if (optind < argc) {
		name = argv[optind];
		/* The server checks too; this says so before connecting. */
		if (ps_ctl_name_valid(name, file, sizeof file, &cause) != 0) {
			fprintf(stderr, "psctl checkpoint: %s\n", cause);
			free(cause);
			return EX_USAGE;
		}
	}

	if ((ex = ps_cmd_ctl_open(&c)) != 0)
		return ex;
	ex = ps_cmd_ctl_call(&c, PS_CTL_CHECKPOINT, name, 0, CKPT_WAIT, &r);
	ps_cmd_ctl_close(&c);
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
