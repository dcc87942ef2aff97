/*
 * libFuzzer harness for the control protocol's JSON readers (src/control.c):
 * ps_ctl_parse() (the server reading a request), ps_ctl_reply_parse() and
 * ps_ctl_result_parse() (a client reading replies and events), and
 * ps_ctl_status_parse() (a client reading STATUS).  Every input goes to
 * each of them.
 *
 * Properties: what the readers accept, the writers write back so that the
 * readers read the same thing again:
 *	- a request ps_ctl_parse() accepts, written again by ps_ctl_request(),
 *	  parses to the same request;
 *	- an error reply, written again by ps_ctl_reply_error(), reads back
 *	  with the same id, code and message; an ok reply's result through
 *	  ps_ctl_reply_ok() reads back equal;
 *	- a STATUS that parses, written by ps_ctl_status_json(), parses again,
 *	  and writing that gives the same JSON (the writer and the reader meet
 *	  at a fixed point); it also renders as /metrics lines that all start
 *	  with "psctl_" or "# ", whatever the names hold;
 *	- a refusal always has a cause.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "fuzz.h"
#include "metrics.h"

static void
check_number(double v)
{
	char	buf[64];

	if (!isfinite(v))
		return;
	ps_prom_number(v, buf, sizeof buf);
	fuzz_check(strtod(buf, NULL) == v,
	    "a /metrics number reads back as the same double");
}

/* Every line of a /metrics page is a sample or a comment. */
static void
check_metrics(const struct ps_ctl_status *st)
{
	struct ps_prom	 p;
	const char	*line, *nl;

	ps_prom_init(&p);
	ps_ctl_metrics(&p, st);
	fuzz_check(p.len == strlen(p.buf), "/metrics holds no NUL");
	for (line = p.buf; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		fuzz_check(nl != NULL, "/metrics ends with a newline");
		fuzz_check(strncmp(line, "psctl_", 6) == 0 ||
		    strncmp(line, "# HELP psctl_", 13) == 0 ||
		    strncmp(line, "# TYPE psctl_", 13) == 0,
		    "a /metrics line is a sample or a comment");
	}
	ps_prom_free(&p);
}

static void
status_roundtrip(json_t *o)
{
	struct ps_ctl_status	 st, st2;
	json_t			*j1, *j2;
	char			*cause = NULL, *ev;
	struct ps_ctl_reply	 r;
	size_t			 i;

	if (ps_ctl_status_parse(o, &st, &cause) != 0) {
		fuzz_check(cause != NULL, "a refused STATUS has a cause");
		fuzz_check(st.root == NULL && st.tensors == NULL,
		    "a refused STATUS is cleared");
		free(cause);
		return;
	}
	check_number(st.uptime_s);
	check_number(st.model_l2);
	check_number(st.pushes_per_s);
	for (i = 0; i < st.ntensors; i++)
		check_number(st.tensors[i].l2_norm);
	for (i = 0; i < st.nrule_items; i++)
		check_number(st.rule_items[i].value);
	check_metrics(&st);

	j1 = ps_ctl_status_json(&st);
	if (ps_ctl_status_parse(j1, &st2, &cause) != 0) {
		fprintf(stderr, "STATUS written back: %s\n", cause);
		fuzz_check(0, "a STATUS written back parses");
	}
	j2 = ps_ctl_status_json(&st2);
	fuzz_check(json_equal(j1, j2),
	    "a STATUS written, read and written again is the same");

	/* As a snapshot event. */
	ev = ps_ctl_event_snapshot(7, &st);
	fuzz_check(ps_ctl_reply_parse(ev, strlen(ev), &r, &cause) == 0 &&
	    r.is_event && r.seq == 7 && json_equal(r.snapshot, j1),
	    "a snapshot event reads back with its STATUS");
	ps_ctl_reply_clear(&r);
	free(ev);

	json_decref(j2);
	json_decref(j1);
	ps_ctl_status_clear(&st2);
	ps_ctl_status_clear(&st);
}

static void
request(const uint8_t *data, size_t len)
{
	struct ps_ctl_req	 req, req2;
	const char		*code = NULL;
	char			*cause = NULL, *text;

	if (ps_ctl_parse((const char *)data, len, &req, &code, &cause) != 0) {
		fuzz_check(code != NULL && cause != NULL,
		    "a refused request has a code and a cause");
		free(cause);
		return;
	}
	fuzz_check(req.has_id && ps_ctl_cmd_name(req.cmd) != NULL,
	    "an accepted request has an id and a command");
	text = ps_ctl_request(req.id, req.cmd, req.has_name ? req.name : NULL,
	    req.interval, req.cmd == PS_CTL_CHECKPOINT ? req.force :
	    req.checkpoint);
	if (ps_ctl_parse(text, strlen(text), &req2, &code, &cause) != 0) {
		fprintf(stderr, "request written back: %s\n%s\n", text,
		    cause);
		fuzz_check(0, "a request written back parses");
	}
	fuzz_check(req2.id == req.id && req2.cmd == req.cmd &&
	    req2.has_name == req.has_name &&
	    strcmp(req2.name, req.name) == 0 &&
	    req2.interval == req.interval &&
	    req2.checkpoint == req.checkpoint && req2.force == req.force,
	    "a request written back parses to the same request");
	free(text);
}

static void
reply(const uint8_t *data, size_t len)
{
	struct ps_ctl_reply	 r, r2;
	struct ps_ctl_result	 res;
	char			*cause = NULL, *text;
	int			 cmd;

	if (ps_ctl_reply_parse((const char *)data, len, &r, &cause) != 0) {
		fuzz_check(cause != NULL && r.root == NULL,
		    "a refused reply has a cause and no tree");
		free(cause);
		return;
	}
	if (r.is_event) {
		fuzz_check(r.event != NULL, "an event has a name");
		if (r.snapshot != NULL)
			status_roundtrip(r.snapshot);
		ps_ctl_reply_clear(&r);
		return;
	}
	if (r.ok) {
		fuzz_check(r.result != NULL, "an ok reply has a result");
		for (cmd = PS_CTL_SUBSCRIBE; cmd <= PS_CTL_STOP; cmd++) {
			if (ps_ctl_result_parse(cmd, r.result, &res,
			    &cause) != 0) {
				fuzz_check(cause != NULL,
				    "a refused result has a cause");
				free(cause);
			}
		}
		status_roundtrip(r.result);
		text = ps_ctl_reply_ok(r.id, json_incref(r.result));
		fuzz_check(ps_ctl_reply_parse(text, strlen(text), &r2,
		    &cause) == 0 && r2.ok && r2.has_id && r2.id == r.id &&
		    json_equal(r2.result, r.result),
		    "an ok reply written back reads the same");
	} else {
		fuzz_check(r.code != NULL && r.message != NULL,
		    "an error reply has a code and a message");
		text = ps_ctl_reply_error(r.has_id, r.id, r.code, "%s",
		    r.message);
		fuzz_check(ps_ctl_reply_parse(text, strlen(text), &r2,
		    &cause) == 0 && !r2.ok && r2.has_id == r.has_id &&
		    (!r.has_id || r2.id == r.id) &&
		    strcmp(r2.code, r.code) == 0 &&
		    strcmp(r2.message, r.message) == 0,
		    "an error reply written back reads the same");
	}
	ps_ctl_reply_clear(&r2);
	free(text);
	ps_ctl_reply_clear(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	request(data, len);
	reply(data, len);
	return 0;
}
