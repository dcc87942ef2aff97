/*
 * Rates, histograms and the Prometheus text writer.  With --render it
 * prints a fixed /metrics page instead, for tests/t-metrics-prom.py to parse
 * with the Prometheus client library.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "metrics.h"
#include "tap.h"

static void	test_rate(void);
static void	test_hist(void);
static void	test_window(void);
static void	test_prom(void);
static void	render_fixture(void);

static void
test_rate(void)
{
	struct ps_rate	a, b, c;
	int		i;

	ps_rate_init(&a, 5.0);
	ps_rate_update(&a, 100, 10.0);
	is_near(ps_rate_get(&a), 0.0, 1e-12, "a rate is 0 after its first sample");
	ps_rate_update(&a, 110, 11.0);
	/* 10/s for 1 s with tau 5: 10 * (1 - e^-0.2) = 1.812692469... */
	is_near(ps_rate_get(&a), 1.8126924692201818, 1e-12,
	    "one second at 10/s reads 10 * (1 - exp(-1/5))");

	/* 20/s fed every 0.25 s for 1 s: 20 * (1 - e^-0.2), however sliced. */
	ps_rate_init(&b, 5.0);
	ps_rate_update(&b, 0, 0.0);
	for (i = 1; i <= 4; i++)
		ps_rate_update(&b, (uint64_t)i * 5, i * 0.25);
	is_near(ps_rate_get(&b), 3.6253849384403636, 1e-12,
	    "one second at 20/s in quarter-second steps reads 20 * (1 - exp(-1/5))");
	ps_rate_init(&c, 5.0);
	ps_rate_update(&c, 0, 0.0);
	for (i = 1; i <= 8; i++)
		ps_rate_update(&c, (uint64_t)i * 5, i * 0.5);
	/* 4 s at 10/s: 10 * (1 - e^-0.8) = 5.506710358827784 */
	is_near(ps_rate_get(&c), 5.506710358827784, 1e-12,
	    "four seconds at 10/s in half-second steps reads 10 * (1 - exp(-4/5))");

	for (i = 9; i <= 200; i++)
		ps_rate_update(&c, (uint64_t)i * 5, i * 0.5);
	is_near(ps_rate_get(&c), 10.0, 1e-6, "a steady 10/s converges to 10");

	/* Samples at the same instant are folded into the next one. */
	ps_rate_init(&a, 5.0);
	ps_rate_update(&a, 0, 0.0);
	ps_rate_update(&a, 5, 0.0);
	is_near(ps_rate_get(&a), 0.0, 1e-12,
	    "a sample at the same time changes nothing yet");
	ps_rate_update(&a, 10, 1.0);
	is_near(ps_rate_get(&a), 1.8126924692201818, 1e-12,
	    "and its count is kept for the next interval");

	/* A counter that went down restarts without a negative rate. */
	ps_rate_update(&a, 3, 2.0);
	ok(ps_rate_get(&a) >= 0, "a counter that went down gives no negative rate");
	ps_rate_update(&a, 3, 3.0);
	/* 1.8127 decays for 1 s with no events: 1.8127 * e^-0.2 */
	is_near(ps_rate_get(&a), 1.8126924692201818 * 0.8187307530779818, 1e-12,
	    "after a restart the rate decays from where it was");
}

static void
test_hist(void)
{
	static const double	 le[] = { 0.1, 1, 10 };
	static const double	 bad[] = { 1, 1 };
	struct ps_hist		 h;

	ok(ps_hist_init(&h, bad, 2) == -1, "ps_hist_init refuses bounds that do not rise");
	ok(ps_hist_init(&h, le, 0) == -1, "ps_hist_init refuses zero bounds");
	ok(ps_hist_init(&h, le, 3) == 0, "ps_hist_init takes rising bounds");
	ps_hist_observe(&h, 0.05);
	ps_hist_observe(&h, 0.1);	/* le is inclusive */
	ps_hist_observe(&h, 0.5);
	ps_hist_observe(&h, 10);
	ps_hist_observe(&h, 11);
	ps_hist_observe(&h, NAN);
	is_int(h.count[0], 2, "bucket le=0.1 holds 0.05 and 0.1");
	is_int(h.count[1], 1, "bucket le=1 holds 0.5");
	is_int(h.count[2], 1, "bucket le=10 holds 10");
	is_int(h.count[3], 1, "bucket +Inf holds 11");
	is_int(h.n, 5, "NaN is not counted");
	is_near(h.sum, 21.65, 1e-12, "the sum is 0.05+0.1+0.5+10+11");
	is_int(ps_hist_cumulative(&h, 2), 4, "four observations are <= 10");
	is_int(ps_hist_cumulative(&h, 3), 5, "all five are <= +Inf");
	ok(ps_hist_init(&h, ps_hist_apply_bounds, ps_hist_apply_nbounds) == 0,
	    "the apply-time bounds are valid");
	ok(ps_hist_init(&h, ps_hist_ckpt_bounds, ps_hist_ckpt_nbounds) == 0,
	    "the checkpoint-time bounds are valid");
}

