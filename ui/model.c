/*
 * The console's screen model (see model.h).  Everything here runs on the
 * console's main loop; nothing draws and nothing touches a socket.
 */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "model.h"
#include "utf8.h"
#include "xmalloc.h"

static char	*model_str(const char *);
static double	 model_opt(uint64_t, int);
static void	 model_server_free(struct ps_top_server *);
static void	 model_server_init(struct ps_top_server *);
static void	 model_set(char **, char *);
static void	 model_tensors_free(struct ps_top_tensor *, size_t);
static void	 model_workers_free(struct ps_top_worker *, size_t);
static char	*model_params_text(const struct ps_ctl_status *);
static char	*model_rejected_text(const struct ps_ctl_status *);
static void	 model_shape(const struct ps_ctl_tensor *, char *, size_t,
		     double *);
static void	 model_apply_status(struct ps_top_model *,
		     const struct ps_ctl_status *, double);
static enum ps_top_wmark model_mark(const char *, double, double, double,
		     double);
static int	 model_shown(const struct ps_top_model *, enum ps_top_table,
		     size_t);
static long long model_key(const struct ps_top_model *, enum ps_top_table,
		     size_t);
static void	 model_rates(struct ps_top_model *, double);
static void	 model_history(struct ps_top_model *, double, int);
static int	 model_tcmp(const struct ps_top_model *, size_t, size_t);
static int	 model_wcmp(const struct ps_top_model *, size_t, size_t);
static void	 model_msort(const struct ps_top_model *, size_t *, size_t *,
		     size_t, int (*)(const struct ps_top_model *, size_t,
		     size_t));
static int	 model_default_desc(enum ps_top_table, int);
static void	 model_reply(struct ps_top_model *,
		     const struct ps_ctl_reply *, enum ps_ctl_cmd, double);
static char	*model_action_request(struct ps_top_model *,
		     enum ps_top_action);
static int	 model_refused(struct ps_top_model *, enum ps_top_action,
		     double);
static size_t	 model_step(size_t, long long, size_t);
static const char *model_ckpt_name(const struct ps_top_model *, const char *,
		     char *, size_t);
static void	 model_ckpts_free(struct ps_top_model *);
static void	 model_ckpts(struct ps_top_model *, json_t *, double);
static long long model_pending(struct ps_top_model *, enum ps_ctl_cmd);
static void	 model_pick_open(struct ps_top_model *, enum ps_top_pick,
		     double);

static const char *const model_mark_names[] = {
	"active", "waiting", "LAGGING", "BLOCKING", "SILENT", "GONE"
};
static const char *const model_tcol_names[] = {
	"#", "NAME", "SHAPE", "L2", "UPDATE_L2", "GROWTH", "UPD/S"
};
static const char *const model_wcol_names[] = {
	"ID", "STATE", "NAME", "ADDRESS", "PUSH/S", "PULL/S", "UPD_L2",
	"MAX_L2", "CLOCK", "LAG", "SEEN"
};
static const char *const model_action_names[] = {
	"none", "checkpoint", "reset", "stop", "kick", "block", "unblock"
};
/* The refresh intervals +/- step through, seconds. */
static const double model_intervals[] = {
	0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60
};

struct ps_top_model *
ps_top_model_new(const char *url, double interval)
{
	struct ps_top_model	*m;
	int			 t;

	m = xcalloc(1, sizeof *m);
	m->url = xstrdup(url);
	m->interval = interval;
	m->conn = PS_TOP_CONNECTING;
	m->seq = -1;
	m->update_rate = NAN;
	m->prev_uptime = NAN;
	m->prev_version = NAN;
	m->prev_time = NAN;
	m->lag_limit = NAN;
	m->silent_s = PS_TOP_SILENT_S;
	m->lag_over = NAN;
	m->slow_ratio = PS_TOP_RATE_ASYNC;
	m->prev_resets = NAN;
	m->next_id = 1;
	for (t = 0; t < PS_TOP_NTABLES; t++) {
		/* Workers by STATE: live trouble on the first screen. */
		m->sort_col[t] = t == PS_TOP_WORKERS ? PS_TOP_W_STATE : 0;
		m->sort_desc[t] = model_default_desc(t, m->sort_col[t]);
		m->sel_key[t] = -1;
	}
	model_server_init(&m->srv);
	return m;
}

void
ps_top_model_free(struct ps_top_model *m)
{
	if (m == NULL)
		return;
	free(m->url);
	free(m->conn_error);
	model_server_free(&m->srv);
	model_tensors_free(m->tensors, m->ntensors);
	model_workers_free(m->workers, m->nworkers);
	free(m->torder);
	free(m->worder);
	json_decref(m->held);
	model_ckpts_free(m);
	free(m);
}

/* A copy of a STATUS string, "-" for null. */
static char *
model_str(const char *v)
{
	char	*s;
	size_t	 n;

	/* Peers' text, escaped: no control character reaches the screen. */
	if (v == NULL)
		return xstrdup("-");
	n = ps_utf8_escape(v, NULL, 0);
	s = xmalloc(n + 1);
	ps_utf8_escape(v, s, n + 1);
	return s;
}

/* A STATUS count or sentinel-coded option as a double: NAN for none. */
static double
model_opt(uint64_t v, int present)
{
	return present ? (double)v : NAN;
}

static void
model_server_free(struct ps_top_server *s)
{
	size_t	i;

	free(s->version);
	free(s->listen);
	free(s->state);
	free(s->mode);
	free(s->rule);
	free(s->rule_params);
	free(s->rejected);
	free(s->ckpt_dir);
	free(s->ckpt_last_path);
	free(s->ckpt_last_error);
	free(s->round_waiting);
	for (i = 0; i < s->nblocked; i++)
		free(s->blocked[i].name);
	free(s->blocked);
}

/* Sets every field to "unknown": "-" strings, NAN numbers. */
static void
model_server_init(struct ps_top_server *s)
{
	memset(s, 0, sizeof *s);
	s->version = xstrdup("-");
	s->listen = xstrdup("-");
	s->state = xstrdup("-");
	s->mode = xstrdup("-");
	s->rule = xstrdup("-");
	s->rule_params = xstrdup("");
	s->rejected = xstrdup("");
	s->uptime = s->sync_workers = s->staleness = NAN;
	s->model_version = s->params = s->bytes = NAN;
	s->model_l2 = s->last_update_l2 = NAN;
	s->workers_connected = s->workers_expected = NAN;
	s->pushes_total = s->pulls_total = s->rejected_total = NAN;
	s->pushes_per_s = s->pulls_per_s = NAN;
	s->bytes_in_per_s = s->bytes_out_per_s = NAN;
	s->bytes_in_total = s->bytes_out_total = s->resets_total = NAN;
	s->ckpt_count = s->ckpt_failed = NAN;
	s->ckpt_last_age = s->ckpt_last_seconds = NAN;
	s->ckpt_last_ok = -1;
}

/* Replaces *p with v (owned). */
static void
model_set(char **p, char *v)
{
	free(*p);
	*p = v;
}

static void
model_tensors_free(struct ps_top_tensor *t, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(t[i].name);
	free(t);
}

static void
model_workers_free(struct ps_top_worker *w, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(w[i].name);
		free(w[i].address);
	}
	free(w);
}

