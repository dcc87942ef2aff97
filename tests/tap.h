/*
 * A small TAP producer for psctl's tests, read by automake's tap-driver.sh.
 *
 *	plan(3);
 *	ok(x == 1, "x starts at one");
 *	is_int(n, 4, "four tensors are listed");
 *	return exit_status();
 */
#ifndef PS_TAP_H
#define PS_TAP_H

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
/* Returns a fresh directory under $TMPDIR or the build directory. */
char	*tap_tmpdir(void);
/* Builds $PS_TEST_DATA/name into a static buffer. */
const char *tap_data(const char *name);

#define ok(cond, ...)		ok_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...)	is_int_at((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...)	is_str_at((got), (want), __FILE__, __LINE__, __VA_ARGS__)
/* Passes when |got - want| <= tol * max(1, |want|). */
#define is_near(got, want, tol, ...) \
	is_near_at((got), (want), (tol), __FILE__, __LINE__, __VA_ARGS__)

#endif