/* The minute windows: the largest in the last minute, a minute ago. */
static void
test_window(void)
{
	struct ps_winmax	m;
	struct ps_history	h;
	double			t, v;
	int			i;

	memset(&m, 0, sizeof m);
	ok(isnan(ps_winmax_get(&m, 100.0)), "an empty window has no largest");
	ps_winmax_add(&m, 3.0, 100.0);
	ps_winmax_add(&m, 7.0, 101.0);
	ps_winmax_add(&m, 2.0, 130.0);
	is_near(ps_winmax_get(&m, 130.0), 7.0, 0, "the largest of the minute");
	is_near(ps_winmax_get(&m, 154.0), 7.0, 0,
	    "still there 54 s later");
	is_near(ps_winmax_get(&m, 161.0), 2.0, 0,
	    "gone a minute later; the later, smaller one stays");
	ok(isnan(ps_winmax_get(&m, 200.0)), "nothing in the last minute");
	ps_winmax_add(&m, 1.0, 200.0);
	is_near(ps_winmax_get(&m, 200.0), 1.0, 0,
	    "a slot reused a minute on starts afresh");

	memset(&h, 0, sizeof h);
	ok(ps_history_minute(&h, 10.0, &t, &v) == -1, "no history yet");
	/* One sample per second for two minutes: kept every 5 s. */
	for (i = 0; i <= 120; i++)
		ps_history_add(&h, 1000.0 + i, (double)i);
	ok(ps_history_minute(&h, 120.0, &t, &v) == 0, "a sample a minute ago");
	is_near(t, 60.0, 0, "taken 60 s before now");
	is_near(v, 1060.0, 0, "with the value of then");
	ok(ps_history_minute(&h, 130.0, &t, &v) == 0 && t == 70.0,
	    "10 s later, the oldest within the minute");
	ps_history_clear(&h);
	ps_history_add(&h, 5.0, 200.0);
	ok(ps_history_minute(&h, 203.0, &t, &v) == 0 && t == 200.0 &&
	    v == 5.0, "after a clear, the one sample there is");
}

static void
test_prom(void)
{
	static const double	 le[] = { 0.5, 2 };
	const char		*labels[] = { "tensor", "a\"b\\c\nd", NULL };
	struct ps_prom		 p;
	struct ps_hist		 h;
	char			 num[64];

	ps_prom_number(0.1, num, sizeof num);
	is_str(num, "0.1", "0.1 is written as 0.1");
	ps_prom_number(1.0 / 3, num, sizeof num);
	ok(strtod(num, NULL) == 1.0 / 3, "1/3 reads back exactly (%s)", num);
	ps_prom_number(12345678901.0, num, sizeof num);
	is_str(num, "12345678901", "a large count is written in full");
	ps_prom_number(3726240, num, sizeof num);
	is_str(num, "3726240", "a count of bytes is not written as 3.72624e+06");
	ps_prom_number(-0.0, num, sizeof num);
	ok(strcmp(num, "0") == 0 || strcmp(num, "-0") == 0, "zero is 0 (%s)",
	    num);
	ps_prom_number(INFINITY, num, sizeof num);
	is_str(num, "+Inf", "infinity is +Inf");
	ps_prom_number(NAN, num, sizeof num);
	is_str(num, "NaN", "NaN is NaN");

	ps_prom_init(&p);
	ps_prom_counter(&p, "pushes_total", "Updates\\applied.\nTwo", 7);
	is_str(p.buf, "# HELP psctl_pushes_total Updates\\\\applied.\\nTwo\n"
	    "# TYPE psctl_pushes_total counter\npsctl_pushes_total 7\n",
	    "a counter has HELP, TYPE and a prefixed sample; help is escaped");
	ps_prom_free(&p);

	ps_prom_init(&p);
	ps_prom_sample(&p, "tensor_l2_norm", labels, 2.5);
	is_str(p.buf, "psctl_tensor_l2_norm{tensor=\"a\\\"b\\\\c\\nd\"} 2.5\n",
	    "label values escape quote, backslash and newline");
	ps_prom_free(&p);

	ps_hist_init(&h, le, 2);
	ps_hist_observe(&h, 0.25);
	ps_hist_observe(&h, 1);
	ps_hist_observe(&h, 3);
	ps_prom_init(&p);
	ps_prom_hist(&p, "x_seconds", "X.", &h);
	is_str(p.buf, "# HELP psctl_x_seconds X.\n# TYPE psctl_x_seconds histogram\n"
	    "psctl_x_seconds_bucket{le=\"0.5\"} 1\n"
	    "psctl_x_seconds_bucket{le=\"2\"} 2\n"
	    "psctl_x_seconds_bucket{le=\"+Inf\"} 3\n"
	    "psctl_x_seconds_sum 4.25\npsctl_x_seconds_count 3\n",
	    "a histogram has cumulative buckets, +Inf, _sum and _count");
	ps_prom_free(&p);
}

