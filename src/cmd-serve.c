/*
 * psctl serve: the options read into a serve_conf one at a time
 * (serve_parse), checked against each other and completed with the mode's
 * and the rule's defaults (serve_validate), then the server built from
 * them and served until a signal (serve_run).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "ckptdir.h"
#include "cmd.h"
#include "ctlsrv.h"
#include "http.h"
#include "log.h"
#include "mode.h"
#include "rule.h"
#include "server.h"
#include "store.h"
#include "ws-control.h"
#include "ws-worker.h"
#include "xmalloc.h"

static enum ps_cmd_retval cmd_serve_exec(struct ps_cmd *);

static const struct ps_cmd_opt cmd_serve_opts[] = {
	{ "listen", 0, 1 },
	{ "load", 0, 1 },
	{ "mode", 0, 1 },
	{ "workers", 0, 1 },
	{ "staleness", 0, 1 },
	{ "rule", 0, 1 },
	/* The rule's parameters: rule.c's names, ranges and rules. */
	{ "lr", 0, 1 },
	{ "momentum", 0, 1 },
	{ "nesterov", 0, 0 },
	{ "beta1", 0, 1 },
	{ "beta2", 0, 1 },
	{ "eps", 0, 1 },
	{ "worker-timeout", 0, 1 },
	{ "max-message-bytes", 0, 1 },
	{ "max-tensors", 0, 1 },
	{ "max-inflight-bytes", 0, 1 },
	{ "max-socket-bytes", 0, 1 },
	{ "demo", 0, 0 },
	{ "token-file", 0, 1 },
	{ "operator-token-file", 0, 1 },
	{ "tls-cert", 0, 1 },
	{ "tls-key", 0, 1 },
	{ "checkpoint-dir", 0, 1 },
	{ "checkpoint-every", 0, 1 },
	{ "keep", 0, 1 },
	{ "checkpoint-on-exit", 0, 0 },
	{ "log-file", 0, 1 },
	{ "verbose", 'v', 0 },
	{ "quiet", 'q', 0 },
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_serve_entry = {
	.name = "serve",
	.args = { cmd_serve_opts, 0, 0, NULL },
	.usage = "[--listen host:port] [--load file] "
	    "[--mode async | hogwild | sync | ssp] [--workers n] "
	    "[--staleness s] [--rule " PS_RULE_USAGE "] "
	    "[--lr x] [--momentum x] [--nesterov] [--beta1 x] [--beta2 x] "
	    "[--eps x] [--worker-timeout secs] [--max-message-bytes n] "
	    "[--max-tensors n] [--max-inflight-bytes n] "
	    "[--max-socket-bytes n] [--demo] "
	    "[--token-file file] "
	    "[--operator-token-file file] [--tls-cert file --tls-key file] "
	    "[--checkpoint-dir dir] [--checkpoint-every secs] [--keep n] "
	    "[--checkpoint-on-exit] [--log-file file] [-v | --verbose] [-q]",
	.summary = "run the parameter server",
	.man = "psctl-serve.1",
	.exec = cmd_serve_exec,
};

/* What the command line asks for, parsed and then validated. */
struct serve_conf {
	struct ps_server_opts	 o;		/* owned until the server's */
	struct ps_ctl_opts	 co;		/* owned until the server's */
	const char		*log_file;	/* borrowed from the args */
	int			 verbose;
	int			 quiet;
	int			 given_workers;
	int			 given_staleness;
	/* ps_rule_param(i)'s value, when given. */
	int			 given_rule[PS_RULE_NPARAMS];
	double			 rule_value[PS_RULE_NPARAMS];
};

static enum ps_cmd_retval serve_parse(struct ps_cmd *, struct serve_conf *,
		    char **);
static enum ps_cmd_retval serve_validate(struct serve_conf *, char **);
static enum ps_cmd_retval serve_run(struct serve_conf *);
static enum ps_cmd_retval serve_serve(struct serve_conf *);
static int	serve_protocols(struct ps_server *, struct ps_ctlsrv *);

/* The server the signal handlers stop. */
static struct ps_server	*serve_srv;

static void
serve_signal(int sig)
{
	int	saved = errno;

	if (serve_srv != NULL) {
		if (sig == SIGHUP)
			ps_server_request_reopen(serve_srv);
		else
			ps_server_request_stop(serve_srv);
	}
	errno = saved;
}

