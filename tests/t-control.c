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

	memset(big, ' ', sizeof big);
	memcpy(big, "{\"id\": 1, \"cmd\": \"status\"}", 26);
	big[sizeof big - 1] = '\0';
	refused(big, "bad_request", "over the limit of 4096", 0);
}

static void
test_names(void)
{
	char	 out[PS_CTL_NAME_MAX + 32], longname[PS_CTL_NAME_MAX + 2];
	char	*cause = NULL;

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
		"resets_total", "checkpoint", NULL
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

static void
test_replies(void)
{
	struct ps_ctl_reply	 r;
	char			*s, *cause = NULL;
	int			 rc;

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
}

int
main(void)
{
	plan(70);
	test_requests();
	test_names();
	test_status();
	test_replies();
	return exit_status();
}
