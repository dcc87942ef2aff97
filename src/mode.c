/*
 * Consistency modes: the barrier and staleness bookkeeping described in
 * mode.h.  Pure logic over a small table of workers; the service thread
 * owns it.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mode.h"
#include "xmalloc.h"

/* Workers that left are remembered (for a resume) up to this many. */
#define MODE_GONE_MAX	256

struct mode_worker {
	uint64_t	 id;
	uint64_t	 clock;
	uint64_t	 left_seq;	/* order of leaving, for eviction */
	int		 live;
	int		 in_round;	/* sync: pushed in the current round */
};

struct ps_mode {
	enum ps_mode_kind	 kind;
	unsigned		 workers;	/* sync: N */
	unsigned		 staleness;	/* ssp: S */

	struct mode_worker	*w;		/* owned */
	size_t			 n;
	size_t			 cap;
	size_t			 nlive;
	size_t			 ngone;		/* entries with live == 0 */
	uint64_t		 left_seq;

	size_t			 round_pushes;
	uint64_t		 rounds;
	unsigned		 departed;
};

static struct mode_worker *mode_find(const struct ps_mode *, uint64_t);
static void	mode_remove(struct ps_mode *, size_t);
static void	mode_evict(struct ps_mode *);

int
ps_mode_parse(const char *s, enum ps_mode_kind *kind)
{
	if (strcmp(s, "async") == 0 || strcmp(s, "hogwild") == 0)
		*kind = PS_MODE_ASYNC;
	else if (strcmp(s, "sync") == 0)
		*kind = PS_MODE_SYNC;
	else if (strcmp(s, "ssp") == 0)
		*kind = PS_MODE_SSP;
	else
		return -1;
	return 0;
}

const char *
ps_mode_kind_name(enum ps_mode_kind kind)
{
	switch (kind) {
	case PS_MODE_ASYNC:
		return "async";
	case PS_MODE_SYNC:
		return "sync";
	case PS_MODE_SSP:
		return "ssp";
	}
	return "unknown";
}

struct ps_mode *
ps_mode_new(enum ps_mode_kind kind, unsigned workers, unsigned staleness)
{
	struct ps_mode	*m;

	m = xcalloc(1, sizeof *m);
	m->kind = kind;
	m->workers = workers > 0 ? workers : 1;
	m->staleness = staleness;
	return m;
}

void
ps_mode_free(struct ps_mode *m)
{
	if (m == NULL)
		return;
	free(m->w);
	free(m);
}

enum ps_mode_kind
ps_mode_kind(const struct ps_mode *m)
{
	return m->kind;
}

unsigned
ps_mode_workers(const struct ps_mode *m)
{
	return m->workers;
}

unsigned
ps_mode_staleness(const struct ps_mode *m)
{
	return m->staleness;
}

static struct mode_worker *
mode_find(const struct ps_mode *m, uint64_t id)
{
	size_t	i;

	for (i = 0; i < m->n; i++) {
		if (m->w[i].id == id)
			return &m->w[i];
	}
	return NULL;
}

/* Removes entry i, keeping the others in order. */
static void
mode_remove(struct ps_mode *m, size_t i)
{
	if (!m->w[i].live)
		m->ngone--;
	else
		m->nlive--;
	memmove(&m->w[i], &m->w[i + 1], (m->n - i - 1) * sizeof m->w[0]);
	m->n--;
}

/* Forgets the longest-gone workers beyond MODE_GONE_MAX (never one in a round). */
static void
mode_evict(struct ps_mode *m)
{
	size_t	i, oldest;
	int	found;

	while (m->ngone > MODE_GONE_MAX) {
		found = 0;
		oldest = 0;
		for (i = 0; i < m->n; i++) {
			if (m->w[i].live || m->w[i].in_round)
				continue;
			if (!found || m->w[i].left_seq < m->w[oldest].left_seq) {
				oldest = i;
				found = 1;
			}
		}
		if (!found)
			return;
		mode_remove(m, oldest);
	}
}

void
ps_mode_join(struct ps_mode *m, uint64_t id)
{
	struct mode_worker	*w;

	if ((w = mode_find(m, id)) != NULL) {
		if (w->live)
			return;
		w->live = 1;
		m->ngone--;
	} else {
		if (m->n == m->cap) {
			m->cap = m->cap == 0 ? 16 : m->cap * 2;
			m->w = xreallocarray(m->w, m->cap, sizeof *m->w);
		}
		/* A new worker starts level with the slowest live one. */
		w = &m->w[m->n++];
		memset(w, 0, sizeof *w);
		w->id = id;
		w->clock = m->kind == PS_MODE_SSP ? ps_mode_min_clock(m) : 0;
		w->live = 1;
	}
	m->nlive++;
	if (m->departed > 0)
		m->departed--;
}

