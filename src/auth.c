/*
 * Token files and Bearer checks (auth.h).  ps_auth_role() and
 * ps_auth_filter() run on the lws service thread; the rest anywhere.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <libwebsockets.h>

#include "auth.h"
#include "log.h"
#include "xmalloc.h"

int
ps_auth_load(struct ps_auth *a, const char *worker_file,
    const char *operator_file, char **cause)
{
	char	*warn = NULL;

	memset(a, 0, sizeof *a);
	if (worker_file != NULL) {
		if (ps_auth_read_file(worker_file, &a->worker, &warn,
		    cause) != 0)
			goto fail;
		if (warn != NULL) {
			ps_log_warn("%s", warn);
			free(warn);
			warn = NULL;
		}
	}
	if (operator_file != NULL) {
		if (ps_auth_read_file(operator_file, &a->operator, &warn,
		    cause) != 0)
			goto fail;
		if (warn != NULL) {
			ps_log_warn("%s", warn);
			free(warn);
		}
	}
	if (a->worker != NULL && a->operator != NULL &&
	    strcmp(a->worker, a->operator) == 0) {
		*cause = xstrdup("the worker and operator tokens are the same: "
		    "a worker could then operate the server");
		goto fail;
	}
	if (a->worker != NULL && a->operator == NULL)
		ps_log_warn("--token-file without --operator-token-file: "
		    "the control protocol and /metrics are refused to "
		    "everyone");
	return 0;

fail:
	ps_auth_clear(a);
	return -1;
}

int
ps_auth_read_file(const char *path, char **token, char **warn, char **cause)
{
	struct stat	 sb;
	FILE		*fp;
	char		 line[PS_AUTH_TOKEN_MAX + 2], *s;
	size_t		 n, i;

	*token = NULL;
	*warn = NULL;
	if ((fp = fopen(path, "r")) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &sb) == 0 && (sb.st_mode & 077) != 0)
		*warn = xasprintf("%s: token file is readable by group or "
		    "others (mode %03o)", path, (unsigned)(sb.st_mode & 0777));
	if (fgets(line, sizeof line, fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	n = strlen(line);
	if (n == sizeof line - 1 && line[n - 1] != '\n') {
		*cause = xasprintf("%s: token longer than %d bytes", path,
		    PS_AUTH_TOKEN_MAX);
		goto fail;
	}
	s = line;
	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	if (n == 0) {
		*cause = xasprintf("%s: no token on the first line", path);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (s[i] <= ' ' || s[i] > '~') {
			*cause = xasprintf("%s: the token may hold printable "
			    "ASCII only, without spaces", path);
			goto fail;
		}
	}
	if (n < PS_AUTH_TOKEN_MIN && *warn == NULL)
		*warn = xasprintf("%s: a token of %zu bytes is easy to guess "
		    "(use at least %d)", path, n, PS_AUTH_TOKEN_MIN);
	*token = xstrdup(s);
	OPENSSL_cleanse(line, sizeof line);
	return 0;

fail:
	OPENSSL_cleanse(line, sizeof line);
	free(*warn);
	*warn = NULL;
	return -1;
}

/*
 * Hashing both sides first makes the comparison's time independent of the
 * lengths as well as of the bytes.
 */
int
ps_auth_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char	ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];
	int		eq;

	SHA256((const unsigned char *)a, alen, ha);
	SHA256((const unsigned char *)b, blen, hb);
	eq = CRYPTO_memcmp(ha, hb, sizeof ha) == 0;
	/* Equal digests with unequal lengths would need a SHA-256 collision. */
	return eq;
}

int
ps_auth_bearer(const char *value, size_t len, const char **tok,
    size_t *toklen)
{
	static const char	 scheme[] = "bearer";
	size_t			 i, start;

	if (value == NULL || len < sizeof scheme)
		return -1;
	for (i = 0; i < sizeof scheme - 1; i++) {
		char c = value[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != scheme[i])
			return -1;
	}
	if (value[i] != ' ')
		return -1;
	while (i < len && value[i] == ' ')
		i++;
	start = i;
	while (i < len && value[i] != ' ' && value[i] != '\t' &&
	    value[i] != '\r' && value[i] != '\n' && value[i] != '\0')
		i++;
	if (i == start)
		return -1;
	*tok = value + start;
	*toklen = i - start;
	while (i < len && (value[i] == ' ' || value[i] == '\t' ||
	    value[i] == '\r' || value[i] == '\n'))
		i++;
	if (i != len && value[i] != '\0')
		return -1;
	return 0;
}

int
ps_auth_required(const struct ps_auth *a)
{
	return a->worker != NULL || a->operator != NULL;
}

enum ps_auth_role
ps_auth_check(const struct ps_auth *a, const char *value, size_t len)
{
	const char	*tok;
	size_t		 toklen;
	int		 w = 0, o = 0;

	if (!ps_auth_required(a))
		return PS_AUTH_OPERATOR;
	if (value == NULL || ps_auth_bearer(value, len, &tok, &toklen) != 0)
		return PS_AUTH_NONE;
	if (a->operator != NULL)
		o = ps_auth_equal(tok, toklen, a->operator, strlen(a->operator));
	if (a->worker != NULL)
		w = ps_auth_equal(tok, toklen, a->worker, strlen(a->worker));
	if (o)
		return PS_AUTH_OPERATOR;
	if (w)
		return PS_AUTH_WORKER;
	return PS_AUTH_NONE;
}

enum ps_auth_role
ps_auth_role(const struct ps_auth *a, struct lws *wsi)
{
	char	buf[PS_AUTH_TOKEN_MAX + 64];
	int	n;

	if (!ps_auth_required(a))
		return PS_AUTH_OPERATOR;
	n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n <= 0)
		return PS_AUTH_NONE;
	return ps_auth_check(a, buf, (size_t)n);
}

int
ps_auth_filter(const struct ps_auth *a, struct lws *wsi,
    enum ps_auth_role need)
{
	enum ps_auth_role	role = ps_auth_role(a, wsi);

	if (role == PS_AUTH_NONE)
		return 1;
	return role == PS_AUTH_OPERATOR || role == need ? 0 : 1;
}

void
ps_auth_clear(struct ps_auth *a)
{
	if (a->worker != NULL) {
		OPENSSL_cleanse(a->worker, strlen(a->worker));
		free(a->worker);
	}
	if (a->operator != NULL) {
		OPENSSL_cleanse(a->operator, strlen(a->operator));
		free(a->operator);
	}
	a->worker = a->operator = NULL;
}
