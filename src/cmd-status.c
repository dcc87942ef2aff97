/*
 * psctl status: one STATUS from the server, as a summary for people or as
 * the JSON object for scripts (--json); with --watch, one line per
 * refresh, as redis-cli --stat prints them.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"
#include "utf8.h"

static enum ps_cmd_retval	cmd_status_exec(struct ps_cmd *);

static enum ps_cmd_retval	cmd_status_watch(struct ps_cmd *,
				    struct ps_cmd_ctl *, double);

static const struct ps_cmd_opt cmd_status_opts[] = {
	{ "json", 0, 0 },
	{ "watch", 0, 0 },
	{ NULL, 'd', 1 },
	PS_CMD_CTL_OPTS,
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_status_entry = {
	.name = "status",
	.args = { cmd_status_opts, 0, 0, NULL },
	.usage = "[--json | --watch [-d secs]] " PS_CMD_CTL_USAGE,
	.summary = "show the server's model, workers and counters",
	.exec = cmd_status_exec
};

/* "1h02m", "3m05s", "12.5s". */
static void
st_duration(double s, char *buf, size_t len)
{
	unsigned long	t;

	if (!isfinite(s) || s < 0)
		snprintf(buf, len, "?");
	else if (s < 60)
		snprintf(buf, len, "%.1fs", s);
	else if (s < 3600) {
		t = (unsigned long)s;
		snprintf(buf, len, "%lum%02lus", t / 60, t % 60);
	} else {
		t = (unsigned long)s;
		snprintf(buf, len, "%luh%02lum", t / 3600, (t / 60) % 60);
	}
}

/* 4000000 -> "3.8 MiB". */
static void
st_bytes(double b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned	i = 0;

	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%.0f %s", b, units[i]);
	else
		snprintf(buf, len, "%.1f %s", b, units[i]);
}

/* "[784, 128]". */
static void
st_shape(const struct ps_ctl_tensor *t, char *buf, size_t len)
{
	size_t		off = 0;
	unsigned	i;

	off += (size_t)snprintf(buf, len, "[");
	for (i = 0; i < t->ndim; i++) {
		if (off >= len)
			break;
		off += (size_t)snprintf(buf + off, len - off, "%s%" PRIu64,
		    i > 0 ? ", " : "", t->dims[i]);
	}
	if (off < len)
		snprintf(buf + off, len - off, "]");
}

/* A STATUS string, or dflt for null. */
static const char *
st_str(const char *s, const char *dflt)
{
	static char	buf[8][4 * 256 + 64];
	static int	next;
	char		*b;

	/*
	 * Names, addresses and reasons come from peers: escaped, so that no
	 * control character reaches the terminal (ps_utf8_escape()).  Eight
	 * buffers: one printf() uses at most that many.
	 */
	if (s == NULL)
		return dflt;
	b = buf[next];
	next = (next + 1) % 8;
	ps_utf8_escape(s, b, sizeof buf[0]);
	return b;
}

