/*
 * psctl serve: parse the options, build the server, serve until a signal.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cmd.h"
#include "ctlsrv.h"
#include "log.h"
#include "mode.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

static int	cmd_serve_exec(int, char **);

const struct ps_cmd_entry ps_cmd_serve_entry = {
	.name = "serve",
	.usage = "[--listen HOST:PORT] [--load FILE] "
	    "[--mode async|hogwild|sync|ssp] [--workers N] [--staleness S] "
	    "[--rule add|elephas|sgd|momentum|adam] [--lr X] [--momentum X] "
	    "[--nesterov] [--beta1 X] [--beta2 X] [--eps X] "
	    "[--worker-timeout SECS] [--max-message-bytes N] "
	    "[--max-tensors N] [--demo] [--token-file FILE] "
	    "[--operator-token-file FILE] [--tls-cert FILE --tls-key FILE] "
	    "[--checkpoint-dir DIR] [--checkpoint-every SECS] [--keep N] "
	    "[--checkpoint-on-exit] [--log-file FILE] [-v | --verbose] [-q]",
	.summary = "run the parameter server",
	.exec = cmd_serve_exec,
};

/* The server the signal handlers stop. */
static struct ps_server	*serve_srv;

enum {
	OPT_LISTEN = 256, OPT_LOAD, OPT_MODE, OPT_WORKERS, OPT_STALENESS,
	OPT_RULE, OPT_LR, OPT_MOMENTUM, OPT_NESTEROV, OPT_BETA1, OPT_BETA2,
	OPT_EPS, OPT_TIMEOUT, OPT_MAX_MESSAGE, OPT_MAX_TENSORS, OPT_DEMO,
	OPT_TOKEN_FILE, OPT_OPERATOR_TOKEN_FILE, OPT_TLS_CERT, OPT_TLS_KEY,
	OPT_CKPT_DIR, OPT_CKPT_EVERY, OPT_KEEP, OPT_CKPT_ON_EXIT, OPT_LOG_FILE
};

static const struct option serve_options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "load", required_argument, NULL, OPT_LOAD },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "staleness", required_argument, NULL, OPT_STALENESS },
	{ "rule", required_argument, NULL, OPT_RULE },
	{ "lr", required_argument, NULL, OPT_LR },
	{ "momentum", required_argument, NULL, OPT_MOMENTUM },
	{ "nesterov", no_argument, NULL, OPT_NESTEROV },
	{ "beta1", required_argument, NULL, OPT_BETA1 },
	{ "beta2", required_argument, NULL, OPT_BETA2 },
	{ "eps", required_argument, NULL, OPT_EPS },
	{ "worker-timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-message-bytes", required_argument, NULL, OPT_MAX_MESSAGE },
	{ "max-tensors", required_argument, NULL, OPT_MAX_TENSORS },
	{ "demo", no_argument, NULL, OPT_DEMO },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "operator-token-file", required_argument, NULL,
	    OPT_OPERATOR_TOKEN_FILE },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "checkpoint-dir", required_argument, NULL, OPT_CKPT_DIR },
	{ "checkpoint-every", required_argument, NULL, OPT_CKPT_EVERY },
	{ "keep", required_argument, NULL, OPT_KEEP },
	{ "checkpoint-on-exit", no_argument, NULL, OPT_CKPT_ON_EXIT },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

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
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return -1;
	sa.sa_handler = serve_signal;
	if (sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0)
		return -1;
	return 0;
}

/* A double in [lo, hi) (hi_open) or [lo, hi]; lo_open excludes lo. */
static int
serve_double(const char *s, double lo, int lo_open, double hi, int hi_open,
    double *v)
{
	if (ps_cmd_parse_double(s, v) != 0)
		return -1;
	if (*v < lo || (lo_open && *v == lo) || *v > hi ||
	    (hi_open && *v == hi))
		return -1;
	return 0;
}

