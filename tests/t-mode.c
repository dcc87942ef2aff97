/*
 * The consistency modes' bookkeeping (mode.c), without a server: sync
 * rounds, workers leaving and joining, duplicate pushes, ssp waits.
 */
#include "config.h"

#include <stdint.h>

#include "mode.h"
#include "tap.h"

enum { A = 1, B = 2, C = 3, D = 4 };

static void
test_parse(void)
{
	enum ps_mode_kind	k;

	ok(ps_mode_parse("async", &k) == 0 && k == PS_MODE_ASYNC,
	    "\"async\" parses as async");
	ok(ps_mode_parse("hogwild", &k) == 0 && k == PS_MODE_ASYNC,
	    "\"hogwild\" is an alias for async");
	ok(ps_mode_parse("sync", &k) == 0 && k == PS_MODE_SYNC,
	    "\"sync\" parses");
	ok(ps_mode_parse("ssp", &k) == 0 && k == PS_MODE_SSP,
	    "\"ssp\" parses");
	ok(ps_mode_parse("bsp", &k) == -1, "an unknown mode is refused");
	is_str(ps_mode_kind_name(PS_MODE_SSP), "ssp", "ssp is named ssp");
}

static void
test_async(void)
{
	struct ps_mode	*m;

	m = ps_mode_new(PS_MODE_ASYNC, 0, 0);
	ps_mode_join(m, A);
	ps_mode_join(m, B);
	ok(!ps_mode_push_waits(m, A), "an async push never waits");
	ps_mode_push(m, A);
	ps_mode_push(m, A);
	ps_mode_push(m, A);
	is_int(ps_mode_clock(m, A), 3, "an async clock counts pushes");
	ok(ps_mode_pull_ready(m, A), "an async pull never waits");
	ok(!ps_mode_round_complete(m), "async has no rounds");
	is_int(ps_mode_max_clock(m) - ps_mode_min_clock(m), 3,
	    "the fastest worker is three pushes ahead");
	ps_mode_free(m);
}

static void
test_sync_round(void)
{
	struct ps_mode	*m;

	m = ps_mode_new(PS_MODE_SYNC, 3, 0);
	ps_mode_join(m, A);
	ps_mode_push(m, A);
	ok(!ps_mode_round_complete(m),
	    "one worker alone does not complete a round of three at startup");
	ps_mode_join(m, B);
	ps_mode_join(m, C);
	ok(ps_mode_push_waits(m, A),
	    "a second push from the same worker waits for the next round");
	ok(!ps_mode_pull_ready(m, A),
	    "a pull after its own push waits for the round");
	ok(ps_mode_pull_ready(m, B),
	    "a pull from a worker that has not pushed is answered");
	ok(!ps_mode_push_waits(m, B), "B's first push joins the round");
	ps_mode_push(m, B);
	ps_mode_push(m, B);
	is_int(ps_mode_round_pushes(m), 2,
	    "a duplicate push is not counted twice");
	ok(!ps_mode_round_complete(m), "two of three do not complete it");
	ps_mode_unpush(m, B);
	ok(ps_mode_round_pushes(m) == 1 && !ps_mode_in_round(m, B) &&
	    !ps_mode_push_waits(m, B) && ps_mode_pull_ready(m, B),
	    "a push taken out of the round: B may push in it again");
	ps_mode_unpush(m, B);
	is_int(ps_mode_round_pushes(m), 1, "taking it out twice is a no-op");
	ps_mode_push(m, B);
	ps_mode_push(m, C);
	ok(ps_mode_round_complete(m), "the third distinct push completes it");
	is_int(ps_mode_round_end(m), 3, "the round had three pushes");
	is_int(ps_mode_rounds(m), 1, "one round is done");
	is_int(ps_mode_clock(m, A), 1, "A's clock counts the round");
	ok(!ps_mode_push_waits(m, A) && ps_mode_pull_ready(m, A),
	    "after the round A may push and pull again");
	is_int(ps_mode_round_pushes(m), 0, "the new round is empty");
	ps_mode_free(m);
}

