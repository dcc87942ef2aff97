/*
 * The load generator behind psctl bench (bench.h).  The main thread
 * prepares the model (init on an empty server, reuse of a matching one),
 * optionally spawns a server of its own, starts the workers together at a
 * barrier, shows progress on a terminal and prints the totals as text or
 * as one JSON object.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"
#include "cmd.h"
#include "psctl.h"
#include "xmalloc.h"

/*
 * Latency histogram, log-linear over nanoseconds: values below 64 have a
 * bucket each, above that every power of two is split into 32 buckets, so
 * a reported percentile is within 1/64 of the true value.
 */
#define HIST_SUB	32
#define HIST_BUCKETS	(2 * HIST_SUB + (64 - 6) * HIST_SUB)

struct bench_hist {
	uint64_t	 count;
	uint64_t	 min;
	uint64_t	 max;
	uint64_t	 b[HIST_BUCKETS];
};

struct bench;

/* One worker thread; fields below "results" are written by that thread only. */
struct bench_worker {
	struct bench		*b;		/* borrowed */
	unsigned		 idx;
	pthread_t		 thread;
	struct psctl		*c;		/* owned */

	/* Read by the main thread for progress while the worker runs. */
	_Atomic uint64_t	 pulls;
	_Atomic uint64_t	 pushes;
	_Atomic uint64_t	 errors;

	/* results, read by the main thread after join */
	uint64_t		 pull_bytes;
	uint64_t		 push_bytes;
	uint64_t		 end_ns;	/* its last call returned */
	char			*first_error;	/* owned */
	struct bench_hist	 pull_h;
	struct bench_hist	 push_h;
};

/* A spawned `psctl serve`. */
struct bench_server {
	pid_t			 pid;		/* -1 if none */
	int			 fd;		/* read end of its stderr */
	pthread_t		 drain;		/* reads fd until EOF */
	int			 draining;
	char			 tail[4096];	/* the end of its log */
	size_t			 taillen;
	pthread_mutex_t		 lock;		/* guards tail */
};

struct bench {
	const char		*url;		/* borrowed, or srv's */
	char			*token;		/* owned, may be NULL */
	const char		*token_file;	/* borrowed */
	const char		*ca_file;	/* borrowed */
	const char		*mode;		/* --spawn only */
	const char		*rule;		/* --spawn only */
	unsigned		 nworkers;
	uint64_t		 params;
	unsigned		 ntensors;
	double			 seconds;
	enum ps_bench_op	 op;
	int			 json;
	int			 progress;

	/* The update every push sends: the model's names and shapes. */
	struct psctl_tensor	*update;	/* owned; workers only read */
	size_t			 nupdate;
	char			**names;	/* owned */
	float			*updata;	/* owned: params floats */

	uint64_t		 t0_ns;		/* set before the barrier */
	uint64_t		 deadline_ns;
	pthread_barrier_t	 start;
	struct bench_worker	*w;		/* owned, nworkers */
	struct bench_server	 srv;
};

static uint64_t	bench_now(void);
static void	bench_hist_add(struct bench_hist *, uint64_t);
static double	bench_hist_pct(const struct bench_hist *, double);
static void	bench_hist_merge(struct bench_hist *,
		    const struct bench_hist *);
static int	bench_spawn(struct bench *, char **);
static void	bench_unspawn(struct bench *);
static void	*bench_drain(void *);
static int	bench_model(struct bench *, struct psctl *, char **);
static struct psctl *bench_connect(struct bench *, unsigned, char *, size_t,
		    enum psctl_errcode *);
static void	*bench_worker_main(void *);
static void	bench_progress(struct bench *, int);
static enum ps_cmd_retval bench_report(struct bench *, double);

static uint64_t
bench_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned
bench_hist_index(uint64_t v)
{
	unsigned	msb, shift;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	msb = 63 - (unsigned)__builtin_clzll(v);	/* >= 6 */
	shift = msb - 5;
	return 2 * HIST_SUB + (msb - 6) * HIST_SUB +
	    (unsigned)((v >> shift) - HIST_SUB);
}