static int
cmd_serve_exec(int argc, char **argv)
{
	const struct ps_cmd_entry	*e = &ps_cmd_serve_entry;
	struct ps_server_opts		 o;
	struct ps_ctl_opts		 co;
	struct ps_server		*srv;
	char				*log_file = NULL;
	enum ps_rule_kind		 kind;
	unsigned long long		 u;
	double				 d;
	char				*cause = NULL;
	int				 ch, r, bind_errno, load_failed;
	int				 given_workers = 0, given_staleness = 0;
	int				 given_lr = 0, given_mom = 0, given_adam = 0;
	int				 given_nesterov = 0, verbose = 0, quiet = 0;
	struct ps_rule			 p;

	ps_server_opts_init(&o);
	ps_ctl_opts_init(&co);
	memset(&p, 0, sizeof p);
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":vqh", serve_options,
	    NULL)) != -1) {
		switch (ch) {
		case OPT_LISTEN:
			if (ps_server_parse_listen(optarg, &o, &cause) != 0)
				goto usage_cause;
			break;
		case OPT_LOAD:
			free(o.load);
			o.load = xstrdup(optarg);
			break;
		case OPT_MODE:
			if (ps_mode_parse(optarg, &o.mode) != 0) {
				cause = xasprintf("--mode: unknown mode \"%s\" "
				    "(async, hogwild, sync or ssp)", optarg);
				goto usage_cause;
			}
			break;
		case OPT_WORKERS:
			if (ps_cmd_parse_u64(optarg, &u) != 0 || u < 1 ||
			    u > 1000000) {
				cause = xasprintf("--workers: \"%s\" is not a "
				    "number of workers from 1", optarg);
				goto usage_cause;
			}
			o.workers = (unsigned)u;
			given_workers = 1;
			break;
		case OPT_STALENESS:
			if (ps_cmd_parse_u64(optarg, &u) != 0 ||
			    u > 1000000000) {
				cause = xasprintf("--staleness: \"%s\" is not a "
				    "number of clocks from 0", optarg);
				goto usage_cause;
			}
			o.staleness = (unsigned)u;
			given_staleness = 1;
			break;
		case OPT_RULE:
			if (ps_rule_parse(optarg, &kind) != 0) {
				cause = xasprintf("--rule: unknown rule \"%s\" "
				    "(add, elephas, sgd, momentum or adam)",
				    optarg);
				goto usage_cause;
			}
			o.rule_given = 1;
			o.rule.kind = kind;
			break;
		case OPT_LR:
			if (serve_double(optarg, 0, 1, 1e6, 0, &p.lr) != 0) {
				cause = xasprintf("--lr: \"%s\" is not a "
				    "positive number", optarg);
				goto usage_cause;
			}
			given_lr = 1;
			break;
		case OPT_MOMENTUM:
			if (serve_double(optarg, 0, 0, 1, 1, &p.momentum) != 0) {
				cause = xasprintf("--momentum: \"%s\" is not a "
				    "number from 0 to below 1", optarg);
				goto usage_cause;
			}
			given_mom = 1;
			break;
		case OPT_NESTEROV:
			given_nesterov = 1;
			break;
		case OPT_BETA1:
		case OPT_BETA2:
			if (serve_double(optarg, 0, 0, 1, 1, &d) != 0) {
				cause = xasprintf("--beta%d: \"%s\" is not a "
				    "number from 0 to below 1",
				    ch == OPT_BETA1 ? 1 : 2, optarg);
				goto usage_cause;
			}
			if (ch == OPT_BETA1)
				p.beta1 = d;
			else
				p.beta2 = d;
			given_adam |= ch == OPT_BETA1 ? 1 : 2;
			break;
		case OPT_EPS:
			if (serve_double(optarg, 0, 1, 1, 0, &p.eps) != 0) {
				cause = xasprintf("--eps: \"%s\" is not a "
				    "number above 0 and at most 1", optarg);
				goto usage_cause;
			}
			given_adam |= 4;
			break;
		case OPT_TIMEOUT:
			if (ps_cmd_parse_u64(optarg, &u) != 0 ||
			    u > 86400 * 365) {
				cause = xasprintf("--worker-timeout: \"%s\" is "
				    "not a number of seconds (0: never)",
				    optarg);
				goto usage_cause;
			}
			o.worker_timeout = (unsigned)u;
			break;
		case OPT_MAX_MESSAGE:
			if (ps_cmd_parse_u64(optarg, &u) != 0 || u < 1024 ||
			    u > ((unsigned long long)1 << 40)) {
				cause = xasprintf("--max-message-bytes: \"%s\" "
				    "is not a size from 1024 bytes", optarg);
				goto usage_cause;
			}
			o.max_message = (size_t)u;
			break;
		case OPT_MAX_TENSORS:
			if (ps_cmd_parse_u64(optarg, &u) != 0 || u < 1 ||
			    u > 100000000) {
				cause = xasprintf("--max-tensors: \"%s\" is not "
				    "a count from 1", optarg);
				goto usage_cause;
			}
			o.max_tensors = (size_t)u;
			break;
		case OPT_DEMO:
			o.demo = 1;
			break;
		case OPT_TOKEN_FILE:
			free(co.token_file);
			co.token_file = xstrdup(optarg);
			break;
		case OPT_OPERATOR_TOKEN_FILE:
			free(co.operator_token_file);
			co.operator_token_file = xstrdup(optarg);
			break;
		case OPT_TLS_CERT:
			free(o.tls_cert);
			o.tls_cert = xstrdup(optarg);
			break;
		case OPT_TLS_KEY:
			free(o.tls_key);
			o.tls_key = xstrdup(optarg);
			break;
		case OPT_CKPT_DIR:
			free(co.ckpt_dir);
			co.ckpt_dir = xstrdup(optarg);
			break;
		case OPT_CKPT_EVERY:
			if (ps_cmd_parse_u64(optarg, &u) != 0 || u < 1 ||
			    u > 86400 * 365) {
				cause = xasprintf("--checkpoint-every: \"%s\" "
				    "is not a number of seconds from 1",
				    optarg);
				goto usage_cause;
			}
			co.ckpt_every = (unsigned)u;
			break;
		case OPT_KEEP:
			if (ps_cmd_parse_u64(optarg, &u) != 0 || u < 1 ||
			    u > 1000000) {
				cause = xasprintf("--keep: \"%s\" is not a "
				    "count from 1", optarg);
				goto usage_cause;
			}
			co.keep = (unsigned)u;
			break;
		case OPT_CKPT_ON_EXIT:
			co.ckpt_on_exit = 1;
			break;
		case OPT_LOG_FILE:
			free(log_file);
			log_file = xstrdup(optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			ps_cmd_usage(e, stdout);
			ps_server_opts_free(&o);
			return EX_OK;
		case ':':
			cause = xasprintf("%s needs a value", argv[optind - 1]);
			goto usage_cause;
		default:
			cause = xasprintf("unknown option %s",
			    argv[optind - 1]);
			goto usage_cause;
		}
	}
	if (optind != argc) {
		cause = xasprintf("unexpected argument \"%s\"", argv[optind]);
		goto usage_cause;
	}
	if (verbose && quiet) {
		cause = xstrdup("-v and -q contradict each other");
		goto usage_cause;
	}
	if ((o.tls_cert == NULL) != (o.tls_key == NULL)) {
		cause = xstrdup("--tls-cert and --tls-key go together");
		goto usage_cause;
	}
	if (co.ckpt_dir == NULL && (co.ckpt_every > 0 || co.keep > 0 ||
	    co.ckpt_on_exit)) {
		cause = xstrdup("--checkpoint-every, --keep and "
		    "--checkpoint-on-exit need --checkpoint-dir");
		goto usage_cause;
	}

	/* Mode options. */
	if (given_workers && o.mode != PS_MODE_SYNC) {
		cause = xstrdup("--workers applies to --mode sync");
		goto usage_cause;
	}
	if (given_staleness && o.mode != PS_MODE_SSP) {
		cause = xstrdup("--staleness applies to --mode ssp");
		goto usage_cause;
	}
	if (o.mode == PS_MODE_SYNC && !given_workers) {
		if (!o.demo) {
			cause = xstrdup("--mode sync needs --workers N");
			goto usage_cause;
		}
		o.workers = o.demo_workers;
	}
	if (o.mode == PS_MODE_SSP && !given_staleness)
		o.staleness = 0;

	/* Rule options: defaults for the kind, then what was given. */
	if ((given_lr || given_mom || given_nesterov || given_adam) &&
	    o.load != NULL && !o.rule_given) {
		cause = xstrdup("with --load, the rule's parameters come from "
		    "the file: give --rule too to change them");
		goto usage_cause;
	}
	kind = o.rule.kind;
	ps_rule_defaults(&o.rule, kind);
	if (given_lr) {
		if (kind != PS_RULE_SGD && kind != PS_RULE_MOMENTUM &&
		    kind != PS_RULE_ADAM) {
			cause = xasprintf("--lr applies to the sgd, momentum "
			    "and adam rules, not %s", ps_rule_name(kind));
			goto usage_cause;
		}
		o.rule.lr = p.lr;
	}
	if ((given_mom || given_nesterov) && kind != PS_RULE_MOMENTUM) {
		cause = xasprintf("--momentum and --nesterov apply to the "
		    "momentum rule, not %s", ps_rule_name(kind));
		goto usage_cause;
	}
	if (given_mom)
		o.rule.momentum = p.momentum;
	if (given_nesterov)
		o.rule.nesterov = 1;
	if (given_adam && kind != PS_RULE_ADAM) {
		cause = xasprintf("--beta1, --beta2 and --eps apply to the "
		    "adam rule, not %s", ps_rule_name(kind));
		goto usage_cause;
	}
	if (given_adam & 1)
		o.rule.beta1 = p.beta1;
	if (given_adam & 2)
		o.rule.beta2 = p.beta2;
	if (given_adam & 4)
		o.rule.eps = p.eps;

	if (verbose)
		ps_log_set_level(PS_LOG_DEBUG);
	else if (quiet)
		ps_log_set_level(PS_LOG_WARN);

	if (log_file != NULL && ps_log_open(log_file) != 0) {
		ps_log_error("cannot open %s: %s", log_file, strerror(errno));
		free(log_file);
		ps_server_opts_free(&o);
		ps_ctl_opts_free(&co);
		return EX_CANTCREAT;
	}
	free(log_file);
	if (o.load != NULL && access(o.load, R_OK) != 0) {
		ps_log_error("cannot read %s: %s", o.load, strerror(errno));
		ps_server_opts_free(&o);
		ps_ctl_opts_free(&co);
		return EX_NOINPUT;
	}
	if (o.tls_cert != NULL && (access(o.tls_cert, R_OK) != 0 ||
	    access(o.tls_key, R_OK) != 0)) {
		ps_log_error("cannot read %s: %s", access(o.tls_cert, R_OK) != 0 ?
		    o.tls_cert : o.tls_key, strerror(errno));
		ps_server_opts_free(&o);
		ps_ctl_opts_free(&co);
		return EX_NOINPUT;
	}
	if ((srv = ps_server_new(&o, &load_failed, &cause)) == NULL) {
		ps_log_error("%s", cause);
		free(cause);
		ps_ctl_opts_free(&co);
		return load_failed ? EX_DATAERR : EX_SOFTWARE;
	}
	if (ps_ctlsrv_new(srv, &co, &cause) == NULL) {
		ps_log_error("%s", cause);
		free(cause);
		ps_server_free(srv);
		return EX_CONFIG;
	}
	serve_srv = srv;
	if (serve_signals() != 0) {
		ps_log_error("cannot set signal handlers: %s", strerror(errno));
		serve_srv = NULL;
		ps_server_free(srv);
		return EX_OSERR;
	}
	if (ps_server_start(srv, &bind_errno, &cause) != 0) {
		ps_log_error("%s", cause);
		free(cause);
		serve_srv = NULL;
		ps_server_free(srv);
		if (bind_errno == EADDRINUSE || bind_errno == EADDRNOTAVAIL ||
		    bind_errno == EACCES)
			return EX_UNAVAILABLE;
		return EX_OSERR;
	}
	ps_ctlsrv_started(srv->ctl);
	r = ps_server_run(srv);
	serve_srv = NULL;
	ps_server_free(srv);
	return r == 0 ? EX_OK : EX_SOFTWARE;

usage_cause:
	ps_server_opts_free(&o);
	ps_ctl_opts_free(&co);
	free(log_file);
	r = ps_cmd_usage_error(e, "%s", cause);
	free(cause);
	return r;
}
