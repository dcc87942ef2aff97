/*
 * The parts psctl init, pull and push share (cmd-worker.h).
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "checkpoint.h"
#include "cmd.h"
#include "cmd-worker.h"
#include "tensor.h"
#include "xmalloc.h"

#define CMD_WORKER_TIMEOUT	30

void
ps_cmd_worker_init(struct ps_cmd_worker *w, const char *cmd)
{
	memset(w, 0, sizeof *w);
	ps_cmd_ctl_init(&w->o, cmd);
	w->o.timeout = CMD_WORKER_TIMEOUT;
}

int
ps_cmd_worker_option(struct ps_cmd_worker *w, int ch, const char *arg)
{
	if (ch == PS_CMD_WORKER_OPT_NAME) {
		w->name = arg;
		return 1;
	}
	return ps_cmd_ctl_option(&w->o, ch, arg);
}

/* The exit code for an error code (and, for refusals, the server's). */
static int
cmd_worker_exit(enum psctl_errcode err, int server_code)
{
	switch (err) {
	case PSCTL_OK:
		return EX_OK;
	case PSCTL_E_UNAVAILABLE:
	case PSCTL_E_CLOSED:
		return EX_UNAVAILABLE;
	case PSCTL_E_AUTH:
		return EX_NOPERM;
	case PSCTL_E_TIMEOUT:
		return EX_TEMPFAIL;
	case PSCTL_E_TLS:
	case PSCTL_E_PROTOCOL:
		return EX_PROTOCOL;
	case PSCTL_E_ARG:
		return EX_DATAERR;
	case PSCTL_E_NOMEM:
		return EX_OSERR;
	case PSCTL_E_SERVER:
		break;
	}
	switch (server_code) {
	case PS_E_SHUTDOWN:
	case PS_E_BUSY:
		return EX_TEMPFAIL;
	case PS_E_UNAUTHORIZED:
		return EX_NOPERM;
	case PS_E_INTERNAL:
		return EX_SOFTWARE;
	}
	return EX_DATAERR;
}

int
ps_cmd_worker_open(struct ps_cmd_worker *w)
{
	struct psctl_opts	 o;
	enum psctl_errcode	 code;
	const char		*url = ps_cmd_url(w->o.url), *cmd = w->o.cmd;
	char			 err[512], *token = NULL, *cause = NULL, name[64];
	int			 ex;

	if (ps_cmd_token(w->o.token_file, &token, &cause) != 0) {
		fprintf(stderr, "psctl %s: %s\n", cmd, cause);
		free(cause);
		return EX_NOINPUT;
	}
	snprintf(name, sizeof name, "psctl %s", cmd);
	memset(&o, 0, sizeof o);
	o.url = url;
	o.token = token;
	o.ca_file = w->o.ca_file;
	o.name = w->name != NULL ? w->name : name;
	o.timeout_ms = (int)ceil(w->o.timeout * 1000);
	w->c = psctl_connect(&o, err, sizeof err, &code);
	if (token != NULL) {
		memset(token, 0, strlen(token));
		free(token);
	}
	if (w->c != NULL)
		return 0;

	ex = cmd_worker_exit(code, 0);
	switch (code) {
	case PSCTL_E_UNAVAILABLE:
		fprintf(stderr, "psctl %s: cannot reach the server at %s: %s\n",
		    cmd, url, err);
		break;
	case PSCTL_E_AUTH:
		if (o.token != NULL)
			fprintf(stderr, "psctl %s: %s refused the token: %s\n",
			    cmd, url, err);
		else
			fprintf(stderr, "psctl %s: %s wants a token: give "
			    "--token-file FILE or set PSCTL_TOKEN\n", cmd, url);
		break;
	case PSCTL_E_TLS:
		fprintf(stderr, "psctl %s: TLS with %s failed: %s\n", cmd, url,
		    err);
		break;
	case PSCTL_E_PROTOCOL:
		fprintf(stderr, "psctl %s: %s does not speak %s: %s\n", cmd,
		    url, "psctl.worker.v1", err);
		break;
	case PSCTL_E_ARG:
		fprintf(stderr, "psctl %s: %s\n", cmd, err);
		ex = EX_USAGE;
		break;
	default:
		fprintf(stderr, "psctl %s: %s: %s\n", cmd, url, err);
		break;
	}
	return ex != EX_OK ? ex : EX_SOFTWARE;
}

