/*
 * psctl: a parameter server for distributed training.  main() finds the
 * command in the table and parses its line (cmd.c), answers -h and
 * --help, reports usage errors, runs the command and flushes the
 * standard output, the same way for every command.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

static enum ps_cmd_retval psctl_flush(const char *, enum ps_cmd_retval);

/*
 * Flushes stdout: output that did not reach it (a full disk, /dev/full)
 * is a failure, not silence.
 */
static enum ps_cmd_retval
psctl_flush(const char *name, enum ps_cmd_retval ret)
{
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return ret;
	fprintf(stderr, "psctl%s%s: cannot write the output%s%s\n",
	    name != NULL ? " " : "", name != NULL ? name : "",
	    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
	return ret == PS_CMD_OK ? PS_CMD_ERR_IO : ret;
}

int
main(int argc, char **argv)
{
	const struct ps_cmd_entry	*e;
	struct ps_cmd			*cmd = NULL;
	enum ps_cmd_retval		 ret;
	char				*cause = NULL;

	if (argc < 2) {
		ps_cmd_list(stderr);
		return ps_cmd_exit_code(PS_CMD_ERR_USAGE);
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("psctl %s\n", PSCTL_VERSION);
		return ps_cmd_exit_code(psctl_flush(NULL, PS_CMD_OK));
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		ps_cmd_list(stdout);
		return ps_cmd_exit_code(psctl_flush(NULL, PS_CMD_OK));
	}
	if (argv[1][0] == '-') {
		fprintf(stderr, "psctl: unknown option %s\nsee psctl --help\n",
		    argv[1]);
		return ps_cmd_exit_code(PS_CMD_ERR_USAGE);
	}
	if ((e = ps_cmd_find(argv[1], &cause)) == NULL) {
		fprintf(stderr, "psctl: %s\nsee psctl --help\n", cause);
		free(cause);
		return ps_cmd_exit_code(PS_CMD_ERR_USAGE);
	}

	switch (ps_cmd_parse(e, argc - 1, argv + 1, &cmd, &cause)) {
	case PS_CMD_HELP:
		ps_cmd_usage(e, stdout);
		ret = PS_CMD_OK;
		break;
	case PS_CMD_BAD:
		fprintf(stderr, "psctl %s: %s\n", e->name, cause);
		free(cause);
		ret = PS_CMD_ERR_USAGE;
		break;
	case PS_CMD_PARSED:
	default:
		ret = e->exec(cmd);
		break;
	}
	if (ret == PS_CMD_ERR_USAGE)
		ps_cmd_usage_short(e, stderr);
	ret = psctl_flush(e->name, ret);
	ps_cmd_free(cmd);
	return ps_cmd_exit_code(ret);
}