/* "lr=0.001 beta1=0.9": the rule's parameters in the server's order. */
static char *
model_params_text(const struct ps_ctl_status *st)
{
	const struct ps_ctl_param	*p;
	char				*s, *n, val[64];
	size_t				 i;

	s = xstrdup("");
	for (i = 0; i < st->nrule_items; i++) {
		p = &st->rule_items[i];
		if (p->boolean)
			snprintf(val, sizeof val, "%s",
			    p->value != 0 ? "true" : "false");
		else if (isnan(p->value))
			snprintf(val, sizeof val, "-");
		else
			snprintf(val, sizeof val, "%g", p->value);
		n = xasprintf("%s%s%s=%s", s, *s != '\0' ? " " : "", p->name,
		    val);
		free(s);
		s = n;
	}
	return s;
}

/* "nonfinite 1, shape 1": the non-zero reasons in the server's order. */
static char *
model_rejected_text(const struct ps_ctl_status *st)
{
	char	*s, *n;
	size_t	 i;

	s = xstrdup("");
	for (i = 0; i < st->nrejected; i++) {
		if (st->rejected[i].n == 0)
			continue;
		n = xasprintf("%s%s%s %" PRIu64, s, *s != '\0' ? ", " : "",
		    st->rejected[i].name, st->rejected[i].n);
		free(s);
		s = n;
	}
	return s;
}

/* "784x128" (or "scalar") and the element count. */
static void
model_shape(const struct ps_ctl_tensor *t, char *buf, size_t len,
    double *elements)
{
	size_t		 off = 0;
	unsigned	 i;
	int		 k;

	*elements = 1;
	buf[0] = '\0';
	if (t->ndim == 0) {
		snprintf(buf, len, "scalar");
		return;
	}
	for (i = 0; i < t->ndim; i++) {
		*elements *= (double)t->dims[i];
		k = snprintf(buf + off, len - off, "%s%" PRIu64,
		    i > 0 ? "x" : "", t->dims[i]);
		if (k < 0 || (size_t)k >= len - off) {
			/* Too many dimensions to show: end with an ellipsis. */
			if (len > 4)
				memcpy(buf + len - 4, "...", 4);
			return;
		}
		off += (size_t)k;
	}
}

/*
 * Async mode: a live worker pushing at under ratio times its own pace of
 * the last minute (pushes_per_s_1m) is LAGGING: slowing down, not slower
 * than another.  A server too old to send that pace gets the older rule,
 * under ratio times the fastest live worker's rate.
 */
static void
model_mark_rates(struct ps_top_worker *wv, size_t nw, double ratio)
{
	double	fastest = 0;
	size_t	i;
	int	own = 0;

	for (i = 0; i < nw; i++) {
		if (!isnan(wv[i].pushes_per_s_1m))
			own = 1;
	}
	for (i = 0; own && i < nw; i++) {
		if (!wv[i].oneshot && !isnan(wv[i].pushes_per_s_1m) &&
		    (wv[i].mark == PS_TOP_MARK_ACTIVE ||
		    wv[i].mark == PS_TOP_MARK_WAITING) &&
		    wv[i].pushes_per_s < ratio * wv[i].pushes_per_s_1m)
			wv[i].mark = PS_TOP_MARK_LAGGING;
	}
	if (own)
		return;
	for (i = 0; i < nw; i++) {
		if (wv[i].mark != PS_TOP_MARK_GONE &&
		    wv[i].mark != PS_TOP_MARK_SILENT &&
		    wv[i].pushes_per_s > fastest)
			fastest = wv[i].pushes_per_s;
	}
	for (i = 0; i < nw; i++) {
		/* A one-shot command makes one call: it has no pace. */
		if (wv[i].oneshot)
			continue;
		if ((wv[i].mark == PS_TOP_MARK_ACTIVE ||
		    wv[i].mark == PS_TOP_MARK_WAITING) &&
		    wv[i].pushes_per_s < ratio * fastest)
			wv[i].mark = PS_TOP_MARK_LAGGING;
	}
}

/*
 * The mark for a worker in the server's state with this lag, last heard
 * from seen seconds ago: SILENT when the server says so or when that is
 * over the console's own threshold.
 */
static enum ps_top_wmark
model_mark(const char *state, double lag, double limit, double seen,
    double silent_s)
{
	if (strcmp(state, "gone") == 0)
		return PS_TOP_MARK_GONE;
	if (strcmp(state, "silent") == 0 || (!isnan(seen) && seen > silent_s))
		return PS_TOP_MARK_SILENT;
	if (!isnan(lag) && lag > limit)
		return PS_TOP_MARK_LAGGING;
	if (strcmp(state, "waiting") == 0)
		return PS_TOP_MARK_WAITING;
	return PS_TOP_MARK_ACTIVE;
}

int
ps_top_model_apply(struct ps_top_model *m, json_t *snap, double now,
    char **cause)
{
	struct ps_ctl_status	 st;

	if (ps_ctl_status_parse(snap, &st, cause) != 0)
		return -1;
	model_apply_status(m, &st, now);
	ps_ctl_status_clear(&st);
	return 0;
}

