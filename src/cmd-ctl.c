/*
 * The control client the operator commands share (cmd-ctl.h).  Blocking,
 * one thread, one request at a time.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"
#include "wsc.h"
#include "xmalloc.h"

static int	ctl_wsc_exit(struct ps_cmd_ctl *, enum ps_wsc_err, const char *,
		    int);
static int	ctl_error_exit(const char *);

void
ps_cmd_ctl_init(struct ps_cmd_ctl *c, const char *cmd)
{
	memset(c, 0, sizeof *c);
	c->cmd = cmd;
	c->timeout = 10;
	c->next_id = 1;
}

int
ps_cmd_ctl_option(struct ps_cmd_ctl *c, int ch, const char *arg)
{
	switch (ch) {
	case PS_CMD_CTL_OPT_CONNECT:
		c->url = arg;
		return 1;
	case PS_CMD_CTL_OPT_TOKEN_FILE:
		c->token_file = arg;
		return 1;
	case PS_CMD_CTL_OPT_CA_FILE:
		c->ca_file = arg;
		return 1;
	case PS_CMD_CTL_OPT_TIMEOUT:
		if (ps_cmd_parse_double(arg, &c->timeout) != 0 ||
		    !(c->timeout > 0) || c->timeout > 86400) {
			fprintf(stderr, "psctl %s: --timeout wants seconds "
			    "from 0 to 86400, not \"%s\"\n", c->cmd, arg);
			return EX_USAGE;
		}
		return 1;
	}
	return 0;
}

/*
 * Maps a connection failure to an exit code, with a message that says what
 * to do about it.
 */
static int
ctl_wsc_exit(struct ps_cmd_ctl *c, enum ps_wsc_err err, const char *text,
    int had_token)
{
	const char	*url = ps_cmd_url(c->url);

	switch (err) {
	case PS_WSC_OK:
		return 0;
	case PS_WSC_UNAVAILABLE:
		fprintf(stderr, "psctl %s: cannot reach the server at %s: %s\n",
		    c->cmd, url, text);
		return EX_UNAVAILABLE;
	case PS_WSC_AUTH:
		if (had_token)
			fprintf(stderr, "psctl %s: %s refused the token (an "
			    "operator token is needed): %s\n", c->cmd, url,
			    text);
		else
			fprintf(stderr, "psctl %s: %s wants an operator "
			    "token: give --token-file FILE or set "
			    "PSCTL_TOKEN\n", c->cmd, url);
		return EX_NOPERM;
	case PS_WSC_ARG:
		fprintf(stderr, "psctl %s: %s: %s\n", c->cmd, url, text);
		return EX_USAGE;
	case PS_WSC_TIMEOUT:
		fprintf(stderr, "psctl %s: %s did not answer in time: %s\n",
		    c->cmd, url, text);
		return EX_TEMPFAIL;
	case PS_WSC_CLOSED:
		fprintf(stderr, "psctl %s: %s went away: %s\n", c->cmd, url,
		    text);
		return EX_UNAVAILABLE;
	case PS_WSC_TLS:
		fprintf(stderr, "psctl %s: TLS with %s failed: %s\n", c->cmd,
		    url, text);
		return EX_PROTOCOL;
	case PS_WSC_NOMEM:
		fprintf(stderr, "psctl %s: %s\n", c->cmd, text);
		return EX_OSERR;
	case PS_WSC_HANDSHAKE:
	case PS_WSC_PROTOCOL:
	case PS_WSC_TOO_LARGE:
		break;
	}
	fprintf(stderr, "psctl %s: %s does not speak %s: %s\n", c->cmd, url,
	    PS_CONTROL_PROTOCOL, text);
	return EX_PROTOCOL;
}

static int
ctl_error_exit(const char *code)
{
	static const char *const data[] = {
		PS_CTL_E_BAD_REQUEST, PS_CTL_E_UNKNOWN_CMD, PS_CTL_E_NOT_FOUND,
		PS_CTL_E_MISMATCH, PS_CTL_E_NO_MODEL, PS_CTL_E_NO_CKPT_DIR, NULL
	};
	size_t	i;

	for (i = 0; data[i] != NULL; i++) {
		if (strcmp(code, data[i]) == 0)
			return EX_DATAERR;
	}
	if (strcmp(code, PS_CTL_E_FORBIDDEN) == 0)
		return EX_NOPERM;
	if (strcmp(code, PS_CTL_E_BUSY) == 0 ||
	    strcmp(code, PS_CTL_E_SHUTTING_DOWN) == 0)
		return EX_TEMPFAIL;
	return EX_SOFTWARE;
}

