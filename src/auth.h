/*
 * Tokens for the two roles (psctl-serve(1)).  A worker token admits the
 * worker protocol only; the operator token admits everything: the worker
 * protocol, the control protocol and /metrics.  Tokens travel in the
 * handshake as "Authorization: Bearer TOKEN" and are compared in constant
 * time.  Read at start-up, then only read: safe from any thread.
 *
 * Every protocol of psctl serve passes the same check: the WebSocket
 * protocols call ps_auth_filter() in LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION,
 * the HTTP protocol ps_auth_role() where it can still answer 401 or 403.
 */
#ifndef PS_AUTH_H
#define PS_AUTH_H

#include <stddef.h>

struct lws;

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

/*
 * Reads the tokens psctl serve was given into a (either path may be NULL:
 * no token for that role), logging the warnings ps_auth_read_file() gives
 * and one for a worker token without an operator token.  Refuses the same
 * token for both roles.  Returns 0, or -1 with *cause (caller frees) and a
 * left empty.
 */
int		 ps_auth_load(struct ps_auth *a, const char *worker_file,
		     const char *operator_file, char **cause);

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

/* The role the Authorization header of wsi's request grants. */
enum ps_auth_role ps_auth_role(const struct ps_auth *, struct lws *wsi);
/*
 * The filter of every WebSocket protocol: 0 when wsi's token grants need
 * (PS_AUTH_WORKER or PS_AUTH_OPERATOR; the operator's token grants both),
 * else 1, what LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION returns to refuse.
 */
int		 ps_auth_filter(const struct ps_auth *, struct lws *wsi,
		     enum ps_auth_role need);

void		 ps_auth_clear(struct ps_auth *);

#endif
