/*
 * Subcommands, the tmux way: each cmd-NAME.c exports one
 * `const struct ps_cmd_entry ps_cmd_NAME_entry`, listed in cmd.c's table.
 * Only psctl.c and cmd-*.c choose exit codes (sysexits.h).
 */
#ifndef PS_CMD_H
#define PS_CMD_H

#include <stdio.h>

struct ps_cmd_entry {
	const char	*name;
	const char	*usage;		/* options after "psctl NAME" */
	const char	*summary;	/* one line for psctl --help */
	/* argv[0] is the command name; returns the process exit code. */
	int		(*exec)(int argc, char **argv);
};

extern const struct ps_cmd_entry *const ps_cmd_table[];

/* The entry named name, or NULL. */
const struct ps_cmd_entry *ps_cmd_find(const char *name);
/* Prints "usage: psctl NAME USAGE" to fp. */
void		 ps_cmd_usage(const struct ps_cmd_entry *, FILE *fp);
/* Prints a usage error for the entry to stderr and returns EX_USAGE. */
int		 ps_cmd_usage_error(const struct ps_cmd_entry *,
		     const char *fmt, ...)
		     __attribute__((__format__(__printf__, 2, 3)));

/* The server URL: opt if set, else $PSCTL_URL, else ws://127.0.0.1:7070. */
const char	*ps_cmd_url(const char *opt);
/*
 * The token: read from path (first line, whitespace trimmed) when path is
 * set, else $PSCTL_TOKEN, else NULL.  Returns 0 and *token (caller frees,
 * may be NULL), or -1 with *cause.
 */
int		 ps_cmd_token(const char *path, char **token, char **cause);
/* Parses a non-negative decimal; -1 on junk or overflow. */
int		 ps_cmd_parse_u64(const char *, unsigned long long *);
int		 ps_cmd_parse_double(const char *, double *);

#endif
