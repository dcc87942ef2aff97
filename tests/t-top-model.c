/*
 * The console's screen model (ui/model.c), the text of its frames
 * (ui/text.c) and batch mode's frames (ui/batch.c), driven by the
 * snapshots in tests/data without a terminal or a socket.
 * Expected values are worked out by hand from the snapshot files.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "batch.h"
#include "control.h"
#include "model.h"
#include "tap.h"
#include "text.h"

static json_t *
load(const char *name)
{
	json_error_t	 err;
	json_t		*j;

	if ((j = json_load_file(tap_data(name), 0, &err)) == NULL)
		bail_out("%s: %s", name, err.text);
	return j;
}

static int
apply_file(struct ps_top_model *m, const char *name, double now)
{
	json_t	*j = load(name);
	char	*cause = NULL;
	int	 r;

	r = ps_top_model_apply(m, j, now, &cause);
	if (r != 0)
		diag("%s: %s", name, cause);
	free(cause);
	json_decref(j);
	return r;
}

/* The display order of a table as "i,j,k" (model indices). */
static const char *
order(const struct ps_top_model *m, enum ps_top_table t)
{
	static char	 buf[256];
	const size_t	*o = t == PS_TOP_TENSORS ? m->torder : m->worder;
	size_t		 n = ps_top_model_rows(m, t);
	size_t		 i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < n && off < sizeof buf - 8; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%zu",
		    i > 0 ? "," : "", o[i]);
	return buf;
}

/* Sorts the table by col (its default direction) and returns the order. */
static const char *
sorted(struct ps_top_model *m, enum ps_top_table t, int col, int invert)
{
	m->focus = t;
	ps_top_model_sort_by(m, t, col);
	if (invert)
		ps_top_model_sort_invert(m);
	return order(m, t);
}

/* Feeds a message as the server would send it. */
static int
feed(struct ps_top_model *m, const char *text, double now)
{
	char	*cause = NULL;
	int	 r;

	r = ps_top_model_message(m, text, strlen(text), now, &cause);
	free(cause);
	return r;
}

/* Reads a request as the server would (ps_ctl_parse()); bails if it cannot. */
static struct ps_ctl_req
req_read(const char *text)
{
	struct ps_ctl_req	 req;
	const char		*code;
	char			*cause = NULL;

	if (text == NULL)
		bail_out("no request");
	if (ps_ctl_parse(text, strlen(text), &req, &code, &cause) != 0)
		bail_out("the server would refuse %s: %s", text, cause);
	return req;
}

/* The id of a request (freed). */
static long long
req_id(char *text)
{
	long long	id = (long long)req_read(text).id;

	free(text);
	return id;
}

/* The command a request asks for. */
static const char *
req_cmd(const char *text)
{
	return text != NULL ? ps_ctl_cmd_name(req_read(text).cmd) : "(none)";
}

static void
test_apply(void)
{
	struct ps_top_model	*m;
	json_t			*bad;
	char			*cause = NULL;

	m = ps_top_model_new("ws://127.0.0.1:7070", 1.0);
	is_int(apply_file(m, "snap-async-1.json", 100.0), 0,
	    "a recorded async snapshot applies");
	is_int(m->ntensors, 4, "it lists four tensors");
	is_int(m->nworkers, 5, "and five workers, the gone one included");
	is_str(m->tensors[0].name, "dense/kernel",
	    "tensors keep the model's order");
	is_str(m->tensors[0].shape, "784x128", "shapes read as 784x128");
	is_near(m->tensors[0].elements, 100352, 1e-12,
	    "a 784x128 tensor has 100352 elements");
	ok(isnan(m->tensors[2].growth) && !m->tensors[2].worst,
	    "a snapshot without growth_1m has no growth and no worst");
	ok(isnan(m->workers[0].update_l2),
	    "nor a worker's update_l2");
	is_str(m->srv.rule_params, "lr=0.001 beta1=0.9 beta2=0.999 eps=1e-08",
	    "rule parameters read in the server's order");
	is_str(m->srv.rejected, "shape 1, nonfinite 1",
	    "rejected reasons list the non-zero counts");
	ok(isnan(m->srv.workers_expected), "a null workers_expected is NAN");
	is_int(m->srv.ckpt_last_ok, 1, "the last checkpoint succeeded");

	ok(isnan(m->lag_limit),
	    "async mode marks by push rate, not by a lag limit");
	is_str(ps_top_mark_name(m->workers[0].mark), "active",
	    "w1 (lag 0) is active");
	is_str(ps_top_mark_name(m->workers[1].mark), "active",
	    "w2 (lag 5) is active");
	is_str(ps_top_mark_name(m->workers[2].mark), "LAGGING",
	    "trainer-slow (4 pushes/s against the fastest 10) is LAGGING");
	is_str(ps_top_mark_name(m->workers[3].mark), "SILENT",
	    "the server's silent worker is SILENT");
	is_str(ps_top_mark_name(m->workers[4].mark), "GONE",
	    "the server's gone worker is GONE");

	/* A broken snapshot leaves the model as it was. */
	bad = json_pack("{s:s, s:[]}", "mode", "sync", "tensors");
	is_int(ps_top_model_apply(m, bad, 101.0, &cause), -1,
	    "a snapshot without a workers array is refused");
	ok(cause != NULL && strstr(cause, "workers") != NULL,
	    "and the cause names it");
	is_int(m->ntensors, 4, "the refused snapshot changed nothing");
	is_str(m->srv.mode, "async", "the mode is still async");
	free(cause);
	json_decref(bad);
	is_int(feed(m, "{\"event\": ", 101.0), -1, "bad JSON is refused");
	is_int(feed(m, "[1, 2]", 101.0), -1, "a non-object is refused");
	ps_top_model_free(m);

	m = ps_top_model_new("ws://x", 1.0);
	is_int(apply_file(m, "snap-ssp.json", 10.0), 0,
	    "a recorded ssp snapshot applies");
	is_near(m->lag_limit, 2, 0, "ssp marks lag over its staleness (2)");
	is_str(ps_top_mark_name(m->workers[1].mark), "waiting",
	    "a waiting worker within the limit is waiting");
	is_str(ps_top_mark_name(m->workers[2].mark), "active",
	    "lag 2 at staleness 2 is not lagging");
	is_str(ps_top_mark_name(m->workers[3].mark), "LAGGING",
	    "lag 3 at staleness 2 is LAGGING, though waiting");
	is_int(m->srv.ckpt_has_dir, 0, "a null checkpoint dir is noted");
	ps_top_model_free(m);

	m = ps_top_model_new("ws://x", 1.0);
	is_int(apply_file(m, "snap-empty.json", 10.0), 0,
	    "an empty server's snapshot applies");
	is_int(m->ntensors + m->nworkers, 0, "with no tensors and no workers");
	ok(m->torder == NULL && m->worder == NULL, "and nothing to sort");
	is_near(m->lag_limit, PS_TOP_LAG_SYNC, 0, "sync mode's limit is 1");
	ps_top_model_free(m);
}

static void
test_rates(void)
{
	struct ps_top_model	*m;

	m = ps_top_model_new("ws://x", 1.0);
	apply_file(m, "snap-async-1.json", 100.0);
	ok(isnan(m->update_rate), "one snapshot gives no update rate");
	/* Arrives 7 s later locally; the server says 2 s passed. */
	apply_file(m, "snap-async-2.json", 107.0);
	is_near(m->update_rate, 40.0, 1e-9,
	    "80 versions over 2 s of server uptime is 40 updates/s");
	apply_file(m, "snap-restart.json", 108.0);
	ok(isnan(m->update_rate), "a restarted server (uptime back) resets the rate");
	apply_file(m, "snap-async-1.json", 117.0);
	is_near(m->update_rate, 395.0 / 9.0, 1e-9,
	    "then 395 versions over 9 s of uptime is 43.9 updates/s");
	ps_top_model_free(m);
}

