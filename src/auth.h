/*
 * Tokens for the two roles (psctl-serve(1)).  A worker token admits the
 * worker protocol only; the operator token admits everything: the worker
 * protocol, the control protocol and /metrics.  Tokens travel in the
 * handshake as "Authorization: Bearer TOKEN" and are compared in constant
 * time.  Read at start-up, then only read: safe from any thread.
 */
#ifndef PS_AUTH_H
#define PS_AUTH_H

#include <stddef.h>

/* Tokens shorter than this are read with a warning. */
#define PS_AUTH_TOKEN_MIN	16
#define PS_AUTH_TOKEN_MAX	1024

enum ps_auth_role {
	PS_AUTH_NONE = 0,	/* nothing presented, or a wrong token */
	PS_AUTH_WORKER,
	PS_AUTH_OPERATOR
};

struct ps_auth {
	char		*worker;	/* owned; NULL when not configured */
	char		*operator;	/* owned; NULL when not configured */
};

/*
 * Reads a token file: its first line, surrounding white space removed.
 * Refuses a missing or unreadable file, an empty token, one longer than
 * PS_AUTH_TOKEN_MAX bytes, and one with characters outside printable
 * ASCII.  *warn is set (caller frees) when the file can be read by group
 * or others, or the token is shorter than PS_AUTH_TOKEN_MIN.  Returns 0
 * and *token (caller frees), or -1 with *cause.
 */
int		 ps_auth_read_file(const char *path, char **token, char **warn,
		     char **cause);

/* 1 when a and b are equal; the time taken does not depend on the bytes. */
int		 ps_auth_equal(const char *a, size_t alen, const char *b,
		     size_t blen);

/*
 * Finds the token in an Authorization header value: "Bearer" (any case),
 * one or more spaces, the token, optional trailing white space.  Returns 0
 * with *tok pointing into value and *toklen, or -1.
 */
int		 ps_auth_bearer(const char *value, size_t len, const char **tok,
		     size_t *toklen);

/* 1 when any token is configured: then every connection must bring one. */
int		 ps_auth_required(const struct ps_auth *);

/*
 * The role an Authorization header value grants (value NULL: no header).
 * With no token configured everyone is an operator.  Both tokens are
 * always compared, so the time does not say which one matched.
 */
enum ps_auth_role ps_auth_check(const struct ps_auth *, const char *value,
		     size_t len);

void		 ps_auth_clear(struct ps_auth *);

#endif
