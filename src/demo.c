/*
 * --demo: a small model and a few synthetic workers, so that a fresh
 * `psctl serve --demo` is visibly alive (psctl top, /metrics) without any
 * training code.  The workers are threads that speak to our own port
 * through libpsctl, exactly as an outside worker would: pull, one gradient
 * step on a synthetic regression task, push, about 20 times a second.
 *
 * The demo model is a two-layer perceptron (64 inputs, 128 tanh units, 8
 * outputs: 9352 parameters) learning a fixed random linear map.  A model
 * of any other shape (--demo with --load) gets a generic task instead:
 * each tensor is pulled towards a fixed target.
 *
 * ps_demo_model() runs before the server starts; the threads touch nothing
 * of the server's but their sockets and the log.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "demo.h"
#include "psctl.h"
#include "store.h"
#include "tensor.h"
#include "xmalloc.h"

#define DEMO_IN		64
#define DEMO_HIDDEN	128
#define DEMO_OUT	8
#define DEMO_BATCH	16
#define DEMO_PERIOD_NS	50000000L	/* 20 Hz */
#define DEMO_LR		0.05f		/* the step of add and elephas */
#define DEMO_LOG_EVERY	200		/* steps between loss lines */

static const char *const demo_names[4] = {
	"dense1/kernel", "dense1/bias", "dense2/kernel", "dense2/bias"
};

struct demo_worker {
	struct ps_demo	*d;
	unsigned	 index;
	pthread_t	 thread;
	int		 started;
	uint64_t	 rng;

	/* The update being built: one tensor per model tensor. */
	struct psctl_tensor *u;		/* owned, with owned names and data */
	size_t		 n;
	int		 mlp;		/* the model is the demo perceptron */
	float		*x, *y, *h, *e;	/* owned scratch for the perceptron */
};

struct ps_demo {
	struct demo_worker	*w;
	unsigned		 n;
	atomic_int		 stop;
	char			 url[160];
	char			*token;		/* owned; NULL: none */
	enum ps_rule_kind	 rule;
	float			 teacher[DEMO_IN * DEMO_OUT];
};

static void	*demo_main(void *);
static int	 demo_run(struct demo_worker *, struct psctl *);
static int	 demo_setup(struct demo_worker *, const struct psctl_tensor *,
		     size_t);
static void	 demo_free_update(struct demo_worker *);
static double	 demo_mlp_grad(struct demo_worker *,
		     const struct psctl_tensor *);
static double	 demo_generic_grad(struct demo_worker *,
		     const struct psctl_tensor *);
static void	 demo_sleep_until(struct demo_worker *, struct timespec *);
static double	 demo_normal(uint64_t *);