/* Copies what the screen shows of a parsed STATUS into the model. */
static void
model_apply_status(struct ps_top_model *m, const struct ps_ctl_status *st,
    double now)
{
	const struct ps_ctl_ckpt_status	*c = &st->checkpoint;
	struct ps_top_server		 s;
	struct ps_top_tensor		*tv = NULL;
	struct ps_top_worker		*wv = NULL;
	size_t				 nt, nw, i, k;
	size_t				 worst = (size_t)-1;
	double				 limit;
	int				 restarted;

	model_server_init(&s);
	model_set(&s.version, model_str(st->version));
	model_set(&s.listen, model_str(st->listen));
	model_set(&s.state, model_str(st->state));
	model_set(&s.mode, model_str(st->mode));
	model_set(&s.rule, model_str(st->rule));
	model_set(&s.rule_params, model_params_text(st));
	model_set(&s.rejected, model_rejected_text(st));
	s.uptime = st->uptime_s;
	s.sync_workers = model_opt(st->sync_workers, st->sync_workers > 0);
	s.staleness = model_opt((uint64_t)st->staleness, st->staleness >= 0);
	s.model_version = (double)st->model_version;
	s.params = (double)st->params;
	s.bytes = (double)st->bytes;
	s.model_l2 = st->model_l2;
	s.last_update_l2 = st->last_update_l2;
	s.workers_connected = st->workers_connected;
	s.workers_expected = model_opt(st->workers_expected,
	    st->workers_expected > 0);
	s.pushes_total = (double)st->pushes_total;
	s.pulls_total = (double)st->pulls_total;
	s.rejected_total = (double)st->rejected_total;
	s.pushes_per_s = st->pushes_per_s;
	s.pulls_per_s = st->pulls_per_s;
	s.bytes_in_per_s = st->bytes_in_per_s;
	s.bytes_out_per_s = st->bytes_out_per_s;
	s.bytes_in_total = (double)st->bytes_in_total;
	s.bytes_out_total = (double)st->bytes_out_total;
	s.resets_total = (double)st->resets_total;
	s.ckpt_has_dir = c->dir != NULL;
	if (c->dir != NULL)
		s.ckpt_dir = xstrdup(c->dir);
	s.ckpt_in_progress = c->in_progress;
	s.ckpt_count = (double)c->count;
	s.ckpt_failed = (double)c->failed;
	if (c->last_path != NULL)
		s.ckpt_last_path = xstrdup(c->last_path);
	s.ckpt_last_age = c->last_age_s;
	s.ckpt_last_ok = c->have_last ? c->last_ok : -1;
	if (c->last_error != NULL)
		s.ckpt_last_error = xstrdup(c->last_error);
	s.ckpt_last_seconds = c->last_seconds;

	if (strcmp(s.mode, "async") != 0 && !isnan(m->lag_over))
		limit = m->lag_over;
	else if (strcmp(s.mode, "ssp") == 0 && !isnan(s.staleness))
		limit = s.staleness > 1 ? s.staleness : 1;
	else if (strcmp(s.mode, "sync") == 0)
		limit = PS_TOP_LAG_SYNC;
	else
		limit = NAN;	/* async: by push rate, below */

	if ((nt = st->ntensors) > 0)
		tv = xcalloc(nt, sizeof *tv);
	for (i = 0; i < nt; i++) {
		tv[i].name = model_str(st->tensors[i].name);
		model_shape(&st->tensors[i], tv[i].shape, sizeof tv[i].shape,
		    &tv[i].elements);
		tv[i].l2 = st->tensors[i].l2_norm;
		tv[i].update_l2 = st->tensors[i].update_l2;
		tv[i].growth = st->tensors[i].growth_1m;
		tv[i].growth_reset = st->tensors[i].growth_reset;
		if (!isnan(tv[i].growth) && tv[i].growth > 0 &&
		    (worst == (size_t)-1 || tv[i].growth > tv[worst].growth))
			worst = i;
		tv[i].rate = st->tensors[i].updates_per_s;
		tv[i].version = (double)st->tensors[i].version;
		tv[i].updates_total = (double)st->tensors[i].updates_total;
	}
	if (worst != (size_t)-1)
		tv[worst].worst = 1;
	if ((nw = st->nworkers) > 0)
		wv = xcalloc(nw, sizeof *wv);
	for (i = 0; i < nw; i++) {
		const struct ps_ctl_worker *w = &st->workers[i];

		wv[i].id = w->id > LLONG_MAX ? LLONG_MAX : (long long)w->id;
		wv[i].name = model_str(w->name);
		wv[i].address = model_str(w->address);
		snprintf(wv[i].state, sizeof wv[i].state, "%s",
		    w->state != NULL ? w->state : "-");
		wv[i].pushes_per_s = w->pushes_per_s;
		wv[i].pulls_per_s = w->pulls_per_s;
		wv[i].pushes = (double)w->pushes;
		wv[i].pulls = (double)w->pulls;
		wv[i].clock = (double)w->clock;
		wv[i].lag = (double)w->lag;
		wv[i].last_seen = w->last_seen_s;
		wv[i].bytes_in = (double)w->bytes_in;
		wv[i].bytes_out = (double)w->bytes_out;
		wv[i].mark = model_mark(wv[i].state, wv[i].lag, limit,
		    wv[i].last_seen, m->silent_s);
		wv[i].oneshot = ps_ctl_worker_oneshot(wv[i].name);
		wv[i].update_l2 = w->update_l2;
		wv[i].update_l2_max = w->update_l2_max;
		wv[i].pushes_per_s_1m = w->pushes_per_s_1m;
		for (k = 0; st->round.present && k < st->round.nwaiting; k++) {
			if (st->round.waiting_on[k] == w->id)
				wv[i].blocking = 1;
		}
		if (wv[i].blocking && st->round.waiting_s >= PS_TOP_BLOCKING_S &&
		    wv[i].mark != PS_TOP_MARK_GONE &&
		    wv[i].mark != PS_TOP_MARK_SILENT)
			wv[i].mark = PS_TOP_MARK_BLOCKING;
	}
	s.round_present = st->round.present;
	s.round_number = (double)st->round.number;
	s.round_waiting_s = st->round.waiting_s;
	if (st->nblocked > 0) {
		s.blocked = xcalloc(st->nblocked, sizeof *s.blocked);
		for (k = 0; k < st->nblocked; k++) {
			s.blocked[k].id = st->blocked[k].id > LLONG_MAX ?
			    LLONG_MAX : (long long)st->blocked[k].id;
			if (st->blocked[k].name != NULL)
				s.blocked[k].name =
				    xstrdup(st->blocked[k].name);
		}
		s.nblocked = st->nblocked;
	}
	if (st->round.present && st->round.nwaiting > 0) {
		s.round_waiting = xcalloc(st->round.nwaiting,
		    sizeof *s.round_waiting);
		for (k = 0; k < st->round.nwaiting; k++)
			s.round_waiting[k] = (long long)st->round.waiting_on[k];
		s.round_nwaiting = st->round.nwaiting;
	}
	if (isnan(limit))
		model_mark_rates(wv, nw, m->slow_ratio);

	/* Everything read: swap it in. */
	model_server_free(&m->srv);
	m->srv = s;
	model_tensors_free(m->tensors, m->ntensors);
	m->tensors = tv;
	m->ntensors = nt;
	model_workers_free(m->workers, m->nworkers);
	m->workers = wv;
	m->nworkers = nw;
	m->lag_limit = limit;
	m->have = 1;
	m->rx_time = now;
	m->applied++;
	/* The blocks' list follows the server's. */
	if (m->pick == PS_TOP_PICK_BLOCK && m->srv.nblocked == 0) {
		m->pick = PS_TOP_PICK_NONE;
		ps_top_model_status(m, PS_TOP_MSG_INFO, now,
		    "no worker is blocked now");
	} else if (m->pick == PS_TOP_PICK_BLOCK &&
	    m->pick_sel >= m->srv.nblocked)
		m->pick_sel = m->srv.nblocked - 1;

	restarted = !isnan(m->prev_version) && ((!isnan(m->srv.uptime) &&
	    !isnan(m->prev_uptime) && m->srv.uptime < m->prev_uptime) ||
	    m->srv.model_version < m->prev_version);
	model_rates(m, now);
	model_history(m, now, restarted);
	ps_top_model_sort(m);
}

/*
 * Model versions per second between this snapshot and the last one, timed
 * by the server's uptime (so network jitter does not show up as rate).  A
 * restarted server (uptime going back) or a model version going back
 * starts over; snapshots closer than 50 ms keep the previous rate.
 */
static void
model_rates(struct ps_top_model *m, double now)
{
	double	up = m->srv.uptime, ver = m->srv.model_version, dt, dv;

	if (isnan(m->prev_version) || isnan(ver)) {
		m->update_rate = NAN;
		goto baseline;
	}
	if (!isnan(up) && !isnan(m->prev_uptime)) {
		if (up < m->prev_uptime) {
			m->update_rate = NAN;
			goto baseline;
		}
		dt = up - m->prev_uptime;
	} else
		dt = now - m->prev_time;
	if (dt < 0.05)
		return;
	dv = ver - m->prev_version;
	m->update_rate = dv >= 0 ? dv / dt : NAN;
baseline:
	m->prev_uptime = up;
	m->prev_version = ver;
	m->prev_time = now;
}

/*
 * A sample marks a restart (uptime or model version going back, as
 * model_rates() sees it: the rate starts over) or a reset (resets_total
 * going up).
 */
static void
model_history(struct ps_top_model *m, double now, int restarted)
{
	struct ps_top_sample	*s = &m->hist[m->hist_head];

	s->mark = restarted || (!isnan(m->prev_resets) &&
	    m->srv.resets_total > m->prev_resets);
	m->prev_resets = m->srv.resets_total;
	s->t = now;
	s->v[PS_TOP_SERIES_RATE] = m->update_rate;
	s->v[PS_TOP_SERIES_L2] = m->srv.model_l2;
	m->hist_head = (m->hist_head + 1) % PS_TOP_HISTORY;
	if (m->hist_len < PS_TOP_HISTORY)
		m->hist_len++;
}

