/*
 * Subcommands, the tmux way.  Each cmd-NAME.c exports one
 * `const struct ps_cmd_entry ps_cmd_NAME_entry` that names the command's
 * options and how many arguments it takes, and a short exec; cmd.c lists
 * the entries, parses every command line against them (ps_cmd_parse())
 * and holds the only tables from errors to exit codes.  psctl.c handles
 * -h and --help, usage errors and the final flush of the standard output
 * once for every command.
 *
 * Runs in the psctl process only (xmalloc, stderr).
 */
#ifndef PS_CMD_H
#define PS_CMD_H

#include <stdio.h>

#include "checkpoint.h"
#include "psctl.h"
#include "wsc.h"

/*
 * What a command comes to.  An exec prints its own message (with
 * ps_cmd_error()) and returns one of these; ps_cmd_exit_code() makes it
 * the process's exit status (sysexits.h, psctl(1) EXIT STATUS).
 */
enum ps_cmd_retval {
	PS_CMD_OK = 0,		/*  0 done */
	PS_CMD_ERR_USAGE,	/* 64 bad options, arguments or URL */
	PS_CMD_ERR_DATA,	/* 65 refused as given; a file that does not
				      verify */
	PS_CMD_ERR_NOINPUT,	/* 66 an input file cannot be opened */
	PS_CMD_ERR_UNAVAILABLE,	/* 69 the server cannot be reached or went
				      away; an address that cannot be bound */
	PS_CMD_ERR_SOFTWARE,	/* 70 it failed to carry the request out */
	PS_CMD_ERR_OS,		/* 71 the system refused: memory, signals */
	PS_CMD_ERR_CANTCREAT,	/* 73 an output file cannot be written */
	PS_CMD_ERR_IO,		/* 74 reading or writing failed midway,
				      the standard output included */
	PS_CMD_ERR_TEMPFAIL,	/* 75 busy, shutting down, no answer in time */
	PS_CMD_ERR_PROTOCOL,	/* 76 not a psctl server, TLS failed, a
				      malformed reply */
	PS_CMD_ERR_NOPERM,	/* 77 the token was refused, or is missing */
	PS_CMD_ERR_CONFIG	/* 78 the server's token files or checkpoint
				      directory cannot be used */
};

/* One option: --name, -f, or both spellings of the same thing. */
struct ps_cmd_opt {
	const char	*name;		/* without "--"; NULL: -flag only */
	int		 flag;		/* the letter; 0: --name only */
	int		 value;		/* 1: takes a value (--name V, --name=V,
					   -fV or -f V) */
};
#define PS_CMD_OPT_END	{ NULL, 0, 0 }

/*
 * What a command line may hold (tmux's struct args_parse): the options,
 * which may come before, between or after the arguments, unless after
 * "--"; and from lower to upper arguments (upper -1: any number), named
 * argname in messages.  -h and --help are every command's.
 */
struct ps_cmd_args {
	const struct ps_cmd_opt	*opts;		/* ends in PS_CMD_OPT_END */
	int			 lower;
	int			 upper;
	const char		*argname;	/* "file" */
};

struct ps_cmd;

struct ps_cmd_entry {
	const char		*name;
	struct ps_cmd_args	 args;
	/* After "psctl NAME": exactly the man page's SYNOPSIS. */
	const char		*usage;
	const char		*summary;	/* one line for psctl --help */
	/* The manual page that documents it ("psctl-top.1"); NULL: psctl.1. */
	const char		*man;
	enum ps_cmd_retval	 (*exec)(struct ps_cmd *);
};

/* The parsed options and arguments; see the ps_args_*() functions. */
struct ps_args;

/* One command line, parsed: what an exec gets. */
struct ps_cmd {
	const struct ps_cmd_entry *entry;	/* borrowed, static */
	struct ps_args		*args;		/* owned */
	char			*url;		/* owned, ps_cmd_url()'s */
};

/* NULL-terminated, in the order psctl --help lists them. */
extern const struct ps_cmd_entry *const ps_cmd_table[];

/*
 * The entry named name, or NULL with *cause (caller frees): "unknown
 * command", with the commands it may be a slip for.
 */
const struct ps_cmd_entry *ps_cmd_find(const char *name, char **cause);

