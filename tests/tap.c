/*
 * TAP output for the C tests.  Single-threaded; every function prints to
 * stdout and flushes, so output interleaves sanely with child processes.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

static int	tap_planned = -1;
static int	tap_run;
static int	tap_failed;

void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

void
done_testing(void)
{
	if (tap_planned < 0) {
		tap_planned = tap_run;
		printf("1..%d\n", tap_run);
		fflush(stdout);
	}
}

static int
tap_result(int pass, const char *file, int line, const char *fmt, va_list ap)
{
	tap_run++;
	if (!pass)
		tap_failed++;
	printf("%s %d - ", pass ? "ok" : "not ok", tap_run);
	vprintf(fmt, ap);
	printf("\n");
	if (!pass)
		printf("#   Failed test at %s line %d.\n", file, line);
	fflush(stdout);
	return pass;
}

int
ok_at(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, fmt);
	r = tap_result(pass, file, line, fmt, ap);
	va_end(ap);
	return r;
}

int
is_int_at(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, fmt);
	r = tap_result(got == want, file, line, fmt, ap);
	va_end(ap);
	if (!r)
		diag("got %lld, want %lld", got, want);
	return r;
}

int
is_str_at(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...)
{
	va_list	ap;
	int	pass, r;

	pass = (got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0);
	va_start(ap, fmt);
	r = tap_result(pass, file, line, fmt, ap);
	va_end(ap);
	if (!r)
		diag("got \"%s\", want \"%s\"", got ? got : "(null)",
		    want ? want : "(null)");
	return r;
}

int
is_near_at(double got, double want, double tol, const char *file, int line,
    const char *fmt, ...)
{
	va_list	ap;
	double	scale;
	int	r;

	scale = fabs(want) > 1.0 ? fabs(want) : 1.0;
	va_start(ap, fmt);
	r = tap_result(isfinite(got) && fabs(got - want) <= tol * scale,
	    file, line, fmt, ap);
	va_end(ap);
	if (!r)
		diag("got %.9g, want %.9g (tolerance %g)", got, want, tol);
	return r;
}

void
diag(const char *fmt, ...)
{
	va_list	ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void
skip(int n, const char *fmt, ...)
{
	va_list	ap;
	char	why[256];

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	while (n-- > 0) {
		tap_run++;
		printf("ok %d # SKIP %s\n", tap_run, why);
	}
	fflush(stdout);
}

void
bail_out(const char *fmt, ...)
{
	va_list	ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

int
exit_status(void)
{
	if (tap_planned >= 0 && tap_run != tap_planned) {
		diag("planned %d tests but ran %d", tap_planned, tap_run);
		return 1;
	}
	return tap_failed ? 1 : 0;
}

char *
tap_tmpdir(void)
{
	static int	 n;
	char		 tmpl[4096];
	const char	*base;
	char		*d;

	if ((base = getenv("TMPDIR")) == NULL || *base == '\0')
		base = "/tmp";
	snprintf(tmpl, sizeof tmpl, "%s/psctl-test.%d.%d.XXXXXX", base,
	    (int)getpid(), n++);
	if ((d = mkdtemp(tmpl)) == NULL)
		bail_out("mkdtemp %s failed", tmpl);
	return strdup(d);
}

const char *
tap_data(const char *name)
{
	static char	 path[4096];
	const char	*dir;

	if ((dir = getenv("PS_TEST_DATA")) == NULL)
		dir = "tests/data";
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return path;
}