static void
st_print(const struct ps_ctl_status *st)
{
	const struct ps_ctl_ckpt_status	*ck = &st->checkpoint;
	const struct ps_ctl_tensor	*t;
	const struct ps_ctl_worker	*w;
	const struct ps_ctl_param	*p;
	char				 up[32], sz[32], shape[128], seen[32];
	size_t				 i, oneshots = 0;

	st_duration(st->uptime_s, up, sizeof up);
	printf("psctl %s at %s, up %s, %s\n", st_str(st->version, "?"),
	    st_str(st->listen, "?"), up, st_str(st->state, "?"));
	printf("mode %s", st_str(st->mode, "?"));
	if (st->sync_workers > 0)
		printf(" (%u workers a round)", st->sync_workers);
	if (st->staleness >= 0)
		printf(" (staleness %" PRId64 ")", st->staleness);
	printf(", rule %s", st_str(st->rule, "?"));
	for (i = 0; i < st->nrule_items; i++) {
		p = &st->rule_items[i];
		printf("%s%s ", i == 0 ? " (" : ", ", st_str(p->name, "?"));
		if (p->boolean)
			printf("%s", p->value != 0 ? "true" : "false");
		else
			printf("%g", p->value);
	}
	printf("%s\n", st->nrule_items == 0 ? "" : ")");

	st_bytes((double)st->bytes, sz, sizeof sz);
	printf("model version %" PRIu64 ": %" PRIu64 " parameters (%s) in %zu "
	    "tensors, L2 norm %.6g\n", st->model_version, st->params, sz,
	    st->ntensors, st->model_l2);
	printf("workers %u connected; pushes %" PRIu64 " (%.1f/s), pulls %"
	    PRIu64 " (%.1f/s), rejected %" PRIu64 ", resets %" PRIu64 "\n",
	    st->workers_connected, st->pushes_total, st->pushes_per_s,
	    st->pulls_total, st->pulls_per_s, st->rejected_total,
	    st->resets_total);
	if (ck->dir != NULL) {
		printf("checkpoints in %s: %" PRIu64 " written",
		    st_str(ck->dir, "?"),
		    ck->count);
		if (ck->failed > 0)
			printf(", %" PRIu64 " failed", ck->failed);
		if (ck->have_last) {
			st_duration(ck->last_age_s, seen, sizeof seen);
			if (ck->last_ok)
				printf("; last %s, %s ago",
				    st_str(ck->last_path, "?"), seen);
			else
				printf("; last failed %s ago: %s", seen,
				    st_str(ck->last_error, "?"));
		}
		if (ck->in_progress)
			printf("; one in progress");
		printf("\n");
	} else
		printf("checkpoints: no --checkpoint-dir\n");

	if (st->ntensors > 0) {
		printf("\n%-32s %-20s %12s %10s %9s\n", "TENSOR", "SHAPE",
		    "L2 NORM", "VERSION", "UPDATES");
		for (i = 0; i < st->ntensors; i++) {
			t = &st->tensors[i];
			st_shape(t, shape, sizeof shape);
			printf("%-32s %-20s %12.6g %10" PRIu64 " %9" PRIu64
			    "\n", st_str(t->name, "?"), shape, t->l2_norm,
			    t->version, t->updates_total);
		}
	}
	if (st->nworkers > 0) {
		printf("\n%5s %-16s %-22s %-8s %9s %9s %6s %10s\n", "ID",
		    "NAME", "ADDRESS", "STATE", "PUSHES", "PULLS", "CLOCK",
		    "LAST SEEN");
		for (i = 0; i < st->nworkers; i++) {
			w = &st->workers[i];
			/* As psctl top: gone one-shot commands are counted. */
			if (w->state != NULL && strcmp(w->state, "gone") == 0 &&
			    ps_ctl_worker_oneshot(w->name)) {
				oneshots++;
				continue;
			}
			st_duration(w->last_seen_s, seen, sizeof seen);
			printf("%5" PRIu64 " %-16.16s %-22s %-8s %9" PRIu64
			    " %9" PRIu64 " %6" PRIu64 " %10s\n", w->id,
			    st_str(w->name, ""), st_str(w->address, "?"),
			    st_str(w->state, "?"), w->pushes, w->pulls,
			    w->clock, seen);
		}
		if (oneshots > 0)
			printf("(and %zu gone connection%s of psctl init, push "
			    "or pull: --json lists them)\n", oneshots,
			    oneshots == 1 ? "" : "s");
	}
}

