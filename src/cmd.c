/*
 * The subcommand table and the helpers every command shares.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"
#include "xmalloc.h"

extern const struct ps_cmd_entry ps_cmd_serve_entry;
extern const struct ps_cmd_entry ps_cmd_inspect_entry;
extern const struct ps_cmd_entry ps_cmd_init_entry;
extern const struct ps_cmd_entry ps_cmd_pull_entry;
extern const struct ps_cmd_entry ps_cmd_push_entry;
extern const struct ps_cmd_entry ps_cmd_status_entry;
extern const struct ps_cmd_entry ps_cmd_checkpoint_entry;
extern const struct ps_cmd_entry ps_cmd_reset_entry;
extern const struct ps_cmd_entry ps_cmd_stop_entry;
extern const struct ps_cmd_entry ps_cmd_bench_entry;
extern const struct ps_cmd_entry ps_cmd_top_entry;

/* In the order psctl --help lists them. */
const struct ps_cmd_entry *const ps_cmd_table[] = {
	&ps_cmd_serve_entry,
	&ps_cmd_inspect_entry,
	&ps_cmd_init_entry,
	&ps_cmd_pull_entry,
	&ps_cmd_push_entry,
	&ps_cmd_status_entry,
	&ps_cmd_checkpoint_entry,
	&ps_cmd_reset_entry,
	&ps_cmd_stop_entry,
	&ps_cmd_bench_entry,
	&ps_cmd_top_entry,
	NULL
};

const struct ps_cmd_entry *
ps_cmd_find(const char *name)
{
	const struct ps_cmd_entry *const *e;

	for (e = ps_cmd_table; *e != NULL; e++) {
		if (strcmp((*e)->name, name) == 0)
			return *e;
	}
	return NULL;
}

void
ps_cmd_usage(const struct ps_cmd_entry *e, FILE *fp)
{
	fprintf(fp, "usage: psctl %s%s%s\n", e->name,
	    *e->usage != '\0' ? " " : "", e->usage);
}

int
ps_cmd_usage_error(const struct ps_cmd_entry *e, const char *fmt, ...)
{
	va_list	ap;

	if (fmt != NULL) {
		fprintf(stderr, "psctl %s: ", e->name);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	ps_cmd_usage(e, stderr);
	return EX_USAGE;
}

const char *
ps_cmd_url(const char *opt)
{
	const char	*env;

	if (opt != NULL)
		return opt;
	if ((env = getenv("PSCTL_URL")) != NULL && *env != '\0')
		return env;
	return "ws://127.0.0.1:7070";
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

int
ps_cmd_parse_u64(const char *s, unsigned long long *v)
{
	char	*end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

int
ps_cmd_parse_double(const char *s, double *v)
{
	char	*end;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || *v != *v)
		return -1;
	return 0;
}