enum ps_cmd_parse_result {
	PS_CMD_PARSED,
	PS_CMD_HELP,		/* -h or --help was given: print the usage */
	PS_CMD_BAD		/* *cause says what is wrong */
};
/*
 * Parses argv (argv[0] the command's name) against e's table.  PARSED
 * sets *cmd (ps_cmd_free()); BAD sets *cause (caller frees).  -h or
 * --help anywhere among the options wins over any error.
 */
enum ps_cmd_parse_result ps_cmd_parse(const struct ps_cmd_entry *e,
		     int argc, char **argv, struct ps_cmd **cmd, char **cause);
void		 ps_cmd_free(struct ps_cmd *);

/* The exit status for a retval. */
int		 ps_cmd_exit_code(enum ps_cmd_retval);

/* "usage: psctl NAME USAGE" to fp: what -h and --help print. */
void		 ps_cmd_usage(const struct ps_cmd_entry *, FILE *fp);
/*
 * After a usage error: the usage if it fits a line, else a short one
 * ("usage: psctl push [option ...] file"), and where to read more.
 */
void		 ps_cmd_usage_short(const struct ps_cmd_entry *, FILE *fp);
/* psctl --help: the usage of psctl and the list of commands. */
void		 ps_cmd_list(FILE *fp);
/* The manual page of an entry, "psctl-top" and its section, "1". */
void		 ps_cmd_man(const struct ps_cmd_entry *, char *page,
		     size_t len, char *section, size_t seclen);

/* Prints "psctl NAME: message" on stderr. */
void		 ps_cmd_error(const struct ps_cmd *, const char *fmt, ...)
		     __attribute__((__format__(__printf__, 2, 3)));

/*
 * Options: has is the number of times opt (a long name, or the letter of
 * a short-only option) was given; get its last value, or NULL.  Asking
 * for an option the entry does not list is a bug, and fatal.
 */
int		 ps_args_has(const struct ps_args *, const char *opt);
const char	*ps_args_get(const struct ps_args *, const char *opt);
/* Arguments: how many, and the idx-th (NULL past the end). */
int		 ps_args_count(const struct ps_args *);
const char	*ps_args_string(const struct ps_args *, int idx);
/*
 * The value of opt as a decimal integer from min to max (tmux's
 * args_strtonum).  *cause is NULL when it is one, else says why
 * ("--workers wants a whole number from 1 to 1000000, not \"0\"") and
 * the caller frees it.  opt must have been given.
 */
long long	 ps_args_strtonum(const struct ps_args *, const char *opt,
		     long long min, long long max, char **cause);
/* As ps_args_strtonum() for a real number; flags exclude an end. */
#define PS_ARGS_ABOVE_MIN	0x1	/* min itself is out of range */
#define PS_ARGS_BELOW_MAX	0x2	/* max itself is out of range */
double		 ps_args_strtod(const struct ps_args *, const char *opt,
		     double min, double max, int flags, char **cause);

/*
 * The server URL: opt if set, else $PSCTL_URL, else ws://127.0.0.1:7070;
 * "host:port" without a scheme means ws://host:port.  Owned by cmd.
 */
const char	*ps_cmd_url(struct ps_cmd *, const char *opt);
/*
 * The token: read from path (first line, whitespace trimmed) when path is
 * set, else $PSCTL_TOKEN, else NULL.  Returns 0 and *token (caller frees,
 * may be NULL), or -1 with *cause.
 */
int		 ps_cmd_token(const char *path, char **token, char **cause);

/*
 * The tables from other modules' errors to retvals, kept here so that
 * one file says what every exit status means.
 */
/*
 * A control connection's failure.  watching: the caller waits for a
 * stream, so no answer in time means the server is gone (psctl top).
 */
enum ps_cmd_retval ps_cmd_wsc_retval(enum ps_wsc_err, int watching);
/*
 * An error reply's code on the control protocol (PS_CTL_E_*); watching
 * as above (a refused subscription: not the server wanted).
 */
enum ps_cmd_retval ps_cmd_ctl_retval(const char *code, int watching);
/*
 * A libpsctl failure: server_code for PSCTL_E_SERVER; connecting, when
 * psctl_connect() failed (a bad argument is then a bad URL or option).
 */
enum ps_cmd_retval ps_cmd_psctl_retval(enum psctl_errcode, int server_code,
		     int connecting);
/* A checkpoint that did not load (struct ps_ckpt_info's error). */
enum ps_cmd_retval ps_cmd_ckpt_retval(enum ps_ckpt_error);

#endif