static enum ps_cmd_retval
cmd_status_exec(struct ps_cmd *self)
{
	struct ps_cmd_ctl	 c;
	struct ps_ctl_reply	 r;
	struct ps_ctl_status	 st;
	enum ps_cmd_retval	 ret;
	char			*s, *cause = NULL;
	double			 delay = PS_CTL_INTERVAL_DEF;

	if (ps_args_has(self->args, "watch")) {
		if (ps_args_has(self->args, "json")) {
			ps_cmd_error(self, "--json and --watch do not go "
			    "together: --json prints one STATUS, --watch a "
			    "line per refresh");
			return PS_CMD_ERR_USAGE;
		}
		if (ps_args_has(self->args, "d")) {
			delay = ps_args_strtod(self->args, "d",
			    PS_CTL_INTERVAL_MIN, PS_CTL_INTERVAL_MAX, 0,
			    &cause);
			if (cause != NULL) {
				ps_cmd_error(self, "%s (seconds between "
				    "lines)", cause);
				free(cause);
				return PS_CMD_ERR_USAGE;
			}
		}
	} else if (ps_args_has(self->args, "d")) {
		ps_cmd_error(self, "-d sets the refresh of --watch: give "
		    "--watch too");
		return PS_CMD_ERR_USAGE;
	}
	if ((ret = ps_cmd_ctl_init(&c, self, PS_CMD_CTL_TIMEOUT)) != PS_CMD_OK)
		return ret;
	if (ps_args_has(self->args, "watch"))
		return cmd_status_watch(self, &c, delay);
	if ((ret = ps_cmd_ctl_open(&c)) != PS_CMD_OK)
		return ret;
	ret = ps_cmd_ctl_call(&c, PS_CTL_STATUS, NULL, 0, 0, &r);
	ps_cmd_ctl_close(&c);
	if (ret != PS_CMD_OK)
		return ret;
	/* Read even for --json: a reply that is not a STATUS is refused. */
	if (ps_ctl_status_parse(r.result, &st, &cause) != 0) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		ps_ctl_reply_clear(&r);
		return PS_CMD_ERR_PROTOCOL;
	}
	if (ps_args_has(self->args, "json")) {
		s = json_dumps(r.result, isatty(STDOUT_FILENO) ?
		    JSON_INDENT(2) : JSON_COMPACT);
		if (s != NULL) {
			puts(s);
			free(s);
		}
	} else
		st_print(&st);
	ps_ctl_status_clear(&st);
	ps_ctl_reply_clear(&r);
	return PS_CMD_OK;
}

/*
 * psctl status --watch: subscribes to snapshots every delay seconds and
 * prints a line for each, a header every WATCH_HEADER_EVERY lines.  The
 * rates are the server's counters (pushes_total, pulls_total) between two
 * snapshots of the same server run over the difference of its uptime_s,
 * so that neither this side's clock nor a late message skews them.  A
 * connection lost after the first reconnects (with back-off) and says so
 * in one line; SIGINT ends it with status 0.
 */
#define WATCH_HEADER_EVERY	20
#define WATCH_BACKOFF_MIN	0.5
#define WATCH_BACKOFF_MAX	5.0
#define WATCH_MSG_MAX		(64 << 20)

struct watch {
	struct ps_cmd		*cmd;
	struct ps_cmd_ctl	*ctl;
	double			 delay;
	char			*token;		/* owned; NULL: none */
	int			 bold;		/* a terminal: header in bold */
	unsigned		 lines;		/* since the last header */
	int			 have_prev;	/* the prev_* are of this run */
	double			 prev_uptime;
	uint64_t		 prev_pushes;
	uint64_t		 prev_pulls;
};

static volatile sig_atomic_t	watch_stop;

/* SIGINT: stop at the next wake-up; a second one kills as usual. */
static void
watch_sigint(int sig)
{
	struct sigaction	sa;

	(void)sig;
	watch_stop = 1;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGINT, &sa, NULL);
}

static double
watch_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * v in at most 7 characters, with a unit from 1000 up: "0", "12.35",
 * "0.0123", "1.2e-05", "1.23k", "45.6M", "inf".  rate: one decimal below
 * 1000 ("40.0"), else four significant digits.
 */
