/*
 * The control subprotocol's messages: request validation, checkpoint
 * names, STATUS, replies and their client-side parsing.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "tap.h"

static int	parse(const char *, struct ps_ctl_req *, const char **, char **);
static void	test_requests(void);
static void	test_names(void);
static void	test_status(void);
static void	test_status_parse(void);
static void	test_replies(void);

static int
parse(const char *s, struct ps_ctl_req *req, const char **code, char **cause)
{
	*cause = NULL;
	*code = NULL;
	return ps_ctl_parse(s, strlen(s), req, code, cause);
}

/* Checks that s is refused with code and that the cause contains want. */
static void
refused(const char *s, const char *code, const char *want, int has_id)
{
	struct ps_ctl_req	 req;
	const char		*c;
	char			*cause;
	int			 r;

	r = parse(s, &req, &c, &cause);
	ok(r == -1 && c != NULL && strcmp(c, code) == 0 && cause != NULL &&
	    strstr(cause, want) != NULL && req.has_id == has_id,
	    "%.60s is refused as %s: %s", s, code, cause != NULL ? cause : "-");
	free(cause);
}

static void
test_requests(void)
{
	struct ps_ctl_req	 req;
	const char		*code;
	char			*cause, big[PS_CTL_REQUEST_MAX + 64];

	ok(parse("{\"id\": 1, \"cmd\": \"status\"}", &req, &code, &cause) == 0 &&
	    req.cmd == PS_CTL_STATUS && req.has_id && req.id == 1,
	    "a status request parses with its id");
	ok(parse("{\"cmd\": \"subscribe\", \"id\": 2}", &req, &code, &cause) == 0 &&
	    req.cmd == PS_CTL_SUBSCRIBE && req.interval == 1.0,
	    "subscribe without an interval gets 1 s");
	ok(parse("{\"id\": 2, \"cmd\": \"subscribe\", \"interval\": 0.25}", &req,
	    &code, &cause) == 0 && req.interval == 0.25,
	    "subscribe takes an interval of 0.25 s");
	ok(parse("{\"id\": 3, \"cmd\": \"unsubscribe\"}", &req, &code, &cause) == 0 &&
	    req.cmd == PS_CTL_UNSUBSCRIBE, "unsubscribe parses");
	ok(parse("{\"id\": 4, \"cmd\": \"checkpoint\"}", &req, &code, &cause) == 0 &&
	    req.cmd == PS_CTL_CHECKPOINT && !req.has_name,
	    "checkpoint without a name parses");
	ok(parse("{\"id\": 4, \"cmd\": \"checkpoint\", \"name\": \"before-lr\"}",
	    &req, &code, &cause) == 0 && req.has_name &&
	    strcmp(req.name, "before-lr.safetensors") == 0,
	    "a checkpoint name gets the .safetensors suffix");
	ok(parse("{\"id\": 5, \"cmd\": \"reset\", \"name\": \"ckpt-42.safetensors\"}",
	    &req, &code, &cause) == 0 && req.cmd == PS_CTL_RESET &&
	    strcmp(req.name, "ckpt-42.safetensors") == 0,
	    "a name that has the suffix keeps it");
	ok(parse("{\"id\": 6, \"cmd\": \"stop\", \"checkpoint\": true}", &req,
	    &code, &cause) == 0 && req.cmd == PS_CTL_STOP && req.checkpoint == 1,
	    "stop with a final checkpoint parses");
	ok(parse("{\"id\": 7, \"cmd\": \"stop\"}", &req, &code, &cause) == 0 &&
	    req.checkpoint == 0, "stop alone asks for no checkpoint");
	ok(parse("{\"id\": -3, \"cmd\": \"status\"}", &req, &code, &cause) == 0 &&
	    req.id == -3, "any integer id is echoed");
	ok(parse("{\"id\": 8, \"cmd\": \"kick\", \"worker\": 3, \"block\": "
	    "true}", &req, &code, &cause) == 0 && req.cmd == PS_CTL_KICK &&
	    req.worker_id == 3 && req.worker_name[0] == '\0' && req.block,
	    "kick a worker by id, blocking it");
	ok(parse("{\"id\": 8, \"cmd\": \"kick\", \"worker\": \"sw-c\"}", &req,
	    &code, &cause) == 0 && req.worker_id == 0 &&
	    strcmp(req.worker_name, "sw-c") == 0 && !req.block,
	    "kick a worker by name; block is false unless given");
	ok(parse("{\"id\": 10, \"cmd\": \"checkpoints\"}", &req, &code,
	    &cause) == 0 && req.cmd == PS_CTL_CHECKPOINTS,
	    "checkpoints parses");
	ok(parse("{\"id\": 9, \"cmd\": \"unblock\", \"worker\": \"7\"}", &req,
	    &code, &cause) == 0 && req.cmd == PS_CTL_UNBLOCK &&
	    req.worker_id == 0 && strcmp(req.worker_name, "7") == 0,
	    "unblock by name: a string of digits is a name on the wire");

	refused("not json", "bad_request", "not JSON", 0);
	refused("[1, 2]", "bad_request", "JSON object", 0);
	refused("{\"cmd\": \"status\"}", "bad_request", "no \"id\"", 0);
	refused("{\"id\": \"1\", \"cmd\": \"status\"}", "bad_request",
	    "\"id\" must be an integer", 0);
	refused("{\"id\": 1.5, \"cmd\": \"status\"}", "bad_request",
	    "\"id\" must be an integer", 0);
	refused("{\"id\": 1}", "bad_request", "no \"cmd\"", 1);
	refused("{\"id\": 1, \"cmd\": 7}", "bad_request", "must be a string", 1);
	refused("{\"id\": 1, \"cmd\": \"reboot\"}", "unknown_command",
	    "unknown command \"reboot\"", 1);
	refused("{\"id\": 1, \"cmd\": \"status\", \"verbose\": true}",
	    "bad_request", "unknown member \"verbose\" in a status request", 1);
	refused("{\"id\": 1, \"cmd\": \"stop\", \"name\": \"x\"}",
	    "bad_request", "unknown member \"name\" in a stop request", 1);
	refused("{\"id\": 1, \"cmd\": \"subscribe\", \"interval\": 0.01}",
	    "bad_request", "from 0.1 to 60", 1);
	refused("{\"id\": 1, \"cmd\": \"subscribe\", \"interval\": 61}",
	    "bad_request", "from 0.1 to 60", 1);
	refused("{\"id\": 1, \"cmd\": \"subscribe\", \"interval\": \"1\"}",
	    "bad_request", "from 0.1 to 60", 1);
	refused("{\"id\": 1, \"cmd\": \"stop\", \"checkpoint\": 1}",
	    "bad_request", "true or false", 1);
	refused("{\"id\": 1, \"cmd\": \"checkpoint\", \"name\": 5}",
	    "bad_request", "\"name\" must be a string", 1);
	refused("{\"id\": 1, \"cmd\": \"checkpoint\", \"name\": \"../etc/x\"}",
	    "bad_request", "begins with '.'", 1);
	refused("{\"id\": 1, \"cmd\": \"reset\", \"name\": \"a/b\"}",
	    "bad_request", "not a path", 1);
	refused("{\"id\": 1, \"cmd\": \"reset\", \"name\": \"a\\u0000b\"}",
	    "bad_request", "not JSON", 0);
	refused("{\"id\": 1, \"id\": 2, \"cmd\": \"status\"}", "bad_request",
	    "duplicate", 0);
	refused("{\"id\": 1, \"cmd\": \"checkpoints\", \"name\": \"x\"}",
	    "bad_request", "unknown member \"name\" in a checkpoints", 1);
	refused("{\"id\": 1, \"cmd\": \"kick\"}", "bad_request",
	    "no \"worker\"", 1);
	refused("{\"id\": 1, \"cmd\": \"kick\", \"worker\": 0}", "bad_request",
	    "an id from 1", 1);
	refused("{\"id\": 1, \"cmd\": \"kick\", \"worker\": \"\"}",
	    "bad_request", "1 to 128 bytes", 1);
	refused("{\"id\": 1, \"cmd\": \"kick\", \"worker\": [3]}",
	    "bad_request", "an id (a number) or a name", 1);
	refused("{\"id\": 1, \"cmd\": \"kick\", \"worker\": 3, \"block\": 1}",
	    "bad_request", "\"block\" must be true or false", 1);
	refused("{\"id\": 1, \"cmd\": \"unblock\", \"worker\": 3, \"block\": "
	    "true}", "bad_request", "unknown member \"block\" in a unblock", 1);
	refused("{\"id\": 1, \"cmd\": \"kick\", \"worker\": \"a\\nb\"}",
	    "bad_request", "control character", 1);

	memset(big, ' ', sizeof big);
	memcpy(big, "{\"id\": 1, \"cmd\": \"status\"}", 26);
	big[sizeof big - 1] = '\0';
	refused(big, "bad_request", "over the limit of 4096", 0);
}

