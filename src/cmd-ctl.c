/*
 * The control client the operator commands share (cmd-ctl.h).  Blocking,
 * one thread, one request at a time.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"
#include "wsc.h"
#include "xmalloc.h"

enum ps_cmd_retval
ps_cmd_ctl_init(struct ps_cmd_ctl *c, struct ps_cmd *cmd, double dflt)
{
	struct ps_args	*args = cmd->args;
	char		*cause;

	memset(c, 0, sizeof *c);
	c->cmd = cmd;
	c->next_id = 1;
	c->url = ps_cmd_url(cmd, ps_args_get(args, "connect"));
	c->token_file = ps_args_get(args, "token-file");
	c->ca_file = ps_args_get(args, "ca-file");
	c->timeout = dflt;
	if (ps_args_has(args, "timeout")) {
		c->timeout = ps_args_strtod(args, "timeout", 0, 86400,
		    PS_ARGS_ABOVE_MIN, &cause);
		if (cause != NULL) {
			ps_cmd_error(cmd, "%s", cause);
			free(cause);
			return PS_CMD_ERR_USAGE;
		}
	}
	return PS_CMD_OK;
}

enum ps_cmd_retval
ps_cmd_ctl_fail(struct ps_cmd_ctl *c, enum ps_wsc_err err, const char *text,
    int had_token, int watching)
{
	struct ps_cmd	*cmd = c->cmd;
	const char	*url = c->url;

	switch (err) {
	case PS_WSC_OK:
		break;
	case PS_WSC_UNAVAILABLE:
		ps_cmd_error(cmd, "cannot reach the server at %s: %s", url,
		    text);
		break;
	case PS_WSC_AUTH:
		if (had_token)
			ps_cmd_error(cmd, "%s refused the token (an operator "
			    "token is needed): %s", url, text);
		else
			ps_cmd_error(cmd, "%s wants an operator token: give "
			    "--token-file FILE or set PSCTL_TOKEN", url);
		break;
	case PS_WSC_ARG:
		/* The text names the URL already. */
		ps_cmd_error(cmd, "%s", text);
		break;
	case PS_WSC_TIMEOUT:
		ps_cmd_error(cmd, "%s did not answer in time: %s", url, text);
		break;
	case PS_WSC_CLOSED:
		ps_cmd_error(cmd, "%s went away: %s", url, text);
		break;
	case PS_WSC_TLS:
		ps_cmd_error(cmd, "TLS with %s failed: %s", url, text);
		break;
	case PS_WSC_NOMEM:
		ps_cmd_error(cmd, "%s", text);
		break;
	case PS_WSC_HANDSHAKE:
	case PS_WSC_PROTOCOL:
	case PS_WSC_TOO_LARGE:
		ps_cmd_error(cmd, "%s does not speak %s: %s", url,
		    PS_CONTROL_PROTOCOL, text);
		break;
	}
	return err == PS_WSC_OK ? PS_CMD_ERR_SOFTWARE :
	    ps_cmd_wsc_retval(err, watching);
}

int
ps_cmd_ctl_connect(struct ps_cmd_ctl *c, const char *token,
    enum ps_wsc_err *err, char *errbuf, size_t len)
{
	struct ps_wsc_opts	o;

	memset(&o, 0, sizeof o);
	o.url = c->url;
	o.protocol = PS_CONTROL_PROTOCOL;
	o.token = token;
	o.ca_file = c->ca_file;
	o.timeout_ms = (int)ceil(c->timeout * 1000);
	*err = PS_WSC_OK;
	if (len > 0)
		errbuf[0] = '\0';
	c->wsc = ps_wsc_connect(&o, err, errbuf, len);
	return c->wsc != NULL ? 0 : -1;
}

int
ps_cmd_ctl_send(struct ps_cmd_ctl *c, const char *text)
{
	struct iovec	iov;

	iov.iov_base = (void *)(uintptr_t)text;
	iov.iov_len = strlen(text);
	return ps_wsc_send(c->wsc, 1, &iov, 1);
}

