/*
 * psctl stop [--checkpoint]: asks the server to stop gracefully, after a
 * final checkpoint if asked, and waits until it has closed the connection.
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

#define STOP_WAIT	3600.0

static int	cmd_stop_exec(int, char **);

const struct ps_cmd_entry ps_cmd_stop_entry = {
	.name = "stop",
	.usage = "[--checkpoint] " PS_CMD_CTL_USAGE,
	.summary = "stop the server gracefully",
	.exec = cmd_stop_exec
};

static int
cmd_stop_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		PS_CMD_CTL_LONGOPTS,
		{ "checkpoint", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ps_cmd_ctl	 c;
	struct ps_ctl_reply	 r;
	json_t			*path;
	int			 ch, ex, ckpt = 0;

	ps_cmd_ctl_init(&c, "stop");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if ((ex = ps_cmd_ctl_option(&c, ch, optarg)) > 1)
			return ex;
		if (ex == 1)
			continue;
		switch (ch) {
		case 'c':
			ckpt = 1;
			break;
		case 'h':
			ps_cmd_usage(&ps_cmd_stop_entry, stdout);
			return EX_OK;
		default:
			return ps_cmd_usage_error(&ps_cmd_stop_entry, NULL);
		}
	}
	if (optind != argc)
		return ps_cmd_usage_error(&ps_cmd_stop_entry,
		    "unexpected argument: %s", argv[optind]);

	if ((ex = ps_cmd_ctl_open(&c)) != 0)
		return ex;
	ex = ps_cmd_ctl_call(&c, PS_CTL_STOP, NULL, ckpt, STOP_WAIT, &r);
	if (ex != 0) {
		ps_cmd_ctl_close(&c);
		return ex;
	}
	path = json_object_get(r.result, "checkpoint");
	if (json_is_string(path))
		printf("%s\n", json_string_value(path));
	ps_ctl_reply_clear(&r);
	/* The server closes every connection as it goes. */
	if (ps_cmd_ctl_wait_close(&c, c.timeout) != 0)
		fprintf(stderr, "psctl stop: the server is stopping but had "
		    "not closed the connection after %g s\n", c.timeout);
	ps_cmd_ctl_close(&c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("psctl stop: stdout");
		return EX_IOERR;
	}
	return EX_OK;
}