static void
test_names(void)
{
	char	 out[PS_CTL_NAME_MAX + 32], longname[PS_CTL_NAME_MAX + 2];
	char	 file[PS_CTL_NAME_MAX + 32];
	char	*cause = NULL;
	int	 rc;

	ok(ps_ctl_name_valid("ckpt-7", out, sizeof out, &cause) == 0 &&
	    strcmp(out, "ckpt-7.safetensors") == 0,
	    "ckpt-7 becomes ckpt-7.safetensors");
	ok(ps_ctl_name_valid("b\xc3\xa4r", out, sizeof out, &cause) == 0,
	    "a UTF-8 name is accepted");
	ok(ps_ctl_name_valid("..", out, sizeof out, &cause) == -1,
	    "\"..\" is refused");
	free(cause);
	ok(ps_ctl_name_valid("a..b", out, sizeof out, &cause) == -1,
	    "a name containing \"..\" is refused");
	free(cause);
	ok(ps_ctl_name_valid(".hidden", out, sizeof out, &cause) == -1,
	    "a leading dot is refused");
	free(cause);
	/*
	 * Found by tests/fuzz/fuzz-control: "c0." wrote c0..safetensors.
	 * Called before ok(): its arguments are evaluated in any order.
	 */
	cause = NULL;
	rc = ps_ctl_name_valid("c0.", out, sizeof out, &cause);
	ok(rc == -1 && cause != NULL && strstr(cause, "ends with '.'") != NULL,
	    "a trailing dot is refused: the file name would hold \"..\" (%s)",
	    cause != NULL ? cause : "no cause");
	free(cause);
	cause = NULL;
	ok(ps_ctl_name_valid("v1.2", out, sizeof out, &cause) == 0 &&
	    strcmp(out, "v1.2.safetensors") == 0 &&
	    ps_ctl_name_valid(out, file, sizeof file, &cause) == 0,
	    "a dot inside a name is kept, and its file name is valid");
	ok(ps_ctl_name_valid("/etc/passwd", out, sizeof out, &cause) == -1,
	    "an absolute path is refused");
	free(cause);
	ok(ps_ctl_name_valid("a\\b", out, sizeof out, &cause) == -1,
	    "a backslash is refused");
	free(cause);
	ok(ps_ctl_name_valid("", out, sizeof out, &cause) == -1,
	    "an empty name is refused");
	free(cause);
	ok(ps_ctl_name_valid("a\tb", out, sizeof out, &cause) == -1,
	    "a control character is refused");
	free(cause);
	ok(ps_ctl_name_valid("\xff\xfe", out, sizeof out, &cause) == -1,
	    "invalid UTF-8 is refused");
	free(cause);
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	ok(ps_ctl_name_valid(longname, out, sizeof out, &cause) == -1,
	    "a name over %d bytes is refused", PS_CTL_NAME_MAX);
	free(cause);
	longname[PS_CTL_NAME_MAX] = '\0';
	ok(ps_ctl_name_valid(longname, out, sizeof out, &cause) == 0 &&
	    strlen(out) == PS_CTL_NAME_MAX + strlen(".safetensors"),
	    "a name of exactly %d bytes fits with its suffix", PS_CTL_NAME_MAX);
	/* Found by tests/fuzz/fuzz-control: the file name was refused. */
	snprintf(file, sizeof file, "%s", out);
	ok(ps_ctl_name_valid(file, out, sizeof out, &cause) == 0 &&
	    strcmp(out, file) == 0, "the file name a %d-byte name becomes "
	    "is accepted, as itself", PS_CTL_NAME_MAX);
	snprintf(file, sizeof file, "a%s.safetensors", longname);
	/* Called before ok(): its arguments are evaluated in any order. */
	cause = NULL;
	rc = ps_ctl_name_valid(file, out, sizeof out, &cause);
	ok(rc == -1 && cause != NULL && strstr(cause, "201 bytes") != NULL,
	    "%d bytes before the suffix are refused (%s)",
	    PS_CTL_NAME_MAX + 1, cause != NULL ? cause : "no cause");
	free(cause);
}

