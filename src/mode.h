/*
 * Consistency modes as pure bookkeeping: whether a push joins the current
 * synchronous round or waits for the next one, when a round is complete,
 * whether a worker's pull may be answered now, and each worker's clock.
 * No I/O, no time, no store: the server asks, acts, and tells the mode what
 * it did.  Runs on the service thread only (no locking).
 *
 * async (hogwild): every push is applied on arrival; pulls never wait.
 *	A worker's clock is its push count.
 * sync --workers N: a round collects at most one push per worker.  It is
 *	complete when N distinct workers have pushed in it, or, once some
 *	worker has left ("degraded"), when every live worker has pushed in
 *	it (and at least one has).  A worker that pushed and then left still
 *	counts for that round.  Each departure lowers the barrier by one
 *	until a worker joins again.  A second push from a worker already in
 *	the round waits for the next round; a pull from a worker whose push
 *	is in the unfinished round waits for the round.  The clock is the
 *	number of rounds the worker pushed in.
 * ssp --staleness S: pushes are applied on arrival; the clock is the push
 *	count, and a pull from a worker whose clock is more than S ahead of
 *	the slowest live worker waits until that worker pushes or leaves.  A
 *	new worker starts at the slowest live worker's clock, so a late
 *	joiner does not stall the others; a resumed one keeps its clock.
 */
#ifndef PS_MODE_H
#define PS_MODE_H

#include <stddef.h>
#include <stdint.h>

enum ps_mode_kind {
	PS_MODE_ASYNC = 0,
	PS_MODE_SYNC,
	PS_MODE_SSP
};

/* Parses "async", "hogwild" (async), "sync", "ssp"; -1 if unknown. */
int		 ps_mode_parse(const char *, enum ps_mode_kind *);
const char	*ps_mode_kind_name(enum ps_mode_kind);

/* workers: sync's N (>= 1); staleness: ssp's S.  Others ignore them. */
struct ps_mode	*ps_mode_new(enum ps_mode_kind, unsigned workers,
		     unsigned staleness);
void		 ps_mode_free(struct ps_mode *);	/* NULL is a no-op */
enum ps_mode_kind ps_mode_kind(const struct ps_mode *);
unsigned	 ps_mode_workers(const struct ps_mode *);
unsigned	 ps_mode_staleness(const struct ps_mode *);

/*
 * A worker became live: a new one (hello), or one seen before resuming
 * (its clock and round state are kept).  Joining twice is a no-op.
 */
void		 ps_mode_join(struct ps_mode *, uint64_t id);
/*
 * A live worker left (disconnected or timed out).  Its push in the
 * current round, if any, still counts.  Returns 1 if it was live.
 */
int		 ps_mode_leave(struct ps_mode *, uint64_t id);
int		 ps_mode_live(const struct ps_mode *, uint64_t id);
size_t		 ps_mode_live_count(const struct ps_mode *);

/*
 * sync: 1 when a push from id must wait for the next round (id already
 * pushed in this one).  async, ssp: always 0.
 */
int		 ps_mode_push_waits(const struct ps_mode *, uint64_t id);
/*
 * Records an accepted push from a live worker (for which push_waits
 * said 0): async and ssp advance its clock; sync adds it to the round.
 */
void		 ps_mode_push(struct ps_mode *, uint64_t id);
/*
 * sync: takes id's push out of the current round (it was answered with an
 * error): id may push in this round again.  Others: no-op.
 */
void		 ps_mode_unpush(struct ps_mode *, uint64_t id);
/* sync: 1 when the server should apply the round now; else 0. */
int		 ps_mode_round_complete(const struct ps_mode *);
/*
 * sync: the server has applied the round (or dropped it).  Advances the
 * clocks of the workers that pushed in it, empties it and forgets the
 * workers that have left.  Returns how many pushed in it.
 */
size_t		 ps_mode_round_end(struct ps_mode *);
/* sync: pushes in the current round (left workers included). */
size_t		 ps_mode_round_pushes(const struct ps_mode *);
/* sync: 1 when id has pushed in the current round. */
int		 ps_mode_in_round(const struct ps_mode *, uint64_t id);
/* sync: rounds completed so far. */
uint64_t	 ps_mode_rounds(const struct ps_mode *);
/* sync: departures not yet made up for by joins (0: not degraded). */
unsigned	 ps_mode_departed(const struct ps_mode *);

/* 1 when a pull from id may be answered now. */
int		 ps_mode_pull_ready(const struct ps_mode *, uint64_t id);

/* The worker's clock (0 when unknown). */
uint64_t	 ps_mode_clock(const struct ps_mode *, uint64_t id);
/* Slowest and fastest live worker's clock; 0 when none is live. */
uint64_t	 ps_mode_min_clock(const struct ps_mode *);
uint64_t	 ps_mode_max_clock(const struct ps_mode *);

#endif
