/*
 * Smoothed rates, histograms and the Prometheus text writer (metrics.h).
 * Runs on whatever thread owns the numbers: the server's service thread.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "xmalloc.h"

static void	prom_grow(struct ps_prom *, size_t);
static void	prom_puts(struct ps_prom *, const char *, size_t);
static void	prom_printf(struct ps_prom *, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));
static void	prom_escaped(struct ps_prom *, const char *, int);

/* 10 us .. 10 s: a small tensor's add to a large model's adam step. */
const double ps_hist_apply_bounds[] = {
	1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
};
const size_t ps_hist_apply_nbounds =
    sizeof ps_hist_apply_bounds / sizeof ps_hist_apply_bounds[0];

/* 1 ms .. 10 min: a checkpoint is a write of the whole model and an fsync. */
const double ps_hist_ckpt_bounds[] = {
	0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
	120, 300, 600
};
const size_t ps_hist_ckpt_nbounds =
    sizeof ps_hist_ckpt_bounds / sizeof ps_hist_ckpt_bounds[0];

void
ps_rate_init(struct ps_rate *r, double tau)
{
	memset(r, 0, sizeof *r);
	r->tau = tau > 0 ? tau : PS_RATE_TAU;
}

void
ps_rate_update(struct ps_rate *r, uint64_t n, double now)
{
	double	dt, inst, a;

	if (!r->primed) {
		r->last_t = now;
		r->last_n = n;
		r->primed = 1;
		return;
	}
	if (n < r->last_n) {
		/* Restarted: the new baseline is n, the rate carries on. */
		r->last_n = n;
		r->last_t = now;
		return;
	}
	dt = now - r->last_t;
	if (!(dt > 0))
		return;
	inst = (double)(n - r->last_n) / dt;
	a = 1.0 - exp(-dt / r->tau);
	r->rate += a * (inst - r->rate);
	r->last_t = now;
	r->last_n = n;
}

double
ps_rate_get(const struct ps_rate *r)
{
	return r->rate;
}

void
ps_winmax_add(struct ps_winmax *m, double v, double now)
{
	int64_t	 slot;
	size_t	 i;

	if (isnan(v) || !(now >= 0))
		return;
	slot = (int64_t)(now / PS_WINDOW_STEP) + 1;
	i = (size_t)(slot % PS_WINDOW_SLOTS);
	if (m->slot[i] != slot) {
		m->slot[i] = slot;
		m->max[i] = v;
	} else if (v > m->max[i])
		m->max[i] = v;
}

double
ps_winmax_get(const struct ps_winmax *m, double now)
{
	int64_t	 slot;
	double	 best = NAN;
	size_t	 i;

	if (!(now >= 0))
		return NAN;
	slot = (int64_t)(now / PS_WINDOW_STEP) + 1;
	for (i = 0; i < PS_WINDOW_SLOTS; i++) {
		if (m->slot[i] == 0 || m->slot[i] > slot ||
		    slot - m->slot[i] >= PS_WINDOW_SLOTS)
			continue;
		if (isnan(best) || m->max[i] > best)
			best = m->max[i];
	}
	return best;
}

void
ps_history_add(struct ps_history *h, double v, double now)
{
	const size_t	 cap = PS_WINDOW_SLOTS + 1;

	if (h->n > 0 && !(now - h->t[h->head] >= PS_WINDOW_STEP))
		return;
	h->head = h->n == 0 ? 0 : (h->head + 1) % cap;
	h->t[h->head] = now;
	h->v[h->head] = v;
	if (h->n < cap)
		h->n++;
}

void
ps_history_clear(struct ps_history *h)
{
	memset(h, 0, sizeof *h);
}

int
ps_history_minute(const struct ps_history *h, double now, double *t,
    double *v)
{
	const size_t	 cap = PS_WINDOW_SLOTS + 1;
	size_t		 k, i;

	/* From the oldest held to the newest: the first within a minute. */
	for (k = h->n; k > 0; k--) {
		i = (h->head + cap - (k - 1)) % cap;
		if (now - h->t[i] <= PS_WINDOW_STEP * PS_WINDOW_SLOTS) {
			*t = h->t[i];
			*v = h->v[i];
			return 0;
		}
	}
	return -1;
}

int
ps_hist_init(struct ps_hist *h, const double *le, size_t nb)
{
	size_t	i;

	if (nb == 0 || nb > PS_HIST_MAX)
		return -1;
	for (i = 0; i < nb; i++) {
		if (!isfinite(le[i]) || (i > 0 && !(le[i] > le[i - 1])))
			return -1;
	}
	memset(h, 0, sizeof *h);
	memcpy(h->le, le, nb * sizeof le[0]);
	h->nb = nb;
	return 0;
}

