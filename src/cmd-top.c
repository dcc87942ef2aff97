/*
 * psctl top: the live operator console.  One psctl.control.v1 connection
 * (cmd-ctl.h's, which the other operator commands use too; requests and
 * replies in control.h's words) subscribed to STATUS snapshots feeds the
 * screen model (ui/model.h); the curses views draw it (ui/ui.h), or -b
 * prints plain-text frames.  One thread: poll(2) on the terminal and the
 * socket, with a timeout for the once-a-second redraw and the next
 * reconnection attempt.
 *
 * A lost server leaves the last frame on the screen, marked DISCONNECTED
 * and STALE; psctl top retries with a backoff capped at 10 s.  Batch mode
 * instead exits: 69 when the server cannot be reached or goes away, 77
 * when it refuses the token.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"
#include "log.h"
#include "model.h"
#include "ui.h"
#include "wsc.h"
#include "xmalloc.h"

#define TOP_BACKOFF_MIN	0.5	/* seconds before the first retry */
#define TOP_BACKOFF_MAX	10.0
#define TOP_MSG_MAX	(64u << 20)	/* largest message accepted */
#define TOP_CONNECT_S	3.0	/* the console waits this long at most */

struct top {
	struct ps_cmd_ctl	 ctl;		/* the connection; .wsc NULL when down */
	const char		*log_file;	/* borrowed */
	char			*token;		/* owned */
	double			 interval;
	int			 batch;
	unsigned long long	 frames;	/* 0: until stopped */
	int			 readonly;
	int			 color;
	struct ps_top_model	*m;		/* owned */
	double			 backoff;
};

static enum ps_cmd_retval cmd_top_exec(struct ps_cmd *);
static double	top_now(void);
static int	top_open(struct top *, enum ps_wsc_err *, char *, size_t);
static int	top_send(struct top *, char *);
static int	top_subscribe(struct top *);
static void	top_lost(struct top *, enum ps_wsc_err, const char *, double);
static enum ps_cmd_retval top_batch(struct top *);
static enum ps_cmd_retval top_live(struct top *);
static int	top_recv(struct top *, double);