int
ps_top_model_message(struct ps_top_model *m, const char *text, size_t len,
    double now, char **cause)
{
	struct ps_ctl_reply	 r;
	struct ps_top_pending	*p;
	enum ps_ctl_cmd		 cmd;
	int			 ret = 0;

	if (ps_ctl_reply_parse(text, len, &r, cause) != 0)
		return -1;
	if (r.is_event && r.snapshot != NULL) {
		if (m->paused) {
			json_decref(m->held);
			m->held = json_incref(r.snapshot);
		} else if (ps_top_model_apply(m, r.snapshot, now, cause) == 0) {
			m->seq = r.seq;
			ret = 1;
		} else
			ret = -1;
	} else if (!r.is_event && r.has_id && r.id > 0) {
		p = &m->pending[r.id % PS_TOP_PENDING];
		if (p->id == r.id) {
			cmd = p->cmd;
			p->id = 0;
			model_reply(m, &r, cmd, now);
			ret = 1;
		}
	}
	ps_ctl_reply_clear(&r);
	return ret;
}

/*
 * A checkpoint file as the console names it: a file of the server's
 * checkpoint directory by its name, as R lists it and reset takes it
 * ("ckpt-000853"), so that it fits the status line; any other path
 * whole.
 */
static const char *
model_ckpt_name(const struct ps_top_model *m, const char *path, char *buf,
    size_t len)
{
	const char	*dir = m->srv.ckpt_dir, *base;
	size_t		 n = dir != NULL ? strlen(dir) : 0;
	size_t		 slen = strlen(PS_CTL_CKPT_SUFFIX), blen;

	if (path == NULL || dir == NULL || strncmp(path, dir, n) != 0 ||
	    path[n] != '/')
		return path;
	base = path + n + 1;
	blen = strlen(base);
	if (strchr(base, '/') != NULL || blen <= slen ||
	    strcmp(base + blen - slen, PS_CTL_CKPT_SUFFIX) != 0 ||
	    blen - slen >= len)
		return path;
	snprintf(buf, len, "%.*s", (int)(blen - slen), base);
	return buf;
}

/* Shows a reply to cmd on the status line; applies a STATUS result. */
static void
model_reply(struct ps_top_model *m, const struct ps_ctl_reply *r,
    enum ps_ctl_cmd cmd, double now)
{
	struct ps_ctl_result	 res;
	const char		*name = ps_ctl_cmd_name(cmd);
	char			 size[32], *cause = NULL;
	char			 name_buf[PS_CTL_NAME_MAX + 1];

	snprintf(m->err_cmd, sizeof m->err_cmd, "%s", name);
	m->err_code[0] = '\0';
	if (cmd == PS_CTL_CHECKPOINTS && (m->pick != PS_TOP_PICK_CKPT ||
	    !m->pick_wait))
		return;		/* the list was cancelled meanwhile */
	if (!r->ok) {
		if (cmd == PS_CTL_CHECKPOINTS)
			m->pick = PS_TOP_PICK_NONE;
		snprintf(m->err_code, sizeof m->err_code, "%s", r->code);
		ps_top_model_status(m, PS_TOP_MSG_ERROR, now, "%s failed: %s%s%s",
		    name, r->code, *r->message != '\0' ? ": " : "",
		    r->message);
		return;
	}
	if (cmd == PS_CTL_STATUS) {
		if (!m->paused &&
		    ps_top_model_apply(m, r->result, now, &cause) != 0)
			goto fail;
		return;
	}
	if (cmd == PS_CTL_CHECKPOINTS) {
		model_ckpts(m, r->result, now);
		return;
	}
	if (ps_ctl_result_parse(cmd, r->result, &res, &cause) != 0)
		goto fail;
	switch (cmd) {
	case PS_CTL_SUBSCRIBE:
		m->interval = res.interval;
		break;
	case PS_CTL_CHECKPOINT:
		ps_top_human_bytes((double)res.bytes, size, sizeof size);
		ps_top_model_status(m, PS_TOP_MSG_OK, now,
		    "checkpoint saved: %s (%s in %.3f s, version %" PRIu64 ")",
		    model_ckpt_name(m, res.path, name_buf, sizeof name_buf),
		    size, res.seconds, res.model_version);
		break;
	case PS_CTL_RESET:
		ps_top_model_status(m, PS_TOP_MSG_OK, now,
		    "model reset from %s, now version %" PRIu64,
		    model_ckpt_name(m, res.from, name_buf, sizeof name_buf),
		    res.model_version);
		break;
	case PS_CTL_KICK:
		ps_top_model_status(m, PS_TOP_MSG_OK, now, "worker %lld (%s) "
		    "%s%s%s", m->prompt_worker, m->prompt_name,
		    res.kicked ? "kicked" : "not connected",
		    res.blocked ? (res.kicked ? " and blocked" : ", blocked") :
		    "", res.blocked ? "; u lifts it" : "");
		break;
	case PS_CTL_UNBLOCK:
		if (m->prompt_worker != 0)
			ps_top_model_status(m, PS_TOP_MSG_OK, now, "worker "
			    "%lld%s%s%s unblocked: its HELLO is accepted again",
			    m->prompt_worker, m->prompt_name[0] != '\0' ?
			    " (" : "", m->prompt_name,
			    m->prompt_name[0] != '\0' ? ")" : "");
		else
			ps_top_model_status(m, PS_TOP_MSG_OK, now, "name \"%s\" "
			    "unblocked: its HELLO is accepted again",
			    m->prompt_name);
		break;
	case PS_CTL_STOP:
		if (res.checkpoint != NULL)
			ps_top_model_status(m, PS_TOP_MSG_OK, now,
			    "server stopping; final checkpoint %s",
			    model_ckpt_name(m, res.checkpoint, name_buf,
			    sizeof name_buf));
		else
			ps_top_model_status(m, PS_TOP_MSG_OK, now,
			    "server stopping");
		break;
	default:
		break;
	}
	return;

fail:
	ps_top_model_status(m, PS_TOP_MSG_ERROR, now, "%s", cause);
	free(cause);
}

char *
ps_top_model_request(struct ps_top_model *m, enum ps_ctl_cmd cmd)
{
	long long	id = model_pending(m, cmd);

	return ps_ctl_request(id, cmd, cmd == PS_CTL_RESET ? m->prompt_ckpt :
	    NULL, m->interval, cmd == PS_CTL_STOP && m->srv.ckpt_has_dir);
}

/* A new request id, recorded as pending for cmd. */
static long long
model_pending(struct ps_top_model *m, enum ps_ctl_cmd cmd)
{
	struct ps_top_pending	*p;
	long long		 id = m->next_id++;

	p = &m->pending[id % PS_TOP_PENDING];
	p->id = id;
	p->cmd = cmd;
	return id;
}

/* Says why an action cannot run now, or returns 0. */
static int
model_refused(struct ps_top_model *m, enum ps_top_action a, double now)
{
	if (m->readonly) {
		ps_top_model_status(m, PS_TOP_MSG_ERROR, now,
		    "read-only: %s refused", ps_top_action_name(a));
		return 1;
	}
	if (m->conn != PS_TOP_CONNECTED) {
		ps_top_model_status(m, PS_TOP_MSG_ERROR, now,
		    "not connected: %s refused", ps_top_action_name(a));
		return 1;
	}
	return 0;
}