/* The middle of bucket i, in nanoseconds. */
static double
bench_hist_value(unsigned i)
{
	unsigned	msb, m;
	double		lo, width;

	if (i < 2 * HIST_SUB)
		return i;
	msb = (i - 2 * HIST_SUB) / HIST_SUB + 6;
	m = (i - 2 * HIST_SUB) % HIST_SUB + HIST_SUB;
	width = ldexp(1.0, (int)msb - 5);
	lo = m * width;
	return lo + width / 2;
}

static void
bench_hist_add(struct bench_hist *h, uint64_t v)
{
	h->b[bench_hist_index(v)]++;
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
}

static void
bench_hist_merge(struct bench_hist *to, const struct bench_hist *from)
{
	unsigned	i;

	if (from->count == 0)
		return;
	for (i = 0; i < HIST_BUCKETS; i++)
		to->b[i] += from->b[i];
	if (to->count == 0 || from->min < to->min)
		to->min = from->min;
	if (from->max > to->max)
		to->max = from->max;
	to->count += from->count;
}

/*
 * The p-th percentile (0 < p <= 100) in milliseconds: the value of the
 * bucket holding the ceil(p% * count)-th smallest sample, kept within the
 * exact minimum and maximum.  NAN when there are no samples.
 */
static double
bench_hist_pct(const struct bench_hist *h, double p)
{
	uint64_t	rank, seen = 0;
	unsigned	i;
	double		v;

	if (h->count == 0)
		return NAN;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	v = bench_hist_value(i);
	if (v < (double)h->min)
		v = (double)h->min;
	if (v > (double)h->max)
		v = (double)h->max;
	return v / 1e6;
}

/*
 * Main thread: starts `psctl serve --listen 127.0.0.1:0` from this very
 * binary with its stderr on a pipe, and reads the log until a line names
 * the port it bound.  Sets b->url.
 */