void
ps_hist_observe(struct ps_hist *h, double v)
{
	size_t	lo, hi, mid;

	if (isnan(v))
		return;
	/* The first bound >= v, or nb for +Inf. */
	lo = 0;
	hi = h->nb;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (h->le[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	h->count[lo]++;
	h->sum += v;
	h->n++;
}

uint64_t
ps_hist_cumulative(const struct ps_hist *h, size_t i)
{
	uint64_t	c = 0;
	size_t		j;

	if (i > h->nb)
		i = h->nb;
	for (j = 0; j <= i; j++)
		c += h->count[j];
	return c;
}

void
ps_prom_init(struct ps_prom *p)
{
	p->cap = 4096;
	p->buf = xmalloc(p->cap);
	p->buf[0] = '\0';
	p->len = 0;
}

void
ps_prom_free(struct ps_prom *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
}

static void
prom_grow(struct ps_prom *p, size_t more)
{
	if (p->len + more + 1 <= p->cap)
		return;
	while (p->len + more + 1 > p->cap)
		p->cap *= 2;
	p->buf = xrealloc(p->buf, p->cap);
}

static void
prom_puts(struct ps_prom *p, const char *s, size_t n)
{
	prom_grow(p, n);
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

static void
prom_printf(struct ps_prom *p, const char *fmt, ...)
{
	va_list	ap;
	char	*s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	prom_puts(p, s, strlen(s));
	free(s);
}

/*
 * Help text escapes backslash and newline; label values also escape the
 * double quote.
 */
static void
prom_escaped(struct ps_prom *p, const char *s, int label)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			prom_puts(p, "\\\\", 2);
		else if (*s == '\n')
			prom_puts(p, "\\n", 2);
		else if (*s == '"' && label)
			prom_puts(p, "\\\"", 2);
		else
			prom_puts(p, s, 1);
	}
}

void
ps_prom_number(double v, char *buf, size_t len)
{
	int	prec;

	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Whole numbers (counts, bytes) in full, never in e-notation. */
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, len, "%.0f", v);
		return;
	}
	for (prec = 6; prec < 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	snprintf(buf, len, "%.17g", v);
}

void
ps_prom_family(struct ps_prom *p, const char *name, const char *type,
    const char *help)
{
	prom_printf(p, "# HELP psctl_%s ", name);
	prom_escaped(p, help, 0);
	prom_printf(p, "\n# TYPE psctl_%s %s\n", name, type);
}

void
ps_prom_sample(struct ps_prom *p, const char *name,
    const char *const *labels, double v)
{
	char	num[64];
	size_t	i;

	prom_printf(p, "psctl_%s", name);
	if (labels != NULL && labels[0] != NULL) {
		prom_puts(p, "{", 1);
		for (i = 0; labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
			if (i > 0)
				prom_puts(p, ",", 1);
			prom_printf(p, "%s=\"", labels[i]);
			prom_escaped(p, labels[i + 1], 1);
			prom_puts(p, "\"", 1);
		}
		prom_puts(p, "}", 1);
	}
	ps_prom_number(v, num, sizeof num);
	prom_printf(p, " %s\n", num);
}

void
ps_prom_gauge(struct ps_prom *p, const char *name, const char *help, double v)
{
	ps_prom_family(p, name, "gauge", help);
	ps_prom_sample(p, name, NULL, v);
}

void
ps_prom_counter(struct ps_prom *p, const char *name, const char *help,
    double v)
{
	ps_prom_family(p, name, "counter", help);
	ps_prom_sample(p, name, NULL, v);
}

void
ps_prom_hist(struct ps_prom *p, const char *name, const char *help,
    const struct ps_hist *h)
{
	const char	*labels[3];
	char		 le[64], *sname;
	uint64_t	 c = 0;
	size_t		 i;

	ps_prom_family(p, name, "histogram", help);
	sname = xasprintf("%s_bucket", name);
	labels[0] = "le";
	labels[1] = le;
	labels[2] = NULL;
	for (i = 0; i <= h->nb; i++) {
		c += h->count[i];
		ps_prom_number(i < h->nb ? h->le[i] : INFINITY, le, sizeof le);
		ps_prom_sample(p, sname, labels, (double)c);
	}
	free(sname);
	sname = xasprintf("%s_sum", name);
	ps_prom_sample(p, sname, NULL, h->sum);
	free(sname);
	sname = xasprintf("%s_count", name);
	ps_prom_sample(p, sname, NULL, (double)h->n);
	free(sname);
}
