/*
 * psctl help [-m] [command]: the list of commands, a command's usage, or
 * with -m its manual page, read with man(1): the installed page, else the
 * one under the configured mandir, else the source tree's.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "xmalloc.h"

static enum ps_cmd_retval	cmd_help_exec(struct ps_cmd *);
static int			help_run(char *const *, int);
static enum ps_cmd_retval	help_man(struct ps_cmd *,
				    const struct ps_cmd_entry *);

static const struct ps_cmd_opt cmd_help_opts[] = {
	{ NULL, 'm', 0 },
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_help_entry = {
	.name = "help",
	.args = { cmd_help_opts, 0, 1, "command" },
	.usage = "[-m] [command]",
	.summary = "show a command's usage, or with -m its manual page",
	.exec = cmd_help_exec
};

/*
 * Runs argv[0] from PATH and waits; quiet sends its output and errors to
 * /dev/null.  Returns its exit status, 127 when it cannot be run, or -1
 * with errno when it cannot be started.
 */
static int
help_run(char *const *argv, int quiet)
{
	pid_t	pid;
	int	status, fd;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if (quiet && (fd = open("/dev/null", O_WRONLY)) != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static enum ps_cmd_retval
help_man(struct ps_cmd *self, const struct ps_cmd_entry *e)
{
	char		 page[64], sec[8], *path[2], *cause = NULL;
	char		*argv[5];
	size_t		 i;
	int		 r;

	ps_cmd_man(e, page, sizeof page, sec, sizeof sec);
	path[0] = xasprintf("%s/man%s/%s.%s", PSCTL_MANDIR, sec, page, sec);
	path[1] = xasprintf("%s/man/%s.%s", PSCTL_SRCDIR, page, sec);

	/* Installed where man looks: man's own lookup. */
	argv[0] = (char *)"man";
	argv[1] = (char *)"-w";
	argv[2] = sec;
	argv[3] = page;
	argv[4] = NULL;
	if ((r = help_run(argv, 1)) == 0) {
		argv[1] = sec;
		argv[2] = page;
		argv[3] = NULL;
		r = help_run(argv, 0);
	} else if (r != 127 && r != -1) {
		/* Else the page as installed here, or in the source tree. */
		for (i = 0; i < 2; i++) {
			if (access(path[i], R_OK) == 0)
				break;
		}
		if (i < 2) {
			argv[1] = (char *)"-l";
			argv[2] = path[i];
			argv[3] = NULL;
			r = help_run(argv, 0);
		} else
			cause = xasprintf("no manual page %s(%s): man finds "
			    "none, and neither %s nor %s exists", page, sec,
			    path[0], path[1]);
	}
	if (cause == NULL && r == 127)
		cause = xstrdup("cannot run man");
	else if (cause == NULL && r == -1)
		cause = xasprintf("cannot run man: %s", strerror(errno));
	else if (cause == NULL && r != 0)
		cause = xasprintf("man %s(%s) failed (exit status %d)", page,
		    sec, r);
	free(path[0]);
	free(path[1]);
	if (cause == NULL)
		return PS_CMD_OK;
	ps_cmd_error(self, "%s; see psctl %s%s--help", cause,
	    e != NULL ? e->name : "", e != NULL ? " " : "");
	free(cause);
	return PS_CMD_ERR_UNAVAILABLE;
}

static enum ps_cmd_retval
cmd_help_exec(struct ps_cmd *self)
{
	const struct ps_cmd_entry	*e = NULL;
	const char			*name;
	char				*cause = NULL;

	if ((name = ps_args_string(self->args, 0)) != NULL &&
	    (e = ps_cmd_find(name, &cause)) == NULL) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		return PS_CMD_ERR_USAGE;
	}
	if (ps_args_has(self->args, "m"))
		return help_man(self, e);
	if (e == NULL) {
		ps_cmd_list(stdout);
		return PS_CMD_OK;
	}
	printf("psctl %s: %s\n", e->name, e->summary);
	ps_cmd_usage(e, stdout);
	return PS_CMD_OK;
}
