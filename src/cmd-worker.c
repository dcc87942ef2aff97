/*
 * The parts psctl init, pull and push share (cmd-worker.h).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cmd.h"
#include "cmd-worker.h"
#include "control.h"
#include "tensor.h"
#include "wsframe.h"
#include "xmalloc.h"

#define CMD_WORKER_TIMEOUT	30.0

enum ps_cmd_retval
ps_cmd_worker_init(struct ps_cmd_worker *w, struct ps_cmd *cmd)
{
	memset(w, 0, sizeof *w);
	w->name = ps_args_get(cmd->args, "name");
	return ps_cmd_ctl_init(&w->o, cmd, CMD_WORKER_TIMEOUT);
}

enum ps_cmd_retval
ps_cmd_worker_open(struct ps_cmd_worker *w)
{
	struct psctl_opts	 o;
	enum psctl_errcode	 code;
	struct ps_cmd		*cmd = w->o.cmd;
	const char		*url = w->o.url;
	char			 err[512], *token = NULL, *cause = NULL, name[64];
	int			 had_token;

	if (ps_cmd_token(w->o.token_file, &token, &cause) != 0) {
		ps_cmd_error(cmd, "%s", cause);
		free(cause);
		return PS_CMD_ERR_NOINPUT;
	}
	snprintf(name, sizeof name, PS_CTL_ONESHOT_PREFIX "%s",
	    cmd->entry->name);
	memset(&o, 0, sizeof o);
	o.url = url;
	o.token = token;
	o.ca_file = w->o.ca_file;
	o.name = w->name != NULL ? w->name : name;
	o.timeout_ms = (int)ceil(w->o.timeout * 1000);
	w->c = psctl_connect(&o, err, sizeof err, &code);
	had_token = token != NULL;
	if (token != NULL) {
		memset(token, 0, strlen(token));
		free(token);
	}
	if (w->c != NULL)
		return PS_CMD_OK;

	switch (code) {
	case PSCTL_E_UNAVAILABLE:
		ps_cmd_error(cmd, "cannot reach the server at %s: %s", url,
		    err);
		break;
	case PSCTL_E_AUTH:
		/*
		 * Refused at the handshake (401, 403), a server that wants a
		 * token; refused at HELLO, the server says why (an operator
		 * blocked the worker): its text, not a guess.
		 */
		if (had_token)
			ps_cmd_error(cmd, "%s refused the token: %s", url, err);
		else if (strncmp(err, PS_WSFRAME_TOKEN_REFUSED,
		    sizeof PS_WSFRAME_TOKEN_REFUSED - 1) == 0)
			ps_cmd_error(cmd, "%s wants a token: give --token-file "
			    "FILE or set PSCTL_TOKEN", url);
		else
			ps_cmd_error(cmd, "%s refused the worker: %s", url, err);
		break;
	case PSCTL_E_TLS:
		ps_cmd_error(cmd, "TLS with %s failed: %s", url, err);
		break;
	case PSCTL_E_PROTOCOL:
		ps_cmd_error(cmd, "%s does not speak %s: %s", url,
		    "psctl.worker.v1", err);
		break;
	case PSCTL_E_ARG:
		/* The text names the URL already. */
		ps_cmd_error(cmd, "%s", err);
		break;
	default:
		ps_cmd_error(cmd, "%s: %s", url, err);
		break;
	}
	return code == PSCTL_OK ? PS_CMD_ERR_SOFTWARE :
	    ps_cmd_psctl_retval(code, 0, 1);
}

enum ps_cmd_retval
ps_cmd_worker_fail(struct ps_cmd_worker *w, const char *what)
{
	enum psctl_errcode	 err = psctl_errcode(w->c);
	struct ps_cmd		*cmd = w->o.cmd;
	int			 code = psctl_server_code(w->c);
	const char		*url = w->o.url;

	switch (err) {
	case PSCTL_E_SERVER:
		ps_cmd_error(cmd, "the server refused the %s (%s): %s", what,
		    ps_errcode_name(code), psctl_error(w->c));
		break;
	case PSCTL_E_CLOSED:
		ps_cmd_error(cmd, "%s went away during the %s: %s", url, what,
		    psctl_error(w->c));
		break;
	case PSCTL_E_TIMEOUT:
		ps_cmd_error(cmd, "%s did not answer the %s in time "
		    "(--timeout): %s", url, what, psctl_error(w->c));
		break;
	default:
		ps_cmd_error(cmd, "%s failed: %s", what, psctl_error(w->c));
		break;
	}
	return ps_cmd_psctl_retval(err, code, 0);
}

void
ps_cmd_worker_close(struct ps_cmd_worker *w)
{
	psctl_close(w->c);
	w->c = NULL;
}

enum ps_cmd_retval
ps_cmd_worker_load(struct ps_cmd *cmd, const char *path,
    struct ps_store **store, struct psctl_tensor **tp, size_t *np)
{
	struct ps_ckpt_info	 info;
	const struct ps_tensor	*s;
	struct psctl_tensor	*t;
	char			*cause = NULL;
	size_t			 i, n;

	memset(&info, 0, sizeof info);
	if ((*store = ps_ckpt_load(path, NULL, &info, &cause)) == NULL) {
		ps_cmd_error(cmd, "%s: %s", path, cause);
		free(cause);
		return ps_cmd_ckpt_retval(info.error);
	}
	n = ps_store_count(*store);
	t = xcalloc(n > 0 ? n : 1, sizeof *t);
	for (i = 0; i < n; i++) {
		s = ps_store_tensor(*store, i);
		t[i].name = s->name;
		t[i].ndim = s->ndim;
		memcpy(t[i].dims, s->dims, s->ndim * sizeof t[i].dims[0]);
		t[i].n = s->n;
		t[i].data = s->data;
	}
	*tp = t;
	*np = n;
	return PS_CMD_OK;
}

enum ps_cmd_retval
ps_cmd_worker_send_file(struct ps_cmd *cmd, int (*send)(struct psctl *,
    const struct psctl_tensor *, size_t, uint64_t *))
{
	struct ps_cmd_worker	 w;
	struct ps_store		*store;
	struct psctl_tensor	*t;
	enum ps_cmd_retval	 ret;
	uint64_t		 version;
	size_t			 n;

	if ((ret = ps_cmd_worker_init(&w, cmd)) != PS_CMD_OK)
		return ret;
	ret = ps_cmd_worker_load(cmd, ps_args_string(cmd->args, 0), &store,
	    &t, &n);
	if (ret != PS_CMD_OK)
		return ret;
	if ((ret = ps_cmd_worker_open(&w)) == PS_CMD_OK) {
		if (send(w.c, t, n, &version) == 0)
			printf("%llu\n", (unsigned long long)version);
		else
			ret = ps_cmd_worker_fail(&w, cmd->entry->name);
		ps_cmd_worker_close(&w);
	}
	free(t);
	ps_store_free(store);
	return ret;
}