static void
test_status(void)
{
	struct ps_ctl_tensor	 t;
	struct ps_ctl_worker	 w;
	struct ps_ctl_count	 rej = { "shape", 2 };
	struct ps_ctl_status	 st;
	json_t			*j, *v;
	char			*s;
	static const char *const keys[] = {
		"version", "listen", "uptime_s", "state", "mode", "rule",
		"rule_params", "sync_workers", "staleness", "model_version",
		"params", "bytes", "model_l2", "last_update_l2", "tensors",
		"workers", "workers_connected", "workers_expected",
		"pushes_total", "pulls_total", "rejected_total", "rejected",
		"pushes_per_s", "pulls_per_s", "bytes_in_per_s",
		"bytes_out_per_s", "bytes_in_total", "bytes_out_total",
		"resets_total", "checkpoint", "growth_window_s", "round",
		"blocked", NULL
	};
	size_t			 i, missing = 0;

	memset(&st, 0, sizeof st);
	memset(&t, 0, sizeof t);
	memset(&w, 0, sizeof w);
	st.version = "0.1.0";
	st.listen = "127.0.0.1:7070";
	st.state = "serving";
	st.mode = "ssp";
	st.rule = "adam";
	st.rule_params.kind = PS_RULE_ADAM;
	st.rule_params.lr = 0.001;
	st.rule_params.beta1 = 0.9;
	st.rule_params.beta2 = 0.999;
	st.rule_params.eps = 1e-8;
	st.staleness = 2;
	st.model_version = 812;
	st.params = 100352;
	t.name = "dense/kernel";
	t.ndim = 2;
	t.dims[0] = 784;
	t.dims[1] = 128;
	t.l2_norm = 12.5;
	st.tensors = &t;
	st.ntensors = 1;
	w.id = 3;
	w.name = "w3";
	w.address = "127.0.0.1:50122";
	w.state = "active";
	w.pushes = 200;
	w.clock = 200;
	w.lag = -1;
	w.last_seen_s = 0.25;
	st.workers = &w;
	st.nworkers = 1;
	st.rejected = &rej;
	st.nrejected = 1;
	st.rejected_total = 2;
	st.uptime_s = INFINITY;	/* not finite: must come out as null */

	j = ps_ctl_status_json(&st);
	for (i = 0; keys[i] != NULL; i++) {
		if (json_object_get(j, keys[i]) == NULL) {
			diag("missing key %s", keys[i]);
			missing++;
		}
	}
	is_int(missing, 0, "STATUS has every key control.h lists");
	is_int(json_integer_value(json_object_get(j, "model_version")), 812,
	    "model_version is 812");
	ok(json_is_null(json_object_get(j, "sync_workers")),
	    "sync_workers is null when not in sync mode");
	is_int(json_integer_value(json_object_get(j, "staleness")), 2,
	    "staleness is 2");
	ok(json_is_null(json_object_get(j, "uptime_s")),
	    "a non-finite number is written as null");
	v = json_object_get(json_object_get(j, "rule_params"), "beta2");
	is_near(json_real_value(v), 0.999, 1e-15, "adam's beta2 is listed");
	ok(json_object_get(json_object_get(j, "rule_params"), "momentum") ==
	    NULL, "adam lists no momentum");
	v = json_array_get(json_object_get(j, "tensors"), 0);
	s = json_dumps(json_object_get(v, "shape"), JSON_COMPACT);
	is_str(s, "[784,128]", "the tensor's shape is [784, 128]");
	free(s);
	is_str(json_string_value(json_object_get(v, "name")), "dense/kernel",
	    "the tensor is named");
	v = json_array_get(json_object_get(j, "workers"), 0);
	is_str(json_string_value(json_object_get(v, "address")),
	    "127.0.0.1:50122", "the worker's address is listed");
	is_int(json_integer_value(json_object_get(v, "lag")), -1,
	    "a worker's lag may be negative");
	ok(json_is_number(json_object_get(v, "update_l2")) &&
	    json_is_number(json_object_get(v, "update_l2_max")) &&
	    json_is_number(json_object_get(v, "last_push_s")) &&
	    json_is_number(json_object_get(v, "pushes_per_s_1m")),
	    "a worker has update_l2, update_l2_max, last_push_s, "
	    "pushes_per_s_1m");
	ok(json_is_null(json_object_get(j, "round")),
	    "round is null outside sync mode");
	v = json_array_get(json_object_get(j, "tensors"), 0);
	ok(json_is_number(json_object_get(v, "growth_1m")) &&
	    json_is_number(json_object_get(v, "growth_reset")),
	    "a tensor has growth_1m and growth_reset");
	is_int(json_integer_value(json_object_get(json_object_get(j,
	    "rejected"), "shape")), 2, "rejections are listed by code");
	v = json_object_get(j, "checkpoint");
	ok(json_is_null(json_object_get(v, "dir")) &&
	    json_is_null(json_object_get(v, "last_ok")) &&
	    json_is_false(json_object_get(v, "in_progress")),
	    "no checkpoint dir and no checkpoint yet read as nulls");
	json_decref(j);

	w.name = "bad\xff";
	j = ps_ctl_status_json(&st);
	v = json_array_get(json_object_get(j, "workers"), 0);
	is_str(json_string_value(json_object_get(v, "name")), "?",
	    "a worker name that is not UTF-8 is replaced, not dropped");
	json_decref(j);

	s = ps_ctl_event_snapshot(17, &st);
	j = json_loads(s, 0, NULL);
	ok(j != NULL && strcmp(json_string_value(json_object_get(j, "event")),
	    "snapshot") == 0 && json_integer_value(json_object_get(j, "seq"))
	    == 17 && json_is_object(json_object_get(j, "snapshot")),
	    "a snapshot event carries seq and STATUS");
	json_decref(j);
	free(s);
}

