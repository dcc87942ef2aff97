/*
 * The command table, the one parser of command lines (ps_cmd_parse(), as
 * tmux's args_parse()), the helpers every command shares, and the tables
 * from errors to exit codes (cmd.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"
#include "control.h"
#include "log.h"
#include "proto.h"
#include "utf8.h"
#include "xmalloc.h"

extern const struct ps_cmd_entry ps_cmd_serve_entry;
extern const struct ps_cmd_entry ps_cmd_inspect_entry;
extern const struct ps_cmd_entry ps_cmd_init_entry;
extern const struct ps_cmd_entry ps_cmd_pull_entry;
extern const struct ps_cmd_entry ps_cmd_push_entry;
extern const struct ps_cmd_entry ps_cmd_status_entry;
extern const struct ps_cmd_entry ps_cmd_checkpoint_entry;
extern const struct ps_cmd_entry ps_cmd_checkpoints_entry;
extern const struct ps_cmd_entry ps_cmd_reset_entry;
extern const struct ps_cmd_entry ps_cmd_stop_entry;
extern const struct ps_cmd_entry ps_cmd_kick_entry;
extern const struct ps_cmd_entry ps_cmd_unblock_entry;
extern const struct ps_cmd_entry ps_cmd_bench_entry;
extern const struct ps_cmd_entry ps_cmd_top_entry;
extern const struct ps_cmd_entry ps_cmd_help_entry;

const struct ps_cmd_entry *const ps_cmd_table[] = {
	&ps_cmd_serve_entry,
	&ps_cmd_inspect_entry,
	&ps_cmd_init_entry,
	&ps_cmd_pull_entry,
	&ps_cmd_push_entry,
	&ps_cmd_status_entry,
	&ps_cmd_checkpoint_entry,
	&ps_cmd_checkpoints_entry,
	&ps_cmd_reset_entry,
	&ps_cmd_stop_entry,
	&ps_cmd_kick_entry,
	&ps_cmd_unblock_entry,
	&ps_cmd_bench_entry,
	&ps_cmd_top_entry,
	&ps_cmd_help_entry,
	NULL
};

/* One option of the entry's table and what the command line gave it. */
struct args_entry {
	const struct ps_cmd_opt	*opt;		/* borrowed, static */
	int			 count;
	int			 as_flag;	/* last given as -f, not --name */
	const char		*value;		/* borrowed from argv: the last */
};

struct ps_args {
	const struct ps_cmd_entry *entry;	/* borrowed, static */
	struct args_entry	*opts;		/* owned, one per table option */
	size_t			 nopts;
	const char		**argv;		/* owned array, borrowed strings */
	int			 argc;
};

static size_t	cmd_distance(const char *, const char *);
static struct args_entry *args_lookup(const struct ps_args *, const char *);
static char	*args_spelling(const struct args_entry *);
static struct args_entry *args_long(struct ps_args *, const char *, size_t,
		    int *, char **);
static char	*args_parse_long(struct ps_args *, int, char **, int *, int *);
static char	*args_parse_flags(struct ps_args *, int, char **, int *, int *);
static void	args_free(struct ps_args *);

/*
 * How far apart two names are: the optimal string alignment distance
 * (insertions, deletions, substitutions, adjacent swaps), for "did you
 * mean".  Names longer than 31 bytes are far from every command.
 */