static void
watch_num(double v, int rate, char *buf, size_t len)
{
	static const char	units[] = "kMGTPE";
	double			a = fabs(v);
	unsigned		i;

	if (isnan(v))
		snprintf(buf, len, "nan");
	else if (isinf(v))
		snprintf(buf, len, "%sinf", v < 0 ? "-" : "");
	else if (a == 0)
		snprintf(buf, len, "0");
	else if (a < 999.95 && rate)
		snprintf(buf, len, "%.1f", v);
	else if (a < 0.001)
		snprintf(buf, len, "%.1e", v);
	else if (a < 9.9995)
		snprintf(buf, len, a < 0.99995 ? "%.4f" : "%.3f", v);
	else if (a < 99.995)
		snprintf(buf, len, "%.2f", v);
	else if (a < 999.95)
		snprintf(buf, len, "%.1f", v);
	else {
		for (i = 0; i < sizeof units - 2 && a / 1000 >= 999.5; i++) {
			a /= 1000;
			v /= 1000;
		}
		a /= 1000;
		v /= 1000;
		snprintf(buf, len, a < 9.995 ? "%.2f%c" : a < 99.95 ?
		    "%.1f%c" : "%.0f%c", v, units[i]);
	}
}

/* A count: exact up to 9,999,999 ("853"), then with a unit ("12.3M"). */
static void
watch_count(uint64_t n, char *buf, size_t len)
{
	if (n < 10000000)
		snprintf(buf, len, "%" PRIu64, n);
	else
		watch_num((double)n, 0, buf, len);
}

#define WATCH_FMT	"%9s %8s %8s %6s %5s %6s %5s %9s  %s"

static void
watch_header(struct watch *w)
{
	printf("%s" WATCH_FMT "%s\n", w->bold ? "\033[1m" : "", "version",
	    "push/s", "pull/s", "active", "wait", "silent", "gone",
	    "model L2", "last checkpoint", w->bold ? "\033[0m" : "");
	w->lines = 0;
}