int
ps_cmd_ctl_open(struct ps_cmd_ctl *c)
{
	struct ps_wsc_opts	 o;
	enum ps_wsc_err		 err = PS_WSC_OK;
	char			 errbuf[512], *token = NULL, *cause = NULL;
	int			 ex;

	if (ps_cmd_token(c->token_file, &token, &cause) != 0) {
		fprintf(stderr, "psctl %s: %s\n", c->cmd, cause);
		free(cause);
		return EX_NOINPUT;
	}
	memset(&o, 0, sizeof o);
	o.url = ps_cmd_url(c->url);
	o.protocol = PS_CONTROL_PROTOCOL;
	o.token = token;
	o.ca_file = c->ca_file;
	o.timeout_ms = (int)ceil(c->timeout * 1000);
	errbuf[0] = '\0';
	c->wsc = ps_wsc_connect(&o, &err, errbuf, sizeof errbuf);
	if (token != NULL) {
		memset(token, 0, strlen(token));
		free(token);
	}
	if (c->wsc == NULL) {
		ex = ctl_wsc_exit(c, err, errbuf, o.token != NULL);
		return ex != 0 ? ex : EX_SOFTWARE;
	}
	return 0;
}

int
ps_cmd_ctl_call(struct ps_cmd_ctl *c, enum ps_ctl_cmd cmd, const char *name,
    int checkpoint, double wait, struct ps_ctl_reply *r)
{
	struct iovec	 iov;
	json_int_t	 id = c->next_id++;
	char		*req, *cause = NULL;
	void		*buf;
	size_t		 len;
	int		 is_text, ms, ex;

	memset(r, 0, sizeof *r);
	req = ps_ctl_request(id, cmd, name, PS_CTL_INTERVAL_DEF, checkpoint);
	iov.iov_base = req;
	iov.iov_len = strlen(req);
	if (ps_wsc_send(c->wsc, 1, &iov, 1) != 0) {
		free(req);
		return ctl_wsc_exit(c, ps_wsc_errcode(c->wsc),
		    ps_wsc_error(c->wsc), 1);
	}
	free(req);
	ms = (int)ceil((wait > 0 ? wait : c->timeout) * 1000);
	for (;;) {
		if (ps_wsc_recv(c->wsc, &buf, &len, &is_text, 64 << 20,
		    ms) != 0)
			return ctl_wsc_exit(c, ps_wsc_errcode(c->wsc),
			    ps_wsc_error(c->wsc), 1);
		if (!is_text) {
			fprintf(stderr, "psctl %s: the server sent a binary "
			    "message on the control protocol\n", c->cmd);
			return EX_PROTOCOL;
		}
		if (ps_ctl_reply_parse(buf, len, r, &cause) != 0) {
			fprintf(stderr, "psctl %s: %s\n", c->cmd, cause);
			free(cause);
			return EX_PROTOCOL;
		}
		if (r->is_event || (r->has_id && r->id != id)) {
			ps_ctl_reply_clear(r);
			continue;
		}
		break;
	}
	if (!r->ok) {
		fprintf(stderr, "psctl %s: the server refused: %s (%s)\n",
		    c->cmd, r->message, r->code);
		ex = ctl_error_exit(r->code);
		ps_ctl_reply_clear(r);
		return ex;
	}
	return 0;
}

int
ps_cmd_ctl_wait_close(struct ps_cmd_ctl *c, double wait)
{
	void	*buf;
	size_t	 len;
	int	 is_text, ms = (int)ceil(wait * 1000);

	for (;;) {
		if (ps_wsc_recv(c->wsc, &buf, &len, &is_text, 64 << 20,
		    ms) != 0)
			break;
	}
	return ps_wsc_errcode(c->wsc) == PS_WSC_CLOSED ? 0 : -1;
}

void
ps_cmd_ctl_close(struct ps_cmd_ctl *c)
{
	ps_wsc_close(c->wsc);
	c->wsc = NULL;
}

/*
 * All of psctl checkpoint and psctl reset but the printing: parses the
 * options and an optional checkpoint NAME, sends cmd and waits up to wait
 * seconds.  Returns 0 with *r (caller ps_ctl_reply_clear()s), or an exit
 * code after a message.
 */
int
ps_cmd_ctl_named(const struct ps_cmd_entry *e, enum ps_ctl_cmd cmd,
    double wait, int argc, char **argv, struct ps_ctl_reply *r)
{
	static const struct option longopts[] = {
		PS_CMD_CTL_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ps_cmd_ctl	 c;
	const char		*name = NULL;
	char			 file[PS_CTL_NAME_MAX + 32], *cause = NULL;
	int			 ch, ex;

	ps_cmd_ctl_init(&c, e->name);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if ((ex = ps_cmd_ctl_option(&c, ch, optarg)) > 1)
			return ex;
		if (ex == 1)
			continue;
		if (ch == 'h') {
			ps_cmd_usage(e, stdout);
			return EX_OK;
		}
		return ps_cmd_usage_error(e, NULL);
	}
	if (argc - optind > 1)
		return ps_cmd_usage_error(e,
		    "one name at most");
	if (optind < argc) {
		name = argv[optind];
		/* The server checks too; this says so before connecting. */
		if (ps_ctl_name_valid(name, file, sizeof file, &cause) != 0) {
			fprintf(stderr, "psctl %s: %s\n", e->name, cause);
			free(cause);
			return EX_USAGE;
		}
	}

	if ((ex = ps_cmd_ctl_open(&c)) != 0)
		return ex;
	ex = ps_cmd_ctl_call(&c, cmd, name, 0, wait, r);
	ps_cmd_ctl_close(&c);
	return ex;
}
