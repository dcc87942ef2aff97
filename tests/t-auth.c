/*
 * Token files, the constant-time comparison and Bearer parsing.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "tap.h"

static char	*dir;

static char *
write_file(const char *name, const char *text, int mode)
{
	char	*path;
	FILE	*fp;

	if (asprintf(&path, "%s/%s", dir, name) == -1)
		bail_out("asprintf");
	if ((fp = fopen(path, "w")) == NULL)
		bail_out("%s: cannot write", path);
	fputs(text, fp);
	fclose(fp);
	chmod(path, (mode_t)mode);
	return path;
}

static void
test_files(void)
{
	char	*path, *tok, *warn, *cause;
	int	 rc;

	path = write_file("good", "  0123456789abcdef0123\n# comment\n", 0600);
	rc = ps_auth_read_file(path, &tok, &warn, &cause);
	ok(rc == 0 &&
	    strcmp(tok, "0123456789abcdef0123") == 0 && warn == NULL,
	    "the first line, trimmed, is the token");
	free(tok);
	free(path);

	path = write_file("open", "0123456789abcdef0123\r\n", 0644);
	rc = ps_auth_read_file(path, &tok, &warn, &cause);
	ok(rc == 0 &&
	    strcmp(tok, "0123456789abcdef0123") == 0 && warn != NULL &&
	    strstr(warn, "readable by group or others") != NULL,
	    "a world-readable file is read with a warning: %s", warn);
	free(tok);
	free(warn);
	free(path);

	path = write_file("short", "abc\n", 0600);
	rc = ps_auth_read_file(path, &tok, &warn, &cause);
	ok(rc == 0 && strcmp(tok, "abc") == 0 && warn != NULL &&
	    strstr(warn, "easy to guess") != NULL,
	    "a short token is read with a warning: %s", warn);
	free(tok);
	free(warn);
	free(path);

	path = write_file("empty", "\n", 0600);
	rc = ps_auth_read_file(path, &tok, &warn, &cause);
	ok(rc == -1 &&
	    strstr(cause, "no token") != NULL, "an empty file is refused: %s",
	    cause);
	free(cause);
	free(path);

	path = write_file("space", "0123456789 abcdef0123\n", 0600);
	rc = ps_auth_read_file(path, &tok, &warn, &cause);
	ok(rc == -1 &&
	    strstr(cause, "printable ASCII") != NULL,
	    "a token with a space inside is refused: %s", cause);
	free(cause);
	free(path);

	rc = ps_auth_read_file("/nonexistent/psctl-token", &tok, &warn,
	    &cause);
	ok(rc == -1 && strstr(cause, "No such file") != NULL,
	    "a missing file is refused: %s", cause);
	free(cause);
}

static void
test_equal(void)
{
	ok(ps_auth_equal("secret-token-123", 16, "secret-token-123", 16),
	    "equal tokens compare equal");
	ok(!ps_auth_equal("secret-token-123", 16, "secret-token-124", 16),
	    "tokens that differ in the last byte do not");
	ok(!ps_auth_equal("secret-token-123", 16, "secret-token-1234", 17),
	    "a token with an extra byte does not");
	ok(!ps_auth_equal("secret", 6, "secret-token-123", 16),
	    "a prefix does not");
	ok(!ps_auth_equal("", 0, "x", 1), "an empty token does not");
}

static void
test_bearer(void)
{
	const char	*tok;
	size_t		 len;
	const char	*h;

	h = "Bearer abc.def";
	ok(ps_auth_bearer(h, strlen(h), &tok, &len) == 0 && len == 7 &&
	    strncmp(tok, "abc.def", 7) == 0, "Bearer abc.def gives abc.def");
	h = "bearer   xyz  ";
	ok(ps_auth_bearer(h, strlen(h), &tok, &len) == 0 && len == 3 &&
	    strncmp(tok, "xyz", 3) == 0,
	    "the scheme is case-insensitive and spaces are skipped");
	h = "Basic dXNlcjpwYXNz";
	ok(ps_auth_bearer(h, strlen(h), &tok, &len) == -1,
	    "a Basic header is refused");
	h = "Bearer";
	ok(ps_auth_bearer(h, strlen(h), &tok, &len) == -1,
	    "a scheme without a token is refused");
	h = "Bearer ";
	ok(ps_auth_bearer(h, strlen(h), &tok, &len) == -1,
	    "a scheme and a space without a token is refused");
	h = "Bearer a b";
	ok(ps_auth_bearer(h, strlen(h), &tok, &len) == -1,
	    "two words after the scheme are refused");
	h = "Bearerabc";
	ok(ps_auth_bearer(h, strlen(h), &tok, &len) == -1,
	    "a scheme run into the token is refused");
}

static void
test_roles(void)
{
	struct ps_auth	 a;
	const char	*w = "Bearer worker-token-0123456789";
	const char	*o = "Bearer operator-token-0123456789";
	const char	*x = "Bearer wrong-token-000000000000";

	memset(&a, 0, sizeof a);
	ok(!ps_auth_required(&a), "no token configured: none required");
	is_int(ps_auth_check(&a, NULL, 0), PS_AUTH_OPERATOR,
	    "with no token configured anyone may operate");

	a.worker = strdup("worker-token-0123456789");
	a.operator = strdup("operator-token-0123456789");
	ok(ps_auth_required(&a), "with tokens configured one is required");
	is_int(ps_auth_check(&a, NULL, 0), PS_AUTH_NONE,
	    "no header: no role");
	is_int(ps_auth_check(&a, w, strlen(w)), PS_AUTH_WORKER,
	    "the worker token gives the worker role");
	is_int(ps_auth_check(&a, o, strlen(o)), PS_AUTH_OPERATOR,
	    "the operator token gives the operator role");
	is_int(ps_auth_check(&a, x, strlen(x)), PS_AUTH_NONE,
	    "a wrong token gives no role");
	ps_auth_clear(&a);
	ok(a.worker == NULL && a.operator == NULL, "ps_auth_clear frees both");

	a.worker = strdup("worker-token-0123456789");
	is_int(ps_auth_check(&a, o, strlen(o)), PS_AUTH_NONE,
	    "only a worker token configured: another token gives no role");
	is_int(ps_auth_check(&a, w, strlen(w)), PS_AUTH_WORKER,
	    "only a worker token configured: it is a worker, not an operator");
	ps_auth_clear(&a);
}

int
main(void)
{
	dir = tap_tmpdir();
	plan(28);
	test_files();
	test_equal();
	test_bearer();
	test_roles();
	return exit_status();
}