/* Parses STATUS text; returns 0 or -1 and diag()s the cause. */
static int
status_text(const char *text, struct ps_ctl_status *st, char **cause)
{
	json_t	*j;
	int	 r;

	*cause = NULL;
	if ((j = json_loads(text, 0, NULL)) == NULL)
		bail_out("not JSON: %s", text);
	r = ps_ctl_status_parse(j, st, cause);
	json_decref(j);
	return r;
}

/*
 * Parses the recorded snapshot snap-empty.json with one member changed:
 * key (top-level, or "checkpoint.X") set to the JSON text val, or removed
 * when val is NULL.  Returns 0 or -1 with *cause.
 */
static int
status_with(const char *key, const char *val, char **cause)
{
	struct ps_ctl_status	 st;
	json_error_t		 err;
	json_t			*j, *o;
	const char		*k = key;
	int			 r;

	if ((j = json_load_file(tap_data("snap-empty.json"), 0, &err)) == NULL)
		bail_out("snap-empty.json: %s", err.text);
	o = j;
	if (strncmp(key, "checkpoint.", 11) == 0) {
		o = json_object_get(j, "checkpoint");
		k = key + 11;
	}
	if (val == NULL)
		json_object_del(o, k);
	else
		json_object_set_new(o, k, json_loads(val, JSON_DECODE_ANY,
		    NULL));
	*cause = NULL;
	r = ps_ctl_status_parse(j, &st, cause);
	json_decref(j);
	if (r == 0)
		ps_ctl_status_clear(&st);
	return r;
}

/* Checks that key = val is refused with a cause containing want. */
static void
status_refused(const char *key, const char *val, const char *want)
{
	char	*cause;
	int	 r;

	r = status_with(key, val, &cause);
	ok(r == -1 && cause != NULL && strstr(cause, want) != NULL,
	    "STATUS with %s %s is refused: %s", key, val != NULL ? val :
	    "missing", cause != NULL ? cause : "(parsed)");
	free(cause);
}