/* "ckpt-000853 2m05s ago", "failed 3.0s ago", "none yet", "-". */
static void
watch_ckpt(const struct ps_ctl_ckpt_status *ck, char *buf, size_t len)
{
	const char	*path, *base;
	char		 age[32], name[256];
	size_t		 n;

	if (ck->dir == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	if (!ck->have_last) {
		snprintf(buf, len, "none yet%s", ck->in_progress ?
		    " (saving)" : "");
		return;
	}
	st_duration(ck->last_age_s, age, sizeof age);
	if (!ck->last_ok) {
		snprintf(buf, len, "failed %s ago%s", age, ck->in_progress ?
		    " (saving)" : "");
		return;
	}
	path = st_str(ck->last_path, "?");
	base = strrchr(path, '/');
	base = base != NULL ? base + 1 : path;
	snprintf(name, sizeof name, "%s", base);
	n = strlen(name);
	if (n > 12 && strcmp(name + n - 12, ".safetensors") == 0)
		name[n - 12] = '\0';
	snprintf(buf, len, "%s %s ago%s", name, age, ck->in_progress ?
	    " (saving)" : "");
}

/* One line for a snapshot. */
static void
watch_line(struct watch *w, const struct ps_ctl_status *st)
{
	char		 ver[32], push[32], pull[32], l2[32], ck[320];
	char		 nw[4][16];
	unsigned	 count[4] = { 0, 0, 0, 0 };
	static const char *const states[4] = {
		"active", "waiting", "silent", "gone"
	};
	double		 dt;
	size_t		 i, k;

	for (i = 0; i < st->nworkers; i++) {
		for (k = 0; k < 4; k++) {
			if (st->workers[i].state != NULL &&
			    strcmp(st->workers[i].state, states[k]) == 0)
				count[k]++;
		}
	}
	for (k = 0; k < 4; k++)
		snprintf(nw[k], sizeof nw[k], "%u", count[k]);
	watch_count(st->model_version, ver, sizeof ver);

	/* A run that restarted (uptime or a counter went back) starts over. */
	dt = st->uptime_s - w->prev_uptime;
	if (w->have_prev && dt > 0 && st->pushes_total >= w->prev_pushes &&
	    st->pulls_total >= w->prev_pulls) {
		watch_num((double)(st->pushes_total - w->prev_pushes) / dt, 1,
		    push, sizeof push);
		watch_num((double)(st->pulls_total - w->prev_pulls) / dt, 1,
		    pull, sizeof pull);
	} else {
		snprintf(push, sizeof push, "-");
		snprintf(pull, sizeof pull, "-");
	}
	w->have_prev = 1;
	w->prev_uptime = st->uptime_s;
	w->prev_pushes = st->pushes_total;
	w->prev_pulls = st->pulls_total;

	if (st->params == 0)
		snprintf(l2, sizeof l2, "-");
	else
		watch_num(st->model_l2, 0, l2, sizeof l2);
	watch_ckpt(&st->checkpoint, ck, sizeof ck);

	if (w->lines % WATCH_HEADER_EVERY == 0)
		watch_header(w);
	printf(WATCH_FMT "\n", ver, push, pull, nw[0], nw[1], nw[2], nw[3],
	    l2, ck);
	w->lines++;
}

/* Connects and subscribes: 0, or -1 with *err and the reason in errbuf. */
static int
watch_open(struct watch *w, enum ps_wsc_err *err, char *errbuf, size_t len)
{
	struct ps_cmd_ctl	*c = w->ctl;
	char			*req;
	int			 r;

	if (ps_cmd_ctl_connect(c, w->token, err, errbuf, len) != 0)
		return -1;
	req = ps_ctl_request(c->next_id++, PS_CTL_SUBSCRIBE, NULL, w->delay,
	    0);
	r = ps_cmd_ctl_send(c, req);
	free(req);
	if (r != 0) {
		*err = ps_wsc_errcode(c->wsc);
		snprintf(errbuf, len, "%s", ps_wsc_error(c->wsc));
		ps_cmd_ctl_close(c);
		return -1;
	}
	w->have_prev = 0;
	return 0;
}

/* Sleeps s seconds or until SIGINT. */
static void
watch_sleep(double s)
{
	double	until = watch_now() + s, left;

	while (!watch_stop && (left = until - watch_now()) > 0)
		poll(NULL, 0, (int)ceil(left * 1000));
}

/*
 * Waits for the next message and prints a line if it is a snapshot.
 * Returns 0, 1 when the connection is lost (*err, errbuf), or -1 with
 * *ret when the server refused (after a message).
 */
static int
watch_recv(struct watch *w, enum ps_wsc_err *err, char *errbuf, size_t len,
    enum ps_cmd_retval *ret)
{
	struct ps_cmd_ctl	*c = w->ctl;
	struct ps_ctl_reply	 r;
	struct ps_ctl_status	 st;
	struct pollfd		 pfd;
	void			*buf;
	size_t			 n;
	char			*cause = NULL;
	double			 until, left;
	int			 is_text, p;

	/* A server that sends nothing for this long is as good as gone. */
	until = watch_now() + w->delay * 3 + 10;
	while (!ps_wsc_pending(c->wsc)) {
		if (watch_stop)
			return 0;
		if ((left = until - watch_now()) <= 0) {
			*err = PS_WSC_TIMEOUT;
			snprintf(errbuf, len, "no snapshot for %.0f s",
			    w->delay * 3 + 10);
			return 1;
		}
		pfd.fd = ps_wsc_fd(c->wsc);
		pfd.events = POLLIN;
		pfd.revents = 0;
		p = poll(&pfd, 1, (int)ceil(left * 1000));
		if (p > 0)
			break;
		if (p == -1 && errno != EINTR) {
			*err = PS_WSC_CLOSED;
			snprintf(errbuf, len, "poll: %s", strerror(errno));
			return 1;
		}
	}
	if (ps_wsc_recv(c->wsc, &buf, &n, &is_text, WATCH_MSG_MAX,
	    (int)ceil(c->timeout * 1000)) != 0) {
		*err = ps_wsc_errcode(c->wsc);
		snprintf(errbuf, len, "%s", ps_wsc_error(c->wsc));
		return 1;
	}
	if (!is_text)
		return 0;
	if (ps_ctl_reply_parse(buf, n, &r, &cause) != 0) {
		ps_cmd_error(w->cmd, "%s", cause);
		free(cause);
		*ret = PS_CMD_ERR_PROTOCOL;
		return -1;
	}
	if (!r.is_event && !r.ok) {
		ps_cmd_error(w->cmd, "the server refused: %s (%s)",
		    st_str(r.message, "?"), st_str(r.code, "?"));
		*ret = ps_cmd_ctl_retval(r.code, 1);
		ps_ctl_reply_clear(&r);
		return -1;
	}
	if (r.is_event && r.snapshot != NULL) {
		if (ps_ctl_status_parse(r.snapshot, &st, &cause) != 0) {
			ps_cmd_error(w->cmd, "%s", cause);
			free(cause);
			ps_ctl_reply_clear(&r);
			*ret = PS_CMD_ERR_PROTOCOL;
			return -1;
		}
		watch_line(w, &st);
		ps_ctl_status_clear(&st);
	}
	ps_ctl_reply_clear(&r);
	return 0;
}

/* Whether a lost connection is worth trying again. */
static int
watch_retryable(enum ps_wsc_err err)
{
	return err == PS_WSC_UNAVAILABLE || err == PS_WSC_CLOSED ||
	    err == PS_WSC_TIMEOUT;
}

static enum ps_cmd_retval
cmd_status_watch(struct ps_cmd *self, struct ps_cmd_ctl *c, double delay)
{
	struct watch		 w;
	struct sigaction	 sa;
	enum ps_wsc_err		 err;
	enum ps_cmd_retval	 ret = PS_CMD_OK;
	const char		*nc, *term;
	char			 errbuf[512], *cause = NULL;
	double			 backoff = WATCH_BACKOFF_MIN;
	int			 r;

	memset(&w, 0, sizeof w);
	w.cmd = self;
	w.ctl = c;
	w.delay = delay;
	nc = getenv("NO_COLOR");
	term = getenv("TERM");
	w.bold = isatty(STDOUT_FILENO) && (nc == NULL || *nc == '\0') &&
	    (term == NULL || strcmp(term, "dumb") != 0);
	if (ps_cmd_token(c->token_file, &w.token, &cause) != 0) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		return PS_CMD_ERR_NOINPUT;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = watch_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);	/* no SA_RESTART: poll wakes */

	/* The first connection must work: a wrong URL is not a restart. */
	if (watch_open(&w, &err, errbuf, sizeof errbuf) != 0) {
		ret = ps_cmd_ctl_fail(c, err, errbuf, w.token != NULL, 1);
		goto out;
	}
	while (!watch_stop) {
		if (c->wsc == NULL) {
			if (watch_open(&w, &err, errbuf, sizeof errbuf) != 0) {
				if (!watch_retryable(err)) {
					ret = ps_cmd_ctl_fail(c, err, errbuf,
					    w.token != NULL, 1);
					break;
				}
				watch_sleep(backoff);
				backoff = fmin(backoff * 2, WATCH_BACKOFF_MAX);
				continue;
			}
			backoff = WATCH_BACKOFF_MIN;
			w.lines = 0;	/* a new header: maybe a new server */
		}
		r = watch_recv(&w, &err, errbuf, sizeof errbuf, &ret);
		if (r < 0)
			break;
		if (r > 0) {
			if (!watch_retryable(err)) {
				ret = ps_cmd_ctl_fail(c, err, errbuf,
				    w.token != NULL, 1);
				break;
			}
			printf("disconnected from %s: %s; reconnecting\n",
			    c->url, st_str(errbuf, "?"));
			ps_cmd_ctl_close(c);
		}
		if (fflush(stdout) != 0 || ferror(stdout)) {
			ret = PS_CMD_ERR_IO;	/* psctl.c says so */
			break;
		}
	}
out:
	if (c->wsc != NULL)
		ps_cmd_ctl_close(c);
	if (w.token != NULL) {
		memset(w.token, 0, strlen(w.token));
		free(w.token);
	}
	return ret;
}