static void
test_sync_leave(void)
{
	struct ps_mode	*m;

	m = ps_mode_new(PS_MODE_SYNC, 3, 0);
	ps_mode_join(m, A);
	ps_mode_join(m, B);
	ps_mode_join(m, C);

	/* C dies mid-round without pushing. */
	ps_mode_push(m, A);
	ps_mode_push(m, B);
	ok(!ps_mode_round_complete(m), "the round waits for C");
	ok(ps_mode_leave(m, C), "C leaves");
	is_int(ps_mode_departed(m), 1, "one departure is recorded");
	ok(ps_mode_round_complete(m),
	    "the round completes with the live workers when C leaves");
	is_int(ps_mode_round_end(m), 2, "it had two pushes");

	/* A worker that pushed and left still counts for its round. */
	ps_mode_join(m, C);
	is_int(ps_mode_departed(m), 0, "C's return makes up for its departure");
	ps_mode_push(m, A);
	ps_mode_leave(m, A);
	ok(ps_mode_in_round(m, A), "A's push stays in the round after A left");
	ps_mode_push(m, B);
	ok(!ps_mode_round_complete(m),
	    "the round still waits for C, which is live and has not pushed");
	ps_mode_push(m, C);
	ok(ps_mode_round_complete(m), "C's push completes it");
	is_int(ps_mode_round_end(m), 3, "A's push counted in that round");

	/* Degraded: the remaining two complete rounds alone. */
	ps_mode_push(m, B);
	ok(!ps_mode_round_complete(m), "B alone does not complete a round");
	ps_mode_push(m, C);
	ok(ps_mode_round_complete(m), "B and C complete a round without A");
	ps_mode_round_end(m);

	/* A newcomer restores the barrier to N. */
	ps_mode_join(m, D);
	is_int(ps_mode_departed(m), 0, "a newcomer fills the empty place");
	ps_mode_push(m, B);
	ps_mode_push(m, C);
	ok(!ps_mode_round_complete(m), "the round waits for the newcomer");
	ps_mode_push(m, D);
	ok(ps_mode_round_complete(m), "three pushes complete it again");
	ps_mode_round_end(m);

	/* Everyone leaves after pushing: the round still completes. */
	ps_mode_push(m, B);
	ps_mode_leave(m, B);
	ps_mode_leave(m, C);
	ps_mode_leave(m, D);
	is_int(ps_mode_live_count(m), 0, "nobody is live");
	ok(ps_mode_round_complete(m),
	    "a round with a push and no live worker left completes");
	is_int(ps_mode_round_end(m), 1, "with the one push it had");
	ps_mode_free(m);
}

static void
test_ssp(void)
{
	struct ps_mode	*m;

	m = ps_mode_new(PS_MODE_SSP, 0, 1);
	ps_mode_join(m, A);	/* fast */
	ps_mode_join(m, B);	/* slow */
	ps_mode_push(m, A);
	ok(ps_mode_pull_ready(m, A),
	    "one clock ahead with staleness 1: the pull is answered");
	ps_mode_push(m, A);
	ok(!ps_mode_pull_ready(m, A),
	    "two clocks ahead with staleness 1: the pull waits");
	ok(ps_mode_pull_ready(m, B), "the slow worker's pull never waits");
	ok(!ps_mode_push_waits(m, A), "an ssp push never waits");
	ps_mode_push(m, B);
	ok(ps_mode_pull_ready(m, A), "the slow worker's push releases it");
	ps_mode_push(m, A);
	ps_mode_push(m, A);
	ok(!ps_mode_pull_ready(m, A), "four against one: the pull waits");
	ps_mode_leave(m, B);
	ok(ps_mode_pull_ready(m, A), "the slow worker leaving releases it");
	ps_mode_join(m, C);
	is_int(ps_mode_clock(m, C), 4,
	    "a late joiner starts at the slowest live clock");
	ok(ps_mode_pull_ready(m, A), "so it does not stall the others");
	ps_mode_join(m, B);
	is_int(ps_mode_clock(m, B), 1, "a resumed worker keeps its clock");
	ok(!ps_mode_pull_ready(m, A), "and the fast worker waits for it again");
	ps_mode_free(m);
}

static void
test_many(void)
{
	struct ps_mode	*m;
	uint64_t	 id;

	m = ps_mode_new(PS_MODE_SSP, 0, 0);
	for (id = 100; id < 1100; id++) {
		ps_mode_join(m, id);
		ps_mode_push(m, id);
		ps_mode_leave(m, id);
	}
	is_int(ps_mode_live_count(m), 0, "a thousand workers came and went");
	is_int(ps_mode_clock(m, 100), 0,
	    "the longest-gone workers are forgotten");
	is_int(ps_mode_clock(m, 1099), 1,
	    "the most recently gone is remembered for a resume");
	ps_mode_free(m);
}

int
main(void)
{
	plan(58);
	test_parse();
	test_async();
	test_sync_round();
	test_sync_leave();
	test_ssp();
	test_many();
	return exit_status();
}