/* The request an action sends. */
static char *
model_action_request(struct ps_top_model *m, enum ps_top_action a)
{
	static const enum ps_ctl_cmd cmds[] = {
		[PS_TOP_ACT_CHECKPOINT] = PS_CTL_CHECKPOINT,
		[PS_TOP_ACT_RESET] = PS_CTL_RESET,
		[PS_TOP_ACT_STOP] = PS_CTL_STOP
	};
	json_t		*o;
	long long	 id;
	char		 worker[32], *text;

	if (a == PS_TOP_ACT_UNBLOCK && m->prompt_worker == 0) {
		/* A name alone: sent as a string even when it is digits. */
		id = model_pending(m, PS_CTL_UNBLOCK);
		o = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "cmd",
		    ps_ctl_cmd_name(PS_CTL_UNBLOCK), "worker", m->prompt_name);
		text = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		return text;
	}
	if (a != PS_TOP_ACT_KICK && a != PS_TOP_ACT_BLOCK &&
	    a != PS_TOP_ACT_UNBLOCK)
		return ps_top_model_request(m, cmds[a]);
	/* By id: a name may be another worker's too. */
	id = model_pending(m, a == PS_TOP_ACT_UNBLOCK ? PS_CTL_UNBLOCK :
	    PS_CTL_KICK);
	snprintf(worker, sizeof worker, "%lld", m->prompt_worker);
	return ps_ctl_request_worker(id, a == PS_TOP_ACT_UNBLOCK ?
	    PS_CTL_UNBLOCK : PS_CTL_KICK, worker, a == PS_TOP_ACT_BLOCK);
}

static void
model_ckpts_free(struct ps_top_model *m)
{
	size_t	i;

	for (i = 0; i < m->nckpts; i++)
		free(m->ckpts[i].name);
	free(m->ckpts);
	m->ckpts = NULL;
	m->nckpts = 0;
}

/* The checkpoints reply (borrowed) fills R's list. */
static void
model_ckpts(struct ps_top_model *m, json_t *result, double now)
{
	struct ps_ctl_ckpt	*c;
	size_t			 n, i;
	char			*cause = NULL;

	if (ps_ctl_checkpoints_parse(result, &c, &n, &cause) != 0) {
		m->pick = PS_TOP_PICK_NONE;
		ps_top_model_status(m, PS_TOP_MSG_ERROR, now, "%s", cause);
		free(cause);
		return;
	}
	model_ckpts_free(m);
	m->ckpts = xcalloc(n > 0 ? n : 1, sizeof *m->ckpts);
	for (i = 0; i < n; i++) {
		m->ckpts[i].name = xstrdup(c[i].name);
		m->ckpts[i].version = (double)c[i].version;
		m->ckpts[i].age_s = c[i].age_s;
		m->ckpts[i].bytes = c[i].bytes >= 0 ? (double)c[i].bytes : NAN;
		m->ckpts[i].model_l2 = c[i].model_l2;
	}
	m->nckpts = n;
	m->ckpts_time = now;
	free(c);
	if (n == 0) {
		m->pick = PS_TOP_PICK_NONE;
		ps_top_model_status(m, PS_TOP_MSG_ERROR, now,
		    "no checkpoint to reset to");
		return;
	}
	model_pick_open(m, PS_TOP_PICK_CKPT, now);
}

/* Opens a list (its reply in hand) with its first row selected. */
static void
model_pick_open(struct ps_top_model *m, enum ps_top_pick k, double now)
{
	m->pick = k;
	m->pick_wait = 0;
	m->pick_sel = 0;
	m->pick_scroll = 0;
	ps_top_model_status(m, PS_TOP_MSG_PROMPT, now, "%s  Up/Down select, "
	    "Enter chooses, Esc cancels", k == PS_TOP_PICK_CKPT ?
	    "Reset to which checkpoint?" : "Unblock which?");
}

char *
ps_top_model_action(struct ps_top_model *m, enum ps_top_action a, double now)
{
	const struct ps_top_worker	*w;
	size_t				 i;

	if (a == PS_TOP_ACT_NONE || m->prompt != PS_TOP_ACT_NONE ||
	    m->pick != PS_TOP_PICK_NONE)
		return NULL;
	if (model_refused(m, a, now))
		return NULL;
	switch (a) {
	case PS_TOP_ACT_CHECKPOINT:
		ps_top_model_status(m, PS_TOP_MSG_INFO, now,
		    "checkpoint requested");
		return model_action_request(m, a);
	case PS_TOP_ACT_RESET:
		/* The list first; the question names the one chosen. */
		m->pick = PS_TOP_PICK_CKPT;
		m->pick_wait = 1;
		ps_top_model_status(m, PS_TOP_MSG_INFO, now,
		    "asking the server for its checkpoints (Esc cancels)");
		return ps_ctl_request(model_pending(m, PS_CTL_CHECKPOINTS),
		    PS_CTL_CHECKPOINTS, NULL, 0, 0);
	case PS_TOP_ACT_UNBLOCK:
		if (m->srv.nblocked == 0) {
			ps_top_model_status(m, PS_TOP_MSG_ERROR, now,
			    "no worker is blocked");
			return NULL;
		}
		model_pick_open(m, PS_TOP_PICK_BLOCK, now);
		/* The selected worker's block, if it has one. */
		w = ps_top_model_selected_worker(m);
		for (i = 0; w != NULL && i < m->srv.nblocked; i++) {
			if (m->srv.blocked[i].id == w->id ||
			    (m->srv.blocked[i].id == 0 &&
			    m->srv.blocked[i].name != NULL &&
			    strcmp(m->srv.blocked[i].name, w->name) == 0)) {
				m->pick_sel = i;
				break;
			}
		}
		return NULL;
	case PS_TOP_ACT_STOP:
		m->prompt = a;
		ps_top_model_status(m, PS_TOP_MSG_PROMPT, now,
		    "Stop the server%s? [y/N]", m->srv.ckpt_has_dir ?
		    " (after a final checkpoint)" : "");
		return NULL;
	case PS_TOP_ACT_KICK:
	case PS_TOP_ACT_BLOCK:
		if ((w = ps_top_model_selected_worker(m)) == NULL) {
			ps_top_model_status(m, PS_TOP_MSG_ERROR, now,
			    "no worker selected: %s refused",
			    ps_top_action_name(a));
			return NULL;
		}
		m->prompt = a;
		m->prompt_worker = w->id;
		snprintf(m->prompt_name, sizeof m->prompt_name, "%s", w->name);
		if (a == PS_TOP_ACT_KICK)
			ps_top_model_status(m, PS_TOP_MSG_PROMPT, now,
			    "Kick worker %lld (%s, %s)? [y/N]", w->id, w->name,
			    w->address);
		else
			ps_top_model_status(m, PS_TOP_MSG_PROMPT, now,
			    "Kick and block worker %lld (%s) until unblocked? "
			    "[y/N]", w->id, w->name);
		return NULL;
	default:
		return NULL;
	}
}

/* Row r moved by delta among n rows, clamped (r itself when n is 0). */
static size_t
model_step(size_t r, long long delta, size_t n)
{
	long long	k = (long long)r;

	if (n == 0)
		return r;
	if (delta < -k)
		return 0;
	if (delta > (long long)n - 1 - k)
		return n - 1;
	return (size_t)(k + delta);
}

size_t
ps_top_model_pick_rows(const struct ps_top_model *m)
{
	switch (m->pick) {
	case PS_TOP_PICK_CKPT:
		return m->pick_wait ? 0 : m->nckpts;
	case PS_TOP_PICK_BLOCK:
		return m->srv.nblocked;
	default:
		return 0;
	}
}

void
ps_top_model_pick_move(struct ps_top_model *m, long long delta)
{
	m->pick_sel = model_step(m->pick_sel, delta,
	    ps_top_model_pick_rows(m));
}

void
ps_top_model_pick_cancel(struct ps_top_model *m, double now)
{
	enum ps_top_pick	k = m->pick;

	if (k == PS_TOP_PICK_NONE)
		return;
	m->pick = PS_TOP_PICK_NONE;
	m->pick_wait = 0;
	ps_top_model_status(m, PS_TOP_MSG_INFO, now, "%s cancelled",
	    k == PS_TOP_PICK_CKPT ? "reset" : "unblock");
}