static int
bench_spawn(struct bench *b, char **cause)
{
	struct bench_server	*s = &b->srv;
	const char		*argv[16];
	char			 buf[4096], nworkers[16], *p, *q, *url;
	size_t			 len = 0, n;
	ssize_t			 r;
	struct pollfd		 pfd;
	uint64_t		 deadline;
	unsigned long		 port = 0;
	int			 fds[2], argc = 0, status, devnull;

	argv[argc++] = "psctl";
	argv[argc++] = "serve";
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	if (b->mode != NULL) {
		argv[argc++] = "--mode";
		argv[argc++] = b->mode;
		/* A synchronous round waits for every bench worker. */
		if (strcmp(b->mode, "sync") == 0) {
			snprintf(nworkers, sizeof nworkers, "%u", b->nworkers);
			argv[argc++] = "--workers";
			argv[argc++] = nworkers;
		}
	}
	if (b->rule != NULL) {
		argv[argc++] = "--rule";
		argv[argc++] = b->rule;
	}
	if (b->token_file != NULL) {
		argv[argc++] = "--token-file";
		argv[argc++] = b->token_file;
	}
	argv[argc] = NULL;

	if (pipe(fds) == -1) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	switch (s->pid = fork()) {
	case -1:
		*cause = xasprintf("fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	case 0:
#ifdef __linux__
		/* The server goes when bench does, however bench ends. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
		if ((devnull = open("/dev/null", O_RDWR)) != -1) {
			dup2(devnull, STDIN_FILENO);
			if (devnull > STDERR_FILENO)
				close(devnull);
		}
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		if (fds[1] > STDERR_FILENO)
			close(fds[1]);
		execv("/proc/self/exe", (char *const *)argv);
		dprintf(STDERR_FILENO, "exec /proc/self/exe: %s\n",
		    strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	s->fd = fds[0];

	/* A line naming 127.0.0.1:PORT with PORT > 0 says it is listening. */
	deadline = bench_now() + 15 * 1000000000ull;
	for (;;) {
		buf[len] = '\0';
		for (p = buf; (q = strstr(p, "127.0.0.1:")) != NULL;
		    p = q + 1) {
			port = strtoul(q + 10, &url, 10);
			if (url != q + 10 && port > 0 && port < 65536 &&
			    memchr(url, '\n', (size_t)(buf + len - url)) !=
			    NULL)
				break;
			port = 0;
		}
		if (port != 0)
			break;
		if (len == sizeof buf - 1) {
			/* Keep the last partial line, drop the rest. */
			p = memrchr(buf, '\n', len);
			n = p != NULL ? (size_t)(buf + len - (p + 1)) : 64;
			memmove(buf, buf + len - n, n);
			len = n;
		}
		pfd.fd = s->fd;
		pfd.events = POLLIN;
		if (bench_now() >= deadline) {
			*cause = xasprintf("psctl serve did not say which port "
			    "it listens on within 15 s");
			goto fail;
		}
		r = poll(&pfd, 1,
		    (int)((deadline - bench_now()) / 1000000) + 1);
		if (r == -1 && errno != EINTR) {
			*cause = xasprintf("poll: %s", strerror(errno));
			goto fail;
		}
		if (r <= 0)
			continue;
		r = read(s->fd, buf + len, sizeof buf - 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			while (len > 0 && buf[len - 1] == '\n')
				len--;
			buf[len] = '\0';
			waitpid(s->pid, &status, 0);
			s->pid = -1;
			*cause = xasprintf("psctl serve exited before listening"
			    "%s%s", len > 0 ? ":\n" : "", buf);
			close(s->fd);
			return -1;
		}
		len += (size_t)r;
	}
	b->url = url = xasprintf("ws://127.0.0.1:%lu", port);

	/* Keep reading its log so that it never blocks on a full pipe. */
	pthread_mutex_init(&s->lock, NULL);
	if (pthread_create(&s->drain, NULL, bench_drain, s) != 0) {
		*cause = xasprintf("pthread_create failed");
		goto fail;
	}
	s->draining = 1;
	return 0;

fail:
	bench_unspawn(b);
	return -1;
}

/* Drain thread: reads the server's log until EOF, keeping its tail. */
static void *
bench_drain(void *arg)
{
	struct bench_server	*s = arg;
	char			 buf[4096];
	ssize_t			 r;
	size_t			 n;

	for (;;) {
		r = read(s->fd, buf, sizeof buf);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n = (size_t)r;
		pthread_mutex_lock(&s->lock);
		if (n >= sizeof s->tail) {
			memcpy(s->tail, buf + n - sizeof s->tail,
			    sizeof s->tail);
			s->taillen = sizeof s->tail;
		} else {
			if (s->taillen + n > sizeof s->tail) {
				memmove(s->tail, s->tail + s->taillen +
				    n - sizeof s->tail,
				    sizeof s->tail - n);
				s->taillen = sizeof s->tail - n;
			}
			memcpy(s->tail + s->taillen, buf, n);
			s->taillen += n;
		}
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/* Main thread: SIGTERM, up to 10 s for a graceful exit, then SIGKILL. */
static void
bench_unspawn(struct bench *b)
{
	struct bench_server	*s = &b->srv;
	uint64_t		 deadline;
	int			 status;
	pid_t			 r;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		deadline = bench_now() + 10 * 1000000000ull;
		while ((r = waitpid(s->pid, &status, WNOHANG)) == 0 &&
		    bench_now() < deadline)
			usleep(10000);
		if (r == 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
		}
		s->pid = -1;
	}
	if (s->draining) {
		pthread_join(s->drain, NULL);
		s->draining = 0;
		pthread_mutex_destroy(&s->lock);
	}
	if (s->fd != -1) {
		close(s->fd);
		s->fd = -1;
	}
}

static struct psctl *
bench_connect(struct bench *b, unsigned idx, char *err, size_t errlen,
    enum psctl_errcode *code)
{
	struct psctl_opts	 o;
	char			 name[32];

	memset(&o, 0, sizeof o);
	o.url = b->url;
	o.token = b->token;
	o.ca_file = b->ca_file;
	snprintf(name, sizeof name, "bench-%u", idx);
	o.name = name;
	return psctl_connect(&o, err, errlen, code);
}

/*
 * Main thread: makes sure the server holds a model of b->ntensors tensors
 * and b->params parameters, creating it when the server has none, and
 * builds the update every push sends from the model's names and shapes.
 */
static int
bench_model(struct bench *b, struct psctl *c, char **cause)
{
	const struct psctl_tensor	*m;
	struct psctl_tensor		*t;
	size_t				 n, i, off;
	uint64_t			 total, each, version;
	char				**names;
	int				 created = 0, r;

	m = psctl_model(c, &n);
	if (n == 0) {
		/* Tensors bench/0 .. bench/K-1, sizes as even as they go. */
		b->updata = malloc(b->params * sizeof *b->updata);
		if (b->updata == NULL) {
			*cause = xasprintf("out of memory for %" PRIu64
			    " parameters", b->params);
			return -1;
		}
		for (i = 0; i < b->params; i++)
			b->updata[i] = (float)(i % 1000) * 1e-3f;
		t = xcalloc(b->ntensors, sizeof *t);
		names = xcalloc(b->ntensors, sizeof *names);
		each = b->params / b->ntensors;
		for (i = off = 0; i < b->ntensors; i++) {
			names[i] = xasprintf("bench/%zu", i);
			t[i].name = names[i];
			t[i].ndim = 1;
			t[i].n = each + (i < b->params % b->ntensors ? 1 : 0);
			t[i].dims[0] = t[i].n;
			t[i].data = b->updata + off;
			off += t[i].n;
		}
		if (b->progress)
			fprintf(stderr, "psctl bench: creating a model of %"
			    PRIu64 " parameters in %u tensor%s\n", b->params,
			    b->ntensors, b->ntensors == 1 ? "" : "s");
		r = psctl_init(c, t, b->ntensors, &version);
		for (i = 0; i < b->ntensors; i++)
			free(names[i]);
		free(names);
		free(t);
		if (r != 0) {
			*cause = xasprintf("init: %s", psctl_error(c));
			return -1;
		}
		m = psctl_model(c, &n);
		created = 1;
	}

	for (i = total = 0; i < n; i++)
		total += m[i].n;
	if (n != b->ntensors || total != b->params) {
		*cause = xasprintf("the server %s a model of %" PRIu64
		    " parameters in %zu tensor%s, not %" PRIu64 " in %u: "
		    "use --params %" PRIu64 " --tensors %zu, or an empty "
		    "server", created ? "now holds" : "already holds", total,
		    n, n == 1 ? "" : "s", b->params, b->ntensors, total, n);
		return -1;
	}

	/* The update: the model's names and shapes, small finite values. */
	if (b->updata == NULL &&
	    (b->updata = malloc(b->params * sizeof *b->updata)) == NULL) {
		*cause = xasprintf("out of memory for %" PRIu64 " parameters",
		    b->params);
		return -1;
	}
	for (i = 0; i < b->params; i++)
		b->updata[i] = 1e-7f;
	b->nupdate = n;
	b->update = xcalloc(n, sizeof *b->update);
	b->names = xcalloc(n, sizeof *b->names);
	for (i = off = 0; i < n; i++) {
		b->names[i] = xstrdup(m[i].name);
		b->update[i].name = b->names[i];
		b->update[i].ndim = m[i].ndim;
		memcpy(b->update[i].dims, m[i].dims, sizeof m[i].dims);
		b->update[i].n = m[i].n;
		b->update[i].data = b->updata + off;
		off += m[i].n;
	}
	return 0;
}

/* Whether a failed call leaves the connection unusable. */
static int
bench_broken(enum psctl_errcode code)
{
	return code != PSCTL_E_SERVER && code != PSCTL_E_ARG &&
	    code != PSCTL_E_NOMEM;
}

static void
bench_worker_error(struct bench_worker *w, const char *what, const char *text)
{
	atomic_fetch_add_explicit(&w->errors, 1, memory_order_relaxed);
	if (w->first_error == NULL)
		w->first_error = xasprintf("worker %u: %s: %s", w->idx, what,
		    text);
}

/*
 * Worker thread: waits for the start, then runs its calls back to back
 * until the deadline.  A connection that breaks is replaced (each failed
 * attempt an error, 50 ms apart).
 */
static void *
bench_worker_main(void *arg)
{
	struct bench_worker		*w = arg;
	struct bench			*b = w->b;
	const struct psctl_tensor	*out;
	enum psctl_errcode		 code;
	char				 err[256];
	size_t				 nout, i;
	uint64_t			 t, now, version, bytes;
	int				 do_pull, do_push, r;
	int				 tried_pull, tried_push;

	pthread_barrier_wait(&b->start);
	do_pull = b->op == PS_BENCH_PULL || b->op == PS_BENCH_PUSHPULL;
	do_push = b->op == PS_BENCH_PUSH || b->op == PS_BENCH_PUSHPULL;
	bytes = b->params * sizeof (float);

	/*
	 * Each worker makes at least one call of each kind it does, even past
	 * the deadline on a loaded machine: a figure from no calls is none.
	 */
	tried_pull = !do_pull;
	tried_push = !do_push;
	now = bench_now();
	while (now < b->deadline_ns ||
	    (w->c != NULL && !(tried_pull && tried_push))) {
		if (w->c == NULL) {
			w->c = bench_connect(b, w->idx, err, sizeof err,
			    &code);
			if (w->c == NULL) {
				bench_worker_error(w, "connect", err);
				usleep(50000);
				now = bench_now();
				continue;
			}
		}
		if (do_push) {
			tried_push = 1;
			t = bench_now();
			r = psctl_push(w->c, b->update, b->nupdate, &version);
			now = bench_now();
			if (r == 0) {
				bench_hist_add(&w->push_h, now - t);
				w->push_bytes += bytes;
				atomic_fetch_add_explicit(&w->pushes, 1,
				    memory_order_relaxed);
			} else {
				bench_worker_error(w, "push",
				    psctl_error(w->c));
				if (bench_broken(psctl_errcode(w->c))) {
					psctl_close(w->c);
					w->c = NULL;
					continue;
				}
			}
			if (now >= b->deadline_ns && tried_pull)
				break;
		}
		if (do_pull) {
			tried_pull = 1;
			t = bench_now();
			r = psctl_pull(w->c, NULL, 0, &out, &nout, &version);
			now = bench_now();
			if (r == 0) {
				bench_hist_add(&w->pull_h, now - t);
				for (i = 0; i < nout; i++)
					w->pull_bytes += out[i].n *
					    sizeof (float);
				atomic_fetch_add_explicit(&w->pulls, 1,
				    memory_order_relaxed);
			} else {
				bench_worker_error(w, "pull",
				    psctl_error(w->c));
				if (bench_broken(psctl_errcode(w->c))) {
					psctl_close(w->c);
					w->c = NULL;
				}
			}
		}
	}
	w->end_ns = now;
	return NULL;
}

/* Main thread: one status line on the terminal, or (done) erase it. */
static void
bench_progress(struct bench *b, int done)
{
	uint64_t	pulls = 0, pushes = 0, errors = 0;
	double		el;
	unsigned	i;

	if (done) {
		fprintf(stderr, "\r%-72s\r", "");
		return;
	}
	for (i = 0; i < b->nworkers; i++) {
		pulls += atomic_load_explicit(&b->w[i].pulls,
		    memory_order_relaxed);
		pushes += atomic_load_explicit(&b->w[i].pushes,
		    memory_order_relaxed);
		errors += atomic_load_explicit(&b->w[i].errors,
		    memory_order_relaxed);
	}
	el = (double)(bench_now() - b->t0_ns) / 1e9;
	fprintf(stderr, "\rpsctl bench: %.1f/%g s, %" PRIu64 " pulls, %"
	    PRIu64 " pushes, %" PRIu64 " errors ", el > b->seconds ?
	    b->seconds : el, b->seconds, pulls, pushes, errors);
}

static json_t *
bench_json_ms(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

/* Main thread, after every worker joined: prints the totals. */
static enum ps_cmd_retval
bench_report(struct bench *b, double elapsed)
{
	struct bench_hist	*pull_h, *push_h;
	const char		*first = NULL;
	const char		*opname[] = { "pull", "push", "pushpull" };
	uint64_t		 pulls = 0, pushes = 0, errors = 0;
	uint64_t		 pull_bytes = 0, push_bytes = 0;
	double			 pull_rate, push_rate, pull_mib, push_mib;
	json_t			*o;
	unsigned		 i;

	pull_h = xcalloc(1, sizeof *pull_h);
	push_h = xcalloc(1, sizeof *push_h);
	for (i = 0; i < b->nworkers; i++) {
		pulls += b->w[i].pull_h.count;
		pushes += b->w[i].push_h.count;
		errors += atomic_load(&b->w[i].errors);
		pull_bytes += b->w[i].pull_bytes;
		push_bytes += b->w[i].push_bytes;
		bench_hist_merge(pull_h, &b->w[i].pull_h);
		bench_hist_merge(push_h, &b->w[i].push_h);
		if (first == NULL)
			first = b->w[i].first_error;
	}
	pull_rate = pulls / elapsed;
	push_rate = pushes / elapsed;
	pull_mib = pull_bytes / elapsed / 1048576.0;
	push_mib = push_bytes / elapsed / 1048576.0;

	if (b->json) {
		o = json_object();
		json_object_set_new(o, "workers", json_integer(b->nworkers));
		json_object_set_new(o, "params",
		    json_integer((json_int_t)b->params));
		json_object_set_new(o, "seconds", json_real(elapsed));
		json_object_set_new(o, "pulls_per_s", json_real(pull_rate));
		json_object_set_new(o, "pushes_per_s", json_real(push_rate));
		json_object_set_new(o, "pull_mib_per_s", json_real(pull_mib));
		json_object_set_new(o, "push_mib_per_s", json_real(push_mib));
		json_object_set_new(o, "pull_p50_ms",
		    bench_json_ms(bench_hist_pct(pull_h, 50)));
		json_object_set_new(o, "pull_p99_ms",
		    bench_json_ms(bench_hist_pct(pull_h, 99)));
		json_object_set_new(o, "push_p50_ms",
		    bench_json_ms(bench_hist_pct(push_h, 50)));
		json_object_set_new(o, "push_p99_ms",
		    bench_json_ms(bench_hist_pct(push_h, 99)));
		json_object_set_new(o, "errors",
		    json_integer((json_int_t)errors));
		json_dumpf(o, stdout, JSON_PRESERVE_ORDER |
		    JSON_REAL_PRECISION(10));
		fputc('\n', stdout);
		json_decref(o);
	} else {
		printf("%s: %u worker%s, %" PRIu64 " parameters in %u "
		    "tensor%s, %s, %.2f s\n", b->url, b->nworkers,
		    b->nworkers == 1 ? "" : "s", b->params, b->ntensors,
		    b->ntensors == 1 ? "" : "s", opname[b->op], elapsed);
		if (b->op != PS_BENCH_PUSH)
			printf("pulls:  %10.1f/s  %9.1f MiB/s  p50 %.3f ms  "
			    "p99 %.3f ms\n", pull_rate, pull_mib,
			    bench_hist_pct(pull_h, 50),
			    bench_hist_pct(pull_h, 99));
		if (b->op != PS_BENCH_PULL)
			printf("pushes: %10.1f/s  %9.1f MiB/s  p50 %.3f ms  "
			    "p99 %.3f ms\n", push_rate, push_mib,
			    bench_hist_pct(push_h, 50),
			    bench_hist_pct(push_h, 99));
		printf("errors: %" PRIu64 "\n", errors);
	}
	fflush(stdout);
	if (first != NULL)
		fprintf(stderr, "psctl bench: %" PRIu64 " error%s, the first: "
		    "%s\n", errors, errors == 1 ? "" : "s", first);
	free(pull_h);
	free(push_h);
	return pulls + pushes > 0 ? PS_CMD_OK : PS_CMD_ERR_UNAVAILABLE;
}

/* Says why worker (NULL: the first connection) could not connect. */
static void
bench_connect_error(struct ps_cmd *self, struct bench *b, const char *worker,
    enum psctl_errcode code, const char *err)
{
	/* A bad URL's text names it already. */
	ps_cmd_error(self, "%s%s%s%s%s", worker != NULL ? worker : "",
	    worker != NULL ? ": " : "", code == PSCTL_E_ARG ? "" : b->url,
	    code == PSCTL_E_ARG ? "" : ": ", err);
}

enum ps_cmd_retval
ps_bench_run(struct ps_cmd *self, const struct ps_bench_opts *o)
{
	struct bench			 bb, *b = &bb;
	struct psctl			*c = NULL;
	enum psctl_errcode		 code;
	enum ps_cmd_retval		 rc = PS_CMD_ERR_SOFTWARE;
	char				 err[256], name[32], *cause = NULL;
	char				*url = NULL;
	uint64_t			 end, next;
	double				 elapsed;
	unsigned			 i, started = 0;
	int				 spawn = o->url == NULL;

	memset(b, 0, sizeof *b);
	b->srv.pid = -1;
	b->srv.fd = -1;
	b->url = o->url;
	b->token_file = o->token_file;
	b->ca_file = o->ca_file;
	b->mode = o->mode;
	b->rule = o->rule;
	b->nworkers = o->nworkers;
	b->params = o->params;
	b->ntensors = o->ntensors;
	b->seconds = o->seconds;
	b->op = o->op;
	b->json = o->json;
	b->progress = isatty(STDERR_FILENO);

	if (ps_cmd_token(b->token_file, &b->token, &cause) != 0) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		return PS_CMD_ERR_NOINPUT;
	}
	if (spawn) {
		if (bench_spawn(b, &cause) != 0) {
			ps_cmd_error(self, "%s", cause);
			free(cause);
			free(b->token);
			return PS_CMD_ERR_UNAVAILABLE;
		}
		url = (char *)b->url;
	}

	/* The model, through a connection of its own. */
	if ((c = bench_connect(b, 0, err, sizeof err, &code)) == NULL) {
		bench_connect_error(self, b, NULL, code, err);
		rc = ps_cmd_psctl_retval(code, 0, 1);
		goto out;
	}
	if (bench_model(b, c, &cause) != 0) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		/* No error on the connection: the model is not the one. */
		rc = psctl_errcode(c) == PSCTL_OK ? PS_CMD_ERR_DATA :
		    ps_cmd_psctl_retval(psctl_errcode(c),
		    psctl_server_code(c), 0);
		goto out;
	}
	psctl_close(c);
	c = NULL;

	/* Every worker connects before the clock starts. */
	b->w = xcalloc(b->nworkers, sizeof *b->w);
	for (i = 0; i < b->nworkers; i++) {
		b->w[i].b = b;
		b->w[i].idx = i;
		b->w[i].c = bench_connect(b, i, err, sizeof err, &code);
		if (b->w[i].c == NULL) {
			snprintf(name, sizeof name, "worker %u", i);
			bench_connect_error(self, b, name, code, err);
			rc = ps_cmd_psctl_retval(code, 0, 1);
			goto out;
		}
	}
	pthread_barrier_init(&b->start, NULL, b->nworkers + 1);
	for (i = 0; i < b->nworkers; i++) {
		if (pthread_create(&b->w[i].thread, NULL, bench_worker_main,
		    &b->w[i]) != 0) {
			ps_cmd_error(self, "pthread_create failed");
			/* Threads already started wait at the barrier. */
			exit(ps_cmd_exit_code(PS_CMD_ERR_OS));
		}
	}
	started = b->nworkers;

	b->t0_ns = bench_now();
	b->deadline_ns = b->t0_ns + (uint64_t)(b->seconds * 1e9);
	pthread_barrier_wait(&b->start);
	next = b->t0_ns;
	while (bench_now() < b->deadline_ns) {
		if (b->progress && bench_now() >= next) {
			bench_progress(b, 0);
			next += 250000000;
		}
		usleep(50000);
	}
	end = b->t0_ns;
	for (i = 0; i < started; i++) {
		pthread_join(b->w[i].thread, NULL);
		if (b->w[i].end_ns > end)
			end = b->w[i].end_ns;
	}
	pthread_barrier_destroy(&b->start);
	if (b->progress)
		bench_progress(b, 1);
	elapsed = (double)(end - b->t0_ns) / 1e9;
	if (elapsed <= 0)
		elapsed = 1e-9;
	rc = bench_report(b, elapsed);

out:
	psctl_close(c);
	if (b->w != NULL) {
		for (i = 0; i < b->nworkers; i++) {
			psctl_close(b->w[i].c);
			free(b->w[i].first_error);
		}
		free(b->w);
	}
	if (spawn)
		bench_unspawn(b);
	if (b->names != NULL) {
		for (i = 0; i < b->nupdate; i++)
			free(b->names[i]);
		free(b->names);
	}
	free(b->update);
	free(b->updata);
	free(b->token);
	free(url);
	return rc;
}