int
ps_cmd_worker_fail(struct ps_cmd_worker *w, const char *what)
{
	enum psctl_errcode	 err = psctl_errcode(w->c);
	int			 code = psctl_server_code(w->c);
	const char		*url = ps_cmd_url(w->o.url);

	switch (err) {
	case PSCTL_E_SERVER:
		fprintf(stderr, "psctl %s: the server refused the %s (%s): "
		    "%s\n", w->o.cmd, what, ps_errcode_name(code),
		    psctl_error(w->c));
		break;
	case PSCTL_E_CLOSED:
		fprintf(stderr, "psctl %s: %s went away during the %s: %s\n",
		    w->o.cmd, url, what, psctl_error(w->c));
		break;
	case PSCTL_E_TIMEOUT:
		fprintf(stderr, "psctl %s: %s did not answer the %s in time "
		    "(--timeout): %s\n", w->o.cmd, url, what,
		    psctl_error(w->c));
		break;
	default:
		fprintf(stderr, "psctl %s: %s failed: %s\n", w->o.cmd, what,
		    psctl_error(w->c));
		break;
	}
	return cmd_worker_exit(err, code);
}

void
ps_cmd_worker_close(struct ps_cmd_worker *w)
{
	psctl_close(w->c);
	w->c = NULL;
}

int
ps_cmd_worker_load(const char *cmd, const char *path,
    struct ps_store **store, struct psctl_tensor **tp, size_t *np)
{
	struct ps_ckpt_info	 info;
	const struct ps_tensor	*s;
	struct psctl_tensor	*t;
	char			*cause = NULL;
	size_t			 i, n;

	memset(&info, 0, sizeof info);
	if ((*store = ps_ckpt_load(path, NULL, &info, &cause)) == NULL) {
		fprintf(stderr, "psctl %s: %s\n", cmd, cause);
		free(cause);
		switch (info.error) {
		case PS_CKPT_E_NOFILE:
			return EX_NOINPUT;
		case PS_CKPT_E_IO:
			return EX_IOERR;
		default:
			return EX_DATAERR;
		}
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
	return 0;
}

int
ps_cmd_worker_send_file(const struct ps_cmd_entry *e, int argc, char **argv,
    int (*send)(struct psctl *, const struct psctl_tensor *, size_t,
    uint64_t *))
{
	static const struct option longopts[] = {
		PS_CMD_WORKER_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ps_cmd_worker	 w;
	struct ps_store		*store;
	struct psctl_tensor	*t;
	uint64_t		 version;
	size_t			 n;
	int			 ch, ex;

	ps_cmd_worker_init(&w, e->name);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if ((ex = ps_cmd_worker_option(&w, ch, optarg)) > 1)
			return ex;
		if (ex == 1)
			continue;
		switch (ch) {
		case 'h':
			ps_cmd_usage(e, stdout);
			return EX_OK;
		default:
			return ps_cmd_usage_error(e, NULL);
		}
	}
	if (argc - optind != 1)
		return ps_cmd_usage_error(e, argc == optind ?
		    "no FILE given" : "one FILE only");

	if ((ex = ps_cmd_worker_load(e->name, argv[optind], &store, &t,
	    &n)) != 0)
		return ex;
	if ((ex = ps_cmd_worker_open(&w)) == 0) {
		if (send(w.c, t, n, &version) == 0)
			printf("%llu\n", (unsigned long long)version);
		else
			ex = ps_cmd_worker_fail(&w, e->name);
		ps_cmd_worker_close(&w);
	}
	free(t);
	ps_store_free(store);
	return ex;
}