void
ps_top_model_pick_choose(struct ps_top_model *m, double now)
{
	const struct ps_top_ckpt	*c;
	const struct ps_top_block	*b;
	char				 ver[32], l2[32], ago[32];

	if (m->pick_sel >= ps_top_model_pick_rows(m))
		return;
	if (m->pick == PS_TOP_PICK_CKPT) {
		c = &m->ckpts[m->pick_sel];
		m->pick = PS_TOP_PICK_NONE;
		m->prompt = PS_TOP_ACT_RESET;
		snprintf(m->prompt_ckpt, sizeof m->prompt_ckpt, "%s", c->name);
		ps_top_count(c->version, ver, sizeof ver);
		ps_top_l2_text(c->model_l2, l2, sizeof l2);
		ps_top_ago_text(isnan(c->age_s) ? NAN :
		    c->age_s + now - m->ckpts_time, ago, sizeof ago);
		ps_top_model_status(m, PS_TOP_MSG_PROMPT, now, "Reset to %s "
		    "(version %s, %s, L2 %s)? [y/N]", c->name, ver, ago, l2);
		return;
	}
	b = &m->srv.blocked[m->pick_sel];
	m->pick = PS_TOP_PICK_NONE;
	m->prompt = PS_TOP_ACT_UNBLOCK;
	m->prompt_worker = b->id;
	snprintf(m->prompt_name, sizeof m->prompt_name, "%s",
	    b->name != NULL ? b->name : "");
	if (b->id != 0)
		ps_top_model_status(m, PS_TOP_MSG_PROMPT, now, "Unblock worker "
		    "%lld%s%s%s: its HELLO accepted again? [y/N]", b->id,
		    b->name != NULL ? " (" : "", b->name != NULL ? b->name : "",
		    b->name != NULL ? ")" : "");
	else
		ps_top_model_status(m, PS_TOP_MSG_PROMPT, now, "Unblock the "
		    "name \"%s\": its HELLO accepted again? [y/N]", b->name);
}

char *
ps_top_model_answer(struct ps_top_model *m, int yes, double now)
{
	enum ps_top_action	a = m->prompt;

	if (a == PS_TOP_ACT_NONE)
		return NULL;
	m->prompt = PS_TOP_ACT_NONE;
	if (!yes) {
		ps_top_model_status(m, PS_TOP_MSG_INFO, now, "%s cancelled",
		    ps_top_action_name(a));
		return NULL;
	}
	if (model_refused(m, a, now))
		return NULL;
	ps_top_model_status(m, PS_TOP_MSG_INFO, now, "%s requested",
	    ps_top_action_name(a));
	return model_action_request(m, a);
}

void
ps_top_model_connected(struct ps_top_model *m, double now)
{
	m->conn = PS_TOP_CONNECTED;
	m->attempts = 0;
	free(m->conn_error);
	m->conn_error = NULL;
	memset(m->pending, 0, sizeof m->pending);
	ps_top_model_status(m, PS_TOP_MSG_INFO, now, "connected to %s",
	    m->url);
}

void
ps_top_model_disconnected(struct ps_top_model *m, enum ps_top_conn why_kind,
    const char *why, double retry_at, double now)
{
	enum ps_top_action	a = m->prompt;

	/* An open list is a question too. */
	if (m->pick != PS_TOP_PICK_NONE)
		a = m->pick == PS_TOP_PICK_CKPT ? PS_TOP_ACT_RESET :
		    PS_TOP_ACT_UNBLOCK;
	m->pick = PS_TOP_PICK_NONE;
	m->pick_wait = 0;
	m->conn = why_kind;
	m->attempts++;
	m->retry_at = retry_at;
	free(m->conn_error);
	m->conn_error = xstrdup(why != NULL ? why : "connection lost");
	/* Replies to requests on the old connection will never come. */
	memset(m->pending, 0, sizeof m->pending);
	/*
	 * The reason, whole, on the status line: the header's first row
	 * may be too narrow for it.  The result of an action in the last
	 * 10 s stays a while: "server stopping" says why better.
	 */
	if (a != PS_TOP_ACT_NONE) {
		m->prompt = PS_TOP_ACT_NONE;
		ps_top_model_status(m, PS_TOP_MSG_ERROR, now,
		    "not connected: %s refused (%s)", ps_top_action_name(a),
		    m->conn_error);
	} else if (m->msg_kind != PS_TOP_MSG_OK || now - m->msg_time >= 10)
		ps_top_model_status(m, PS_TOP_MSG_ERROR, now, "%s: %s",
		    why_kind == PS_TOP_AUTH_REFUSED ? "token refused" :
		    "disconnected", m->conn_error);
}

void
ps_top_model_status(struct ps_top_model *m, enum ps_top_msg kind, double now,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(m->msg, sizeof m->msg, fmt, ap);
	va_end(ap);
	m->msg_kind = kind;
	m->msg_time = now;
}

/* Text columns sort up by default, numbers (and marks) down. */
static int
model_default_desc(enum ps_top_table t, int col)
{
	if (t == PS_TOP_TENSORS)
		return col != PS_TOP_T_INDEX && col != PS_TOP_T_NAME;
	return col != PS_TOP_W_ID && col != PS_TOP_W_NAME &&
	    col != PS_TOP_W_ADDRESS;
}

void
ps_top_model_sort_by(struct ps_top_model *m, enum ps_top_table t, int col)
{
	int	n = t == PS_TOP_TENSORS ? PS_TOP_T_NCOLS : PS_TOP_W_NCOLS;

	if (col < 0)
		col = 0;
	if (col >= n)
		col = n - 1;
	m->sort_col[t] = col;
	m->sort_desc[t] = model_default_desc(t, col);
	ps_top_model_sort(m);
}

void
ps_top_model_sort_step(struct ps_top_model *m, int delta)
{
	int	n, col;

	n = m->focus == PS_TOP_TENSORS ? PS_TOP_T_NCOLS : PS_TOP_W_NCOLS;
	col = (m->sort_col[m->focus] + delta % n + n) % n;
	ps_top_model_sort_by(m, m->focus, col);
}

void
ps_top_model_sort_invert(struct ps_top_model *m)
{
	m->sort_desc[m->focus] = !m->sort_desc[m->focus];
	ps_top_model_sort(m);
}

/* Compares numbers with NAN last whatever the direction; 0 when equal. */
static int
model_cmp_num(double a, double b, int desc)
{
	if (isnan(a) || isnan(b))
		return isnan(a) - isnan(b);
	if (a == b)
		return 0;
	return ((a < b) ? -1 : 1) * (desc ? -1 : 1);
}

static int
model_cmp_str(const char *a, const char *b, int desc)
{
	int	c = strcmp(a, b);

	c = c < 0 ? -1 : c > 0;
	return desc ? -c : c;
}

/* Tensors i and j in display order: <0 when i comes first. */
static int
model_tcmp(const struct ps_top_model *m, size_t i, size_t j)
{
	const struct ps_top_tensor	*a = &m->tensors[i], *b = &m->tensors[j];
	int				 d = m->sort_desc[PS_TOP_TENSORS], c;

	switch (m->sort_col[PS_TOP_TENSORS]) {
	case PS_TOP_T_NAME:
		c = model_cmp_str(a->name, b->name, d);
		break;
	case PS_TOP_T_SHAPE:
		c = model_cmp_num(a->elements, b->elements, d);
		break;
	case PS_TOP_T_L2:
		c = model_cmp_num(a->l2, b->l2, d);
		break;
	case PS_TOP_T_UPDATE:
		c = model_cmp_num(a->update_l2, b->update_l2, d);
		break;
	case PS_TOP_T_GROWTH:
		c = model_cmp_num(a->growth, b->growth, d);
		break;
	case PS_TOP_T_RATE:
		c = model_cmp_num(a->rate, b->rate, d);
		break;
	default:
		c = model_cmp_num((double)i, (double)j, d);
		break;
	}
	if (c == 0)
		c = i < j ? -1 : i > j;
	return c;
}

