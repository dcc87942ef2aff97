/*
 * psctl's one harness for tests written in C: TAP for automake's
 * tap-driver.sh, temporary directories, and child processes (a psctl
 * serve of the test's own, or a helper such as tests/wsserver.py).
 *
 *	struct tap_server s;
 *
 *	plan(3);
 *	ok(x == 1, "x starts at one");
 *	is_int(n, 4, "four tensors are listed");
 *	if (tap_serve_start(&s, tap_tmpdir(), "--rule", "sgd",
 *	    (char *)NULL) == -1)
 *		bail_out("psctl serve did not start");
 *	... connect to s.url ...
 *	is_int(tap_serve_stop(&s, SIGTERM), 0, "SIGTERM stops the server");
 *	return exit_status();
 *
 * Single-threaded.  What a test leaves behind goes at exit: servers and
 * children still running are killed, and the directories tap_tmpdir()
 * made are removed unless a test failed or the plan was not kept (then
 * a diag line names them).  Only the process that made them does this,
 * not a child forked later that calls exit().
 */
#ifndef PS_TAP_H
#define PS_TAP_H

#include <sys/types.h>

#include <stddef.h>

void	plan(int);
void	done_testing(void);
int	ok_at(int, const char *, int, const char *, ...)
	    __attribute__((__format__(__printf__, 4, 5)));
int	is_int_at(long long, long long, const char *, int, const char *, ...)
	    __attribute__((__format__(__printf__, 5, 6)));
int	is_str_at(const char *, const char *, const char *, int,
	    const char *, ...) __attribute__((__format__(__printf__, 5, 6)));
int	is_near_at(double, double, double, const char *, int, const char *,
	    ...) __attribute__((__format__(__printf__, 6, 7)));
void	diag(const char *, ...) __attribute__((__format__(__printf__, 1, 2)));
void	skip(int, const char *, ...) __attribute__((__format__(__printf__, 2, 3)));
void	bail_out(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2), __noreturn__));
int	exit_status(void);
/*
 * Returns a fresh directory under $TMPDIR (or /tmp), removed at exit if
 * every test passed (caller frees the string).
 */
char	*tap_tmpdir(void);
/* Builds $PS_TEST_DATA/name into a static buffer. */
const char *tap_data(const char *name);
/* $PYTHON3, or /usr/bin/python3. */
const char *tap_python(void);

/* A `psctl serve` the test started. */
struct tap_server {
	pid_t	pid;		/* 0 once stopped */
	int	port;
	char	url[64];	/* ws://127.0.0.1:PORT */
	char	log[4096];	/* the file its stdout and stderr go to */
};

/*
 * Starts `$PSCTL serve --listen 127.0.0.1:0 ARGS...` (the arguments end
 * with a null pointer), its output in a new file under dir, and waits up
 * to 10 s for the port in its "listening on 127.0.0.1:PORT" line.
 * Returns 0 with s filled, or -1 when $PSCTL is unset or the server did
 * not start (its log is shown as diag lines; s->pid is 0).
 */
int	tap_serve_start(struct tap_server *s, const char *dir, ...)
	    __attribute__((__sentinel__));
/*
 * Sends sig (unless 0) and waits up to 10 s for the server to exit.
 * Returns its exit status (0-255), 128 + the signal that ended it, or -1
 * if it had to be killed.  A no-op returning -1 once it is stopped.
 */
int	tap_serve_stop(struct tap_server *s, int sig);
/* 1 when the server's log so far has a line containing text. */
int	tap_serve_logged(const struct tap_server *s, const char *text);

/* A helper process that talks on pipes. */
struct tap_child {
	pid_t	pid;		/* 0 once stopped */
	int	in;		/* its stdin: closing it tells it to go */
};

/*
 * Runs argv[0] (searched in PATH) with argv, its stdin a pipe and its
 * stdout read until the first newline (20 s at most), which goes into
 * line (NUL-terminated, newline kept).  Returns 0, or -1 when the child
 * could not start or wrote no line (then it has been stopped).
 */
int	tap_child_start(struct tap_child *c, char *const argv[], char *line,
	    size_t len);
/* Closes its stdin, sends SIGTERM and reaps it. */
void	tap_child_stop(struct tap_child *c);

#define ok(cond, ...)		ok_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...)	is_int_at((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...)	is_str_at((got), (want), __FILE__, __LINE__, __VA_ARGS__)
/* Passes when |got - want| <= tol * max(1, |want|). */
#define is_near(got, want, tol, ...) \
	is_near_at((got), (want), (tol), __FILE__, __LINE__, __VA_ARGS__)

#endif
