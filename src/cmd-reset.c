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
	static const struct option longopts[] = {
		PS_CMD_CTL_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ps_cmd_ctl	 c;
	struct ps_ctl_reply	 r;
	const char		*name = NULL;
	char			 file[PS_CTL_NAME_MAX + 32], *cause = NULL;
	json_t			*from;
	int			 ch, ex;

	ps_cmd_ctl_init(&c, "reset");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if ((ex = ps_cmd_ctl_option(&c, ch, optarg)) > 1)
			return ex;
		if (ex == 1)
			continue;
		if (ch == 'h') {
			ps_cmd_usage(&ps_cmd_reset_entry, stdout);
			return EX_OK;
		}
		return ps_cmd_usage_error(&ps_cmd_reset_entry, NULL);
	}
	if (argc - optind > 1)
		return ps_cmd_usage_error(&ps_cmd_reset_entry,
		    "one name at most");
	if (optind < argc) {
		name = argv[optind];
		if (ps_ctl_name_valid(name, file, sizeof file, &cause) != 0) {
			fprintf(stderr, "psctl reset: %s\n", cause);
			free(cause);
			return EX_USAGE;
		}
	}

	if ((ex = ps_cmd_ctl_open(&c)) != 0)
		return ex;
	ex = ps_cmd_ctl_call(&c, PS_CTL_RESET, name, 0, RESET_WAIT, &r);
	ps_cmd_ctl_close(&c);
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