static void
test_sort(void)
{
	struct ps_top_model	*m;

	m = ps_top_model_new("ws://x", 1.0);
	apply_file(m, "snap-async-1.json", 100.0);
	is_str(order(m, PS_TOP_TENSORS), "0,1,2,3",
	    "tensors start in the model's order");
	is_str(order(m, PS_TOP_WORKERS), "3,2,0,1",
	    "workers start by STATE: SILENT, LAGGING, then active, GONE folded");
	is_int(m->ngone_folded, 1, "the folded GONE worker is counted");
	ps_top_model_show_gone(m, 1);
	is_str(order(m, PS_TOP_WORKERS), "3,2,0,1,4",
	    "shown, the GONE worker comes after every live one");
	is_str(sorted(m, PS_TOP_TENSORS, PS_TOP_T_NAME, 0), "1,0,3,2",
	    "tensors by name, a-z");
	is_str(sorted(m, PS_TOP_TENSORS, PS_TOP_T_NAME, 1), "2,3,0,1",
	    "tensors by name, inverted");
	is_str(sorted(m, PS_TOP_TENSORS, PS_TOP_T_SHAPE, 0), "0,2,1,3",
	    "tensors by element count, largest first");
	is_str(sorted(m, PS_TOP_TENSORS, PS_TOP_T_L2, 1), "3,1,2,0",
	    "tensors by L2, smallest first when inverted");
	is_str(sorted(m, PS_TOP_TENSORS, PS_TOP_T_UPDATE, 0), "2,0,1,3",
	    "tensors by update L2, largest first");
	is_str(sorted(m, PS_TOP_TENSORS, PS_TOP_T_GROWTH, 0), "0,1,2,3",
	    "tensors by growth, all unknown: the model's order");
	is_str(sorted(m, PS_TOP_TENSORS, PS_TOP_T_GROWTH, 1), "0,1,2,3",
	    "inverted, still in the model's order");
	is_str(sorted(m, PS_TOP_TENSORS, PS_TOP_T_RATE, 0), "0,1,2,3",
	    "tensors by updates/s, ties in model order");
	is_str(sorted(m, PS_TOP_TENSORS, PS_TOP_T_RATE, 1), "3,2,0,1",
	    "inverted, ties still in model order");
	is_str(sorted(m, PS_TOP_TENSORS, PS_TOP_T_INDEX, 1), "3,2,1,0",
	    "tensors in reverse model order");

	is_str(sorted(m, PS_TOP_WORKERS, PS_TOP_W_STATE, 0), "3,2,0,1,4",
	    "workers by state: live trouble first, GONE last");
	is_str(sorted(m, PS_TOP_WORKERS, PS_TOP_W_STATE, 1), "0,1,2,3,4",
	    "inverted, GONE is still last");
	is_str(sorted(m, PS_TOP_WORKERS, PS_TOP_W_NAME, 0), "2,0,1,3,4",
	    "workers by name");
	is_str(sorted(m, PS_TOP_WORKERS, PS_TOP_W_ADDRESS, 0), "2,0,1,3,4",
	    "workers by address");
	is_str(sorted(m, PS_TOP_WORKERS, PS_TOP_W_PUSHES, 1), "3,4,2,1,0",
	    "workers by pushes/s, slowest first when inverted");
	is_str(sorted(m, PS_TOP_WORKERS, PS_TOP_W_PULLS, 0), "0,1,2,3,4",
	    "workers by pulls/s");
	is_str(sorted(m, PS_TOP_WORKERS, PS_TOP_W_CLOCK, 0), "0,3,1,2,4",
	    "workers by clock");
	is_str(sorted(m, PS_TOP_WORKERS, PS_TOP_W_LAG, 0), "4,2,1,3,0",
	    "workers by lag");
	is_str(sorted(m, PS_TOP_WORKERS, PS_TOP_W_SEEN, 0), "4,3,2,1,0",
	    "workers by last seen, longest silent first");
	is_str(sorted(m, PS_TOP_WORKERS, PS_TOP_W_ID, 1), "4,3,2,1,0",
	    "workers by id, inverted");

	m->focus = PS_TOP_TENSORS;
	ps_top_model_sort_by(m, PS_TOP_TENSORS, PS_TOP_T_INDEX);
	ps_top_model_sort_step(m, -1);
	is_int(m->sort_col[PS_TOP_TENSORS], PS_TOP_T_RATE,
	    "< on the first column wraps to the last");
	ps_top_model_sort_step(m, 1);
	is_int(m->sort_col[PS_TOP_TENSORS], PS_TOP_T_INDEX,
	    "> on the last column wraps to the first");

	ps_top_model_sort_by(m, PS_TOP_TENSORS, PS_TOP_T_UPDATE);
	apply_file(m, "snap-async-2.json", 102.0);
	/* update_l2: 0.0121, 0.011, 0.31, 0 */
	is_str(order(m, PS_TOP_TENSORS), "2,0,1,3",
	    "the sort order holds across snapshots");
	ps_top_model_free(m);
}

static void
test_staleness(void)
{
	struct ps_top_model	*m;

	m = ps_top_model_new("ws://x", 1.0);
	ok(!ps_top_model_stale(m, 100.0), "no snapshot yet is not stale");
	ps_top_model_connected(m, 99.0);
	apply_file(m, "snap-async-1.json", 100.0);
	ok(!ps_top_model_stale(m, 102.9), "2.9 s after a snapshot is fresh");
	ok(ps_top_model_stale(m, 103.1),
	    "3.1 s after it, at a 1 s interval, is stale");
	m->interval = 10.0;
	ok(!ps_top_model_stale(m, 120.0), "20 s at a 10 s interval is fresh");
	ok(ps_top_model_stale(m, 126.0), "26 s at a 10 s interval is stale");
	m->interval = 1.0;
	is_near(ps_top_model_seen(m, &m->workers[3], 105.0), 17.5, 1e-12,
	    "a worker's last seen ages with the snapshot (12.5 + 5)");
	is_near(ps_top_model_ckpt_age(m, 105.0), 9.0, 1e-12,
	    "the last checkpoint's age too (4 + 5)");
	ps_top_model_disconnected(m, PS_TOP_DISCONNECTED,
	    "connection refused", 101.0, 100.5);
	ok(ps_top_model_stale(m, 100.5),
	    "a lost connection makes the frame stale at once");
	ok(m->have && m->ntensors == 4,
	    "and the last frame is kept");
	is_int(m->attempts, 1, "the failed attempt is counted");
	ps_top_model_connected(m, 101.0);
	is_int(m->attempts, 0, "reconnecting clears the count");
	ps_top_model_pause(m, 1, 101.0);
	ok(!ps_top_model_stale(m, 200.0), "a paused frame is not stale");
	ps_top_model_free(m);
}