static int
serve_signals(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	/* A file over RLIMIT_FSIZE is a failed write (EFBIG), not a death. */
	if (sigaction(SIGPIPE, &sa, NULL) != 0 ||
	    sigaction(SIGXFSZ, &sa, NULL) != 0)
		return -1;
	sa.sa_handler = serve_signal;
	if (sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0)
		return -1;
	return 0;
}

/*
 * The protocol table: [0] HTTP, then the worker and control protocols;
 * HTTP and control get the control plane as their user pointer.
 */
static int
serve_protocols(struct ps_server *srv, struct ps_ctlsrv *ctl)
{
	struct lws_protocols	p;

	p = ps_http_protocol;
	p.user = ctl;
	ps_server_set_http(srv, &p);
	if (ps_server_add_protocol(srv, &ps_ws_worker_protocol) != 0)
		return -1;
	p = ps_ws_control_protocol;
	p.user = ctl;
	return ps_server_add_protocol(srv, &p);
}

/*
 * Reads each option's value into c, one option at a time; how the
 * options go together is serve_validate()'s.  The usage error with
 * *cause (caller frees).
 */
static enum ps_cmd_retval
serve_parse(struct ps_cmd *self, struct serve_conf *c, char **cause)
{
	struct ps_args	*a = self->args;
	const char	*v;
	enum ps_rule_kind kind;
	const struct ps_rule_param *rp;
	size_t		 i;

	if ((v = ps_args_get(a, "listen")) != NULL &&
	    ps_server_parse_listen(v, &c->o, cause) != 0)
		return PS_CMD_ERR_USAGE;
	if ((v = ps_args_get(a, "load")) != NULL)
		c->o.load = xstrdup(v);
	if ((v = ps_args_get(a, "mode")) != NULL &&
	    ps_mode_parse(v, &c->o.mode) != 0) {
		*cause = xasprintf("--mode: unknown mode \"%s\" (async, "
		    "hogwild, sync or ssp)", v);
		return PS_CMD_ERR_USAGE;
	}
	if ((c->given_workers = ps_args_has(a, "workers")))
		c->o.workers = (unsigned)ps_args_strtonum(a, "workers", 1,
		    1000000, cause);
	if (*cause == NULL &&
	    (c->given_staleness = ps_args_has(a, "staleness")))
		c->o.staleness = (unsigned)ps_args_strtonum(a, "staleness", 0,
		    1000000000, cause);
	if (*cause != NULL)
		return PS_CMD_ERR_USAGE;
	if ((v = ps_args_get(a, "rule")) != NULL) {
		if (ps_rule_parse(v, &kind) != 0) {
			*cause = xasprintf("--rule: unknown rule \"%s\" (%s)", v,
			    ps_rule_names());
			return PS_CMD_ERR_USAGE;
		}
		c->o.rule_given = 1;
		c->o.rule.kind = kind;
	}
	for (i = 0; *cause == NULL && (rp = ps_rule_param(i)) != NULL; i++) {
		if (!(c->given_rule[i] = ps_args_has(a, rp->name)))
			continue;
		c->rule_value[i] = rp->flag ? 1 : ps_args_strtod(a, rp->name,
		    rp->min, rp->max, (rp->above_min ? PS_ARGS_ABOVE_MIN : 0) |
		    (rp->below_max ? PS_ARGS_BELOW_MAX : 0), cause);
	}
	if (*cause == NULL && ps_args_has(a, "worker-timeout"))
		c->o.worker_timeout = (unsigned)ps_args_strtonum(a,
		    "worker-timeout", 0, 86400 * 365, cause);
	if (*cause == NULL && ps_args_has(a, "max-message-bytes"))
		c->o.max_message = (size_t)ps_args_strtonum(a,
		    "max-message-bytes", 1024, 1ll << 40, cause);
	if (*cause == NULL && ps_args_has(a, "max-tensors"))
		c->o.max_tensors = (size_t)ps_args_strtonum(a, "max-tensors",
		    1, 100000000, cause);
	if (*cause == NULL && ps_args_has(a, "max-inflight-bytes"))
		c->o.max_inflight = (size_t)ps_args_strtonum(a,
		    "max-inflight-bytes", 1024, 1ll << 40, cause);
	if (*cause == NULL && ps_args_has(a, "max-socket-bytes"))
		c->o.max_socket = (size_t)ps_args_strtonum(a,
		    "max-socket-bytes", 0, 1ll << 40, cause);
	if (*cause == NULL && ps_args_has(a, "checkpoint-every"))
		c->co.ckpt_every = (unsigned)ps_args_strtonum(a,
		    "checkpoint-every", 1, 86400 * 365, cause);
	if (*cause == NULL && ps_args_has(a, "keep"))
		c->co.keep = (unsigned)ps_args_strtonum(a, "keep", 1, 1000000,
		    cause);
	if (*cause != NULL)
		return PS_CMD_ERR_USAGE;
	c->o.demo = ps_args_has(a, "demo");
	if ((v = ps_args_get(a, "token-file")) != NULL)
		c->co.token_file = xstrdup(v);
	if ((v = ps_args_get(a, "operator-token-file")) != NULL)
		c->co.operator_token_file = xstrdup(v);
	if ((v = ps_args_get(a, "tls-cert")) != NULL)
		c->o.tls_cert = xstrdup(v);
	if ((v = ps_args_get(a, "tls-key")) != NULL)
		c->o.tls_key = xstrdup(v);
	if ((v = ps_args_get(a, "checkpoint-dir")) != NULL)
		c->co.ckpt_dir = xstrdup(v);
	c->co.ckpt_on_exit = ps_args_has(a, "checkpoint-on-exit");
	c->log_file = ps_args_get(a, "log-file");
	c->verbose = ps_args_has(a, "verbose");
	c->quiet = ps_args_has(a, "quiet");
	return PS_CMD_OK;
}