/*
 * The page t-metrics-prom.py checks: every value below is repeated there.
 */
static void
render_fixture(void)
{
	static const double		 le[] = { 0.001, 0.01, 0.1 };
	struct ps_ctl_tensor		 t[2];
	struct ps_ctl_count		 rej[2];
	struct ps_ctl_status		 st;
	struct ps_hist			 apply, ck;
	struct ps_prom			 p;

	memset(&st, 0, sizeof st);
	memset(t, 0, sizeof t);
	st.version = "9.8.7";
	st.listen = "127.0.0.1:7070";
	st.uptime_s = 12.5;
	st.state = "serving";
	st.mode = "async";
	st.rule = "sgd";
	st.rule_params.kind = PS_RULE_SGD;
	st.rule_params.lr = 0.01;
	st.staleness = -1;
	st.model_version = 812;
	st.params = 30;
	st.bytes = 120;
	st.model_l2 = 5.0;
	st.last_update_l2 = 0.25;
	t[0].name = "dense/kernel";
	t[0].ndim = 2;
	t[0].dims[0] = 5;
	t[0].dims[1] = 4;
	t[0].l2_norm = 3.0;
	t[0].updates_total = 800;
	t[1].name = "we\"ird\\name";
	t[1].ndim = 1;
	t[1].dims[0] = 10;
	t[1].l2_norm = 4.0;
	t[1].updates_total = 12;
	st.tensors = t;
	st.ntensors = 2;
	st.workers_connected = 3;
	st.pushes_total = 800;
	st.pulls_total = 804;
	rej[0].name = "shape";
	rej[0].n = 1;
	rej[1].name = "nonfinite";
	rej[1].n = 2;
	st.rejected = rej;
	st.nrejected = 2;
	st.rejected_total = 3;
	st.bytes_in_total = 3200000000ULL;
	st.bytes_out_total = 3200000123ULL;
	st.resets_total = 1;
	st.checkpoint.dir = "/var/lib/psctl";
	st.checkpoint.count = 4;
	st.checkpoint.failed = 1;
	st.checkpoint.have_last = 1;
	st.checkpoint.last_ok = 1;
	st.checkpoint.last_age_s = 4.5;
	st.checkpoint.last_seconds = 0.02;
	ps_hist_init(&apply, le, 3);
	ps_hist_observe(&apply, 0.0005);
	ps_hist_observe(&apply, 0.002);
	ps_hist_observe(&apply, 0.5);
	ps_hist_init(&ck, ps_hist_ckpt_bounds, ps_hist_ckpt_nbounds);
	ps_hist_observe(&ck, 0.02);
	st.apply_seconds = &apply;
	st.checkpoint_seconds = &ck;

	ps_prom_init(&p);
	ps_ctl_metrics(&p, &st);
	fputs(p.buf, stdout);
	ps_prom_free(&p);
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--render") == 0) {
		render_fixture();
		return 0;
	}
	plan(44);
	test_rate();
	test_hist();
	test_window();
	test_prom();
	return exit_status();
}