static void
test_spark(void)
{
	struct ps_top_model	*m;
	json_t			*j;
	double			 v[5], lo, hi;
	int			 i, lev[6], n;
	char			*cause = NULL;

	m = ps_top_model_new("ws://x", 1.0);
	j = load("snap-empty.json");
	/* Sample i at t = 100 + i: version 5i(i+1), so rate 10i; L2 = i. */
	for (i = 0; i < 10; i++) {
		json_object_set_new(j, "uptime_s", json_real(100.0 + i));
		json_object_set_new(j, "model_version",
		    json_integer(5 * i * (i + 1)));
		json_object_set_new(j, "model_l2", json_real(i));
		if (ps_top_model_apply(m, j, 100.0 + i, &cause) != 0)
			bail_out("apply: %s", cause);
	}
	json_decref(j);
	is_int(m->hist_len, 10, "ten snapshots make ten history samples");
	n = ps_top_model_spark(m, PS_TOP_SERIES_RATE, 110.0, 10.0, 5, v, &lo,
	    &hi);
	is_int(n, 5, "all five 2 s columns of the last 10 s have samples");
	ok(v[0] == 10 && v[1] == 25 && v[2] == 45 && v[3] == 65 && v[4] == 85,
	    "each column is the mean rate of its samples (10 25 45 65 85)");
	ok(lo == 10 && hi == 90, "the range is the samples', 10 .. 90");
	ps_top_spark_levels(v, 5, 0, hi, 8, lev);
	ok(lev[0] == 1 && lev[1] == 2 && lev[2] == 4 && lev[3] == 5 &&
	    lev[4] == 7, "levels on a 0 .. 90 scale are 1 2 4 5 7");
	n = ps_top_model_spark(m, PS_TOP_SERIES_L2, 110.0, 10.0, 5, v, &lo,
	    &hi);
	ok(n == 5 && v[0] == 0.5 && v[4] == 8.5,
	    "the norm series buckets the same way (0.5 .. 8.5)");
	n = ps_top_model_spark(m, PS_TOP_SERIES_RATE, 130.0, 10.0, 5, v, &lo,
	    &hi);
	ok(n == 0 && isnan(v[0]) && isnan(lo),
	    "a window after the last sample is empty (a gap)");
	n = ps_top_model_spark(m, PS_TOP_SERIES_RATE, 114.0, 10.0, 5, v, &lo,
	    &hi);
	ok(n == 3 && isnan(v[3]) && isnan(v[4]) && v[0] == 45,
	    "a window reaching past the samples leaves its end empty");
	v[0] = NAN;
	v[1] = 3;
	v[2] = 0;
	ps_top_spark_levels(v, 3, 3, 3, 8, lev);
	ok(lev[0] == -1 && lev[1] == 7 && lev[2] == 0,
	    "a flat series is all top, zero is bottom, NAN is a gap");
	ps_top_model_free(m);
}

static void
test_messages(void)
{
	struct ps_top_model	*m;
	json_t			*snap, *ev;
	char			*req, *text, reply[512];
	long long		 id;

	m = ps_top_model_new("ws://x", 1.0);
	snap = load("snap-async-1.json");
	ev = json_pack("{s:s, s:i, s:O}", "event", "snapshot", "seq", 17,
	    "snapshot", snap);
	text = json_dumps(ev, JSON_COMPACT);
	is_int(feed(m, text, 100.0), 1, "a snapshot event changes the screen");
	is_int(m->seq, 17, "and its seq is kept");
	ps_top_model_pause(m, 1, 100.5);
	is_int(feed(m, text, 101.0), 0, "while paused an event is held");
	is_int(m->applied, 1, "and not applied");
	ps_top_model_pause(m, 0, 102.0);
	is_int(m->applied, 2, "resuming applies the held snapshot");
	free(text);
	json_decref(ev);
	json_decref(snap);

	/* Actions before connecting, and read-only. */
	req = ps_top_model_action(m, PS_TOP_ACT_CHECKPOINT, 103.0);
	ok(req == NULL && strcmp(m->msg, "not connected: checkpoint refused")
	    == 0, "checkpoint is refused while not connected");
	ps_top_model_connected(m, 103.0);
	m->readonly = 1;
	req = ps_top_model_action(m, PS_TOP_ACT_CHECKPOINT, 103.0);
	ok(req == NULL && strcmp(m->msg, "read-only: checkpoint refused") == 0,
	    "--readonly refuses checkpoint");
	req = ps_top_model_action(m, PS_TOP_ACT_RESET, 103.0);
	ok(req == NULL && m->prompt == PS_TOP_ACT_NONE &&
	    strcmp(m->msg, "read-only: reset refused") == 0,
	    "--readonly refuses reset without asking");
	req = ps_top_model_action(m, PS_TOP_ACT_STOP, 103.0);
	ok(req == NULL && strcmp(m->msg, "read-only: stop refused") == 0,
	    "--readonly refuses stop");
	m->readonly = 0;

	/* Checkpoint: sent at once, reply on the status line. */
	req = ps_top_model_action(m, PS_TOP_ACT_CHECKPOINT, 104.0);
	is_str(req_cmd(req), "checkpoint", "c makes a checkpoint request");
	id = req_read(req).id;
	ok(id > 0, "with a positive id");
	free(req);
	snprintf(reply, sizeof reply, "{\"id\": %lld, \"ok\": true, "
	    "\"result\": {\"path\": \"/var/lib/psctl/x.safetensors\", "
	    "\"model_version\": 812, \"bytes\": 4000128, \"seconds\": 0.021}}",
	    id);
	is_int(feed(m, reply, 104.2), 1, "its reply changes the screen");
	is_str(m->msg, "checkpoint saved: x (3.8 MiB in 0.021 s, version 812)",
	    "the status line shows the saved checkpoint, by its name in the "
	    "checkpoint directory");
	is_int(m->msg_kind, PS_TOP_MSG_OK, "as a success");
	is_int(feed(m, reply, 104.3), 0, "a second reply to the id is ignored");

	req = ps_top_model_action(m, PS_TOP_ACT_CHECKPOINT, 105.0);
	id = req_read(req).id;
	free(req);
	snprintf(reply, sizeof reply, "{\"id\": %lld, \"ok\": false, "
	    "\"error\": {\"code\": \"io\", \"message\": \"disk full\"}}", id);
	feed(m, reply, 105.1);
	is_str(m->msg, "checkpoint failed: io: disk full",
	    "an error reply shows its code and message");
	is_int(m->msg_kind, PS_TOP_MSG_ERROR, "as an error");

	/* Stop asks first; No is the default. */
	ps_top_model_action(m, PS_TOP_ACT_STOP, 106.0);
	ok(m->prompt == PS_TOP_ACT_STOP && strstr(m->msg, "[y/N]") != NULL,
	    "S asks [y/N]");
	ok(ps_top_model_action(m, PS_TOP_ACT_CHECKPOINT, 106.1) == NULL,
	    "no other action starts while a question is open");
	req = ps_top_model_answer(m, 0, 106.2);
	ok(req == NULL && m->prompt == PS_TOP_ACT_NONE &&
	    strcmp(m->msg, "stop cancelled") == 0,
	    "answering no cancels the stop");
	ps_top_model_action(m, PS_TOP_ACT_STOP, 108.0);
	req = ps_top_model_answer(m, 1, 108.1);
	ok(req != NULL && strcmp(req_cmd(req), "stop") == 0 &&
	    req_read(req).checkpoint,
	    "stop asks for a final checkpoint when there is a checkpoint dir");
	free(req);
	ps_top_model_action(m, PS_TOP_ACT_STOP, 109.0);
	ps_top_model_disconnected(m, PS_TOP_DISCONNECTED, "closed", 110.0,
	    109.5);
	ok(m->prompt == PS_TOP_ACT_NONE &&
	    strcmp(m->msg, "not connected: stop refused (closed)") == 0,
	    "losing the connection closes an open question, saying why");
	ps_top_model_free(m);
}