static size_t
cmd_distance(const char *a, const char *b)
{
	size_t	d[32][32], la = strlen(a), lb = strlen(b), i, j, c, best;

	if (la >= 32 || lb >= 32)
		return (size_t)-1;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			c = a[i - 1] != b[j - 1];
			best = d[i - 1][j - 1] + c;
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

const struct ps_cmd_entry *
ps_cmd_find(const char *name, char **cause)
{
	const struct ps_cmd_entry *const *e;
	const char			 *near[8];
	size_t				  d, best = 2, len = strlen(name);
	char				 *s, *t;
	int				  i, n = 0;

	for (e = ps_cmd_table; *e != NULL; e++) {
		if (strcmp((*e)->name, name) == 0)
			return *e;
	}

	/*
	 * Not a command: say which it may be a slip for, those it begins
	 * ("check") or is one or two keys from ("stauts"), nearest first.
	 */
	for (e = ps_cmd_table; *e != NULL; e++) {
		if (len >= 2 && strncmp((*e)->name, name, len) == 0)
			d = 0;
		else
			d = cmd_distance(name, (*e)->name);
		if (d >= len || d > best)
			continue;
		if (d < best)
			n = 0;
		best = d;
		if (n < (int)(sizeof near / sizeof near[0]))
			near[n++] = (*e)->name;
	}
	s = xasprintf("unknown command: %s", name);
	for (i = 0; i < n; i++) {
		t = xasprintf("%s%s%s", s, i == 0 ? "; did you mean " :
		    i == n - 1 ? " or " : ", ", near[i]);
		free(s);
		s = t;
	}
	if (n > 0) {
		t = xasprintf("%s?", s);
		free(s);
		s = t;
	}
	*cause = s;
	return NULL;
}

/* The option of a's table that key names (its long name or letter). */
static struct args_entry *
args_lookup(const struct ps_args *a, const char *key)
{
	size_t	i;

	for (i = 0; i < a->nopts; i++) {
		if (a->opts[i].opt->name != NULL &&
		    strcmp(a->opts[i].opt->name, key) == 0)
			return &a->opts[i];
	}
	if (key[0] != '\0' && key[1] == '\0') {
		for (i = 0; i < a->nopts; i++) {
			if (a->opts[i].opt->flag == key[0])
				return &a->opts[i];
		}
	}
	fatalx("psctl %s: no option %s in the table", a->entry->name, key);
}

/* "--name" or "-f", as it was last given; caller frees. */
static char *
args_spelling(const struct args_entry *ae)
{
	if (ae->opt->name == NULL || (ae->as_flag && ae->opt->flag != 0))
		return xasprintf("-%c", ae->opt->flag);
	return xasprintf("--%s", ae->opt->name);
}

/*
 * The table option a long option names: its whole name or, as GNU
 * getopt_long allows, a prefix of only one.  NULL and *help set for
 * --help; NULL with *cause when it names none.
 */
static struct args_entry *
args_long(struct ps_args *a, const char *name, size_t len, int *help,
    char **cause)
{
	struct args_entry	*found = NULL;
	const char		*opt;
	char			*t;
	size_t			 i;
	int			 ambiguous = 0;

	if (len == 0) {
		*cause = xstrdup("unknown option --");
		return NULL;
	}
	for (i = 0; i < a->nopts; i++) {
		if (a->opts[i].opt->name == NULL ||
		    strncmp(a->opts[i].opt->name, name, len) != 0)
			continue;
		if (a->opts[i].opt->name[len] == '\0')
			return &a->opts[i];
		if (found != NULL)
			ambiguous = 1;
		found = &a->opts[i];
	}
	if (strncmp("help", name, len) == 0 && len <= 4) {
		if (len == 4 || found == NULL) {
			*help = 1;
			return NULL;
		}
		ambiguous = 1;
	}
	if (ambiguous) {
		*cause = xasprintf("option --%.*s is ambiguous: it could be",
		    (int)len, name);
		for (i = 0; i <= a->nopts; i++) {
			opt = i < a->nopts ? a->opts[i].opt->name : "help";
			if (opt == NULL || strncmp(opt, name, len) != 0)
				continue;
			t = xasprintf("%s --%s", *cause, opt);
			free(*cause);
			*cause = t;
		}
		return NULL;
	}
	if (found == NULL)
		*cause = xasprintf("unknown option --%.*s", (int)len, name);
	return found;
}

static void
args_free(struct ps_args *a)
{
	if (a == NULL)
		return;
	free(a->opts);
	free(a->argv);
	free(a);
}

/*
 * Takes the long option argv[*k] ("--name" or "--name=value") and its
 * value, which may be the next argument.  NULL, or what is wrong with it.
 */
static char *
args_parse_long(struct ps_args *a, int argc, char **argv, int *k, int *help)
{
	struct args_entry	*ae;
	const char		*s = argv[*k] + 2, *eq;
	char			*cause = NULL;
	size_t			 len;

	len = (eq = strchr(s, '=')) != NULL ? (size_t)(eq - s) : strlen(s);
	if ((ae = args_long(a, s, len, help, &cause)) == NULL)
		return cause;
	ae->count++;
	ae->as_flag = 0;
	if (!ae->opt->value) {
		if (eq != NULL)
			return xasprintf("--%s takes no value", ae->opt->name);
		return NULL;
	}
	if (eq != NULL)
		ae->value = eq + 1;
	else if (*k + 1 < argc)
		ae->value = argv[++*k];
	else
		return xasprintf("--%s needs a value", ae->opt->name);
	return NULL;
}

/*
 * Takes the short options of argv[*k] ("-bC", "-d1", "-d 1").  NULL, or
 * what is wrong with the first that is wrong.
 */
static char *
args_parse_flags(struct ps_args *a, int argc, char **argv, int *k, int *help)
{
	struct args_entry	*ae;
	const char		*s;
	char			*cause = NULL;
	size_t			 i;

	for (s = argv[*k] + 1; *s != '\0'; s++) {
		ae = NULL;
		for (i = 0; i < a->nopts; i++) {
			if (a->opts[i].opt->flag == *s)
				ae = &a->opts[i];
		}
		if (ae == NULL) {
			if (*s == 'h')
				*help = 1;
			else if (cause == NULL)
				cause = isprint((unsigned char)*s) ?
				    xasprintf("unknown option -%c", *s) :
				    xasprintf("unknown option -\\x%02x",
				    (unsigned char)*s);
			continue;
		}
		ae->count++;
		ae->as_flag = 1;
		if (!ae->opt->value)
			continue;
		if (s[1] != '\0')
			ae->value = s + 1;
		else if (*k + 1 < argc)
			ae->value = argv[++*k];
		else if (cause == NULL)
			cause = xasprintf("-%c needs a value", *s);
		break;
	}
	return cause;
}

enum ps_cmd_parse_result
ps_cmd_parse(const struct ps_cmd_entry *e, int argc, char **argv,
    struct ps_cmd **cmdp, char **cause)
{
	const struct ps_cmd_args *p = &e->args;
	struct ps_args		*a;
	struct ps_cmd		*cmd;
	const char		*s;
	char			*why = NULL, *bad;
	size_t			 i, n = 0;
	int			 k, help = 0, dashdash = 0;

	*cmdp = NULL;
	*cause = NULL;
	a = xcalloc(1, sizeof *a);
	a->entry = e;
	while (p->opts != NULL && (p->opts[n].name != NULL ||
	    p->opts[n].flag != 0))
		n++;
	a->nopts = n;
	a->opts = xcalloc(n > 0 ? n : 1, sizeof *a->opts);
	for (i = 0; i < n; i++)
		a->opts[i].opt = &p->opts[i];
	a->argv = xcalloc(argc > 0 ? (size_t)argc : 1, sizeof *a->argv);

	/*
	 * Options and arguments in any order (as GNU getopt permutes them),
	 * arguments only after "--".  After an error, go on looking for -h
	 * and --help only: they win, whatever else the line holds.
	 */
	for (k = 1; k < argc; k++) {
		s = argv[k];
		if (dashdash || s[0] != '-' || s[1] == '\0') {
			a->argv[a->argc++] = s;
			continue;
		}
		if (strcmp(s, "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (s[1] == '-')
			bad = args_parse_long(a, argc, argv, &k, &help);
		else
			bad = args_parse_flags(a, argc, argv, &k, &help);
		if (why == NULL)
			why = bad;
		else
			free(bad);
	}
	if (help) {
		free(why);
		args_free(a);
		return PS_CMD_HELP;
	}
	if (why == NULL && a->argc < p->lower)
		why = xasprintf("no %s given", p->argname != NULL ?
		    p->argname : "argument");
	if (why == NULL && p->upper >= 0 && a->argc > p->upper)
		why = xasprintf("unexpected argument \"%s\"",
		    a->argv[p->upper]);
	if (why != NULL) {
		*cause = why;
		args_free(a);
		return PS_CMD_BAD;
	}
	cmd = xcalloc(1, sizeof *cmd);
	cmd->entry = e;
	cmd->args = a;
	*cmdp = cmd;
	return PS_CMD_PARSED;
}

void
ps_cmd_free(struct ps_cmd *cmd)
{
	if (cmd == NULL)
		return;
	args_free(cmd->args);
	free(cmd->url);
	free(cmd);
}

int
ps_args_has(const struct ps_args *a, const char *key)
{
	return args_lookup(a, key)->count;
}

const char *
ps_args_get(const struct ps_args *a, const char *key)
{
	return args_lookup(a, key)->value;
}

int
ps_args_count(const struct ps_args *a)
{
	return a->argc;
}

const char *
ps_args_string(const struct ps_args *a, int idx)
{
	if (idx < 0 || idx >= a->argc)
		return NULL;
	return a->argv[idx];
}

long long
ps_args_strtonum(const struct ps_args *a, const char *key, long long min,
    long long max, char **cause)
{
	const struct args_entry	*ae = args_lookup(a, key);
	const char		*s = ae->value;
	char			*end, *name;
	long long		 v = 0;
	int			 good = 0;

	*cause = NULL;
	if (s != NULL && (isdigit((unsigned char)s[0]) || (min < 0 &&
	    s[0] == '-' && isdigit((unsigned char)s[1])))) {
		errno = 0;
		v = strtoll(s, &end, 10);
		good = errno == 0 && *end == '\0' && v >= min && v <= max;
	}
	if (good)
		return v;
	name = args_spelling(ae);
	*cause = xasprintf("%s wants a whole number from %lld to %lld, not "
	    "\"%s\"", name, min, max, s != NULL ? s : "");
	free(name);
	return 0;
}

double
ps_args_strtod(const struct ps_args *a, const char *key, double min,
    double max, int flags, char **cause)
{
	const struct args_entry	*ae = args_lookup(a, key);
	const char		*s = ae->value;
	char			*end, *name;
	double			 v = 0;
	int			 good = 0;

	*cause = NULL;
	if (s != NULL && *s != '\0' && !isspace((unsigned char)*s)) {
		errno = 0;
		v = strtod(s, &end);
		good = errno == 0 && *end == '\0' && !isnan(v) &&
		    v >= min && v <= max &&
		    !((flags & PS_ARGS_ABOVE_MIN) && v == min) &&
		    !((flags & PS_ARGS_BELOW_MAX) && v == max);
	}
	if (good)
		return v;
	name = args_spelling(ae);
	*cause = xasprintf("%s wants a number %s %.10g %s %.10g, not \"%s\"",
	    name, (flags & PS_ARGS_ABOVE_MIN) ? "above" : "from", min,
	    (flags & PS_ARGS_ABOVE_MIN) ? ((flags & PS_ARGS_BELOW_MAX) ?
	    "and below" : "and at most") : ((flags & PS_ARGS_BELOW_MAX) ?
	    "to below" : "to"), max, s != NULL ? s : "");
	free(name);
	return 0;
}

int
ps_cmd_exit_code(enum ps_cmd_retval r)
{
	switch (r) {
	case PS_CMD_OK:
		return EX_OK;
	case PS_CMD_ERR_USAGE:
		return EX_USAGE;
	case PS_CMD_ERR_DATA:
		return EX_DATAERR;
	case PS_CMD_ERR_NOINPUT:
		return EX_NOINPUT;
	case PS_CMD_ERR_UNAVAILABLE:
		return EX_UNAVAILABLE;
	case PS_CMD_ERR_SOFTWARE:
		return EX_SOFTWARE;
	case PS_CMD_ERR_OS:
		return EX_OSERR;
	case PS_CMD_ERR_CANTCREAT:
		return EX_CANTCREAT;
	case PS_CMD_ERR_IO:
		return EX_IOERR;
	case PS_CMD_ERR_TEMPFAIL:
		return EX_TEMPFAIL;
	case PS_CMD_ERR_PROTOCOL:
		return EX_PROTOCOL;
	case PS_CMD_ERR_NOPERM:
		return EX_NOPERM;
	case PS_CMD_ERR_CONFIG:
		return EX_CONFIG;
	}
	return EX_SOFTWARE;
}

enum ps_cmd_retval
ps_cmd_wsc_retval(enum ps_wsc_err err, int watching)
{
	switch (err) {
	case PS_WSC_OK:
		return PS_CMD_OK;
	case PS_WSC_UNAVAILABLE:
	case PS_WSC_CLOSED:
		return PS_CMD_ERR_UNAVAILABLE;
	case PS_WSC_TIMEOUT:
		return watching ? PS_CMD_ERR_UNAVAILABLE : PS_CMD_ERR_TEMPFAIL;
	case PS_WSC_AUTH:
		return PS_CMD_ERR_NOPERM;
	case PS_WSC_ARG:
		return PS_CMD_ERR_USAGE;
	case PS_WSC_NOMEM:
		return PS_CMD_ERR_OS;
	case PS_WSC_TLS:
	case PS_WSC_HANDSHAKE:
	case PS_WSC_PROTOCOL:
	case PS_WSC_TOO_LARGE:
		break;
	}
	return PS_CMD_ERR_PROTOCOL;
}

enum ps_cmd_retval
ps_cmd_ctl_retval(const char *code, int watching)
{
	static const char *const data[] = {
		PS_CTL_E_BAD_REQUEST, PS_CTL_E_UNKNOWN_CMD, PS_CTL_E_NOT_FOUND,
		PS_CTL_E_MISMATCH, PS_CTL_E_NO_MODEL, PS_CTL_E_NO_CKPT_DIR,
		PS_CTL_E_AMBIGUOUS, PS_CTL_E_EXISTS, NULL
	};
	size_t	i;

	if (strcmp(code, PS_CTL_E_FORBIDDEN) == 0)
		return PS_CMD_ERR_NOPERM;
	if (strcmp(code, PS_CTL_E_SHUTTING_DOWN) == 0)
		return watching ? PS_CMD_ERR_UNAVAILABLE : PS_CMD_ERR_TEMPFAIL;
	/* A stream refused for any other reason: not the server we want. */
	if (watching)
		return PS_CMD_ERR_PROTOCOL;
	for (i = 0; data[i] != NULL; i++) {
		if (strcmp(code, data[i]) == 0)
			return PS_CMD_ERR_DATA;
	}
	if (strcmp(code, PS_CTL_E_BUSY) == 0)
		return PS_CMD_ERR_TEMPFAIL;
	return PS_CMD_ERR_SOFTWARE;
}

enum ps_cmd_retval
ps_cmd_psctl_retval(enum psctl_errcode err, int server_code, int connecting)
{
	switch (err) {
	case PSCTL_OK:
		return PS_CMD_OK;
	case PSCTL_E_UNAVAILABLE:
	case PSCTL_E_CLOSED:
		return PS_CMD_ERR_UNAVAILABLE;
	case PSCTL_E_AUTH:
		return PS_CMD_ERR_NOPERM;
	case PSCTL_E_TIMEOUT:
		return PS_CMD_ERR_TEMPFAIL;
	case PSCTL_E_TLS:
	case PSCTL_E_PROTOCOL:
		return PS_CMD_ERR_PROTOCOL;
	case PSCTL_E_ARG:
		/* A bad URL or option, or tensors the library refuses. */
		return connecting ? PS_CMD_ERR_USAGE : PS_CMD_ERR_DATA;
	case PSCTL_E_NOMEM:
		return PS_CMD_ERR_OS;
	case PSCTL_E_SERVER:
		break;
	}
	switch (server_code) {
	case PS_E_SHUTDOWN:
	case PS_E_BUSY:
		return PS_CMD_ERR_TEMPFAIL;
	case PS_E_UNAUTHORIZED:
		return PS_CMD_ERR_NOPERM;
	case PS_E_INTERNAL:
		return PS_CMD_ERR_SOFTWARE;
	}
	return PS_CMD_ERR_DATA;
}

enum ps_cmd_retval
ps_cmd_ckpt_retval(enum ps_ckpt_error err)
{
	switch (err) {
	case PS_CKPT_E_NONE:
		return PS_CMD_OK;
	case PS_CKPT_E_NOFILE:
		return PS_CMD_ERR_NOINPUT;
	case PS_CKPT_E_IO:
		return PS_CMD_ERR_IO;
	case PS_CKPT_E_INVALID:
		break;
	}
	return PS_CMD_ERR_DATA;
}

void
ps_cmd_usage(const struct ps_cmd_entry *e, FILE *fp)
{
	fprintf(fp, "usage: psctl %s%s%s\n", e->name,
	    *e->usage != '\0' ? " " : "", e->usage);
}

void
ps_cmd_man(const struct ps_cmd_entry *e, char *page, size_t len,
    char *section, size_t seclen)
{
	const char	*m = e != NULL && e->man != NULL ? e->man : "psctl.1";
	const char	*dot = strrchr(m, '.');

	if (dot == NULL)
		fatalx("%s: .man is \"%s\", not PAGE.SECTION", e->name, m);
	snprintf(page, len, "%.*s", (int)(dot - m), m);
	snprintf(section, seclen, "%s", dot + 1);
}

void
ps_cmd_usage_short(const struct ps_cmd_entry *e, FILE *fp)
{
	const struct ps_cmd_args *p = &e->args;
	char			  page[64], sec[8];

	if (strlen("usage: psctl ") + strlen(e->name) + 1 +
	    strlen(e->usage) < 80)
		ps_cmd_usage(e, fp);
	else {
		fprintf(fp, "usage: psctl %s%s", e->name, p->opts != NULL &&
		    (p->opts[0].name != NULL || p->opts[0].flag != 0) ?
		    " [option ...]" : "");
		if (p->argname != NULL && (p->upper != 0 || p->lower > 0))
			fprintf(fp, " %s%s%s%s", p->lower == 0 ? "[" : "",
			    p->argname, p->upper < 0 || p->upper > 1 ?
			    " ..." : "", p->lower == 0 ? "]" : "");
		fputc('\n', fp);
	}
	ps_cmd_man(e, page, sizeof page, sec, sizeof sec);
	fprintf(fp, "see psctl %s --help, or %s(%s)\n", e->name, page, sec);
}

void
ps_cmd_list(FILE *fp)
{
	const struct ps_cmd_entry *const *e;

	fprintf(fp, "usage: psctl [--help | --version] command [argument ...]\n"
	    "       psctl help %s\n\ncommands:\n", ps_cmd_help_entry.usage);
	for (e = ps_cmd_table; *e != NULL; e++)
		fprintf(fp, "  %-10s %s\n", (*e)->name, (*e)->summary);
	fprintf(fp, "\nSee psctl(1); psctl help COMMAND for a command's usage "
	    "and psctl help -m COMMAND\nfor its manual page.\n");
}

void
ps_cmd_error(const struct ps_cmd *cmd, const char *fmt, ...)
{
	va_list	ap;

	char	*msg, *out;
	size_t	 n;

	/*
	 * Messages quote what servers answer (reasons naming tensors):
	 * control characters are escaped, never sent to the terminal.
	 */
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	n = ps_utf8_escape_controls(msg, NULL, 0);
	out = xmalloc(n + 1);
	ps_utf8_escape_controls(msg, out, n + 1);
	fprintf(stderr, "psctl %s: %s\n", cmd->entry->name, out);
	free(out);
	free(msg);
}

const char *
ps_cmd_url(struct ps_cmd *cmd, const char *opt)
{
	const char	*u = opt, *env;

	if (u == NULL) {
		if ((env = getenv("PSCTL_URL")) != NULL && *env != '\0')
			u = env;
		else
			u = "ws://127.0.0.1:7070";
	}
	free(cmd->url);
	if (strstr(u, "://") != NULL)
		cmd->url = xstrdup(u);
	else
		cmd->url = xasprintf("ws://%s", u);
	return cmd->url;
}

static char *
cmd_trim(char *s)
{
	size_t	n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

int
ps_cmd_token(const char *path, char **token, char **cause)
{
	const char	*env;
	char		 line[4096], *t;
	FILE		*fp;

	*token = NULL;
	if (path == NULL) {
		if ((env = getenv("PSCTL_TOKEN")) != NULL && *env != '\0')
			*token = xstrdup(env);
		return 0;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fgets(line, sizeof line, fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	t = cmd_trim(line);
	if (*t == '\0') {
		*cause = xasprintf("%s: no token in the file", path);
		return -1;
	}
	*token = xstrdup(t);
	return 0;
}