/* xorshift64*: small, fast, good enough for synthetic data. */
static uint64_t
demo_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static double
demo_normal(uint64_t *s)
{
	double	u1, u2;

	u1 = ((double)(demo_rand(s) >> 11) + 1.0) / 9007199254740993.0;
	u2 = (double)(demo_rand(s) >> 11) / 9007199254740992.0;
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

int
ps_demo_model(struct ps_store *s, char **cause)
{
	static const unsigned	 rows[4] = { DEMO_IN, DEMO_HIDDEN, DEMO_HIDDEN,
				     DEMO_OUT };
	struct ps_tview		 v[4];
	float			*data[4];
	size_t			 i, j, n;
	uint64_t		 rng = 0x9E3779B97F4A7C15ULL;
	double			 scale;
	int			 code, r;

	memset(v, 0, sizeof v);
	for (i = 0; i < 4; i++) {
		v[i].name = demo_names[i];
		v[i].namelen = strlen(demo_names[i]);
		v[i].dtype = PS_DTYPE_F32;
		if (i % 2 == 0) {
			v[i].ndim = 2;
			v[i].dims[0] = rows[i];
			v[i].dims[1] = i == 0 ? DEMO_HIDDEN : DEMO_OUT;
		} else {
			v[i].ndim = 1;
			v[i].dims[0] = rows[i];
		}
		n = (size_t)v[i].dims[0] * (v[i].ndim == 2 ? v[i].dims[1] : 1);
		data[i] = xcalloc(n, sizeof (float));
		/* Glorot-like weights, zero biases. */
		scale = 1.0 / sqrt((double)v[i].dims[0]);
		for (j = 0; i % 2 == 0 && j < n; j++)
			data[i][j] = (float)(demo_normal(&rng) * scale);
		v[i].data = data[i];
		v[i].nbytes = n * sizeof (float);
	}
	r = ps_store_init(s, v, 4, &code, cause);
	for (i = 0; i < 4; i++)
		free(data[i]);
	return r;
}

struct ps_demo *
ps_demo_start(const char *host, int port, const char *token,
    enum ps_rule_kind rule, unsigned n, char **cause)
{
	struct ps_demo	*d;
	sigset_t	 block, saved;
	uint64_t	 rng = 42;
	unsigned	 i;
	int		 error;

	d = xcalloc(1, sizeof *d);
	d->n = n;
	d->rule = rule;
	d->token = token != NULL ? xstrdup(token) : NULL;
	atomic_init(&d->stop, 0);
	if (host == NULL || strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	if (strchr(host, ':') != NULL)
		snprintf(d->url, sizeof d->url, "ws://[%s]:%d", host, port);
	else
		snprintf(d->url, sizeof d->url, "ws://%s:%d", host, port);
	for (i = 0; i < DEMO_IN * DEMO_OUT; i++)
		d->teacher[i] = (float)(demo_normal(&rng) /
		    sqrt((double)DEMO_IN));

	/* Signals are for the service thread: the workers inherit a mask. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &saved);
	d->w = xcalloc(d->n > 0 ? d->n : 1, sizeof *d->w);
	for (i = 0; i < d->n; i++) {
		d->w[i].d = d;
		d->w[i].index = i;
		d->w[i].rng = 0x1234567ULL * (i + 1) + 17;
		if ((error = pthread_create(&d->w[i].thread, NULL, demo_main,
		    &d->w[i])) != 0) {
			*cause = xasprintf("demo: cannot start a worker "
			    "thread: %s", strerror(error));
			pthread_sigmask(SIG_SETMASK, &saved, NULL);
			ps_demo_stop(d);
			return NULL;
		}
		d->w[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	ps_log_info("demo: %u workers pushing to %s about 20 times a second",
	    d->n, d->url);
	return d;
}

void
ps_demo_halt(struct ps_demo *d)
{
	if (d != NULL)
		atomic_store(&d->stop, 1);
}

void
ps_demo_stop(struct ps_demo *d)
{
	unsigned	i;

	if (d == NULL)
		return;
	atomic_store(&d->stop, 1);
	for (i = 0; i < d->n; i++) {
		if (d->w[i].started)
			pthread_join(d->w[i].thread, NULL);
	}
	if (d->token != NULL) {
		memset(d->token, 0, strlen(d->token));
		free(d->token);
	}
	free(d->w);
	free(d);
}

/* Sleeps until *next (then advances it a period), waking early on stop. */
static void
demo_sleep_until(struct demo_worker *w, struct timespec *next)
{
	struct timespec	now, step;
	long long	left;

	next->tv_nsec += DEMO_PERIOD_NS;
	if (next->tv_nsec >= 1000000000L) {
		next->tv_nsec -= 1000000000L;
		next->tv_sec++;
	}
	for (;;) {
		if (atomic_load(&w->d->stop))
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (long long)(next->tv_sec - now.tv_sec) * 1000000000LL +
		    (next->tv_nsec - now.tv_nsec);
		if (left <= 0) {
			/* Fell behind (a sync round): do not try to catch up. */
			if (left < -DEMO_PERIOD_NS)
				*next = now;
			return;
		}
		if (left > 100000000LL)
			left = 100000000LL;
		step.tv_sec = 0;
		step.tv_nsec = (long)left;
		nanosleep(&step, NULL);
	}
}

static void *
demo_main(void *arg)
{
	struct demo_worker	*w = arg;
	struct psctl_opts	 o;
	struct psctl		*c;
	struct timespec		 t;
	char			 name[32], err[256];
	int			 failures = 0;

	snprintf(name, sizeof name, "demo-%u", w->index + 1);
	while (!atomic_load(&w->d->stop)) {
		memset(&o, 0, sizeof o);
		o.url = w->d->url;
		o.token = w->d->token;
		o.name = name;
		o.timeout_ms = 5000;
		if ((c = psctl_connect(&o, err, sizeof err, NULL)) == NULL) {
			if (failures++ == 0 && !atomic_load(&w->d->stop))
				ps_log_warn("demo: %s cannot connect: %s", name,
				    err);
		} else {
			failures = 0;
			if (demo_run(w, c) != 0 && !atomic_load(&w->d->stop))
				ps_log_warn("demo: %s: %s (reconnecting)", name,
				    psctl_error(c));
			psctl_close(c);
		}
		/* Wait a second before trying again. */
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_sec += 1;
		t.tv_nsec -= DEMO_PERIOD_NS;
		if (t.tv_nsec < 0) {
			t.tv_nsec += 1000000000L;
			t.tv_sec--;
		}
		demo_sleep_until(w, &t);
	}
	demo_free_update(w);
	free(w->x);
	free(w->y);
	free(w->h);
	free(w->e);
	return NULL;
}

static void
demo_free_update(struct demo_worker *w)
{
	size_t	i;

	for (i = 0; i < w->n; i++) {
		free((char *)w->u[i].name);
		free(w->u[i].data);
	}
	free(w->u);
	w->u = NULL;
	w->n = 0;
}

/* Shapes the update after the model (names copied: pulls are borrowed). */
static int
demo_setup(struct demo_worker *w, const struct psctl_tensor *t, size_t n)
{
	static const uint64_t	 dims[4][2] = {
		{ DEMO_IN, DEMO_HIDDEN }, { DEMO_HIDDEN, 0 },
		{ DEMO_HIDDEN, DEMO_OUT }, { DEMO_OUT, 0 }
	};
	size_t			 i;

	demo_free_update(w);
	if (n == 0)
		return -1;
	w->u = xcalloc(n, sizeof *w->u);
	w->n = n;
	w->mlp = n == 4;
	for (i = 0; i < n; i++) {
		w->u[i].name = xstrdup(t[i].name);
		w->u[i].ndim = t[i].ndim;
		memcpy(w->u[i].dims, t[i].dims, sizeof w->u[i].dims);
		w->u[i].n = t[i].n;
		w->u[i].data = xcalloc(t[i].n > 0 ? t[i].n : 1, sizeof (float));
		if (i < 4 && (strcmp(t[i].name, demo_names[i]) != 0 ||
		    t[i].ndim != (i % 2 == 0 ? 2U : 1U) ||
		    t[i].dims[0] != dims[i][0] ||
		    (t[i].ndim == 2 && t[i].dims[1] != dims[i][1])))
			w->mlp = 0;
	}
	if (w->mlp && w->x == NULL) {
		w->x = xcalloc(DEMO_BATCH * DEMO_IN, sizeof (float));
		w->y = xcalloc(DEMO_BATCH * DEMO_OUT, sizeof (float));
		w->h = xcalloc(DEMO_BATCH * DEMO_HIDDEN, sizeof (float));
		w->e = xcalloc(DEMO_BATCH * DEMO_OUT, sizeof (float));
	}
	return 0;
}

/*
 * One batch of the perceptron: y = x T is the target; the gradients of
 * the mean squared error go into w->u[].  Returns the loss.
 */
static double
demo_mlp_grad(struct demo_worker *w, const struct psctl_tensor *t)
{
	const float	*W1 = t[0].data, *b1 = t[1].data, *W2 = t[2].data,
			*b2 = t[3].data, *T = w->d->teacher;
	float		*gW1 = w->u[0].data, *gb1 = w->u[1].data,
			*gW2 = w->u[2].data, *gb2 = w->u[3].data;
	float		 dh[DEMO_HIDDEN], acc;
	double		 loss = 0;
	size_t		 b, i, j, k;

	for (i = 0; i < DEMO_BATCH * DEMO_IN; i++)
		w->x[i] = (float)demo_normal(&w->rng);
	for (b = 0; b < DEMO_BATCH; b++) {
		for (k = 0; k < DEMO_OUT; k++) {
			acc = 0;
			for (i = 0; i < DEMO_IN; i++)
				acc += w->x[b * DEMO_IN + i] * T[i * DEMO_OUT + k];
			w->y[b * DEMO_OUT + k] = acc;
		}
		for (j = 0; j < DEMO_HIDDEN; j++) {
			acc = b1[j];
			for (i = 0; i < DEMO_IN; i++)
				acc += w->x[b * DEMO_IN + i] *
				    W1[i * DEMO_HIDDEN + j];
			w->h[b * DEMO_HIDDEN + j] = tanhf(acc);
		}
		for (k = 0; k < DEMO_OUT; k++) {
			acc = b2[k];
			for (j = 0; j < DEMO_HIDDEN; j++)
				acc += w->h[b * DEMO_HIDDEN + j] *
				    W2[j * DEMO_OUT + k];
			w->e[b * DEMO_OUT + k] = acc - w->y[b * DEMO_OUT + k];
			loss += 0.5 * (double)w->e[b * DEMO_OUT + k] *
			    w->e[b * DEMO_OUT + k];
		}
	}
	loss /= DEMO_BATCH;

	memset(gW1, 0, DEMO_IN * DEMO_HIDDEN * sizeof (float));
	memset(gb1, 0, DEMO_HIDDEN * sizeof (float));
	memset(gW2, 0, DEMO_HIDDEN * DEMO_OUT * sizeof (float));
	memset(gb2, 0, DEMO_OUT * sizeof (float));
	for (b = 0; b < DEMO_BATCH; b++) {
		const float	*e = &w->e[b * DEMO_OUT];
		const float	*h = &w->h[b * DEMO_HIDDEN];
		const float	*x = &w->x[b * DEMO_IN];

		for (k = 0; k < DEMO_OUT; k++)
			gb2[k] += e[k] / DEMO_BATCH;
		for (j = 0; j < DEMO_HIDDEN; j++) {
			acc = 0;
			for (k = 0; k < DEMO_OUT; k++) {
				gW2[j * DEMO_OUT + k] += h[j] * e[k] /
				    DEMO_BATCH;
				acc += e[k] * W2[j * DEMO_OUT + k];
			}
			dh[j] = acc * (1 - h[j] * h[j]) / DEMO_BATCH;
			gb1[j] += dh[j];
		}
		for (i = 0; i < DEMO_IN; i++) {
			for (j = 0; j < DEMO_HIDDEN; j++)
				gW1[i * DEMO_HIDDEN + j] += x[i] * dh[j];
		}
	}
	return loss;
}

/* Any other model: 0.5 |w - target|^2 with a fixed target per element. */
static double
demo_generic_grad(struct demo_worker *w, const struct psctl_tensor *t)
{
	double	loss = 0, g;
	size_t	i, j, count = 0;

	for (i = 0; i < w->n; i++) {
		for (j = 0; j < t[i].n; j++) {
			g = t[i].data[j] - 0.5 * sin(0.01 * (double)j) +
			    0.01 * demo_normal(&w->rng);
			w->u[i].data[j] = (float)g;
			loss += 0.5 * g * g;
		}
		count += t[i].n;
	}
	return count > 0 ? loss / (double)count : 0;
}

static int
demo_run(struct demo_worker *w, struct psctl *c)
{
	const struct psctl_tensor	*t;
	struct timespec			 next;
	uint64_t			 version, steps = 0;
	size_t				 n, i, j;
	double				 loss, sum = 0;
	float				 scale;

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!atomic_load(&w->d->stop)) {
		if (psctl_pull(c, NULL, 0, &t, &n, &version) != 0) {
			/* No model yet: wait for someone to init it. */
			if (psctl_errcode(c) == PSCTL_E_SERVER &&
			    psctl_server_code(c) == PS_E_NO_MODEL) {
				demo_sleep_until(w, &next);
				continue;
			}
			return -1;
		}
		if (n != w->n && demo_setup(w, t, n) != 0) {
			demo_sleep_until(w, &next);
			continue;
		}
		if (w->mlp)
			loss = demo_mlp_grad(w, t);
		else
			loss = demo_generic_grad(w, t);

		/* The rule decides what an update means. */
		scale = 1;
		if (w->d->rule == PS_RULE_ADD)
			scale = -DEMO_LR;
		else if (w->d->rule == PS_RULE_ELEPHAS)
			scale = DEMO_LR;
		for (i = 0; scale != 1 && i < w->n; i++) {
			for (j = 0; j < w->u[i].n; j++)
				w->u[i].data[j] *= scale;
		}
		if (psctl_push(c, w->u, w->n, &version) != 0)
			return -1;
		sum += loss;
		if (++steps % DEMO_LOG_EVERY == 0 && w->index == 0) {
			ps_log_info("demo: model version %llu, mean loss of "
			    "the last %d batches %.4g",
			    (unsigned long long)version, DEMO_LOG_EVERY,
			    sum / DEMO_LOG_EVERY);
			sum = 0;
		}
		demo_sleep_until(w, &next);
	}
	return 0;
}
