/*
 * TAP output, temporary directories and child processes for the C tests
 * (tap.h).  Single-threaded; every function prints to stdout and flushes,
 * so output interleaves sanely with child processes.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#define TAP_MAX	32	/* directories, and processes, cleaned up at exit */

static int	tap_planned = -1;
static int	tap_run;
static int	tap_failed;
static int	tap_bailed;

static pid_t	tap_owner;		/* the process that cleans up */
static char	*tap_dirs[TAP_MAX];
static int	tap_ndirs;
static pid_t	tap_pids[TAP_MAX];	/* servers and children running */

static void	tap_at_exit(void);
static void	tap_track(pid_t);
static void	tap_untrack(pid_t);
static int	tap_wait(pid_t, int);

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
	tap_bailed = 1;
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

/* Registers the clean-up at exit, once, for this process only. */
static void
tap_init_exit(void)
{
	if (tap_owner == 0) {
		tap_owner = getpid();
		atexit(tap_at_exit);
	}
}

static int
tap_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/*
 * Kills what is still running and removes the directories if the test
 * passed.  A forked child that calls exit() leaves all of it alone.
 */
static void
tap_at_exit(void)
{
	int	i, passed;

	if (getpid() != tap_owner)
		return;
	for (i = 0; i < TAP_MAX; i++) {
		if (tap_pids[i] > 0) {
			kill(tap_pids[i], SIGKILL);
			waitpid(tap_pids[i], NULL, 0);
			tap_pids[i] = 0;
		}
	}
	passed = !tap_bailed && tap_failed == 0 &&
	    (tap_planned < 0 || tap_run == tap_planned);
	for (i = 0; i < tap_ndirs; i++) {
		if (passed)
			nftw(tap_dirs[i], tap_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
		else
			diag("left for inspection: %s", tap_dirs[i]);
		free(tap_dirs[i]);
	}
	tap_ndirs = 0;
}

static void
tap_track(pid_t pid)
{
	int	i;

	tap_init_exit();
	for (i = 0; i < TAP_MAX; i++) {
		if (tap_pids[i] == 0) {
			tap_pids[i] = pid;
			return;
		}
	}
	bail_out("more than %d child processes", TAP_MAX);
}

static void
tap_untrack(pid_t pid)
{
	int	i;

	for (i = 0; i < TAP_MAX; i++) {
		if (tap_pids[i] == pid)
			tap_pids[i] = 0;
	}
}

/*
 * Waits up to ms for pid to exit: its exit status, 128 + the signal that
 * ended it, or -1 after a SIGKILL.
 */
static int
tap_wait(pid_t pid, int ms)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	int		 status, i;
	pid_t		 r;

	for (i = 0; i < ms / 10; i++) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r == -1 && errno != EINTR)
			return -1;
		nanosleep(&ts, NULL);
	}
	tap_untrack(pid);
	if (i == ms / 10) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