static const struct ps_cmd_opt cmd_top_opts[] = {
	{ "batch", 'b', 0 },
	{ "no-color", 'C', 0 },
	{ "delay", 'd', 1 },
	{ NULL, 'n', 1 },
	{ NULL, 'v', 1 },
	{ "connect", 0, 1 },
	{ "readonly", 0, 0 },
	{ "token-file", 0, 1 },
	{ "ca-file", 0, 1 },
	{ "silent", 0, 1 },
	{ "lag", 0, 1 },
	{ "slow", 0, 1 },
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_top_entry = {
	.name = "top",
	.args = { cmd_top_opts, 0, 0, NULL },
	.usage = "[-bC] [-d secs] [-n frames] [-v logfile] [--connect url] "
	    "[--readonly] [--token-file file] [--ca-file file] "
	    "[--silent secs] [--lag clocks] [--slow ratio]",
	.summary = "live console: model, tensors, workers and actions",
	.man = "psctl-top.1",
	.exec = cmd_top_exec
};

static double
top_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sends a request's text (stolen) as one message; -1 when the link broke. */
static int
top_send(struct top *t, char *text)
{
	int	r;

	if (text == NULL || t->ctl.wsc == NULL) {
		free(text);
		return 0;
	}
	ps_log_debug("%s: %s", __func__, text);
	r = ps_cmd_ctl_send(&t->ctl, text);
	free(text);
	return r;
}

/* Asks for snapshots every t->m->interval seconds (the first at once). */
static int
top_subscribe(struct top *t)
{
	return top_send(t, ps_top_model_request(t->m, PS_CTL_SUBSCRIBE));
}

/* Connects and subscribes; -1 with *err and the reason in errbuf. */
static int
top_open(struct top *t, enum ps_wsc_err *err, char *errbuf, size_t len)
{
	if (ps_cmd_ctl_connect(&t->ctl, t->token, err, errbuf, len) != 0)
		return -1;
	if (top_subscribe(t) != 0) {
		*err = ps_wsc_errcode(t->ctl.wsc);
		snprintf(errbuf, len, "%s", ps_wsc_error(t->ctl.wsc));
		ps_cmd_ctl_close(&t->ctl);
		return -1;
	}
	return 0;
}

/* The connection failed or broke: mark the model, schedule a retry. */
static void
top_lost(struct top *t, enum ps_wsc_err err, const char *why, double now)
{
	double	delay = t->backoff;
	char	reason[256];

	/* why may be the connection's own text: copy it before closing. */
	snprintf(reason, sizeof reason, "%s", why != NULL ? why : "");
	why = reason;
	ps_log_info("%s: %s: %s", __func__, t->ctl.url, why);
	ps_cmd_ctl_close(&t->ctl);
	t->backoff *= 2;
	if (t->backoff > TOP_BACKOFF_MAX)
		t->backoff = TOP_BACKOFF_MAX;
	ps_top_model_disconnected(t->m, err == PS_WSC_AUTH ?
	    PS_TOP_AUTH_REFUSED : PS_TOP_DISCONNECTED, why, now + delay, now);
}

/*
 * Reads every message waiting (waits up to wait_ms for the first).
 * Returns 1 when the screen changed, 0 when not, -1 when the connection
 * is gone (already marked lost).
 */
static int
top_recv(struct top *t, double wait_s)
{
	void	*buf;
	size_t	 len;
	char	*cause = NULL;
	int	 is_text, changed = 0, r, wait_ms;
	double	 now;

	wait_ms = (int)(wait_s * 1000);
	while (t->ctl.wsc != NULL) {
		if (ps_wsc_recv(t->ctl.wsc, &buf, &len, &is_text, TOP_MSG_MAX,
		    wait_ms) != 0) {
			if (ps_wsc_errcode(t->ctl.wsc) == PS_WSC_TIMEOUT &&
			    wait_ms == 0)
				return changed;
			top_lost(t, ps_wsc_errcode(t->ctl.wsc),
			    ps_wsc_error(t->ctl.wsc), top_now());
			return -1;
		}
		wait_ms = 0;
		if (!is_text)
			continue;
		now = top_now();
		r = ps_top_model_message(t->m, buf, len, now, &cause);
		if (r < 0) {
			ps_log_warn("%s: %s", __func__, cause);
			ps_top_model_status(t->m, PS_TOP_MSG_ERROR, now, "%s",
			    cause);
			free(cause);
			cause = NULL;
			r = 1;
		}
		changed |= r;
		if (t->batch)
			return changed;	/* one message a frame */
	}
	return changed;
}

static enum ps_cmd_retval
top_batch(struct top *t)
{
	enum ps_wsc_err		 err;
	char			 errbuf[256];
	unsigned long		 applied, frame = 0;
	double			 wait;

	/* Errors reach stderr as one line each, from here; -v logs more. */
	if (t->log_file == NULL)
		ps_log_quiet();
	else if (ps_log_open(t->log_file) != 0) {
		fprintf(stderr, "psctl top: %s: %s\n", t->log_file,
		    strerror(errno));
		return PS_CMD_ERR_CANTCREAT;
	} else
		ps_log_set_level(PS_LOG_DEBUG);
	if (top_open(t, &err, errbuf, sizeof errbuf) != 0)
		return ps_cmd_ctl_fail(&t->ctl, err, errbuf, t->token != NULL,
		    1);
	ps_top_model_connected(t->m, top_now());
	t->m->msg_kind = PS_TOP_MSG_NONE;
	applied = t->m->applied;
	/* A server that sends nothing for this long is as good as gone. */
	wait = t->interval * 3 + 10;
	for (;;) {
		if (top_recv(t, wait) < 0) {
			fprintf(stderr, "psctl top: %s: %s\n", t->ctl.url,
			    t->m->conn_error);
			return PS_CMD_ERR_UNAVAILABLE;
		}
		if (t->m->err_code[0] != '\0') {
			fprintf(stderr, "psctl top: %s: %s\n", t->ctl.url,
			    t->m->msg);
			return ps_cmd_ctl_retval(t->m->err_code, 1);
		}
		if (t->m->applied == applied)
			continue;
		applied = t->m->applied;
		ps_batch_frame(stdout, t->m, top_now(), ++frame);
		if (ferror(stdout)) {
			/* psctl.c says so. */
			return PS_CMD_ERR_IO;
		}
		if (t->frames != 0 && frame >= t->frames)
			break;
	}
	return PS_CMD_OK;
}

static enum ps_cmd_retval
top_live(struct top *t)
{
	struct pollfd	 pfd[2];
	enum ps_wsc_err	 err;
	char		 errbuf[256], *cause = NULL, *req;
	double		 now, last_draw = -1e9, until;
	int		 dirty = 1, key, resub, nfd, ms, sig;

	if (t->log_file != NULL) {
		if (ps_log_open(t->log_file) != 0) {
			fprintf(stderr, "psctl top: %s: %s\n", t->log_file,
			    strerror(errno));
			return PS_CMD_ERR_CANTCREAT;
		}
		ps_log_set_level(PS_LOG_DEBUG);
	} else
		ps_log_quiet();
	if (ps_ui_init(t->color, &cause) != 0) {
		ps_log_open(NULL);
		fprintf(stderr, "psctl top: %s\n", cause);
		free(cause);
		return PS_CMD_ERR_USAGE;
	}
	t->m->retry_at = top_now();
	for (;;) {
		if (ps_ui_signal != 0)
			break;
		now = top_now();
		if (t->ctl.wsc == NULL && now >= t->m->retry_at) {
			ps_ui_draw(t->m, now);
			if (top_open(t, &err, errbuf, sizeof errbuf) == 0) {
				ps_log_info("connected to %s", t->ctl.url);
				ps_top_model_connected(t->m, top_now());
				t->backoff = TOP_BACKOFF_MIN;
			} else
				top_lost(t, err, errbuf, top_now());
			dirty = 1;
			now = top_now();
		}
		if (dirty || now - last_draw >= 1.0) {
			ps_ui_draw(t->m, now);
			last_draw = now;
			dirty = 0;
		}

		/* Sleep until a key, a message, the next tick or retry. */
		until = last_draw + 1.0;
		if (t->ctl.wsc == NULL && t->m->retry_at < until)
			until = t->m->retry_at;
		ms = (int)ceil((until - now) * 1000);
		if (ms < 0)
			ms = 0;
		if (t->ctl.wsc != NULL && ps_wsc_pending(t->ctl.wsc))
			ms = 0;
		pfd[0].fd = STDIN_FILENO;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		nfd = 1;
		if (t->ctl.wsc != NULL) {
			pfd[1].fd = ps_wsc_fd(t->ctl.wsc);
			pfd[1].events = POLLIN;
			pfd[1].revents = 0;
			nfd = 2;
		}
		if (poll(pfd, (nfds_t)nfd, ms) == -1 && errno != EINTR) {
			ps_log_error("poll: %s", strerror(errno));
			break;
		}
		now = top_now();

		/* Keys, including KEY_RESIZE after SIGWINCH. */
		while ((key = ps_ui_getkey()) != ERR) {
			if (ps_ui_key(t->m, key, now, &req, &resub))
				goto done;
			if (req != NULL && top_send(t, req) != 0)
				top_lost(t, ps_wsc_errcode(t->ctl.wsc),
				    ps_wsc_error(t->ctl.wsc), now);
			if (resub && t->ctl.wsc != NULL && top_subscribe(t) != 0)
				top_lost(t, ps_wsc_errcode(t->ctl.wsc),
				    ps_wsc_error(t->ctl.wsc), now);
			dirty = 1;
		}

		if (t->ctl.wsc != NULL && ((nfd == 2 && pfd[1].revents != 0) ||
		    ps_wsc_pending(t->ctl.wsc))) {
			if (top_recv(t, 0) != 0)
				dirty = 1;
		}
		if (t->frames != 0 && t->m->applied >= t->frames) {
			/* -n: show the last frame, then quit. */
			ps_ui_draw(t->m, top_now());
			break;
		}
	}
done:
	ps_ui_done();
	sig = ps_ui_signal;
	if (sig != 0) {
		/* Die of the signal, as the shell expects, terminal restored. */
		ps_cmd_ctl_close(&t->ctl);
		signal(sig, SIG_DFL);
		raise(sig);
	}
	return PS_CMD_OK;
}

static enum ps_cmd_retval
cmd_top_exec(struct ps_cmd *self)
{
	struct ps_args		*args = self->args;
	struct top		 t;
	char			*cause = NULL;
	const char		*nc;
	enum ps_cmd_retval	 ret;
	double			 silent, lag, slow;

	memset(&t, 0, sizeof t);
	t.interval = 1.0;
	t.color = !ps_args_has(args, "C");
	t.batch = ps_args_has(args, "b");
	t.readonly = ps_args_has(args, "readonly");
	t.log_file = ps_args_get(args, "v");
	/* The control client's settings; top has no --timeout. */
	t.ctl.cmd = self;
	t.ctl.token_file = ps_args_get(args, "token-file");
	t.ctl.ca_file = ps_args_get(args, "ca-file");
	t.ctl.timeout = TOP_CONNECT_S;
	t.ctl.next_id = 1;
	t.backoff = TOP_BACKOFF_MIN;
	if (ps_args_has(args, "d"))
		t.interval = ps_args_strtod(args, "d", 0.1, 60, 0, &cause);
	if (cause == NULL && ps_args_has(args, "n"))
		t.frames = ps_args_strtonum(args, "n", 1, 1000000000, &cause);
	silent = PS_TOP_SILENT_S;
	lag = NAN;
	slow = PS_TOP_RATE_ASYNC;
	if (cause == NULL && ps_args_has(args, "silent"))
		silent = ps_args_strtod(args, "silent", 0.1, 86400, 0, &cause);
	if (cause == NULL && ps_args_has(args, "lag"))
		lag = ps_args_strtod(args, "lag", 0, 1e9, 0, &cause);
	if (cause == NULL && ps_args_has(args, "slow"))
		slow = ps_args_strtod(args, "slow", 0, 1, 0, &cause);
	if (cause != NULL) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		return PS_CMD_ERR_USAGE;
	}
	if ((nc = getenv("NO_COLOR")) != NULL && *nc != '\0')
		t.color = 0;
	t.ctl.url = ps_cmd_url(self, ps_args_get(args, "connect"));
	if (ps_cmd_token(t.ctl.token_file, &t.token, &cause) != 0) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		return PS_CMD_ERR_NOINPUT;
	}

	t.m = ps_top_model_new(t.ctl.url, t.interval);
	t.m->readonly = t.readonly;
	t.m->silent_s = silent;
	t.m->lag_over = lag;
	t.m->slow_ratio = slow;
	/* A frame for a script lists every worker. */
	t.m->show_gone = t.batch;
	if (t.batch)
		ret = top_batch(&t);
	else
		ret = top_live(&t);
	ps_cmd_ctl_close(&t.ctl);
	ps_top_model_free(t.m);
	free(t.token);
	return ret;
}