static void
test_status_parse(void)
{
	struct ps_ctl_tensor	 t;
	struct ps_ctl_worker	 w;
	struct ps_ctl_count	 rej = { "shape", 2 };
	struct ps_ctl_status	 st, rd;
	json_error_t		 err;
	json_t			*j, *back;
	char			*cause = NULL, dims[64];
	const uint64_t		 waiting[] = { 3, 5 };
	const struct ps_ctl_block blocks[] = { { 3, "w3" }, { 0, "sw-c" } };
	int			 r;

	/* What the server writes reads back as it was. */
	memset(&st, 0, sizeof st);
	memset(&t, 0, sizeof t);
	memset(&w, 0, sizeof w);
	st.version = "0.1.0";
	st.state = "serving";
	st.mode = "async";
	st.rule = "momentum";
	st.rule_params.kind = PS_RULE_MOMENTUM;
	st.rule_params.lr = 0.05;
	st.rule_params.momentum = 0.9;
	st.rule_params.nesterov = 1;
	st.staleness = -1;
	st.workers_expected = 4;
	st.model_version = (uint64_t)1 << 40;
	st.last_update_l2 = NAN;
	t.name = "dense/kernel";
	t.ndim = 2;
	t.dims[0] = 784;
	t.dims[1] = 128;
	t.version = 7;
	st.tensors = &t;
	st.ntensors = 1;
	w.id = 3;
	w.name = "w3";
	w.state = "gone";
	w.lag = -1;
	w.bytes_out = 801000;
	st.workers = &w;
	st.nworkers = 1;
	st.rejected = &rej;
	st.nrejected = 1;
	st.checkpoint.dir = "/var/lib/psctl";
	st.checkpoint.have_last = 1;
	st.checkpoint.last_ok = 0;
	st.checkpoint.last_error = "disk full";
	st.checkpoint.last_age_s = 4.5;
	t.growth_1m = 0.5;
	t.growth_reset = NAN;
	st.growth_window_s = 42;
	w.update_l2 = 2.5;
	w.update_l2_max = 3e6;
	w.last_push_s = NAN;
	w.pushes_per_s_1m = 9.5;
	st.round.present = 1;
	st.round.number = 48;
	st.round.waiting_on = waiting;
	st.round.nwaiting = 2;
	st.round.waiting_s = 8.5;
	st.blocked = blocks;
	st.nblocked = 2;
	j = ps_ctl_status_json(&st);
	r = ps_ctl_status_parse(j, &rd, &cause);
	/* The parsed strings live as long as rd, not as the caller's j. */
	json_decref(j);
	ok(r == 0, "a STATUS the server wrote parses back%s%s",
	    cause != NULL ? ": " : "", cause != NULL ? cause : "");
	if (r != 0)
		bail_out("cannot go on");
	ok(strcmp(rd.version, "0.1.0") == 0 && rd.listen == NULL &&
	    strcmp(rd.rule, "momentum") == 0,
	    "strings read back, and a NULL one as NULL");
	ok(rd.staleness == -1 && rd.sync_workers == 0 &&
	    rd.workers_expected == 4,
	    "optional numbers read back as their sentinels or values");
	ok(rd.model_version == (uint64_t)1 << 40 && isnan(rd.last_update_l2),
	    "a count above 2^32 is exact, a NAN norm comes back NAN");
	ok(rd.nrule_items == 3 && strcmp(rd.rule_items[0].name, "lr") == 0 &&
	    rd.rule_items[0].value == 0.05 && !rd.rule_items[0].boolean &&
	    strcmp(rd.rule_items[2].name, "nesterov") == 0 &&
	    rd.rule_items[2].boolean && rd.rule_items[2].value == 1,
	    "the rule's parameters read back in order, nesterov a boolean");
	ok(rd.rule_known && rd.rule_params.kind == PS_RULE_MOMENTUM &&
	    rd.rule_params.lr == 0.05 && rd.rule_params.momentum == 0.9 &&
	    rd.rule_params.nesterov == 1,
	    "and the rule itself reads back as rule.h knows it");
	snprintf(dims, sizeof dims, "%u %llu %llu", rd.tensors[0].ndim,
	    (unsigned long long)rd.tensors[0].dims[0],
	    (unsigned long long)rd.tensors[0].dims[1]);
	ok(rd.ntensors == 1 && strcmp(rd.tensors[0].name, "dense/kernel") == 0
	    && strcmp(dims, "2 784 128") == 0 && rd.tensors[0].version == 7,
	    "a tensor reads back with its name and shape (%s)", dims);
	ok(rd.nworkers == 1 && rd.workers[0].id == 3 &&
	    rd.workers[0].lag == -1 && rd.workers[0].bytes_out == 801000 &&
	    strcmp(rd.workers[0].state, "gone") == 0,
	    "a worker reads back, a negative lag included");
	ok(rd.nrejected == 1 && strcmp(rd.rejected[0].name, "shape") == 0 &&
	    rd.rejected[0].n == 2, "rejections read back by code");
	ok(rd.tensors[0].growth_1m == 0.5 && isnan(rd.tensors[0].growth_reset)
	    && rd.growth_window_s == 42,
	    "growth_1m, growth_reset (null) and growth_window_s read back");
	ok(rd.workers[0].update_l2 == 2.5 && rd.workers[0].update_l2_max == 3e6
	    && isnan(rd.workers[0].last_push_s) &&
	    rd.workers[0].pushes_per_s_1m == 9.5,
	    "update_l2, update_l2_max, last_push_s (null), pushes_per_s_1m "
	    "read back");
	ok(rd.round.present && rd.round.number == 48 && rd.round.nwaiting == 2
	    && rd.round.waiting_on[0] == 3 && rd.round.waiting_on[1] == 5 &&
	    rd.round.waiting_s == 8.5,
	    "the sync round reads back: number, waiting_on, waiting_s");
	ok(rd.nblocked == 2 && rd.blocked[0].id == 3 &&
	    strcmp(rd.blocked[0].name, "w3") == 0 && rd.blocked[1].id == 0 &&
	    strcmp(rd.blocked[1].name, "sw-c") == 0,
	    "the blocks read back, a name alone with id null");
	ok(rd.checkpoint.have_last && !rd.checkpoint.last_ok &&
	    strcmp(rd.checkpoint.last_error, "disk full") == 0 &&
	    rd.checkpoint.last_age_s == 4.5 && rd.checkpoint.last_path == NULL,
	    "a failed last checkpoint reads back with its error");
	ps_ctl_status_clear(&rd);
	ok(rd.root == NULL && rd.tensors == NULL,
	    "ps_ctl_status_clear leaves nothing behind");

	/* A recorded snapshot, as psctl top's tests replay them. */
	if ((j = json_load_file(tap_data("snap-async-1.json"), 0, &err)) ==
	    NULL)
		bail_out("snap-async-1.json: %s", err.text);
	r = ps_ctl_status_parse(j, &rd, &cause);
	ok(r == 0 && rd.ntensors == 4 && rd.nworkers == 5 &&
	    rd.checkpoint.have_last && rd.checkpoint.last_ok &&
	    rd.sync_workers == 0 && rd.staleness == -1,
	    "a recorded async snapshot parses%s%s", cause != NULL ? ": " : "",
	    cause != NULL ? cause : "");
	ok(r == 0 && !rd.round.present && isnan(rd.growth_window_s) &&
	    isnan(rd.tensors[0].growth_1m) && isnan(rd.workers[0].update_l2) &&
	    isnan(rd.workers[0].pushes_per_s_1m) && rd.nblocked == 0,
	    "an older server's STATUS without the newer fields reads them "
	    "as null");
	if (r == 0)
		ps_ctl_status_clear(&rd);
	json_decref(j);
	free(cause);
	cause = NULL;

	ok(status_with("a_newer_key", "{\"x\": 1}", &cause) == 0,
	    "a key STATUS does not know is ignored");
	free(cause);
	if ((j = json_load_file(tap_data("snap-empty.json"), 0, &err)) == NULL)
		bail_out("snap-empty.json: %s", err.text);
	json_object_set_new(j, "rule", json_string("lion"));
	json_object_set_new(j, "rule_params", json_pack("{s:f, s:f}", "lr",
	    1e-4, "beta1", 0.9));
	r = ps_ctl_status_parse(j, &rd, &cause);
	ok(r == 0 && !rd.rule_known && rd.nrule_items == 2 &&
	    strcmp(rd.rule_items[1].name, "beta1") == 0,
	    "a rule this psctl does not know still lists its parameters");
	if (r == 0)
		ps_ctl_status_clear(&rd);
	json_decref(j);
	/*
	 * Found by tests/fuzz/fuzz-control: adam with a parameter this psctl
	 * does not know was written back as {"lr": 0, ...}, its own values
	 * lost.  It is written as it was read.
	 */
	if ((j = json_load_file(tap_data("snap-empty.json"), 0, &err)) == NULL)
		bail_out("snap-empty.json: %s", err.text);
	json_object_set_new(j, "rule", json_string("adam"));
	json_object_set_new(j, "rule_params", json_pack("{s:f, s:f, s:b}",
	    "lh", 1e-3, "beta1", 0.9, "amsgrad", 1));
	r = ps_ctl_status_parse(j, &rd, &cause);
	back = r == 0 ? ps_ctl_status_json(&rd) : NULL;
	ok(r == 0 && !rd.rule_known && back != NULL &&
	    json_equal(json_object_get(back, "rule_params"),
	    json_object_get(j, "rule_params")),
	    "parameters of a known rule that this psctl cannot read are "
	    "written back as read");
	json_decref(back);
	if (r == 0)
		ps_ctl_status_clear(&rd);
	json_decref(j);
	free(cause);
	cause = NULL;
	status_refused("workers", NULL, "\"workers\"");
	status_refused("tensors", "{}", "\"tensors\" is not an array");
	status_refused("pushes_total", "-1", "\"pushes_total\" is not a count");
	status_refused("model_version", "1.5", "\"model_version\"");
	status_refused("uptime_s", "\"12 s\"", "\"uptime_s\" is not a number");
	status_refused("checkpoint.last_ok", "\"yes\"",
	    "\"checkpoint.last_ok\"");
	status_refused("rule_params", "{\"lr\": \"fast\"}",
	    "\"rule_params.lr\"");
	status_refused("tensors", "[{\"name\": \"a\", \"shape\": "
	    "[1,1,1,1,1,1,1,1,1], \"l2_norm\": 0, \"update_l2\": 0, "
	    "\"version\": 0, \"updates_total\": 0, \"updates_per_s\": 0}]",
	    "over 8 dimensions");
	status_refused("workers", "[{\"id\": 1}]", "\"workers[0].lag\"");
	status_refused("round", "3", "\"round\" is not an object");
	status_refused("round", "{\"number\": 1, \"waiting_on\": [\"w3\"], "
	    "\"waiting_s\": 1}", "\"round.waiting_on\"");
	status_refused("round", "{\"number\": 1, \"waiting_on\": []}",
	    "\"round.waiting_s\"");
	status_refused("growth_window_s", "\"1m\"", "\"growth_window_s\"");
	status_refused("blocked", "[{\"id\": \"3\", \"name\": null}]",
	    "\"blocked[0].id\"");

	r = status_text("[1]", &rd, &cause);
	ok(r == -1 && cause != NULL, "a STATUS that is not an object is "
	    "refused: %s", cause != NULL ? cause : "-");
	free(cause);
}