char *
tap_tmpdir(void)
{
	static int	 n;
	char		 tmpl[4096];
	const char	*base;
	char		*d;

	tap_init_exit();
	if ((base = getenv("TMPDIR")) == NULL || *base == '\0')
		base = "/tmp";
	snprintf(tmpl, sizeof tmpl, "%s/psctl-test.%d.%d.XXXXXX", base,
	    (int)getpid(), n++);
	if ((d = mkdtemp(tmpl)) == NULL)
		bail_out("mkdtemp %s failed", tmpl);
	if (tap_ndirs == TAP_MAX)
		bail_out("more than %d temporary directories", TAP_MAX);
	if ((tap_dirs[tap_ndirs] = strdup(d)) == NULL)
		bail_out("out of memory");
	tap_ndirs++;
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

const char *
tap_python(void)
{
	const char	*p = getenv("PYTHON3");

	return p != NULL && *p != '\0' ? p : "/usr/bin/python3";
}

int
tap_serve_start(struct tap_server *s, const char *dir, ...)
{
	static int	 n;
	const char	*psctl = getenv("PSCTL"), *argv[64], *a;
	char		 buf[4096], *p;
	struct timespec	 ts = { 0, 50 * 1000 * 1000 };
	va_list		 ap;
	FILE		*fp;
	int		 argc = 0, fd, i;

	memset(s, 0, sizeof *s);
	if (psctl == NULL || *psctl == '\0') {
		diag("$PSCTL is not set");
		return -1;
	}
	argv[argc++] = psctl;
	argv[argc++] = "serve";
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	va_start(ap, dir);
	while ((a = va_arg(ap, const char *)) != NULL) {
		if (argc == (int)(sizeof argv / sizeof argv[0]) - 1)
			bail_out("tap_serve_start: too many arguments");
		argv[argc++] = a;
	}
	va_end(ap);
	argv[argc] = NULL;
	snprintf(s->log, sizeof s->log, "%s/serve.%d.log", dir, ++n);

	fflush(stdout);
	if ((s->pid = fork()) == -1)
		bail_out("fork: %s", strerror(errno));
	if (s->pid == 0) {
		if ((fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
			_exit(127);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if ((fd = open("/dev/null", O_RDONLY)) != -1)
			dup2(fd, STDIN_FILENO);
		unsetenv("NOTIFY_SOCKET");
		execv(psctl, (char *const *)argv);
		_exit(127);
	}
	tap_track(s->pid);

	for (i = 0; i < 200 && s->port == 0; i++) {
		nanosleep(&ts, NULL);
		if ((fp = fopen(s->log, "r")) == NULL)
			continue;
		while (fgets(buf, sizeof buf, fp) != NULL) {
			if ((p = strstr(buf, "listening on 127.0.0.1:")) != NULL &&
			    sscanf(p + strlen("listening on 127.0.0.1:"), "%d",
			    &s->port) == 1)
				break;
		}
		fclose(fp);
		if (s->port == 0 && waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			tap_untrack(s->pid);
			s->pid = 0;
			break;
		}
	}
	if (s->port == 0) {
		diag("psctl serve did not start; its log %s:", s->log);
		if ((fp = fopen(s->log, "r")) != NULL) {
			while (fgets(buf, sizeof buf, fp) != NULL)
				diag("%.*s", (int)strcspn(buf, "\n"), buf);
			fclose(fp);
		}
		if (s->pid > 0)
			tap_wait(s->pid, 0);
		s->pid = 0;
		return -1;
	}
	snprintf(s->url, sizeof s->url, "ws://127.0.0.1:%d", s->port);
	return 0;
}

int
tap_serve_stop(struct tap_server *s, int sig)
{
	int	status;

	if (s->pid <= 0)
		return -1;
	if (sig != 0)
		kill(s->pid, sig);
	status = tap_wait(s->pid, 10000);
	s->pid = 0;
	return status;
}

int
tap_serve_logged(const struct tap_server *s, const char *text)
{
	FILE	*fp;
	char	 line[4096];
	int	 found = 0;

	if ((fp = fopen(s->log, "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof line, fp) != NULL)
		found = strstr(line, text) != NULL;
	fclose(fp);
	return found;
}

int
tap_child_start(struct tap_child *c, char *const argv[], char *line,
    size_t len)
{
	struct pollfd	 pfd;
	size_t		 n = 0;
	ssize_t		 r;
	int		 in[2], out[2];

	memset(c, 0, sizeof *c);
	if (len == 0)
		return -1;
	if (pipe(in) == -1 || pipe(out) == -1)
		bail_out("pipe: %s", strerror(errno));
	fflush(stdout);
	if ((c->pid = fork()) == -1)
		bail_out("fork: %s", strerror(errno));
	if (c->pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	tap_track(c->pid);
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	pfd.fd = out[0];
	pfd.events = POLLIN;
	while (n < len - 1 && (n == 0 || line[n - 1] != '\n')) {
		if (poll(&pfd, 1, 20000) <= 0)
			break;
		if ((r = read(out[0], line + n, len - 1 - n)) <= 0)
			break;
		n += (size_t)r;
	}
	close(out[0]);
	line[n] = '\0';
	if (n == 0 || line[n - 1] != '\n') {
		tap_child_stop(c);
		return -1;
	}
	return 0;
}

void
tap_child_stop(struct tap_child *c)
{
	if (c->pid <= 0)
		return;
	close(c->in);
	kill(c->pid, SIGTERM);
	tap_wait(c->pid, 10000);
	c->pid = 0;
}