/*
 * Checks the options against each other and fills in what follows from
 * them: the mode's and the rule's defaults.  The usage error with *cause.
 */
static enum ps_cmd_retval
serve_validate(struct serve_conf *c, char **cause)
{
	struct ps_server_opts	*o = &c->o;
	struct ps_ctl_opts	*co = &c->co;
	enum ps_rule_kind	 kind;
	char			*why;
	size_t			 i;
	int			 given;

	if (c->verbose && c->quiet)
		*cause = xstrdup("-v and -q contradict each other");
	else if ((o->tls_cert == NULL) != (o->tls_key == NULL))
		*cause = xstrdup("--tls-cert and --tls-key go together");
	else if (co->ckpt_dir == NULL && (co->ckpt_every > 0 || co->keep > 0 ||
	    co->ckpt_on_exit))
		*cause = xstrdup("--checkpoint-every, --keep and "
		    "--checkpoint-on-exit need --checkpoint-dir");
	if (*cause != NULL)
		return PS_CMD_ERR_USAGE;

	/* Mode options. */
	if (c->given_workers && o->mode != PS_MODE_SYNC)
		*cause = xstrdup("--workers applies to --mode sync");
	else if (c->given_staleness && o->mode != PS_MODE_SSP)
		*cause = xstrdup("--staleness applies to --mode ssp");
	else if (o->mode == PS_MODE_SYNC && !c->given_workers) {
		if (!o->demo)
			*cause = xstrdup("--mode sync needs --workers N");
		o->workers = o->demo_workers;
	}
	if (*cause != NULL)
		return PS_CMD_ERR_USAGE;

	/* Rule options: defaults for the kind, then what was given. */
	kind = o->rule.kind;
	for (i = 0, given = 0; i < PS_RULE_NPARAMS; i++)
		given |= c->given_rule[i];
	if (given && o->load != NULL && !o->rule_given) {
		*cause = xstrdup("with --load, the rule's parameters come from "
		    "the file: give --rule too to change them");
		return PS_CMD_ERR_USAGE;
	}
	ps_rule_defaults(&o->rule, kind);
	for (i = 0; i < PS_RULE_NPARAMS; i++) {
		if (c->given_rule[i] && ps_rule_set(&o->rule,
		    ps_rule_param(i)->name, c->rule_value[i], &why) != 0) {
			*cause = xasprintf("--%s", why);
			free(why);
			return PS_CMD_ERR_USAGE;
		}
	}
	return PS_CMD_OK;
}