static void
test_replies(void)
{
	struct ps_ctl_reply	 r;
	struct ps_ctl_result	 res;
	struct ps_ctl_status	 st0;
	char			*s, *cause = NULL;
	int			 rc;

	memset(&st0, 0, sizeof st0);

	s = ps_ctl_reply_ok(4, ps_ctl_checkpoint_result("/d/x.safetensors",
	    812, 4000128, 0.021));
	ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 && r.ok &&
	    r.has_id && r.id == 4 && !r.is_event,
	    "an ok reply parses back with its id");
	is_str(json_string_value(json_object_get(r.result, "path")),
	    "/d/x.safetensors", "the checkpoint result has the path");
	is_int(json_integer_value(json_object_get(r.result, "bytes")), 4000128,
	    "and the size in bytes");
	ps_ctl_reply_clear(&r);
	free(s);

	s = ps_ctl_reply_error(1, 9, "not_found", "no checkpoint \"%s\"", "x");
	is_str(s, "{\"id\":9,\"ok\":false,\"error\":{\"code\":\"not_found\","
	    "\"message\":\"no checkpoint \\\"x\\\"\"}}",
	    "an error reply has the documented shape");
	ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 && !r.ok &&
	    strcmp(r.code, "not_found") == 0 &&
	    strcmp(r.message, "no checkpoint \"x\"") == 0,
	    "an error reply parses back with code and message");
	ps_ctl_reply_clear(&r);
	free(s);

	s = ps_ctl_reply_error(0, 0, "bad_request", "x");
	ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 && !r.has_id,
	    "an error without a request id carries \"id\": null");
	ps_ctl_reply_clear(&r);
	free(s);

	s = ps_ctl_reply_ok(6, ps_ctl_stop_result(NULL));
	is_str(s, "{\"id\":6,\"ok\":true,\"result\":{\"stopping\":true,"
	    "\"checkpoint\":null}}", "a stop reply says stopping");
	free(s);
	s = ps_ctl_reply_ok(5, ps_ctl_reset_result(NULL, 813));
	is_str(s, "{\"id\":5,\"ok\":true,\"result\":{\"from\":\"initial\","
	    "\"model_version\":813}}", "a reset to the first model says initial");
	free(s);

	rc = ps_ctl_reply_parse("{\"ok\": true}", 12, &r, &cause);
	ok(rc == -1, "a reply without an id is refused: %s", cause);
	free(cause);
	rc = ps_ctl_reply_parse("{\"id\": 1, \"ok\": false}", 22, &r, &cause);
	ok(rc == -1, "an error without a code is refused: %s", cause);
	free(cause);

	/* Results read back as written. */
	s = ps_ctl_reply_ok(4, ps_ctl_checkpoint_result("/d/x.safetensors",
	    812, 4000128, 0.021));
	ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 &&
	    ps_ctl_result_parse(PS_CTL_CHECKPOINT, r.result, &res, &cause) == 0
	    && strcmp(res.path, "/d/x.safetensors") == 0 &&
	    res.model_version == 812 && res.bytes == 4000128 &&
	    res.seconds == 0.021, "a checkpoint result reads back");
	ps_ctl_reply_clear(&r);
	free(s);
	s = ps_ctl_reply_ok(5, ps_ctl_reset_result(NULL, 813));
	ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 &&
	    ps_ctl_result_parse(PS_CTL_RESET, r.result, &res, &cause) == 0 &&
	    strcmp(res.from, "initial") == 0 && res.model_version == 813,
	    "a reset result reads back");
	ps_ctl_reply_clear(&r);
	free(s);
	s = ps_ctl_reply_ok(6, ps_ctl_stop_result(NULL));
	ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 &&
	    ps_ctl_result_parse(PS_CTL_STOP, r.result, &res, &cause) == 0 &&
	    res.checkpoint == NULL, "a stop result without a checkpoint reads "
	    "back");
	ps_ctl_reply_clear(&r);
	free(s);
	s = ps_ctl_reply_ok(2, ps_ctl_subscribe_result(0.5));
	ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 &&
	    ps_ctl_result_parse(PS_CTL_SUBSCRIBE, r.result, &res, &cause) == 0
	    && res.interval == 0.5, "a subscribe result reads back");
	ps_ctl_reply_clear(&r);
	free(s);
	cause = NULL;
	rc = ps_ctl_reply_parse("{\"id\":4,\"ok\":true,\"result\":"
	    "{\"path\":7}}", 38, &r, &cause);
	if (rc == 0)
		rc = ps_ctl_result_parse(PS_CTL_CHECKPOINT, r.result, &res,
		    &cause);
	ok(rc == -1 && cause != NULL &&
	    strstr(cause, "the result of checkpoint \"path\"") != NULL,
	    "a checkpoint result whose path is not a string is refused: %s",
	    cause != NULL ? cause : "-");
	ps_ctl_reply_clear(&r);
	free(cause);

	s = ps_ctl_event_snapshot(17, &st0);
	ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 && r.is_event &&
	    r.seq == 17 && json_is_object(r.snapshot),
	    "a snapshot event reads with its seq and STATUS");
	ps_ctl_reply_clear(&r);
	free(s);
	cause = NULL;
	rc = ps_ctl_reply_parse("{\"event\": \"snapshot\", \"seq\": 1}", 31,
	    &r, &cause);
	ok(rc == -1 && cause != NULL, "a snapshot event without a snapshot is "
	    "refused: %s", cause != NULL ? cause : "-");
	free(cause);

	s = ps_ctl_request(12, PS_CTL_RESET, "ckpt-3.safetensors", 0, 0);
	is_str(s, "{\"id\":12,\"cmd\":\"reset\",\"name\":\"ckpt-3.safetensors\"}",
	    "a reset request is encoded as documented");
	free(s);
	s = ps_ctl_request(13, PS_CTL_STOP, NULL, 0, 1);
	is_str(s, "{\"id\":13,\"cmd\":\"stop\",\"checkpoint\":true}",
	    "a stop request carries checkpoint");
	free(s);
	s = ps_ctl_request(14, PS_CTL_SUBSCRIBE, NULL, 0.5, 0);
	is_str(s, "{\"id\":14,\"cmd\":\"subscribe\",\"interval\":0.5}",
	    "a subscribe request carries the interval");
	free(s);
	s = ps_ctl_request_worker(15, PS_CTL_KICK, "12", 1);
	is_str(s, "{\"id\":15,\"cmd\":\"kick\",\"worker\":12,\"block\":true}",
	    "a kick of a worker given in digits sends its id");
	free(s);
	s = ps_ctl_request_worker(16, PS_CTL_KICK, "012", 0);
	is_str(s, "{\"id\":16,\"cmd\":\"kick\",\"worker\":\"012\","
	    "\"block\":false}", "a leading 0 makes a name");
	free(s);
	s = ps_ctl_request_worker(17, PS_CTL_UNBLOCK, "sw-c", 0);
	is_str(s, "{\"id\":17,\"cmd\":\"unblock\",\"worker\":\"sw-c\"}",
	    "an unblock by name carries no block");
	free(s);
	s = ps_ctl_reply_ok(15, ps_ctl_kick_result(12, "sw-c", 1, 1));
	ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 &&
	    ps_ctl_result_parse(PS_CTL_KICK, r.result, &res, &cause) == 0 &&
	    res.worker_id == 12 && strcmp(res.worker_name, "sw-c") == 0 &&
	    res.kicked && res.blocked, "a kick result reads back");
	ps_ctl_reply_clear(&r);
	free(s);
	s = ps_ctl_reply_ok(15, ps_ctl_kick_result(0, "sw-c", 0, 1));
	ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 &&
	    ps_ctl_result_parse(PS_CTL_KICK, r.result, &res, &cause) == 0 &&
	    res.worker_id == 0 && !res.kicked && res.blocked,
	    "a kick result blocking a name alone reads back with id null");
	ps_ctl_reply_clear(&r);
	free(s);
	{
		struct ps_ctl_ckpt	 in[2], *got = NULL;
		size_t			 n = 0;

		memset(in, 0, sizeof in);
		in[0].name = "ckpt-000853";
		in[0].path = "/d/ckpt-000853.safetensors";
		in[0].version = 853;
		in[0].time = 1764690000.5;
		in[0].age_s = 120.5;
		in[0].bytes = 4000128;
		in[0].model_l2 = 1203.25;
		in[1].name = "initial";
		in[1].time = in[1].age_s = in[1].model_l2 = NAN;
		in[1].bytes = -1;
		s = ps_ctl_reply_ok(18, ps_ctl_checkpoints_result(in, 2));
		ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 &&
		    ps_ctl_checkpoints_parse(r.result, &got, &n, &cause) == 0 &&
		    n == 2 && strcmp(got[0].name, "ckpt-000853") == 0 &&
		    strcmp(got[0].path, "/d/ckpt-000853.safetensors") == 0 &&
		    got[0].version == 853 && got[0].time == 1764690000.5 &&
		    got[0].age_s == 120.5 && got[0].bytes == 4000128 &&
		    got[0].model_l2 == 1203.25 &&
		    strcmp(got[1].name, "initial") == 0 &&
		    got[1].path == NULL && isnan(got[1].time) &&
		    got[1].bytes == -1 && isnan(got[1].model_l2),
		    "a checkpoints result reads back, nulls included");
		free(got);
		ps_ctl_reply_clear(&r);
		free(s);
		cause = NULL;
		rc = ps_ctl_reply_parse("{\"id\":4,\"ok\":true,\"result\":"
		    "{\"checkpoints\":[{\"name\":\"a\"}]}}", 58, &r, &cause);
		if (rc == 0)
			rc = ps_ctl_checkpoints_parse(r.result, &got, &n, &cause);
		ok(rc == -1 && cause != NULL &&
		    strstr(cause, "checkpoints[0].") != NULL,
		    "a checkpoint without its members is refused: %s",
		    cause != NULL ? cause : "-");
		ps_ctl_reply_clear(&r);
		free(cause);
	}
	s = ps_ctl_reply_ok(17, ps_ctl_unblock_result(2));
	ok(ps_ctl_reply_parse(s, strlen(s), &r, &cause) == 0 &&
	    ps_ctl_result_parse(PS_CTL_UNBLOCK, r.result, &res, &cause) == 0 &&
	    res.unblocked == 2, "an unblock result reads back");
	ps_ctl_reply_clear(&r);
	free(s);
}