int
ps_mode_leave(struct ps_mode *m, uint64_t id)
{
	struct mode_worker	*w;

	if ((w = mode_find(m, id)) == NULL || !w->live)
		return 0;
	w->live = 0;
	w->left_seq = ++m->left_seq;
	m->nlive--;
	m->ngone++;
	m->departed++;
	mode_evict(m);
	return 1;
}

int
ps_mode_live(const struct ps_mode *m, uint64_t id)
{
	const struct mode_worker	*w;

	return (w = mode_find(m, id)) != NULL && w->live;
}

size_t
ps_mode_live_count(const struct ps_mode *m)
{
	return m->nlive;
}

int
ps_mode_push_waits(const struct ps_mode *m, uint64_t id)
{
	const struct mode_worker	*w;

	if (m->kind != PS_MODE_SYNC)
		return 0;
	return (w = mode_find(m, id)) != NULL && w->in_round;
}

void
ps_mode_push(struct ps_mode *m, uint64_t id)
{
	struct mode_worker	*w;

	if ((w = mode_find(m, id)) == NULL)
		return;
	if (m->kind != PS_MODE_SYNC) {
		w->clock++;
		return;
	}
	if (w->in_round)
		return;
	w->in_round = 1;
	m->round_pushes++;
}

void
ps_mode_unpush(struct ps_mode *m, uint64_t id)
{
	struct mode_worker	*w;

	if (m->kind != PS_MODE_SYNC || (w = mode_find(m, id)) == NULL ||
	    !w->in_round)
		return;
	w->in_round = 0;
	m->round_pushes--;
	mode_evict(m);
}

int
ps_mode_round_complete(const struct ps_mode *m)
{
	size_t	i;

	if (m->kind != PS_MODE_SYNC || m->round_pushes == 0)
		return 0;
	if (m->round_pushes >= m->workers)
		return 1;
	if (m->departed == 0)
		return 0;
	for (i = 0; i < m->n; i++) {
		if (m->w[i].live && !m->w[i].in_round)
			return 0;
	}
	return 1;
}

size_t
ps_mode_round_end(struct ps_mode *m)
{
	size_t	i, n;

	n = m->round_pushes;
	if (m->kind != PS_MODE_SYNC || n == 0)
		return 0;
	for (i = 0; i < m->n; i++) {
		if (m->w[i].in_round) {
			m->w[i].in_round = 0;
			m->w[i].clock++;
		}
	}
	m->round_pushes = 0;
	m->rounds++;
	mode_evict(m);
	return n;
}

size_t
ps_mode_round_pushes(const struct ps_mode *m)
{
	return m->round_pushes;
}

int
ps_mode_in_round(const struct ps_mode *m, uint64_t id)
{
	const struct mode_worker	*w;

	return (w = mode_find(m, id)) != NULL && w->in_round;
}

uint64_t
ps_mode_rounds(const struct ps_mode *m)
{
	return m->rounds;
}

unsigned
ps_mode_departed(const struct ps_mode *m)
{
	return m->departed;
}

int
ps_mode_pull_ready(const struct ps_mode *m, uint64_t id)
{
	const struct mode_worker	*w;

	if ((w = mode_find(m, id)) == NULL)
		return 1;
	switch (m->kind) {
	case PS_MODE_ASYNC:
		return 1;
	case PS_MODE_SYNC:
		return !w->in_round;
	case PS_MODE_SSP:
		return w->clock <= ps_mode_min_clock(m) + m->staleness;
	}
	return 1;
}

uint64_t
ps_mode_clock(const struct ps_mode *m, uint64_t id)
{
	const struct mode_worker	*w;

	return (w = mode_find(m, id)) != NULL ? w->clock : 0;
}

uint64_t
ps_mode_min_clock(const struct ps_mode *m)
{
	uint64_t	c = 0;
	size_t		i;
	int		any = 0;

	for (i = 0; i < m->n; i++) {
		if (m->w[i].live && (!any || m->w[i].clock < c)) {
			c = m->w[i].clock;
			any = 1;
		}
	}
	return c;
}

uint64_t
ps_mode_max_clock(const struct ps_mode *m)
{
	uint64_t	c = 0;
	size_t		i;

	for (i = 0; i < m->n; i++) {
		if (m->w[i].live && m->w[i].clock > c)
			c = m->w[i].clock;
	}
	return c;
}