static int
model_wcmp(const struct ps_top_model *m, size_t i, size_t j)
{
	const struct ps_top_worker	*a = &m->workers[i], *b = &m->workers[j];
	int				 d = m->sort_desc[PS_TOP_WORKERS], c;

	switch (m->sort_col[PS_TOP_WORKERS]) {
	case PS_TOP_W_STATE:
		/* GONE after the live workers, whatever the direction. */
		c = (a->mark == PS_TOP_MARK_GONE) - (b->mark == PS_TOP_MARK_GONE);
		if (c == 0)
			c = model_cmp_num(ps_top_mark_rank(a->mark),
			    ps_top_mark_rank(b->mark), d);
		break;
	case PS_TOP_W_NAME:
		c = model_cmp_str(a->name, b->name, d);
		break;
	case PS_TOP_W_ADDRESS:
		c = model_cmp_str(a->address, b->address, d);
		break;
	case PS_TOP_W_PUSHES:
		c = model_cmp_num(a->pushes_per_s, b->pushes_per_s, d);
		break;
	case PS_TOP_W_PULLS:
		c = model_cmp_num(a->pulls_per_s, b->pulls_per_s, d);
		break;
	case PS_TOP_W_UPD:
		c = model_cmp_num(a->update_l2, b->update_l2, d);
		break;
	case PS_TOP_W_UPDMAX:
		c = model_cmp_num(a->update_l2_max, b->update_l2_max, d);
		break;
	case PS_TOP_W_CLOCK:
		c = model_cmp_num(a->clock, b->clock, d);
		break;
	case PS_TOP_W_LAG:
		c = model_cmp_num(a->lag, b->lag, d);
		break;
	case PS_TOP_W_SEEN:
		c = model_cmp_num(a->last_seen, b->last_seen, d);
		break;
	default:
		c = model_cmp_num((double)a->id, (double)b->id, d);
		break;
	}
	if (c == 0)
		c = i < j ? -1 : i > j;
	return c;
}

/* A stable merge sort of v[0..n) with the model as context. */
static void
model_msort(const struct ps_top_model *m, size_t *v, size_t *tmp, size_t n,
    int (*cmp)(const struct ps_top_model *, size_t, size_t))
{
	size_t	h, i, j, k;

	if (n < 2)
		return;
	h = n / 2;
	model_msort(m, v, tmp, h, cmp);
	model_msort(m, v + h, tmp, n - h, cmp);
	i = 0;
	j = h;
	k = 0;
	while (i < h && j < n)
		tmp[k++] = cmp(m, v[i], v[j]) <= 0 ? v[i++] : v[j++];
	while (i < h)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof *v);
}

/* 1 when the table shows entry i (model index). */
static int
model_shown(const struct ps_top_model *m, enum ps_top_table t, size_t i)
{
	const struct ps_top_worker	*w = NULL;

	if (t == PS_TOP_WORKERS)
		w = &m->workers[i];
	if (t == PS_TOP_WORKERS && w->mark == PS_TOP_MARK_GONE &&
	    (w->oneshot || !m->show_gone))
		return 0;
	return m->filter[0] == '\0' || strstr(t == PS_TOP_TENSORS ?
	    m->tensors[i].name : w->name, m->filter) != NULL;
}

/* What the selection remembers of entry i: see sel_key. */
static long long
model_key(const struct ps_top_model *m, enum ps_top_table t, size_t i)
{
	return t == PS_TOP_TENSORS ? (long long)i : m->workers[i].id;
}

void
ps_top_model_sort(struct ps_top_model *m)
{
	size_t	*tmp, i, n, k, *order, total, *shown;
	int	 t;

	free(m->torder);
	free(m->worder);
	m->torder = m->worder = NULL;
	m->ntshown = m->nwshown = 0;
	m->ngone_folded = 0;
	for (i = 0; i < m->nworkers; i++) {
		if (m->workers[i].mark == PS_TOP_MARK_GONE &&
		    !m->workers[i].oneshot && !m->show_gone)
			m->ngone_folded++;
	}
	n = m->ntensors > m->nworkers ? m->ntensors : m->nworkers;
	tmp = n > 0 ? xcalloc(n, sizeof *tmp) : NULL;
	for (t = 0; t < PS_TOP_NTABLES; t++) {
		total = t == PS_TOP_TENSORS ? m->ntensors : m->nworkers;
		shown = t == PS_TOP_TENSORS ? &m->ntshown : &m->nwshown;
		order = NULL;
		k = 0;
		if (total > 0) {
			order = xcalloc(total, sizeof *order);
			for (i = 0; i < total; i++) {
				if (model_shown(m, t, i))
					order[k++] = i;
			}
			model_msort(m, order, tmp, k, t == PS_TOP_TENSORS ?
			    model_tcmp : model_wcmp);
		}
		*shown = k;
		if (t == PS_TOP_TENSORS)
			m->torder = order;
		else
			m->worder = order;
		/* The selection follows what it held, else keeps its row. */
		for (i = 0; i < k && m->sel_key[t] != -1; i++) {
			if (model_key(m, t, order[i]) == m->sel_key[t]) {
				m->sel[t] = i;
				break;
			}
		}
		if (k == 0) {
			m->sel[t] = 0;
			m->scroll[t] = 0;
			continue;
		}
		if (m->sel[t] >= k)
			m->sel[t] = k - 1;
		if (m->scroll[t] >= k)
			m->scroll[t] = k - 1;
		m->sel_key[t] = model_key(m, t, order[m->sel[t]]);
	}
	free(tmp);
}

size_t
ps_top_model_rows(const struct ps_top_model *m, enum ps_top_table t)
{
	return t == PS_TOP_TENSORS ? m->ntshown : m->nwshown;
}

size_t
ps_top_model_index(const struct ps_top_model *m, enum ps_top_table t,
    size_t row)
{
	const size_t	*order = t == PS_TOP_TENSORS ? m->torder : m->worder;

	return order != NULL ? order[row] : row;
}

void
ps_top_model_select(struct ps_top_model *m, long long delta)
{
	enum ps_top_table	t = m->focus;
	size_t			n = ps_top_model_rows(m, t);

	if (n == 0)
		return;
	m->sel[t] = model_step(m->sel[t], delta, n);
	m->sel_key[t] = model_key(m, t, ps_top_model_index(m, t, m->sel[t]));
}

const struct ps_top_worker *
ps_top_model_selected_worker(const struct ps_top_model *m)
{
	if (m->nwshown == 0)
		return NULL;
	return &m->workers[ps_top_model_index(m, PS_TOP_WORKERS,
	    m->sel[PS_TOP_WORKERS])];
}

void
ps_top_model_filter(struct ps_top_model *m, const char *f)
{
	snprintf(m->filter, sizeof m->filter, "%s", f);
	ps_top_model_sort(m);
}

void
ps_top_model_spark_marks(const struct ps_top_model *m, double now,
    double window, int ncols, int *marks)
{
	const struct ps_top_sample	*p;
	double				 start = now - window;
	size_t				 k, idx;
	int				 c;

	for (c = 0; c < ncols; c++)
		marks[c] = 0;
	if (ncols <= 0 || window <= 0)
		return;
	for (k = 0; k < m->hist_len; k++) {
		idx = (m->hist_head + PS_TOP_HISTORY - 1 - k) % PS_TOP_HISTORY;
		p = &m->hist[idx];
		if (p->t < start)
			break;
		if (!p->mark || p->t > now)
			continue;
		c = (int)((p->t - start) / (window / ncols));
		marks[c < ncols ? c : ncols - 1] = 1;
	}
}