enum ps_cmd_retval
ps_cmd_ctl_open(struct ps_cmd_ctl *c)
{
	enum ps_wsc_err		 err;
	enum ps_cmd_retval	 ret = PS_CMD_OK;
	char			 errbuf[512], *token = NULL, *cause = NULL;

	if (ps_cmd_token(c->token_file, &token, &cause) != 0) {
		ps_cmd_error(c->cmd, "%s", cause);
		free(cause);
		return PS_CMD_ERR_NOINPUT;
	}
	if (ps_cmd_ctl_connect(c, token, &err, errbuf, sizeof errbuf) != 0)
		ret = ps_cmd_ctl_fail(c, err, errbuf, token != NULL, 0);
	if (token != NULL) {
		memset(token, 0, strlen(token));
		free(token);
	}
	return ret;
}

enum ps_cmd_retval
ps_cmd_ctl_call(struct ps_cmd_ctl *c, enum ps_ctl_cmd cmd, const char *name,
    int checkpoint, double wait, struct ps_ctl_reply *r)
{
	json_int_t		 id = c->next_id++;
	enum ps_cmd_retval	 ret;
	char			*req;

	req = ps_ctl_request(id, cmd, name, PS_CTL_INTERVAL_DEF, checkpoint);
	ret = ps_cmd_ctl_call_text(c, id, req, wait, r);
	free(req);
	return ret;
}

enum ps_cmd_retval
ps_cmd_ctl_call_text(struct ps_cmd_ctl *c, json_int_t id, const char *req,
    double wait, struct ps_ctl_reply *r)
{
	enum ps_cmd_retval	 ret;
	char			*cause = NULL;
	void			*buf;
	size_t			 len;
	int			 is_text, ms;

	memset(r, 0, sizeof *r);
	if (ps_cmd_ctl_send(c, req) != 0)
		return ps_cmd_ctl_fail(c, ps_wsc_errcode(c->wsc),
		    ps_wsc_error(c->wsc), 1, 0);
	ms = (int)ceil((wait > 0 ? wait : c->timeout) * 1000);
	for (;;) {
		if (ps_wsc_recv(c->wsc, &buf, &len, &is_text, 64 << 20,
		    ms) != 0)
			return ps_cmd_ctl_fail(c, ps_wsc_errcode(c->wsc),
			    ps_wsc_error(c->wsc), 1, 0);
		if (!is_text) {
			ps_cmd_error(c->cmd, "the server sent a binary "
			    "message on the control protocol");
			return PS_CMD_ERR_PROTOCOL;
		}
		if (ps_ctl_reply_parse(buf, len, r, &cause) != 0) {
			ps_cmd_error(c->cmd, "%s", cause);
			free(cause);
			return PS_CMD_ERR_PROTOCOL;
		}
		if (r->is_event || (r->has_id && r->id != id)) {
			ps_ctl_reply_clear(r);
			continue;
		}
		break;
	}
	if (!r->ok) {
		ps_cmd_error(c->cmd, "the server refused: %s (%s)",
		    r->message, r->code);
		ret = ps_cmd_ctl_retval(r->code, 0);
		ps_ctl_reply_clear(r);
		return ret;
	}
	return PS_CMD_OK;
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

enum ps_cmd_retval
ps_cmd_ctl_named(struct ps_cmd *cmd, enum ps_ctl_cmd what, int flag,
    double wait, struct ps_ctl_reply *r)
{
	struct ps_cmd_ctl	 c;
	enum ps_cmd_retval	 ret;
	const char		*name = ps_args_string(cmd->args, 0);
	char			 file[PS_CTL_NAME_MAX + 32], *cause = NULL;

	if ((ret = ps_cmd_ctl_init(&c, cmd, PS_CMD_CTL_TIMEOUT)) != PS_CMD_OK)
		return ret;
	/* The server checks too; this says so before connecting. */
	if (name != NULL &&
	    ps_ctl_name_valid(name, file, sizeof file, &cause) != 0) {
		ps_cmd_error(cmd, "%s", cause);
		free(cause);
		return PS_CMD_ERR_USAGE;
	}
	if ((ret = ps_cmd_ctl_open(&c)) != PS_CMD_OK)
		return ret;
	ret = ps_cmd_ctl_call(&c, what, name, flag, wait, r);
	ps_cmd_ctl_close(&c);
	return ret;
}
