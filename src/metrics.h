/*
 * Metrics: smoothed rates, fixed-bucket histograms and the Prometheus text
 * exposition format 0.0.4 that /metrics serves.  No I/O and no clock of its
 * own: callers pass the time, so tests drive it.  Not thread-safe; the
 * server updates and renders everything on its service thread.
 *
 * Counters are plain uint64_t fields owned by whoever counts; this module
 * only turns them into rates and text.
 */
#ifndef PS_METRICS_H
#define PS_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* The time constant of every rate psctl shows, in seconds. */
#define PS_RATE_TAU	5.0

/*
 * A per-second rate of a cumulative counter, smoothed by an exponentially
 * weighted moving average whose weight decays with elapsed time (time
 * constant tau), so the result does not depend on how often it is fed:
 * a counter rising at a steady r per second reads r * (1 - exp(-T / tau))
 * after T seconds, however T is sliced.
 */
struct ps_rate {
	double		 tau;
	double		 rate;		/* per second */
	double		 last_t;
	uint64_t	 last_n;
	int		 primed;	/* last_t/last_n hold a sample */
};

void		 ps_rate_init(struct ps_rate *, double tau);
/*
 * Feeds the counter's cumulative value n at time now (seconds on any
 * monotonic clock).  The first call only records the sample.  Calls with
 * now <= the last sample's time are folded into the next one.  A counter
 * that went down is taken to have restarted at n.
 */
void		 ps_rate_update(struct ps_rate *, uint64_t n, double now);
double		 ps_rate_get(const struct ps_rate *);

/*
 * A minute of history, for "the largest in the last minute" and "the
 * change over the last minute", in slots of PS_WINDOW_STEP seconds.  A
 * zeroed struct is empty; both take the time as ps_rate_update() does.
 */
#define PS_WINDOW_STEP	5.0
#define PS_WINDOW_SLOTS	12	/* 12 x 5 s: a minute */

/* The largest value added in the last minute (55 to 60 s: whole slots). */
struct ps_winmax {
	double		 max[PS_WINDOW_SLOTS];
	int64_t		 slot[PS_WINDOW_SLOTS];	/* floor(t / step) + 1; 0: empty */
};

void		 ps_winmax_add(struct ps_winmax *, double v, double now);
/* The largest value added in the last minute, or NAN when none was. */
double		 ps_winmax_get(const struct ps_winmax *, double now);

/*
 * Samples of a value, at most one per PS_WINDOW_STEP seconds, the last
 * minute of them kept: what it was about a minute ago.
 */
struct ps_history {
	double		 t[PS_WINDOW_SLOTS + 1];
	double		 v[PS_WINDOW_SLOTS + 1];
	size_t		 head;		/* the newest sample's index */
	size_t		 n;		/* samples held */
};

/*
 * Records v at now, unless the newest sample is younger than
 * PS_WINDOW_STEP (or now is not after it): call it as often as you like.
 */
void		 ps_history_add(struct ps_history *, double v, double now);
/* Forgets every sample. */
void		 ps_history_clear(struct ps_history *);
/*
 * The oldest sample at most 60 s old as of now: 0 with *t and *v, or -1
 * when there is none.
 */
int		 ps_history_minute(const struct ps_history *, double now,
		     double *t, double *v);

#define PS_HIST_MAX	32

/*
 * A histogram with fixed upper bounds (Prometheus "le", inclusive) plus the
 * implicit +Inf bucket.  count[] is per bucket, not cumulative.
 */
struct ps_hist {
	size_t		 nb;			/* bounds in le[] */
	double		 le[PS_HIST_MAX];	/* strictly increasing */
	uint64_t	 count[PS_HIST_MAX + 1];/* [nb] is the +Inf bucket */
	double		 sum;
	uint64_t	 n;
};

/* Bounds for update apply times and checkpoint durations, in seconds. */
extern const double	 ps_hist_apply_bounds[];
extern const size_t	 ps_hist_apply_nbounds;
extern const double	 ps_hist_ckpt_bounds[];
extern const size_t	 ps_hist_ckpt_nbounds;

/*
 * Empties h and sets its bounds.  Returns -1 (h unchanged) when nb is 0 or
 * over PS_HIST_MAX, or the bounds are not finite and strictly increasing.
 */
int		 ps_hist_init(struct ps_hist *, const double *le, size_t nb);
/* Counts v (seconds, bytes...); NaN is ignored. */
void		 ps_hist_observe(struct ps_hist *, double v);
/* Observations <= le[i] (cumulative), i == nb for +Inf. */
uint64_t	 ps_hist_cumulative(const struct ps_hist *, size_t i);

/*
 * A growing text buffer of Prometheus text format 0.0.4.  Metric names
 * are given without the "psctl_" prefix, which every call adds; counters
 * are named with their "_total" suffix.  Label values and help text are
 * escaped as the format requires.  Allocation failure is fatal (xmalloc).
 */
struct ps_prom {
	char		*buf;		/* owned, NUL-terminated */
	size_t		 len;
	size_t		 cap;
};

#define PS_PROM_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

void		 ps_prom_init(struct ps_prom *);
void		 ps_prom_free(struct ps_prom *);
/* "# HELP psctl_NAME help" and "# TYPE psctl_NAME type" lines. */
void		 ps_prom_family(struct ps_prom *, const char *name,
		     const char *type, const char *help);
/*
 * One sample line.  labels: NULL, or name/value pairs ending with NULL
 * ({"tensor", "w", NULL}).
 */
void		 ps_prom_sample(struct ps_prom *, const char *name,
		     const char *const *labels, double v);
/* A family of one gauge or counter without labels. */
void		 ps_prom_gauge(struct ps_prom *, const char *name,
		     const char *help, double v);
void		 ps_prom_counter(struct ps_prom *, const char *name,
		     const char *help, double v);
/* A whole histogram family: _bucket{le=...} lines, _sum, _count. */
void		 ps_prom_hist(struct ps_prom *, const char *name,
		     const char *help, const struct ps_hist *);
/*
 * Formats v as the format wants: shortest text that reads back as the
 * same double, "+Inf", "-Inf" or "NaN".  buf holds at least 32 bytes.
 */
void		 ps_prom_number(double v, char *buf, size_t len);

#endif