/* Builds the server c asks for and serves until it is stopped. */
static enum ps_cmd_retval
serve_run(struct serve_conf *c)
{
	enum ps_cmd_retval	 ret;
	char			*cause = NULL;
	int			 lockfd = -1, held;

	if (c->verbose)
		ps_log_set_level(PS_LOG_DEBUG);
	else if (c->quiet)
		ps_log_set_level(PS_LOG_WARN);

	if (c->log_file != NULL && ps_log_open(c->log_file) != 0) {
		ps_log_error("cannot open %s: %s", c->log_file,
		    strerror(errno));
		return PS_CMD_ERR_CANTCREAT;
	}
	if (c->o.load != NULL && access(c->o.load, R_OK) != 0) {
		ps_log_error("cannot read %s: %s", c->o.load, strerror(errno));
		return PS_CMD_ERR_NOINPUT;
	}
	if (c->o.tls_cert != NULL && (access(c->o.tls_cert, R_OK) != 0 ||
	    access(c->o.tls_key, R_OK) != 0)) {
		ps_log_error("cannot read %s: %s",
		    access(c->o.tls_cert, R_OK) != 0 ? c->o.tls_cert :
		    c->o.tls_key, strerror(errno));
		return PS_CMD_ERR_NOINPUT;
	}
	/*
	 * The checkpoint directory is this server's while it runs (its
	 * initial model, its automatic names, the sweep of temporary files):
	 * another server on it is refused before any model is loaded.
	 */
	if (c->co.ckpt_dir != NULL) {
		held = 0;
		if (ps_ckptdir_create(c->co.ckpt_dir, &cause) != 0 ||
		    (lockfd = ps_ckptdir_lock(c->co.ckpt_dir, &held,
		    &cause)) == -1) {
			ps_log_error("%s", cause);
			free(cause);
			return held ? PS_CMD_ERR_TEMPFAIL : PS_CMD_ERR_CONFIG;
		}
	}
	ret = serve_serve(c);
	if (lockfd != -1)
		close(lockfd);
	return ret;
}

/* serve_run() with the checks done and the checkpoint directory locked. */
static enum ps_cmd_retval
serve_serve(struct serve_conf *c)
{
	struct ps_server	*srv;
	struct ps_ctlsrv	*ctl;
	int			 final_failed;
	char			*cause = NULL;
	int			 r, bind_errno, load_failed;

	if ((srv = ps_server_new(&c->o, &load_failed, &cause)) == NULL) {
		ps_log_error("%s", cause);
		free(cause);
		return load_failed ? PS_CMD_ERR_DATA : PS_CMD_ERR_SOFTWARE;
	}
	if ((ctl = ps_ctlsrv_new(srv, &c->co, &cause)) == NULL) {
		ps_log_error("%s", cause);
		free(cause);
		ps_server_free(srv);
		return PS_CMD_ERR_CONFIG;
	}
	if (serve_protocols(srv, ctl) != 0) {
		ps_log_error("no room in the protocol table");
		ps_server_free(srv);
		ps_ctlsrv_free(ctl);
		return PS_CMD_ERR_SOFTWARE;
	}
	serve_srv = srv;
	if (serve_signals() != 0) {
		ps_log_error("cannot set signal handlers: %s", strerror(errno));
		serve_srv = NULL;
		ps_server_free(srv);
		ps_ctlsrv_free(ctl);
		return PS_CMD_ERR_OS;
	}
	if (ps_server_start(srv, &bind_errno, &cause) != 0) {
		ps_log_error("%s", cause);
		free(cause);
		serve_srv = NULL;
		ps_server_free(srv);
		ps_ctlsrv_free(ctl);
		if (bind_errno == EADDRINUSE || bind_errno == EADDRNOTAVAIL ||
		    bind_errno == EACCES)
			return PS_CMD_ERR_UNAVAILABLE;
		return PS_CMD_ERR_OS;
	}
	ps_ctlsrv_started(ctl);
	r = ps_server_run(srv);
	serve_srv = NULL;
	ps_server_free(srv);
	final_failed = ps_ctlsrv_final_failed(ctl);
	ps_ctlsrv_free(ctl);
	if (r != 0)
		return PS_CMD_ERR_SOFTWARE;
	/* The model was to be saved and was not: never a quiet exit 0. */
	return final_failed ? PS_CMD_ERR_CANTCREAT : PS_CMD_OK;
}

static enum ps_cmd_retval
cmd_serve_exec(struct ps_cmd *self)
{
	struct serve_conf	 c;
	enum ps_cmd_retval	 ret;
	char			*cause = NULL;

	memset(&c, 0, sizeof c);
	ps_server_opts_init(&c.o);
	ps_ctl_opts_init(&c.co);
	if ((ret = serve_parse(self, &c, &cause)) == PS_CMD_OK &&
	    (ret = serve_validate(&c, &cause)) == PS_CMD_OK)
		ret = serve_run(&c);
	if (cause != NULL) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
	}
	ps_server_opts_free(&c.o);
	ps_ctl_opts_free(&c.co);
	return ret;
}