/* STATUS's "receive" reads back, and an older server's without socket_*. */
static void
test_status_usage(void)
{
	struct ps_ctl_status	 st, rd;
	json_t			*j, *rx;
	char			*cause = NULL;
	int			 r;

	memset(&st, 0, sizeof st);
	st.version = "0.1.0";
	st.state = "serving";
	st.mode = "async";
	st.rule = "add";
	st.staleness = -1;
	st.last_update_l2 = NAN;
	st.usage.present = 1;
	st.usage.rx_budget = 64 << 20;
	st.usage.rx_paused = 3;
	st.usage.sock_budget = 786135040;
	st.usage.sock_bytes = 8 << 20;
	st.usage.sock_large = 2;
	j = ps_ctl_status_json(&st);
	r = ps_ctl_status_parse(j, &rd, &cause);
	ok(r == 0 && rd.usage.present && rd.usage.rx_paused == 3 &&
	    rd.usage.sock_budget == 786135040 &&
	    rd.usage.sock_bytes == 8 << 20 && rd.usage.sock_large == 2,
	    "the socket buffers' sum reads back%s%s",
	    cause != NULL ? ": " : "", cause != NULL ? cause : "");
	if (r == 0)
		ps_ctl_status_clear(&rd);
	free(cause);
	cause = NULL;

	rx = json_object_get(j, "receive");
	json_object_del(rx, "socket_budget_bytes");
	json_object_del(rx, "socket_bytes");
	json_object_del(rx, "socket_large_connections");
	r = ps_ctl_status_parse(j, &rd, &cause);
	ok(r == 0 && rd.usage.present && rd.usage.rx_paused == 3 &&
	    rd.usage.sock_budget == 0 && rd.usage.sock_bytes == 0 &&
	    rd.usage.sock_large == 0,
	    "a server's without them reads them as 0%s%s",
	    cause != NULL ? ": " : "", cause != NULL ? cause : "");
	if (r == 0)
		ps_ctl_status_clear(&rd);
	free(cause);
	cause = NULL;

	json_object_set_new(rx, "socket_bytes", json_string("4 MiB"));
	r = ps_ctl_status_parse(j, &rd, &cause);
	ok(r == -1 && cause != NULL && strstr(cause, "receive.socket_") != NULL,
	    "one with socket_bytes but not the others, or not a number, is "
	    "refused: %s", cause != NULL ? cause : "(parsed)");
	if (r == 0)
		ps_ctl_status_clear(&rd);
	free(cause);
	json_decref(j);
}

int
main(void)
{
	plan(142);
	test_requests();
	test_names();
	test_status();
	test_status_parse();
	test_status_usage();
	test_replies();
	return exit_status();
}