static void
test_interval(void)
{
	struct ps_top_model	*m;

	m = ps_top_model_new("ws://x", 1.0);
	is_near(ps_top_model_interval_step(m, 1), 2.0, 0, "+ from 1 s is 2 s");
	is_near(ps_top_model_interval_step(m, -1), 1.0, 0, "- from 2 s is 1 s");
	m->interval = 0.3;
	is_near(ps_top_model_interval_step(m, 1), 0.5, 0,
	    "+ from 0.3 s is the next step, 0.5 s");
	m->interval = 0.3;
	is_near(ps_top_model_interval_step(m, -1), 0.2, 0,
	    "- from 0.3 s is 0.2 s");
	m->interval = 0.1;
	is_near(ps_top_model_interval_step(m, -1), 0.1, 0,
	    "- stops at 0.1 s, the protocol's minimum");
	m->interval = 60;
	is_near(ps_top_model_interval_step(m, 1), 60, 0,
	    "+ stops at 60 s, the protocol's maximum");
	ps_top_model_free(m);
}

static void
test_text(void)
{
	struct ps_top_model	*m;
	struct ps_text_layout	 lay;
	struct ps_text_line	 l;
	char			 buf[64], *out = NULL, *line;
	size_t			 len = 0;
	FILE			*fp;

	ps_text_uptime(3725, buf, sizeof buf);
	is_str(buf, "01:02:05", "3725 s of uptime is 01:02:05");
	ps_text_uptime(90061, buf, sizeof buf);
	is_str(buf, "1d 01:01:01", "90061 s is 1d 01:01:01");
	ps_text_age(125, buf, sizeof buf);
	is_str(buf, "2m05s", "an age of 125 s is 2m05s");
	ps_text_count(1000000, buf, sizeof buf);
	is_str(buf, "1,000,000", "counts group thousands");
	ps_top_human_bytes(407080, buf, sizeof buf);
	is_str(buf, "397.5 KiB", "407080 bytes is 397.5 KiB");

	m = ps_top_model_new("ws://127.0.0.1:7070", 1.0);
	ps_top_model_connected(m, 99.0);
	apply_file(m, "snap-async-1.json", 100.0);
	m->focus = PS_TOP_WORKERS;
	ps_top_model_show_gone(m, 1);
	ps_top_model_sort_by(m, PS_TOP_WORKERS, PS_TOP_W_LAG);
	ps_text_title(m, PS_TOP_WORKERS, 0, 5, 0, &l);
	ps_text_plain(&l, buf, sizeof buf);
	ok(strstr(buf, "WORKERS 5  sort: LAG desc") == buf,
	    "the worker title names the sort column: %s", buf);
	ps_text_layout(m, PS_TOP_WORKERS, 200, 0, &lay);
	ps_text_row(m, PS_TOP_WORKERS, 0, 100.0, &lay, &l);
	is_int(l.seg[0].cls, PS_TEXT_GONE, "the gone worker's row is marked");
	ok(strstr(l.seg[0].text, "GONE") != NULL,
	    "and says GONE in words, not only in colour");

	if ((fp = open_memstream(&out, &len)) == NULL)
		bail_out("open_memstream");
	ps_top_model_disconnected(m, PS_TOP_DISCONNECTED,
	    "connection refused", 104.0, 102.0);
	ps_batch_frame(fp, m, 102.0, 3);
	fclose(fp);
	ok(strstr(out, "DISCONNECTED  STALE 2.0s old  every 1s  "
	    "retry in 2s: connection refused") != NULL,
	    "a batch frame says DISCONNECTED, STALE and when it retries");
	ok(strstr(out, "101,770 params, 397.5 KiB  version 400") != NULL,
	    "it shows the model's size and version");
	ok(strstr(out, "pushes/s 23.5  pulls/s 23.9") != NULL,
	    "and the traffic rates");
	ok(strstr(out, "rejected 2 (shape 1, nonfinite 1)") != NULL,
	    "and the rejected updates");
	ok(strstr(out, "checkpoint 6.0s ago ok in 0.021 s  3 saved") != NULL,
	    "and the last checkpoint's age and result");
	ok(strstr(out, "   3 out/kernel   ") != NULL &&
	    strstr(out, "GROWTH") != NULL,
	    "a tensor row has its index and name; GROWTH is a column");
	ok(strstr(out, "   3 LAGGING trainer-slow") != NULL,
	    "a lagging worker's row says LAGGING");
	ok(strstr(out, "1 LAGGING  1 SILENT  1 GONE") != NULL,
	    "the worker title counts the marks");
	for (line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"))
		diag("%s", line);
	free(out);
	ps_top_model_free(m);
}

/* Appends a worker to a snapshot's array. */
static void
add_worker(json_t *snap, int id, const char *name, const char *state,
    double seen)
{
	json_array_append_new(json_object_get(snap, "workers"), json_pack(
	    "{s:i, s:s, s:s, s:s, s:i, s:i, s:f, s:f, s:i, s:i, s:f, s:i, "
	    "s:i}", "id", id, "name", name, "address", "127.0.0.1:60000",
	    "state", state, "pushes", 1, "pulls", 0, "pushes_per_s", 0.0,
	    "pulls_per_s", 0.0, "clock", 1, "lag", 0, "last_seen_s", seen,
	    "bytes_in", 100, "bytes_out", 0));
}

/* The layout's columns as "ID,STATE,NAME" and the name column's width. */
static const char *
columns(const struct ps_text_layout *lay, enum ps_top_table t)
{
	static char	 buf[256];
	size_t		 off = 0;
	int		 i;

	buf[0] = '\0';
	for (i = 0; i < lay->ncols; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s",
		    i > 0 ? "," : "", t == PS_TOP_TENSORS ?
		    ps_top_tcol_name(lay->col[i]) :
		    ps_top_wcol_name(lay->col[i]));
	snprintf(buf + off, sizeof buf - off, " %d", lay->flex);
	return buf;
}

static void
test_workers_shown(void)
{
	struct ps_top_model		*m;
	const struct ps_top_worker	*w;
	json_t				*j;
	char				*cause = NULL;

	m = ps_top_model_new("ws://x", 1.0);
	j = load("snap-async-1.json");
	add_worker(j, 6, "psctl push", "gone", 40.0);
	add_worker(j, 7, "psctl push", "active", 0.0);
	add_worker(j, 8, "psctl init", "gone", 50.0);
	if (ps_top_model_apply(m, j, 100.0, &cause) != 0)
		bail_out("apply: %s", cause);
	is_str(order(m, PS_TOP_WORKERS), "3,2,0,1,6",
	    "gone one-shot connections (psctl push, init) are not rows; a "
	    "live one is");
	is_int(m->ngone_folded, 1, "and are not counted as folded GONE");
	ps_top_model_show_gone(m, 1);
	is_str(order(m, PS_TOP_WORKERS), "3,2,0,1,6,4",
	    "g shows the GONE worker, never the gone one-shots");
	ps_top_model_show_gone(m, 0);

	/* The selection. */
	m->focus = PS_TOP_WORKERS;
	w = ps_top_model_selected_worker(m);
	ok(w != NULL && w->id == 4,
	    "the first row, the SILENT worker, is selected at first");
	ps_top_model_select(m, 1);
	w = ps_top_model_selected_worker(m);
	ok(w != NULL && w->id == 3, "Down selects the next row (id 3)");
	ps_top_model_sort_by(m, PS_TOP_WORKERS, PS_TOP_W_ID);
	w = ps_top_model_selected_worker(m);
	ok(w != NULL && w->id == 3 && m->sel[PS_TOP_WORKERS] == 2,
	    "a new sort order keeps the same worker selected, on its new row");
	ps_top_model_select(m, 1000);
	w = ps_top_model_selected_worker(m);
	ok(m->sel[PS_TOP_WORKERS] == 4 && w->id == 7,
	    "End selects the last row shown");
	ps_top_model_select(m, -1000);
	is_int(m->sel[PS_TOP_WORKERS], 0, "Home the first");
	ps_top_model_select(m, 4);
	json_object_set_new(j, "workers", json_array());
	add_worker(j, 4, "w4", "silent", 20.0);
	add_worker(j, 9, "w9", "active", 0.0);
	ps_top_model_apply(m, j, 101.0, &cause);
	ok(m->sel[PS_TOP_WORKERS] == 1 &&
	    ps_top_model_selected_worker(m)->id == 9,
	    "when the selected worker leaves the list, the row is kept, clamped");
	json_decref(j);

	/* The console's own SILENT threshold. */
	m->silent_s = 0.5;
	apply_file(m, "snap-async-1.json", 102.0);
	is_str(ps_top_mark_name(m->workers[2].mark), "SILENT",
	    "with a 0.5 s threshold a worker last seen 0.9 s ago is SILENT");
	is_str(ps_top_mark_name(m->workers[1].mark), "active",
	    "one seen 0.3 s ago is not");
	ps_top_model_free(m);
}

static void
test_narrow(void)
{
	static const char *const names[] = {
		"trainer-a-gpu0", "trainer-a-gpu1", "trainer-b-gpu0", "w1"
	};
	struct ps_top_model	*m;
	struct ps_text_layout	 lay;
	struct ps_text_line	 l;
	char			 buf[512];
	size_t			 r;
	int			 wide;

	ps_text_shorten("trainer-node3-gpu0", 12, 4, buf, sizeof buf);
	is_str(buf, "trainer~gpu0",
	    "a long name keeps its ends around the ellipsis");
	ps_text_set_utf8(1);
	ps_text_shorten("trainer-node3-gpu0", 12, 4, buf, sizeof buf);
	is_str(buf, "trainer\xe2\x80\xa6gpu0",
	    "with UTF-8 the ellipsis is one character: trainer...gpu0");
	ps_text_set_utf8(0);
	ps_text_shorten("w1", 12, 4, buf, sizeof buf);
	is_str(buf, "w1", "a name that fits is left alone");
	is_int(ps_text_shorten_tail(names, 4, 12), 6,
	    "the split keeps shortened names distinct (tail 6, not 5)");
	is_int(ps_text_shorten_tail(names, 2, 12), 5,
	    "half the width when that is enough");

	m = ps_top_model_new("ws://x", 1.0);
	ps_top_model_connected(m, 99.0);
	apply_file(m, "snap-async-1.json", 100.0);
	ps_text_layout(m, PS_TOP_WORKERS, 200, 1, &lay);
	is_str(columns(&lay, PS_TOP_WORKERS),
	    "ID,STATE,NAME,ADDRESS,PUSH/S,PULL/S,UPD_L2,MAX_L2,CLOCK,LAG,SEEN 12",
	    "200 columns show every worker column");
	ps_text_layout(m, PS_TOP_WORKERS, 80, 1, &lay);
	is_str(columns(&lay, PS_TOP_WORKERS),
	    "ID,STATE,NAME,PUSH/S,PULL/S,UPD_L2,MAX_L2,CLOCK,LAG,SEEN 12",
	    "80 columns drop ADDRESS, and names stay whole");
	ps_text_layout(m, PS_TOP_WORKERS, 60, 1, &lay);
	is_str(columns(&lay, PS_TOP_WORKERS),
	    "ID,STATE,NAME,PUSH/S,UPD_L2,CLOCK,LAG,SEEN 10",
	    "60 columns drop PULL/S and MAX_L2, and shorten the names");
	ps_text_layout(m, PS_TOP_WORKERS, 50, 1, &lay);
	is_str(columns(&lay, PS_TOP_WORKERS),
	    "ID,STATE,NAME,PUSH/S,UPD_L2,LAG,SEEN 8",
	    "50 columns drop CLOCK next");
	ps_top_model_sort_by(m, PS_TOP_WORKERS, PS_TOP_W_PULLS);
	ps_text_layout(m, PS_TOP_WORKERS, 50, 1, &lay);
	is_str(columns(&lay, PS_TOP_WORKERS),
	    "STATE,NAME,PUSH/S,PULL/S,UPD_L2,SEEN 12",
	    "but never the sort column: PULL/S stays, ID and LAG go");
	ps_text_layout(m, PS_TOP_WORKERS, 30, 1, &lay);
	is_str(columns(&lay, PS_TOP_WORKERS), "STATE,NAME,PULL/S 12",
	    "30 columns keep STATE, NAME and the sort column");
	for (wide = 0, r = 0; r < ps_top_model_rows(m, PS_TOP_WORKERS); r++) {
		ps_text_row(m, PS_TOP_WORKERS, r, 100.0, &lay, &l);
		if (ps_text_width(&l) > 30)
			wide = 1;
	}
	ok(!wide && lay.total <= 30, "and no row is wider than the screen");
	ps_top_model_sort_by(m, PS_TOP_WORKERS, PS_TOP_W_STATE);
	ps_text_layout(m, PS_TOP_WORKERS, 60, 1, &lay);
	ps_text_row(m, PS_TOP_WORKERS, 1, 100.0, &lay, &l);
	ps_text_plain(&l, buf, sizeof buf);
	ok(strstr(buf, " LAGGING train~slow ") != NULL,
	    "a row shows the shortened name: %s", buf);
	m->workers[ps_top_model_index(m, PS_TOP_WORKERS, 1)].update_l2 =
	    1.532e-05;
	ps_text_row(m, PS_TOP_WORKERS, 1, 100.0, &lay, &l);
	ps_text_plain(&l, buf, sizeof buf);
	ok(strstr(buf, " 1.5e-05 ") != NULL,
	    "a tiny UPD_L2 keeps fewer digits, not a unit: %s", buf);
	ps_text_layout(m, PS_TOP_TENSORS, 80, 1, &lay);
	is_str(columns(&lay, PS_TOP_TENSORS),
	    "#,NAME,SHAPE,L2,UPDATE_L2,GROWTH,UPD/S 12",
	    "tensors fit whole in 80 columns");
	ps_text_layout(m, PS_TOP_TENSORS, 70, 1, &lay);
	is_str(columns(&lay, PS_TOP_TENSORS),
	    "#,NAME,L2,UPDATE_L2,GROWTH,UPD/S 12",
	    "at 70 they drop SHAPE to keep names whole");
	ps_text_title(m, PS_TOP_WORKERS, 1, 2, 0, &l);
	ps_text_plain(&l, buf, sizeof buf);
	ok(strncmp(buf, "WORKERS 4  rows 2-3 of 4  sort: ", 32) == 0,
	    "the title says which rows are shown: %s", buf);
	ps_top_model_disconnected(m, PS_TOP_DISCONNECTED,
	    "connect to 127.0.0.1:7070: Connection refused (retrying a long "
	    "while)", 101.0, 100.0);
	is_str(m->msg, "disconnected: connect to 127.0.0.1:7070: Connection "
	    "refused (retrying a long while)",
	    "the reason for a disconnection is on the status line, whole");
	ps_top_model_free(m);
}

static void
test_filter_marks(void)
{
	struct ps_top_model	*m;
	struct ps_text_line	 l;
	json_t			*j;
	char			*cause = NULL, buf[256];
	int			 marks[10], i, n;

	m = ps_top_model_new("ws://x", 1.0);
	apply_file(m, "snap-async-1.json", 100.0);
	m->focus = PS_TOP_TENSORS;
	ps_top_model_select(m, 2);
	ps_top_model_filter(m, "kernel");
	is_str(order(m, PS_TOP_TENSORS), "0,2",
	    "a filter shows the tensors whose name contains it");
	is_int(m->sel[PS_TOP_TENSORS], 1,
	    "and the selection stays on out/kernel, now the second row");
	ps_top_model_filter(m, "w");
	is_str(order(m, PS_TOP_WORKERS), "3,2,0,1",
	    "the worker table is filtered by the same text (trainer-slow has a w)");
	ps_top_model_filter(m, "w2");
	is_str(order(m, PS_TOP_WORKERS), "1", "w2 shows w2 alone");
	ps_top_model_filter(m, "w");
	ps_text_title(m, PS_TOP_WORKERS, 0, 4, 0, &l);
	ps_text_plain(&l, buf, sizeof buf);
	ok(strncmp(buf, "WORKERS 4  /w/  sort: STATE desc", 32) == 0,
	    "the title shows the filter: %s", buf);
	ps_top_model_sort_by(m, PS_TOP_WORKERS, PS_TOP_W_NAME);
	apply_file(m, "snap-async-2.json", 101.0);
	ok(strcmp(m->filter, "w") == 0 &&
	    m->sort_col[PS_TOP_WORKERS] == PS_TOP_W_NAME,
	    "filter and sort last across snapshots");
	ps_top_model_filter(m, "");
	is_int(ps_top_model_rows(m, PS_TOP_TENSORS), 4,
	    "an empty filter shows every row");
	ps_top_model_free(m);

	/* The thresholds. */
	m = ps_top_model_new("ws://x", 1.0);
	m->slow_ratio = 0.3;
	apply_file(m, "snap-async-1.json", 100.0);
	is_str(ps_top_mark_name(m->workers[2].mark), "active",
	    "--slow 0.3: 4 pushes/s against the fastest 10 is not LAGGING");
	ps_top_model_free(m);
	m = ps_top_model_new("ws://x", 1.0);
	m->lag_over = 3;
	apply_file(m, "snap-ssp.json", 100.0);
	ok(m->lag_limit == 3 && strcmp(ps_top_mark_name(m->workers[3].mark),
	    "LAGGING") != 0, "--lag 3 in ssp: lag 3 is not over it");
	ps_top_model_free(m);

	/* The sparkline marks a restart and a reset. */
	m = ps_top_model_new("ws://x", 1.0);
	j = load("snap-empty.json");
	for (i = 0; i < 10; i++) {
		/* A restart at i = 3 (uptime back), a reset at i = 7. */
		json_object_set_new(j, "uptime_s", json_real(i < 3 ? 50.0 + i :
		    (double)i));
		json_object_set_new(j, "model_version", json_integer(10 * i));
		json_object_set_new(j, "resets_total",
		    json_integer(i >= 7 ? 1 : 0));
		if (ps_top_model_apply(m, j, 100.0 + i, &cause) != 0)
			bail_out("apply: %s", cause);
	}
	json_decref(j);
	ps_top_model_spark_marks(m, 110.0, 10.0, 10, marks);
	for (n = 0, i = 0; i < 10; i++)
		n += marks[i];
	ok(n == 2 && marks[3] && marks[7],
	    "the sparkline marks the restart and the reset columns");
	ps_top_model_free(m);
}

static void
test_cause(void)
{
	struct ps_top_model	*m;
	struct ps_text_line	 lines[PS_TEXT_HEADER_MAX], l;
	struct ps_ctl_req	 rq;
	json_t			*j, *t, *w;
	char			*cause = NULL, *req, buf[512], reply[256];
	int			 n, i;

	m = ps_top_model_new("ws://x", 1.0);
	ps_top_model_connected(m, 99.0);
	j = load("snap-async-1.json");
	t = json_object_get(j, "tensors");
	json_object_set_new(json_array_get(t, 0), "growth_1m", json_real(0.02));
	json_object_set_new(json_array_get(t, 1), "growth_1m", json_real(13.1));
	json_object_set_new(json_array_get(t, 2), "growth_1m", json_real(-0.25));
	w = json_object_get(j, "workers");
	json_object_set_new(json_array_get(w, 0), "update_l2", json_real(0.5));
	json_object_set_new(json_array_get(w, 1), "update_l2", json_real(812.0));
	json_object_set_new(json_array_get(w, 1), "update_l2_max",
	    json_real(900.0));
	json_object_set_new(j, "mode", json_string("sync"));
	json_object_set_new(j, "round", json_pack("{s:i, s:[i], s:f}",
	    "number", 47, "waiting_on", 3, "waiting_s", 8.5));
	if (ps_top_model_apply(m, j, 100.0, &cause) != 0)
		bail_out("apply: %s", cause);
	json_decref(j);
	ok(m->tensors[1].worst && !m->tensors[0].worst,
	    "the largest growth (dense/bias, 13.1) is the worst");
	is_str(sorted(m, PS_TOP_TENSORS, PS_TOP_T_GROWTH, 0), "1,0,2,3",
	    "sorting by GROWTH puts the exploding tensor first");
	ps_text_cell(m, PS_TOP_TENSORS, 0, PS_TOP_T_GROWTH, 100.0, buf,
	    sizeof buf);
	is_str(buf, "x14.1!", "its GROWTH reads x14.1, marked");
	ps_text_cell(m, PS_TOP_TENSORS, 2, PS_TOP_T_GROWTH, 100.0, buf,
	    sizeof buf);
	is_str(buf, "-25%", "a fall reads -25%%");
	m->tensors[1].growth = 214101.3;
	ps_text_cell(m, PS_TOP_TENSORS, 0, PS_TOP_T_GROWTH, 100.0, buf,
	    sizeof buf);
	is_str(buf, "x214k!", "a growth of x214102 reads x214k, not cut by "
	    "its column");
	m->tensors[1].growth = 199.2;
	ps_text_cell(m, PS_TOP_TENSORS, 0, PS_TOP_T_GROWTH, 100.0, buf,
	    sizeof buf);
	is_str(buf, "x200!", "x200.2 reads x200");
	m->tensors[1].growth = 13.1;
	is_str(sorted(m, PS_TOP_WORKERS, PS_TOP_W_UPD, 0), "1,0,2,3",
	    "sorting by UPD_L2 puts the worker pushing huge updates first");
	is_str(ps_top_mark_name(m->workers[2].mark), "BLOCKING",
	    "the worker the round has waited on for 8.5 s is BLOCKING");
	n = ps_text_header(m, 100.0, 10, ps_text_ramp_ascii, lines);
	for (i = 0; i < n; i++) {
		ps_text_plain(&lines[i], buf, sizeof buf);
		if (strncmp(buf, "round ", 6) == 0)
			break;
	}
	ok(i < n && strncmp(buf, "round 47 waiting on trainer-slow for 8.5 s"
	    "  workers ", 50) == 0, "the header says it: %s", i < n ? buf : "");

	/* The blown-up model of the drill, after a reset: 80 columns. */
	m->srv.params = 2400;
	m->srv.bytes = 9600;
	m->srv.model_version = 4217;
	m->srv.model_l2 = 1063470.2;
	m->srv.last_update_l2 = 0.048978;
	m->srv.resets_total = 1;
	n = ps_text_header(m, 100.0, 10, ps_text_ramp_ascii, lines);
	for (i = 0; i < n; i++) {
		ps_text_plain(&lines[i], buf, sizeof buf);
		if (strncmp(buf, "model ", 6) == 0)
			break;
	}
	ok(i < n && strlen(buf) <= 80 && strstr(buf, "L2 1.0635e+06  update "
	    "L2 0.04898") != NULL, "the model line fits 80 columns with a "
	    "blown-up L2 (%zu): %s", strlen(buf), i < n ? buf : "");
	for (i = 0; i < n; i++) {
		ps_text_plain(&lines[i], buf, sizeof buf);
		if (strncmp(buf, "checkpoint ", 11) == 0)
			break;
	}
	ok(i < n && strstr(buf, "  resets 1") != NULL,
	    "the checkpoint line counts the resets: %s", i < n ? buf : "");

	/* k and K: the selected worker, after a question. */
	m->focus = PS_TOP_WORKERS;
	ps_top_model_sort_by(m, PS_TOP_WORKERS, PS_TOP_W_ID);
	ps_top_model_select(m, -1000);
	ps_top_model_select(m, 1);
	req = ps_top_model_action(m, PS_TOP_ACT_BLOCK, 101.0);
	ok(req == NULL && m->prompt == PS_TOP_ACT_BLOCK &&
	    strncmp(m->msg, "Kick and block worker 2 (w2)", 28) == 0,
	    "K asks before kicking and blocking the selected worker: %s",
	    m->msg);
	req = ps_top_model_answer(m, 1, 101.1);
	if (req == NULL)
		bail_out("no kick request");
	rq = req_read(req);
	ok(rq.cmd == PS_CTL_KICK && rq.worker_id == 2 && rq.block,
	    "yes sends a kick of worker 2 by id, with block");
	snprintf(reply, sizeof reply, "{\"id\": %lld, \"ok\": true, "
	    "\"result\": {\"id\": 2, \"name\": \"w2\", \"kicked\": true, "
	    "\"blocked\": true}}", (long long)rq.id);
	free(req);
	feed(m, reply, 101.2);
	ok(strncmp(m->msg, "worker 2 (w2) kicked and blocked", 32) == 0,
	    "the status line says so: %s", m->msg);
	ps_top_model_action(m, PS_TOP_ACT_KICK, 102.0);
	req = ps_top_model_answer(m, 1, 102.1);
	rq = req_read(req);
	ok(rq.cmd == PS_CTL_KICK && rq.worker_id == 2 && !rq.block,
	    "k kicks without blocking");
	free(req);
	m->readonly = 1;
	ok(ps_top_model_action(m, PS_TOP_ACT_KICK, 103.0) == NULL &&
	    m->prompt == PS_TOP_ACT_NONE, "--readonly refuses k");
	ps_text_title(m, PS_TOP_WORKERS, 0, 4, 0, &l);
	ps_top_model_free(m);
}

/* The reply to the checkpoints request req (freed). */
static void
ckpts_reply(struct ps_top_model *m, char *req, const char *list, double now)
{
	char	reply[1024];

	snprintf(reply, sizeof reply, "{\"id\": %lld, \"ok\": true, "
	    "\"result\": {\"checkpoints\": [%s]}}",
	    (long long)req_read(req).id, list);
	free(req);
	feed(m, reply, now);
}

/* R: the list from the server, a pick, the question by name. */
static void
test_reset_pick(void)
{
	static const char list[] =
	    "{\"name\": \"ckpt-000900\", \"path\": \"/c/ckpt-000900.safetensors\", "
	    "\"version\": 900, \"time\": 1764690000.5, \"age_s\": 5, "
	    "\"bytes\": 4000128, \"model_l2\": 4483.2}, "
	    "{\"name\": \"ckpt-000853\", \"path\": \"/c/ckpt-000853.safetensors\", "
	    "\"version\": 853, \"time\": 1764689885.5, \"age_s\": 110, "
	    "\"bytes\": 4000128, \"model_l2\": 1203.4}, "
	    "{\"name\": \"initial\", \"path\": null, \"version\": 0, "
	    "\"time\": null, \"age_s\": null, \"bytes\": null, "
	    "\"model_l2\": 18}";
	struct ps_top_model	*m;
	struct ps_text_line	 l;
	struct ps_ctl_req	 rq;
	char			*req, buf[256];

	m = ps_top_model_new("ws://x", 1.0);
	apply_file(m, "snap-async-1.json", 100.0);
	ps_top_model_connected(m, 100.0);

	req = ps_top_model_action(m, PS_TOP_ACT_RESET, 101.0);
	is_str(req_cmd(req), "checkpoints",
	    "R asks the server for its checkpoints first");
	ok(m->pick == PS_TOP_PICK_CKPT && m->pick_wait &&
	    m->prompt == PS_TOP_ACT_NONE && ps_top_model_pick_rows(m) == 0,
	    "and no question yet: the list waits for the reply");
	ok(ps_top_model_action(m, PS_TOP_ACT_STOP, 101.1) == NULL &&
	    m->prompt == PS_TOP_ACT_NONE,
	    "no other action starts while the list is open");
	ckpts_reply(m, req, list, 102.0);
	is_int(ps_top_model_pick_rows(m), 3, "the reply lists 3 checkpoints");
	ok(m->pick_sel == 0 && m->msg_kind == PS_TOP_MSG_PROMPT &&
	    strstr(m->msg, "Reset to which checkpoint?") == m->msg,
	    "the newest is selected and the status line asks which");

	ps_text_pick_title(m, 0, 3, &l);
	ps_text_plain(&l, buf, sizeof buf);
	is_str(buf, "CHECKPOINTS 3  reset to which?  now: version 400, "
	    "L2 12.38", "the list's title shows the model now");
	ps_text_pick_row(m, 0, 112.0, 80, &l);
	ps_text_plain(&l, buf, sizeof buf);
	is_str(buf, "> ckpt-000900       900   15.0s      4,483    3.8 MiB",
	    "a row: name, version, age (aged since the reply), L2, size");
	ok(l.seg[0].cls == PS_TEXT_SELECTED, "the selected row is drawn so");
	ps_text_pick_row(m, 2, 112.0, 80, &l);
	ps_text_plain(&l, buf, sizeof buf);
	is_str(buf, "  initial             0       -      18.00       kept",
	    "the initial model, kept by the server, is listed last");

	ps_top_model_pick_move(m, 1);
	ps_top_model_pick_choose(m, 112.0);
	ok(m->pick == PS_TOP_PICK_NONE && m->prompt == PS_TOP_ACT_RESET,
	    "Enter closes the list and asks");
	is_str(m->msg, "Reset to ckpt-000853 (version 853, 2m ago, L2 1,203)? "
	    "[y/N]", "the question names the checkpoint, its version, age "
	    "and L2");
	req = ps_top_model_answer(m, 0, 113.0);
	ok(req == NULL && strcmp(m->msg, "reset cancelled") == 0,
	    "n cancels it, sending nothing");

	req = ps_top_model_action(m, PS_TOP_ACT_RESET, 114.0);
	ckpts_reply(m, req, list, 114.5);
	ps_top_model_pick_move(m, 1000);
	is_int(m->pick_sel, 2, "a large move stops at the last row");
	ps_top_model_pick_move(m, -1);
	ps_top_model_pick_choose(m, 115.0);
	req = ps_top_model_answer(m, 1, 115.5);
	rq = req_read(req);
	ok(rq.cmd == PS_CTL_RESET && rq.has_name &&
	    strcmp(rq.name, "ckpt-000853.safetensors") == 0,
	    "y resets to the checkpoint chosen, by name (%s)", rq.name);
	snprintf(buf, sizeof buf, "{\"id\": %lld, \"ok\": true, \"result\": "
	    "{\"from\": \"/c/ckpt-000853.safetensors\", \"model_version\": 853}}",
	    (long long)rq.id);
	free(req);
	feed(m, buf, 116.0);
	is_str(m->msg, "model reset from /c/ckpt-000853.safetensors, now "
	    "version 853", "the reply says from which file, whole when it "
	    "is not in the checkpoint directory");
	snprintf(buf, sizeof buf, "{\"id\": %lld, \"ok\": true, \"result\": "
	    "{\"checkpoint\": \"/var/lib/psctl/final.safetensors\", "
	    "\"stopping\": true}}", (long long)req_id(
	    ps_top_model_request(m, PS_CTL_STOP)));
	feed(m, buf, 116.5);
	is_str(m->msg, "server stopping; final checkpoint final",
	    "a file in the checkpoint directory is named as R lists it");

	req = ps_top_model_action(m, PS_TOP_ACT_RESET, 117.0);
	ps_top_model_pick_cancel(m, 117.1);
	ok(m->pick == PS_TOP_PICK_NONE && strcmp(m->msg, "reset cancelled")
	    == 0, "Esc closes the list before the reply");
	ckpts_reply(m, req, list, 117.5);
	ok(m->pick == PS_TOP_PICK_NONE && m->prompt == PS_TOP_ACT_NONE,
	    "and the late reply opens nothing");

	req = ps_top_model_action(m, PS_TOP_ACT_RESET, 118.0);
	ps_top_model_pick_move(m, 1);
	ps_top_model_pick_choose(m, 118.1);
	ok(m->pick == PS_TOP_PICK_CKPT && m->prompt == PS_TOP_ACT_NONE,
	    "Enter before the reply does nothing");
	ckpts_reply(m, req, "", 118.5);
	ok(m->pick == PS_TOP_PICK_NONE && m->msg_kind == PS_TOP_MSG_ERROR &&
	    strcmp(m->msg, "no checkpoint to reset to") == 0,
	    "an empty list says there is nothing to reset to");

	req = ps_top_model_action(m, PS_TOP_ACT_RESET, 119.0);
	snprintf(buf, sizeof buf, "{\"id\": %lld, \"ok\": false, \"error\": "
	    "{\"code\": \"io\", \"message\": \"/c: Permission denied\"}}",
	    (long long)req_read(req).id);
	free(req);
	feed(m, buf, 119.5);
	ok(m->pick == PS_TOP_PICK_NONE && strcmp(m->msg, "checkpoints "
	    "failed: io: /c: Permission denied") == 0,
	    "an error reply closes the list and says why");

	req = ps_top_model_action(m, PS_TOP_ACT_RESET, 120.0);
	free(req);
	ps_top_model_disconnected(m, PS_TOP_DISCONNECTED, "closed", 121.0,
	    120.5);
	ok(m->pick == PS_TOP_PICK_NONE && strcmp(m->msg, "not connected: "
	    "reset refused (closed)") == 0,
	    "losing the connection closes the list, saying why");
	ps_top_model_free(m);
}

/* u: the blocks from STATUS, a pick, the unblock by id or by name. */
static void
test_unblock(void)
{
	struct ps_top_model	*m;
	struct ps_text_line	 l;
	struct ps_ctl_req	 rq;
	json_t			*snap;
	char			*req, *cause = NULL, buf[256];
	size_t			 i;

	m = ps_top_model_new("ws://x", 1.0);
	apply_file(m, "snap-async-1.json", 100.0);
	ps_top_model_connected(m, 100.0);
	req = ps_top_model_action(m, PS_TOP_ACT_UNBLOCK, 101.0);
	ok(req == NULL && m->pick == PS_TOP_PICK_NONE &&
	    strcmp(m->msg, "no worker is blocked") == 0,
	    "u without a block says so");

	snap = load("snap-async-1.json");
	json_object_set_new(snap, "blocked", json_pack("[{s:n, s:s}, "
	    "{s:i, s:s}]", "id", "name", "12", "id", 3, "name",
	    "trainer-slow"));
	if (ps_top_model_apply(m, snap, 102.0, &cause) != 0)
		bail_out("%s", cause);
	ps_text_title(m, PS_TOP_WORKERS, 0, 5, 0, &l);
	ps_text_plain(&l, buf, sizeof buf);
	ok(strstr(buf, "  2 blocked (u)") != NULL,
	    "the worker title counts the blocks and names the key: %s", buf);
	ps_text_title(m, PS_TOP_WORKERS, 0, 5, 120, &l);
	ps_text_plain(&l, buf, sizeof buf);
	ok(strstr(buf, "(LAGGING: under 50% of its pace)") != NULL &&
	    strlen(buf) <= 120, "in 120 columns it says what LAGGING means");
	ps_text_title(m, PS_TOP_WORKERS, 0, 5, 80, &l);
	ps_text_plain(&l, buf, sizeof buf);
	ok(strstr(buf, "  2 blocked (u)  +1 GONE (g shows)") != NULL &&
	    strstr(buf, "(LAGG") == NULL, "in 80 the title keeps its counts "
	    "and leaves the meaning out whole, not cut: %s", buf);
	/* Select worker 2's row. */
	m->focus = PS_TOP_WORKERS;
	ps_top_model_show_gone(m, 1);
	for (i = 0; i < ps_top_model_rows(m, PS_TOP_WORKERS); i++) {
		m->sel[PS_TOP_WORKERS] = i;
		if (ps_top_model_selected_worker(m)->id == 3)
			break;
	}
	req = ps_top_model_action(m, PS_TOP_ACT_UNBLOCK, 103.0);
	ok(req == NULL && m->pick == PS_TOP_PICK_BLOCK &&
	    ps_top_model_pick_rows(m) == 2 && m->pick_sel == 1,
	    "u lists the 2 blocks, the selected worker's selected");
	ps_text_pick_row(m, 1, 103.0, 80, &l);
	ps_text_plain(&l, buf, sizeof buf);
	is_str(buf, ">      3 trainer-slow", "a block's row: its id and name");
	ps_text_pick_row(m, 0, 103.0, 80, &l);
	ps_text_plain(&l, buf, sizeof buf);
	is_str(buf, "       - 12", "a name alone has no id");
	ps_top_model_pick_choose(m, 103.5);
	is_str(m->msg, "Unblock worker 3 (trainer-slow): its HELLO accepted "
	    "again? [y/N]", "Enter asks, naming the worker");
	req = ps_top_model_answer(m, 1, 104.0);
	rq = req_read(req);
	ok(rq.cmd == PS_CTL_UNBLOCK && rq.worker_id == 3,
	    "y unblocks it by id");
	snprintf(buf, sizeof buf, "{\"id\": %lld, \"ok\": true, \"result\": "
	    "{\"unblocked\": 1}}", (long long)rq.id);
	free(req);
	feed(m, buf, 104.5);
	is_str(m->msg, "worker 3 (trainer-slow) unblocked: its HELLO is "
	    "accepted again", "the reply says so");

	ps_top_model_action(m, PS_TOP_ACT_UNBLOCK, 105.0);
	ps_top_model_pick_move(m, -5);
	ps_top_model_pick_choose(m, 105.5);
	req = ps_top_model_answer(m, 1, 106.0);
	rq = req_read(req);
	ok(rq.cmd == PS_CTL_UNBLOCK && rq.worker_id == 0 &&
	    strcmp(rq.worker_name, "12") == 0,
	    "a name of digits is unblocked as a name, not an id");
	free(req);

	ps_top_model_action(m, PS_TOP_ACT_UNBLOCK, 107.0);
	json_object_set_new(snap, "blocked", json_array());
	ps_top_model_apply(m, snap, 108.0, &cause);
	ok(m->pick == PS_TOP_PICK_NONE &&
	    strcmp(m->msg, "no worker is blocked now") == 0,
	    "the list closes when the server has no block left");
	json_decref(snap);
	m->readonly = 1;
	ok(ps_top_model_action(m, PS_TOP_ACT_UNBLOCK, 109.0) == NULL &&
	    strcmp(m->msg, "read-only: unblock refused") == 0,
	    "--readonly refuses u");
	ps_top_model_free(m);
}

int
main(void)
{
	plan(220);
	test_filter_marks();
	test_cause();
	test_workers_shown();
	test_narrow();
	test_apply();
	test_rates();
	test_sort();
	test_staleness();
	test_spark();
	test_messages();
	test_interval();
	test_text();
	test_reset_pick();
	test_unblock();
	return exit_status();
}