void
ps_top_model_show_gone(struct ps_top_model *m, int show)
{
	m->show_gone = show;
	ps_top_model_sort(m);
}

int
ps_top_mark_rank(enum ps_top_wmark k)
{
	return k == PS_TOP_MARK_GONE ? 0 : 1 + (int)k;
}

void
ps_top_model_pause(struct ps_top_model *m, int paused, double now)
{
	char	*cause = NULL;

	m->paused = paused;
	if (paused || m->held == NULL)
		return;
	if (ps_top_model_apply(m, m->held, now, &cause) != 0) {
		ps_top_model_status(m, PS_TOP_MSG_ERROR, now, "%s", cause);
		free(cause);
	}
	json_decref(m->held);
	m->held = NULL;
}

double
ps_top_model_interval_step(struct ps_top_model *m, int delta)
{
	size_t	n = sizeof model_intervals / sizeof model_intervals[0], i;
	double	v = m->interval;

	if (delta > 0) {
		v = model_intervals[n - 1];
		for (i = 0; i < n; i++) {
			if (model_intervals[i] > m->interval + 1e-9) {
				v = model_intervals[i];
				break;
			}
		}
	} else if (delta < 0) {
		v = model_intervals[0];
		for (i = n; i > 0; i--) {
			if (model_intervals[i - 1] < m->interval - 1e-9) {
				v = model_intervals[i - 1];
				break;
			}
		}
	}
	m->interval = v;
	return v;
}

int
ps_top_model_stale(const struct ps_top_model *m, double now)
{
	double	limit;

	if (!m->have)
		return 0;
	if (m->conn != PS_TOP_CONNECTED)
		return 1;
	if (m->paused)
		return 0;
	limit = 2.5 * m->interval;
	if (limit < 3)
		limit = 3;
	return now - m->rx_time > limit;
}

double
ps_top_model_age(const struct ps_top_model *m, double now)
{
	if (!m->have)
		return NAN;
	return now - m->rx_time;
}

double
ps_top_model_seen(const struct ps_top_model *m, const struct ps_top_worker *w,
    double now)
{
	if (isnan(w->last_seen))
		return NAN;
	return w->last_seen + (now - m->rx_time);
}

double
ps_top_model_ckpt_age(const struct ps_top_model *m, double now)
{
	if (isnan(m->srv.ckpt_last_age))
		return NAN;
	return m->srv.ckpt_last_age + (now - m->rx_time);
}

int
ps_top_model_spark(const struct ps_top_model *m, enum ps_top_series s,
    double now, double window, int ncols, double *out, double *lo,
    double *hi)
{
	const struct ps_top_sample	*p;
	double				 start = now - window, w, sum[512];
	int				 cnt[512], c, n = 0;
	size_t				 k, idx;

	*lo = *hi = NAN;
	if (ncols > 512)
		ncols = 512;
	if (ncols <= 0 || window <= 0)
		return 0;
	w = window / ncols;
	for (c = 0; c < ncols; c++) {
		sum[c] = 0;
		cnt[c] = 0;
	}
	for (k = 0; k < m->hist_len; k++) {
		idx = (m->hist_head + PS_TOP_HISTORY - 1 - k) % PS_TOP_HISTORY;
		p = &m->hist[idx];
		if (p->t < start)
			break;	/* older samples are all outside the window */
		if (p->t > now || isnan(p->v[s]))
			continue;
		c = (int)((p->t - start) / w);
		if (c >= ncols)
			c = ncols - 1;	/* a sample taken at now */
		if (c < 0)
			continue;
		sum[c] += p->v[s];
		cnt[c]++;
		if (isnan(*lo) || p->v[s] < *lo)
			*lo = p->v[s];
		if (isnan(*hi) || p->v[s] > *hi)
			*hi = p->v[s];
	}
	for (c = 0; c < ncols; c++) {
		if (cnt[c] == 0) {
			out[c] = NAN;
			continue;
		}
		out[c] = sum[c] / cnt[c];
		n++;
	}
	return n;
}

void
ps_top_spark_levels(const double *vals, int n, double lo, double hi,
    int nlevels, int *levels)
{
	int	i, l;

	for (i = 0; i < n; i++) {
		if (isnan(vals[i])) {
			levels[i] = -1;
			continue;
		}
		if (!(hi > lo))
			l = vals[i] == 0 ? 0 : nlevels - 1;
		else
			l = (int)floor((vals[i] - lo) / (hi - lo) *
			    (nlevels - 1) + 0.5);
		if (l < 0)
			l = 0;
		if (l > nlevels - 1)
			l = nlevels - 1;
		levels[i] = l;
	}
}

const char *
ps_top_mark_name(enum ps_top_wmark k)
{
	if ((unsigned)k >= sizeof model_mark_names / sizeof *model_mark_names)
		return "?";
	return model_mark_names[k];
}

const char *
ps_top_tcol_name(enum ps_top_tcol c)
{
	if ((unsigned)c >= PS_TOP_T_NCOLS)
		return "?";
	return model_tcol_names[c];
}

const char *
ps_top_wcol_name(enum ps_top_wcol c)
{
	if ((unsigned)c >= PS_TOP_W_NCOLS)
		return "?";
	return model_wcol_names[c];
}

const char *
ps_top_action_name(enum ps_top_action a)
{
	if ((unsigned)a >= sizeof model_action_names /
	    sizeof *model_action_names)
		return "?";
	return model_action_names[a];
}

void
ps_top_human_bytes(double v, char *buf, size_t len)
{
	static const char *const units[] = {
		"B", "KiB", "MiB", "GiB", "TiB", "PiB"
	};
	size_t	u = 0;

	if (isnan(v)) {
		snprintf(buf, len, "-");
		return;
	}
	while (fabs(v) >= 1024 && u < sizeof units / sizeof *units - 1) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", v);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

void
ps_top_count(double v, char *buf, size_t len)
{
	char	digits[32];
	size_t	n, i, off = 0;

	if (isnan(v)) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(digits, sizeof digits, "%.0f", fabs(v));
	n = strlen(digits);
	if (v < 0 && off + 1 < len)
		buf[off++] = '-';
	for (i = 0; i < n && off + 1 < len; i++) {
		if (i > 0 && (n - i) % 3 == 0 && off + 2 < len)
			buf[off++] = ',';
		buf[off++] = digits[i];
	}
	buf[off] = '\0';
}

void
ps_top_l2_text(double v, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (fabs(v) >= 1000)
		ps_top_count(v, buf, len);
	else if (fabs(v) >= 1)
		/* Four digits, trailing zeros kept so that a column lines up. */
		snprintf(buf, len, "%.*f", 3 - (int)floor(log10(fabs(v))), v);
	else
		snprintf(buf, len, "%.4g", v);
}

void
ps_top_ago_text(double v, char *buf, size_t len)
{
	long long	t;

	if (isnan(v)) {
		snprintf(buf, len, "as first created");
		return;
	}
	t = v > 0 ? (long long)v : 0;
	if (t < 60)
		snprintf(buf, len, "%llds ago", t);
	else if (t < 3600)
		snprintf(buf, len, "%lldm ago", t / 60);
	else if (t < 86400)
		snprintf(buf, len, "%lldh ago", t / 3600);
	else
		snprintf(buf, len, "%lldd ago", t / 86400);
}
