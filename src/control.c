/*
 * The control subprotocol's messages (control.h): request validation, the
 * STATUS object, replies, events and the /metrics page.  Pure functions on
 * plain structs; the server calls them on its service thread, psctl's
 * commands and console on their only thread.  STATUS is written by
 * ps_ctl_status_json() and read back by ps_ctl_status_parse(), side by
 * side, so that the schema has one home.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "log.h"
#include "utf8.h"
#include "xmalloc.h"

static json_t	*ctl_number(double);
static json_t	*ctl_uint(uint64_t);
static json_t	*ctl_string_or_null(const char *);
static char	*ctl_dump(json_t *);
static json_t	*ctl_tensor_json(const struct ps_ctl_tensor *);
static json_t	*ctl_worker_json(const struct ps_ctl_worker *);
static int	 ctl_members(json_t *, const char *, const char *const *,
		     char **);
static int	 ctl_worker(json_t *, struct ps_ctl_req *, char **);
static int	 ctl_rd_fail(const char *, const char *, const char *,
		     json_t *, const char *, char **);
static int	 ctl_rd_uint(json_t *, const char *, const char *,
		     const char *, uint64_t *, char **);
static int	 ctl_rd_opt_uint(json_t *, const char *, const char *,
		     uint64_t *, int *, char **);
static int	 ctl_rd_num(json_t *, const char *, const char *,
		     const char *, double *, char **);
static int	 ctl_rd_str(json_t *, const char *, const char *,
		     const char *, const char **, char **);
static int	 ctl_rd_bool(json_t *, const char *, const char *, int *,
		     char **);
static int	 ctl_rd_tensor(json_t *, size_t, struct ps_ctl_tensor *,
		     char **);
static int	 ctl_rd_worker(json_t *, size_t, struct ps_ctl_worker *,
		     char **);
static int	 ctl_rd_checkpoint(json_t *, struct ps_ctl_ckpt_status *,
		     char **);
static int	 ctl_rd_usage(json_t *, struct ps_ctl_usage *, char **);

static const char *const ctl_cmd_names[] = {
	NULL, "status", "subscribe", "unsubscribe", "checkpoint", "reset",
	"stop", "kick", "unblock", "checkpoints"
};
#define CTL_NCMDS	(sizeof ctl_cmd_names / sizeof ctl_cmd_names[0])

const char *
ps_ctl_cmd_name(enum ps_ctl_cmd cmd)
{
	if ((size_t)cmd >= CTL_NCMDS)
		return NULL;
	return ctl_cmd_names[cmd];
}

/*
 * Refuses members of o other than "id", "cmd" and those in allowed.
 */
static int
ctl_members(json_t *o, const char *cmd, const char *const *allowed,
    char **cause)
{
	const char	*key;
	json_t		*v;
	size_t		 i;

	json_object_foreach(o, key, v) {
		if (strcmp(key, "id") == 0 || strcmp(key, "cmd") == 0)
			continue;
		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(key, allowed[i]) == 0)
				break;
		}
		if (allowed[i] == NULL) {
			*cause = xasprintf("unknown member \"%s\" in a %s "
			    "request", key, cmd);
			return -1;
		}
	}
	return 0;
}

int
ps_ctl_name_valid(const char *name, char *out, size_t outlen, char **cause)
{
	const unsigned char	*p;
	size_t			 len, slen = strlen(PS_CTL_CKPT_SUFFIX);

	len = strlen(name);
	if (len == 0) {
		*cause = xstrdup("the checkpoint name is empty");
		return -1;
	}
	/*
	 * The limit is on the name without its suffix, so that the file
	 * name a name becomes is itself accepted (a reset names the file).
	 */
	if (len >= slen && strcmp(name + len - slen, PS_CTL_CKPT_SUFFIX) == 0)
		slen = 0;
	if (len + slen - strlen(PS_CTL_CKPT_SUFFIX) > PS_CTL_NAME_MAX) {
		*cause = xasprintf("the checkpoint name is %zu bytes, over "
		    "the limit of %d (not counting \"%s\")",
		    len + slen - strlen(PS_CTL_CKPT_SUFFIX), PS_CTL_NAME_MAX,
		    PS_CTL_CKPT_SUFFIX);
		return -1;
	}
	if (name[0] == '.') {
		*cause = xasprintf("checkpoint name \"%s\" begins with '.'",
		    name);
		return -1;
	}
	if (strstr(name, "..") != NULL) {
		*cause = xasprintf("checkpoint name \"%s\" contains \"..\"",
		    name);
		return -1;
	}
	/* Nor may the file name it becomes: "a." would be "a..safetensors". */
	if (slen != 0 && name[len - 1] == '.') {
		*cause = xasprintf("checkpoint name \"%s\" ends with '.'",
		    name);
		return -1;
	}
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p == '/' || *p == '\\') {
			*cause = xasprintf("checkpoint name \"%s\" contains "
			    "'%c': give a file name, not a path", name, *p);
			return -1;
		}
		if (*p < 0x20 || *p == 0x7f) {
			*cause = xstrdup("the checkpoint name contains a "
			    "control character");
			return -1;
		}
	}
	if (!ps_utf8_valid(name, len)) {
		*cause = xstrdup("the checkpoint name is not valid UTF-8");
		return -1;
	}
	if (len + slen + 1 > outlen) {
		*cause = xstrdup("the checkpoint name is too long");
		return -1;
	}
	memcpy(out, name, len);
	memcpy(out + len, PS_CTL_CKPT_SUFFIX, slen);
	out[len + slen] = '\0';
	return 0;
}

/* A kick's or unblock's "worker": an id from 1, or a name. */
static int
ctl_worker(json_t *v, struct ps_ctl_req *req, char **cause)
{
	const char	*name;
	size_t		 len, i;

	if (v == NULL) {
		*cause = xstrdup("the request has no \"worker\" (an id or a "
		    "name)");
		return -1;
	}
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 1) {
			*cause = xstrdup("\"worker\" must be an id from 1 or "
			    "a name");
			return -1;
		}
		req->worker_id = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v)) {
		*cause = xstrdup("\"worker\" must be an id (a number) or a "
		    "name (a string)");
		return -1;
	}
	name = json_string_value(v);
	len = json_string_length(v);
	if (len == 0 || len > PS_CTL_WORKER_MAX) {
		*cause = xasprintf("a worker name is 1 to %d bytes",
		    PS_CTL_WORKER_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
			*cause = xstrdup("the worker name contains a control "
			    "character");
			return -1;
		}
	}
	memcpy(req->worker_name, name, len);
	req->worker_name[len] = '\0';
	return 0;
}

int
ps_ctl_parse(const char *buf, size_t len, struct ps_ctl_req *req,
    const char **code, char **cause)
{
	static const char *const none[] = { NULL };
	static const char *const sub[] = { "interval", NULL };
	static const char *const named[] = { "name", NULL };
	static const char *const ckpt[] = { "name", "force", NULL };
	static const char *const stop[] = { "checkpoint", NULL };
	static const char *const kick[] = { "worker", "block", NULL };
	static const char *const unblock[] = { "worker", NULL };
	json_t		*root, *id, *cmd, *v;
	json_error_t	 jerr;
	const char	*s;
	size_t		 i;

	memset(req, 0, sizeof *req);
	*code = PS_CTL_E_BAD_REQUEST;
	if (len > PS_CTL_REQUEST_MAX) {
		*cause = xasprintf("the request is %zu bytes, over the limit "
		    "of %d", len, PS_CTL_REQUEST_MAX);
		return -1;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		*cause = xasprintf("the request is not JSON: %s (column %d)",
		    jerr.text, jerr.column);
		return -1;
	}
	if (!json_is_object(root)) {
		*cause = xstrdup("a request must be a JSON object");
		goto fail;
	}

	id = json_object_get(root, "id");
	if (id == NULL) {
		*cause = xstrdup("the request has no \"id\"");
		goto fail;
	}
	if (!json_is_integer(id)) {
		*cause = xstrdup("\"id\" must be an integer");
		goto fail;
	}
	req->has_id = 1;
	req->id = json_integer_value(id);

	cmd = json_object_get(root, "cmd");
	if (cmd == NULL || !json_is_string(cmd)) {
		*cause = xstrdup(cmd == NULL ? "the request has no \"cmd\"" :
		    "\"cmd\" must be a string");
		goto fail;
	}
	s = json_string_value(cmd);
	for (i = 1; i < CTL_NCMDS; i++) {
		if (strcmp(s, ctl_cmd_names[i]) == 0)
			break;
	}
	if (i == CTL_NCMDS) {
		*code = PS_CTL_E_UNKNOWN_CMD;
		*cause = xasprintf("unknown command \"%.64s\" (known: status, "
		    "subscribe, unsubscribe, checkpoint, reset, stop, kick, "
		    "unblock, checkpoints)", s);
		goto fail;
	}
	req->cmd = (enum ps_ctl_cmd)i;

	switch (req->cmd) {
	case PS_CTL_STATUS:
	case PS_CTL_UNSUBSCRIBE:
	case PS_CTL_CHECKPOINTS:
		if (ctl_members(root, s, none, cause) != 0)
			goto fail;
		break;
	case PS_CTL_SUBSCRIBE:
		if (ctl_members(root, s, sub, cause) != 0)
			goto fail;
		req->interval = PS_CTL_INTERVAL_DEF;
		if ((v = json_object_get(root, "interval")) != NULL) {
			if (!json_is_number(v) ||
			    !(json_number_value(v) >= PS_CTL_INTERVAL_MIN) ||
			    !(json_number_value(v) <= PS_CTL_INTERVAL_MAX)) {
				*cause = xasprintf("\"interval\" must be a "
				    "number of seconds from %g to %g",
				    PS_CTL_INTERVAL_MIN, PS_CTL_INTERVAL_MAX);
				goto fail;
			}
			req->interval = json_number_value(v);
		}
		break;
	case PS_CTL_CHECKPOINT:
	case PS_CTL_RESET:
		if (ctl_members(root, s, req->cmd == PS_CTL_CHECKPOINT ? ckpt :
		    named, cause) != 0)
			goto fail;
		if ((v = json_object_get(root, "force")) != NULL &&
		    !json_is_null(v)) {
			if (!json_is_boolean(v)) {
				*cause = xstrdup("\"force\" must be true or "
				    "false");
				goto fail;
			}
			req->force = json_is_true(v);
		}
		if ((v = json_object_get(root, "name")) != NULL &&
		    !json_is_null(v)) {
			if (!json_is_string(v)) {
				*cause = xstrdup("\"name\" must be a string");
				goto fail;
			}
			if (ps_ctl_name_valid(json_string_value(v), req->name,
			    sizeof req->name, cause) != 0)
				goto fail;
			req->has_name = 1;
		}
		break;
	case PS_CTL_STOP:
		if (ctl_members(root, s, stop, cause) != 0)
			goto fail;
		if ((v = json_object_get(root, "checkpoint")) != NULL &&
		    !json_is_null(v)) {
			if (!json_is_boolean(v)) {
				*cause = xstrdup("\"checkpoint\" must be true "
				    "or false");
				goto fail;
			}
			req->checkpoint = json_is_true(v);
		}
		break;
	case PS_CTL_KICK:
	case PS_CTL_UNBLOCK:
		if (ctl_members(root, s, req->cmd == PS_CTL_KICK ? kick :
		    unblock, cause) != 0 ||
		    ctl_worker(json_object_get(root, "worker"), req,
		    cause) != 0)
			goto fail;
		if ((v = json_object_get(root, "block")) != NULL &&
		    !json_is_null(v)) {
			if (!json_is_boolean(v)) {
				*cause = xstrdup("\"block\" must be true or "
				    "false");
				goto fail;
			}
			req->block = json_is_true(v);
		}
		break;
	}
	json_decref(root);
	return 0;

fail:
	json_decref(root);
	return -1;
}

static json_t *
ctl_number(double v)
{
	json_t	*j;

	/* JSON has no NaN or infinity: those read as null. */
	if (!isfinite(v))
		return json_null();
	if ((j = json_real(v)) == NULL)
		fatalx("%s: out of memory", __func__);
	return j;
}

static json_t *
ctl_uint(uint64_t v)
{
	json_t	*j;

	if (v > (uint64_t)INT64_MAX)
		v = (uint64_t)INT64_MAX;
	if ((j = json_integer((json_int_t)v)) == NULL)
		fatalx("%s: out of memory", __func__);
	return j;
}

static json_t *
ctl_string_or_null(const char *s)
{
	json_t	*j;

	if (s == NULL)
		return json_null();
	/* Invalid UTF-8 (a hostile worker name) becomes a placeholder. */
	if ((j = json_string(s)) == NULL)
		j = json_string("?");
	if (j == NULL)
		fatalx("%s: out of memory", __func__);
	return j;
}

static char *
ctl_dump(json_t *o)
{
	char	*s;

	s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (s == NULL)
		fatalx("%s: out of memory", __func__);
	return s;
}

static json_t *
ctl_tensor_json(const struct ps_ctl_tensor *t)
{
	json_t		*o, *shape;
	unsigned	 i;

	o = json_object();
	shape = json_array();
	for (i = 0; i < t->ndim && i < PS_DIMS_MAX; i++)
		json_array_append_new(shape, ctl_uint(t->dims[i]));
	json_object_set_new(o, "name", ctl_string_or_null(t->name));
	json_object_set_new(o, "shape", shape);
	json_object_set_new(o, "l2_norm", ctl_number(t->l2_norm));
	json_object_set_new(o, "update_l2", ctl_number(t->update_l2));
	json_object_set_new(o, "version", ctl_uint(t->version));
	json_object_set_new(o, "updates_total", ctl_uint(t->updates_total));
	json_object_set_new(o, "updates_per_s", ctl_number(t->updates_per_s));
	json_object_set_new(o, "growth_1m", ctl_number(t->growth_1m));
	json_object_set_new(o, "growth_reset", ctl_number(t->growth_reset));
	return o;
}

static json_t *
ctl_worker_json(const struct ps_ctl_worker *w)
{
	json_t	*o = json_object();

	json_object_set_new(o, "id", ctl_uint(w->id));
	json_object_set_new(o, "name", ctl_string_or_null(w->name != NULL ?
	    w->name : ""));
	json_object_set_new(o, "address", ctl_string_or_null(w->address));
	json_object_set_new(o, "state", ctl_string_or_null(w->state));
	json_object_set_new(o, "pushes", ctl_uint(w->pushes));
	json_object_set_new(o, "pulls", ctl_uint(w->pulls));
	json_object_set_new(o, "pushes_per_s", ctl_number(w->pushes_per_s));
	json_object_set_new(o, "pulls_per_s", ctl_number(w->pulls_per_s));
	json_object_set_new(o, "clock", ctl_uint(w->clock));
	json_object_set_new(o, "lag", json_integer(w->lag));
	json_object_set_new(o, "last_seen_s", ctl_number(w->last_seen_s));
	json_object_set_new(o, "bytes_in", ctl_uint(w->bytes_in));
	json_object_set_new(o, "bytes_out", ctl_uint(w->bytes_out));
	json_object_set_new(o, "update_l2", ctl_number(w->update_l2));
	json_object_set_new(o, "update_l2_max", ctl_number(w->update_l2_max));
	json_object_set_new(o, "last_push_s", ctl_number(w->last_push_s));
	json_object_set_new(o, "pushes_per_s_1m",
	    ctl_number(w->pushes_per_s_1m));
	return o;
}

/*
 * The rule's parameters: typed, unless STATUS was read from a server whose
 * rule or parameters this psctl does not know; then as they were read.
 */
static json_t *
ctl_rule_params(const struct ps_ctl_status *st)
{
	const struct ps_ctl_param	*p;
	json_t				*o;
	size_t				 i;

	if (st->rule_known || st->nrule_items == 0)
		return ps_rule_params_json(&st->rule_params);
	o = json_object();
	for (i = 0; i < st->nrule_items; i++) {
		p = &st->rule_items[i];
		json_object_set_new(o, p->name, p->boolean ?
		    json_boolean(p->value != 0) : ctl_number(p->value));
	}
	return o;
}

json_t *
ps_ctl_status_json(const struct ps_ctl_status *st)
{
	const struct ps_ctl_ckpt_status	*c = &st->checkpoint;
	json_t				*o, *a, *ck, *rd;
	size_t				 i;

	o = json_object();
	json_object_set_new(o, "version", ctl_string_or_null(st->version));
	json_object_set_new(o, "listen", ctl_string_or_null(st->listen));
	json_object_set_new(o, "uptime_s", ctl_number(st->uptime_s));
	json_object_set_new(o, "state", ctl_string_or_null(st->state));
	json_object_set_new(o, "mode", ctl_string_or_null(st->mode));
	json_object_set_new(o, "rule", ctl_string_or_null(st->rule));
	json_object_set_new(o, "rule_params", ctl_rule_params(st));
	json_object_set_new(o, "sync_workers", st->sync_workers > 0 ?
	    ctl_uint(st->sync_workers) : json_null());
	json_object_set_new(o, "staleness", st->staleness >= 0 ?
	    ctl_uint((uint64_t)st->staleness) : json_null());
	json_object_set_new(o, "model_version", ctl_uint(st->model_version));
	json_object_set_new(o, "params", ctl_uint(st->params));
	json_object_set_new(o, "bytes", ctl_uint(st->bytes));
	json_object_set_new(o, "model_l2", ctl_number(st->model_l2));
	json_object_set_new(o, "last_update_l2", ctl_number(st->last_update_l2));

	a = json_array();
	for (i = 0; i < st->ntensors; i++)
		json_array_append_new(a, ctl_tensor_json(&st->tensors[i]));
	json_object_set_new(o, "tensors", a);
	json_object_set_new(o, "growth_window_s",
	    ctl_number(st->growth_window_s));
	a = json_array();
	for (i = 0; i < st->nworkers; i++)
		json_array_append_new(a, ctl_worker_json(&st->workers[i]));
	json_object_set_new(o, "workers", a);
	if (st->round.present) {
		rd = json_object();
		json_object_set_new(rd, "number", ctl_uint(st->round.number));
		a = json_array();
		for (i = 0; i < st->round.nwaiting; i++)
			json_array_append_new(a,
			    ctl_uint(st->round.waiting_on[i]));
		json_object_set_new(rd, "waiting_on", a);
		json_object_set_new(rd, "waiting_s",
		    ctl_number(st->round.waiting_s));
		json_object_set_new(o, "round", rd);
	} else
		json_object_set_new(o, "round", json_null());
	a = json_array();
	for (i = 0; i < st->nblocked; i++) {
		rd = json_object();
		json_object_set_new(rd, "id", st->blocked[i].id != 0 ?
		    ctl_uint(st->blocked[i].id) : json_null());
		json_object_set_new(rd, "name",
		    ctl_string_or_null(st->blocked[i].name));
		json_array_append_new(a, rd);
	}
	json_object_set_new(o, "blocked", a);

	json_object_set_new(o, "workers_connected",
	    ctl_uint(st->workers_connected));
	json_object_set_new(o, "workers_expected", st->workers_expected > 0 ?
	    ctl_uint(st->workers_expected) : json_null());
	json_object_set_new(o, "pushes_total", ctl_uint(st->pushes_total));
	json_object_set_new(o, "pulls_total", ctl_uint(st->pulls_total));
	json_object_set_new(o, "rejected_total", ctl_uint(st->rejected_total));
	a = json_object();
	for (i = 0; i < st->nrejected; i++)
		json_object_set_new(a, st->rejected[i].name,
		    ctl_uint(st->rejected[i].n));
	json_object_set_new(o, "rejected", a);
	json_object_set_new(o, "pushes_per_s", ctl_number(st->pushes_per_s));
	json_object_set_new(o, "pulls_per_s", ctl_number(st->pulls_per_s));
	json_object_set_new(o, "bytes_in_per_s", ctl_number(st->bytes_in_per_s));
	json_object_set_new(o, "bytes_out_per_s",
	    ctl_number(st->bytes_out_per_s));
	json_object_set_new(o, "bytes_in_total", ctl_uint(st->bytes_in_total));
	json_object_set_new(o, "bytes_out_total", ctl_uint(st->bytes_out_total));
	json_object_set_new(o, "resets_total", ctl_uint(st->resets_total));

	ck = json_object();
	json_object_set_new(ck, "dir", ctl_string_or_null(c->dir));
	json_object_set_new(ck, "in_progress", json_boolean(c->in_progress));
	json_object_set_new(ck, "count", ctl_uint(c->count));
	json_object_set_new(ck, "failed", ctl_uint(c->failed));
	json_object_set_new(ck, "last_path", ctl_string_or_null(c->last_path));
	json_object_set_new(ck, "last_age_s", c->have_last ?
	    ctl_number(c->last_age_s) : json_null());
	json_object_set_new(ck, "last_ok", c->have_last ?
	    json_boolean(c->last_ok) : json_null());
	json_object_set_new(ck, "last_error", c->have_last && !c->last_ok ?
	    ctl_string_or_null(c->last_error) : json_null());
	json_object_set_new(ck, "last_seconds", c->have_last ?
	    ctl_number(c->last_seconds) : json_null());
	json_object_set_new(o, "checkpoint", ck);
	if (st->usage.present) {
		ck = json_object();
		json_object_set_new(ck, "budget_bytes",
		    ctl_uint(st->usage.rx_budget));
		json_object_set_new(ck, "inflight_bytes",
		    ctl_uint(st->usage.rx_inflight));
		json_object_set_new(ck, "paused_connections",
		    ctl_uint(st->usage.rx_paused));
		json_object_set_new(ck, "socket_budget_bytes",
		    ctl_uint(st->usage.sock_budget));
		json_object_set_new(ck, "socket_bytes",
		    ctl_uint(st->usage.sock_bytes));
		json_object_set_new(ck, "socket_large_connections",
		    ctl_uint(st->usage.sock_large));
		json_object_set_new(o, "receive", ck);
		ck = json_object();
		json_object_set_new(ck, "refused_total",
		    ctl_uint(st->usage.accept_refused));
		json_object_set_new(ck, "paused",
		    json_boolean(st->usage.accept_paused));
		json_object_set_new(o, "accept", ck);
	}
	return o;
}

/*
 * Reading STATUS and results.  Each reader takes the object, what it is
 * and the path to it for the cause ("STATUS" and "" at the top,
 * "tensors[2]." inside), and the key, and accepts exactly what the
 * builders above write for that field.
 */
static int
ctl_rd_fail(const char *doc, const char *where, const char *key, json_t *v,
    const char *want, char **cause)
{
	if (v == NULL)
		*cause = xasprintf("%s has no \"%s%s\"", doc, where, key);
	else
		*cause = xasprintf("%s \"%s%s\" is not %s", doc, where, key,
		    want);
	return -1;
}

/* A count (ctl_uint): a JSON integer from 0. */
static int
ctl_rd_uint(json_t *o, const char *doc, const char *where, const char *key,
    uint64_t *out, char **cause)
{
	json_t	*v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return ctl_rd_fail(doc, where, key, v, "a count", cause);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* A count or null; *present says which. */
static int
ctl_rd_opt_uint(json_t *o, const char *where, const char *key, uint64_t *out,
    int *present, char **cause)
{
	json_t	*v = json_object_get(o, key);

	*out = 0;
	*present = 0;
	if (json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return ctl_rd_fail("STATUS", where, key, v, "a count or null", cause);
	*out = (uint64_t)json_integer_value(v);
	*present = 1;
	return 0;
}

/* A double (ctl_number): a JSON number, or null for NAN. */
static int
ctl_rd_num(json_t *o, const char *doc, const char *where, const char *key,
    double *out, char **cause)
{
	json_t	*v = json_object_get(o, key);

	if (json_is_null(v)) {
		*out = NAN;
		return 0;
	}
	if (!json_is_number(v))
		return ctl_rd_fail(doc, where, key, v, "a number or null",
		    cause);
	*out = json_number_value(v);
	return 0;
}

/* A double added to STATUS later: absent reads as null, NAN. */
static int
ctl_rd_new_num(json_t *o, const char *where, const char *key, double *out,
    char **cause)
{
	if (json_object_get(o, key) == NULL) {
		*out = NAN;
		return 0;
	}
	return ctl_rd_num(o, "STATUS", where, key, out, cause);
}

/* "round": null or absent (present 0), or the sync round. */
static int
ctl_rd_round(json_t *o, struct ps_ctl_round *r, char **cause)
{
	json_t		*rd, *a, *v;
	uint64_t	*ids;
	size_t		 i;

	memset(r, 0, sizeof *r);
	rd = json_object_get(o, "round");
	if (rd == NULL || json_is_null(rd))
		return 0;
	if (!json_is_object(rd))
		return ctl_rd_fail("STATUS", "", "round", rd, "an object or "
		    "null", cause);
	a = json_object_get(rd, "waiting_on");
	if (!json_is_array(a))
		return ctl_rd_fail("STATUS", "round.", "waiting_on", a,
		    "an array", cause);
	if (ctl_rd_uint(rd, "STATUS", "round.", "number", &r->number,
	    cause) != 0 ||
	    ctl_rd_num(rd, "STATUS", "round.", "waiting_s", &r->waiting_s,
	    cause) != 0)
		return -1;
	if ((r->nwaiting = json_array_size(a)) > 0) {
		r->waiting_on = ids = xcalloc(r->nwaiting, sizeof *ids);
		json_array_foreach(a, i, v) {
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				return ctl_rd_fail("STATUS", "round.",
				    "waiting_on", a, "an array of worker ids",
				    cause);
			ids[i] = (uint64_t)json_integer_value(v);
		}
	}
	r->present = 1;
	return 0;
}

/* "blocked": absent (an older server) reads as none. */
static int
ctl_rd_blocked(json_t *o, struct ps_ctl_status *st, char **cause)
{
	struct ps_ctl_block	*bv;
	json_t			*a, *v, *id;
	char			 where[48];
	size_t			 i;

	a = json_object_get(o, "blocked");
	if (a == NULL)
		return 0;
	if (!json_is_array(a))
		return ctl_rd_fail("STATUS", "", "blocked", a, "an array",
		    cause);
	if ((st->nblocked = json_array_size(a)) == 0)
		return 0;
	st->blocked = bv = xcalloc(st->nblocked, sizeof *bv);
	json_array_foreach(a, i, v) {
		snprintf(where, sizeof where, "blocked[%zu].", i);
		if (!json_is_object(v))
			return ctl_rd_fail("STATUS", "", where, v,
			    "an object", cause);
		id = json_object_get(v, "id");
		if (!json_is_null(id) && ctl_rd_uint(v, "STATUS", where, "id",
		    &bv[i].id, cause) != 0)
			return -1;
		if (ctl_rd_str(v, "STATUS", where, "name", &bv[i].name,
		    cause) != 0)
			return -1;
	}
	return 0;
}

/* A string (ctl_string_or_null), borrowed; null reads as NULL. */
static int
ctl_rd_str(json_t *o, const char *doc, const char *where, const char *key,
    const char **out, char **cause)
{
	json_t	*v = json_object_get(o, key);

	if (json_is_null(v)) {
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return ctl_rd_fail(doc, where, key, v, "a string or null",
		    cause);
	*out = json_string_value(v);
	return 0;
}

static int
ctl_rd_bool(json_t *o, const char *where, const char *key, int *out,
    char **cause)
{
	json_t	*v = json_object_get(o, key);

	if (!json_is_boolean(v))
		return ctl_rd_fail("STATUS", where, key, v, "true or false", cause);
	*out = json_is_true(v);
	return 0;
}

static int
ctl_rd_tensor(json_t *o, size_t i, struct ps_ctl_tensor *t, char **cause)
{
	char	 where[48];
	json_t	*shape, *d;
	size_t	 k;

	snprintf(where, sizeof where, "tensors[%zu].", i);
	if (!json_is_object(o)) {
		*cause = xasprintf("STATUS \"tensors[%zu]\" is not an object",
		    i);
		return -1;
	}
	shape = json_object_get(o, "shape");
	if (!json_is_array(shape))
		return ctl_rd_fail("STATUS", where, "shape", shape, "an array", cause);
	if (json_array_size(shape) > PS_DIMS_MAX) {
		*cause = xasprintf("STATUS \"%sshape\" has over %d dimensions",
		    where, PS_DIMS_MAX);
		return -1;
	}
	t->ndim = (unsigned)json_array_size(shape);
	json_array_foreach(shape, k, d) {
		if (!json_is_integer(d) || json_integer_value(d) < 0)
			return ctl_rd_fail("STATUS", where, "shape", shape, "an array "
			    "of counts", cause);
		t->dims[k] = (uint64_t)json_integer_value(d);
	}
	if (ctl_rd_str(o, "STATUS", where, "name", &t->name, cause) != 0 ||
	    ctl_rd_num(o, "STATUS", where, "l2_norm", &t->l2_norm, cause) != 0 ||
	    ctl_rd_num(o, "STATUS", where, "update_l2", &t->update_l2, cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", where, "version", &t->version, cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", where, "updates_total", &t->updates_total,
	    cause) != 0 ||
	    ctl_rd_num(o, "STATUS", where, "updates_per_s", &t->updates_per_s,
	    cause) != 0 ||
	    ctl_rd_new_num(o, where, "growth_1m", &t->growth_1m, cause) != 0 ||
	    ctl_rd_new_num(o, where, "growth_reset", &t->growth_reset,
	    cause) != 0)
		return -1;
	return 0;
}

static int
ctl_rd_worker(json_t *o, size_t i, struct ps_ctl_worker *w, char **cause)
{
	char	 where[48];
	json_t	*v;

	snprintf(where, sizeof where, "workers[%zu].", i);
	if (!json_is_object(o)) {
		*cause = xasprintf("STATUS \"workers[%zu]\" is not an object",
		    i);
		return -1;
	}
	v = json_object_get(o, "lag");
	if (!json_is_integer(v))
		return ctl_rd_fail("STATUS", where, "lag", v, "an integer", cause);
	w->lag = json_integer_value(v);
	if (ctl_rd_uint(o, "STATUS", where, "id", &w->id, cause) != 0 ||
	    ctl_rd_str(o, "STATUS", where, "name", &w->name, cause) != 0 ||
	    ctl_rd_str(o, "STATUS", where, "address", &w->address, cause) != 0 ||
	    ctl_rd_str(o, "STATUS", where, "state", &w->state, cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", where, "pushes", &w->pushes, cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", where, "pulls", &w->pulls, cause) != 0 ||
	    ctl_rd_num(o, "STATUS", where, "pushes_per_s", &w->pushes_per_s,
	    cause) != 0 ||
	    ctl_rd_num(o, "STATUS", where, "pulls_per_s", &w->pulls_per_s, cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", where, "clock", &w->clock, cause) != 0 ||
	    ctl_rd_num(o, "STATUS", where, "last_seen_s", &w->last_seen_s, cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", where, "bytes_in", &w->bytes_in, cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", where, "bytes_out", &w->bytes_out, cause) != 0 ||
	    ctl_rd_new_num(o, where, "update_l2", &w->update_l2, cause) != 0 ||
	    ctl_rd_new_num(o, where, "update_l2_max", &w->update_l2_max,
	    cause) != 0 ||
	    ctl_rd_new_num(o, where, "last_push_s", &w->last_push_s,
	    cause) != 0 ||
	    ctl_rd_new_num(o, where, "pushes_per_s_1m", &w->pushes_per_s_1m,
	    cause) != 0)
		return -1;
	return 0;
}

/* "receive" and "accept", added later: both absent reads as not present. */
static int
ctl_rd_usage(json_t *o, struct ps_ctl_usage *u, char **cause)
{
	json_t	*rx = json_object_get(o, "receive");
	json_t	*ac = json_object_get(o, "accept");

	memset(u, 0, sizeof *u);
	if (rx == NULL && ac == NULL)
		return 0;
	if (!json_is_object(rx))
		return ctl_rd_fail("STATUS", "", "receive", rx, "an object",
		    cause);
	if (!json_is_object(ac))
		return ctl_rd_fail("STATUS", "", "accept", ac, "an object",
		    cause);
	if (ctl_rd_uint(rx, "STATUS", "receive.", "budget_bytes",
	    &u->rx_budget, cause) != 0 ||
	    ctl_rd_uint(rx, "STATUS", "receive.", "inflight_bytes",
	    &u->rx_inflight, cause) != 0 ||
	    ctl_rd_uint(rx, "STATUS", "receive.", "paused_connections",
	    &u->rx_paused, cause) != 0 ||
	    ctl_rd_uint(ac, "STATUS", "accept.", "refused_total",
	    &u->accept_refused, cause) != 0 ||
	    ctl_rd_bool(ac, "accept.", "paused", &u->accept_paused,
	    cause) != 0)
		return -1;
	/* The socket_* members came later still: absent, they read 0. */
	if (json_object_get(rx, "socket_bytes") != NULL &&
	    (ctl_rd_uint(rx, "STATUS", "receive.", "socket_budget_bytes",
	    &u->sock_budget, cause) != 0 ||
	    ctl_rd_uint(rx, "STATUS", "receive.", "socket_bytes",
	    &u->sock_bytes, cause) != 0 ||
	    ctl_rd_uint(rx, "STATUS", "receive.", "socket_large_connections",
	    &u->sock_large, cause) != 0))
		return -1;
	u->present = 1;
	return 0;
}

static int
ctl_rd_checkpoint(json_t *ck, struct ps_ctl_ckpt_status *c, char **cause)
{
	const char	*w = "checkpoint.";
	json_t		*v;

	if (!json_is_object(ck))
		return ctl_rd_fail("STATUS", "", "checkpoint", ck, "an object", cause);
	if (ctl_rd_str(ck, "STATUS", w, "dir", &c->dir, cause) != 0 ||
	    ctl_rd_bool(ck, w, "in_progress", &c->in_progress, cause) != 0 ||
	    ctl_rd_uint(ck, "STATUS", w, "count", &c->count, cause) != 0 ||
	    ctl_rd_uint(ck, "STATUS", w, "failed", &c->failed, cause) != 0 ||
	    ctl_rd_str(ck, "STATUS", w, "last_path", &c->last_path, cause) != 0 ||
	    ctl_rd_num(ck, "STATUS", w, "last_age_s", &c->last_age_s, cause) != 0 ||
	    ctl_rd_str(ck, "STATUS", w, "last_error", &c->last_error, cause) != 0 ||
	    ctl_rd_num(ck, "STATUS", w, "last_seconds", &c->last_seconds, cause) != 0)
		return -1;
	/* last_ok says whether there was a last checkpoint at all. */
	v = json_object_get(ck, "last_ok");
	if (json_is_boolean(v)) {
		c->have_last = 1;
		c->last_ok = json_is_true(v);
	} else if (!json_is_null(v))
		return ctl_rd_fail("STATUS", w, "last_ok", v, "true, false or null",
		    cause);
	return 0;
}

int
ps_ctl_status_parse(json_t *o, struct ps_ctl_status *st, char **cause)
{
	struct ps_ctl_tensor	*tv;
	struct ps_ctl_worker	*wv;
	struct ps_ctl_count	*rv;
	struct ps_ctl_param	*pv;
	json_t			*ta, *wa, *v, *p;
	enum ps_rule_kind	 kind;
	const char		*key;
	char			*why;
	uint64_t		 u;
	size_t			 i;
	int			 present;

	memset(st, 0, sizeof *st);
	if (!json_is_object(o)) {
		*cause = xstrdup("STATUS is not a JSON object");
		return -1;
	}
	st->root = json_incref(o);

	ta = json_object_get(o, "tensors");
	if (!json_is_array(ta)) {
		ctl_rd_fail("STATUS", "", "tensors", ta, "an array", cause);
		goto fail;
	}
	wa = json_object_get(o, "workers");
	if (!json_is_array(wa)) {
		ctl_rd_fail("STATUS", "", "workers", wa, "an array", cause);
		goto fail;
	}
	if ((st->ntensors = json_array_size(ta)) > 0) {
		st->tensors = tv = xcalloc(st->ntensors, sizeof *tv);
		json_array_foreach(ta, i, v) {
			if (ctl_rd_tensor(v, i, &tv[i], cause) != 0)
				goto fail;
		}
	}
	if ((st->nworkers = json_array_size(wa)) > 0) {
		st->workers = wv = xcalloc(st->nworkers, sizeof *wv);
		json_array_foreach(wa, i, v) {
			if (ctl_rd_worker(v, i, &wv[i], cause) != 0)
				goto fail;
		}
	}

	if (ctl_rd_str(o, "STATUS", "", "version", &st->version, cause) != 0 ||
	    ctl_rd_str(o, "STATUS", "", "listen", &st->listen, cause) != 0 ||
	    ctl_rd_num(o, "STATUS", "", "uptime_s", &st->uptime_s, cause) != 0 ||
	    ctl_rd_str(o, "STATUS", "", "state", &st->state, cause) != 0 ||
	    ctl_rd_str(o, "STATUS", "", "mode", &st->mode, cause) != 0 ||
	    ctl_rd_str(o, "STATUS", "", "rule", &st->rule, cause) != 0)
		goto fail;

	p = json_object_get(o, "rule_params");
	if (!json_is_object(p)) {
		ctl_rd_fail("STATUS", "", "rule_params", p, "an object", cause);
		goto fail;
	}
	/* The typed rule when this psctl knows it; a newer one's is shown. */
	if (st->rule != NULL && ps_rule_parse(st->rule, &kind) == 0) {
		ps_rule_defaults(&st->rule_params, kind);
		if (ps_rule_params_from_json(&st->rule_params, p, &why) == 0)
			st->rule_known = 1;
		else {
			free(why);
			memset(&st->rule_params, 0, sizeof st->rule_params);
		}
	}
	if ((st->nrule_items = json_object_size(p)) > 0) {
		st->rule_items = pv = xcalloc(st->nrule_items, sizeof *pv);
		i = 0;
		json_object_foreach(p, key, v) {
			pv[i].name = key;
			pv[i].value = NAN;
			if (json_is_boolean(v)) {
				pv[i].boolean = 1;
				pv[i].value = json_is_true(v);
			} else if (json_is_number(v))
				pv[i].value = json_number_value(v);
			else if (!json_is_null(v)) {
				ctl_rd_fail("STATUS", "rule_params.", key, v, "a number, "
				    "true, false or null", cause);
				goto fail;
			}
			i++;
		}
	}

	if (ctl_rd_opt_uint(o, "", "sync_workers", &u, &present, cause) != 0)
		goto fail;
	st->sync_workers = u > UINT_MAX ? UINT_MAX : (unsigned)u;
	if (ctl_rd_opt_uint(o, "", "staleness", &u, &present, cause) != 0)
		goto fail;
	st->staleness = !present ? -1 : u > INT64_MAX ? INT64_MAX : (int64_t)u;
	if (ctl_rd_opt_uint(o, "", "workers_expected", &u, &present,
	    cause) != 0)
		goto fail;
	st->workers_expected = u > UINT_MAX ? UINT_MAX : (unsigned)u;
	if (ctl_rd_uint(o, "STATUS", "", "workers_connected", &u, cause) != 0)
		goto fail;
	st->workers_connected = u > UINT_MAX ? UINT_MAX : (unsigned)u;

	if (ctl_rd_uint(o, "STATUS", "", "model_version", &st->model_version,
	    cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", "", "params", &st->params, cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", "", "bytes", &st->bytes, cause) != 0 ||
	    ctl_rd_num(o, "STATUS", "", "model_l2", &st->model_l2, cause) != 0 ||
	    ctl_rd_num(o, "STATUS", "", "last_update_l2", &st->last_update_l2,
	    cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", "", "pushes_total", &st->pushes_total, cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", "", "pulls_total", &st->pulls_total, cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", "", "rejected_total", &st->rejected_total,
	    cause) != 0 ||
	    ctl_rd_num(o, "STATUS", "", "pushes_per_s", &st->pushes_per_s, cause) != 0 ||
	    ctl_rd_num(o, "STATUS", "", "pulls_per_s", &st->pulls_per_s, cause) != 0 ||
	    ctl_rd_num(o, "STATUS", "", "bytes_in_per_s", &st->bytes_in_per_s,
	    cause) != 0 ||
	    ctl_rd_num(o, "STATUS", "", "bytes_out_per_s", &st->bytes_out_per_s,
	    cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", "", "bytes_in_total", &st->bytes_in_total,
	    cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", "", "bytes_out_total", &st->bytes_out_total,
	    cause) != 0 ||
	    ctl_rd_uint(o, "STATUS", "", "resets_total", &st->resets_total, cause) != 0)
		goto fail;

	p = json_object_get(o, "rejected");
	if (!json_is_object(p)) {
		ctl_rd_fail("STATUS", "", "rejected", p, "an object", cause);
		goto fail;
	}
	if ((st->nrejected = json_object_size(p)) > 0) {
		st->rejected = rv = xcalloc(st->nrejected, sizeof *rv);
		i = 0;
		json_object_foreach(p, key, v) {
			rv[i].name = key;
			if (ctl_rd_uint(p, "STATUS", "rejected.", key, &rv[i].n,
			    cause) != 0)
				goto fail;
			i++;
		}
	}

	if (ctl_rd_checkpoint(json_object_get(o, "checkpoint"),
	    &st->checkpoint, cause) != 0)
		goto fail;
	if (ctl_rd_new_num(o, "", "growth_window_s", &st->growth_window_s,
	    cause) != 0 ||
	    ctl_rd_round(o, &st->round, cause) != 0 ||
	    ctl_rd_blocked(o, st, cause) != 0 ||
	    ctl_rd_usage(o, &st->usage, cause) != 0)
		goto fail;
	return 0;

fail:
	ps_ctl_status_clear(st);
	return -1;
}

void
ps_ctl_status_clear(struct ps_ctl_status *st)
{
	/* The arrays are the parser's own, allocated const for readers. */
	free((void *)(uintptr_t)st->tensors);
	free((void *)(uintptr_t)st->workers);
	free((void *)(uintptr_t)st->rejected);
	free((void *)(uintptr_t)st->rule_items);
	free((void *)(uintptr_t)st->round.waiting_on);
	free((void *)(uintptr_t)st->blocked);
	json_decref(st->root);
	memset(st, 0, sizeof *st);
}

int
ps_ctl_worker_oneshot(const char *name)
{
	static const char *const cmds[] = { "init", "push", "pull" };
	size_t	n = strlen(PS_CTL_ONESHOT_PREFIX), i;

	if (name == NULL || strncmp(name, PS_CTL_ONESHOT_PREFIX, n) != 0)
		return 0;
	for (i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		if (strcmp(name + n, cmds[i]) == 0)
			return 1;
	}
	return 0;
}

char *
ps_ctl_reply_ok(json_int_t id, json_t *result)
{
	json_t	*o = json_object();

	json_object_set_new(o, "id", json_integer(id));
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "result", result != NULL ? result :
	    json_object());
	return ctl_dump(o);
}

char *
ps_ctl_reply_error(int has_id, json_int_t id, const char *code,
    const char *fmt, ...)
{
	json_t	*o, *e;
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	e = json_object();
	json_object_set_new(e, "code", json_string(code));
	json_object_set_new(e, "message", ctl_string_or_null(msg));
	free(msg);
	o = json_object();
	json_object_set_new(o, "id", has_id ? json_integer(id) : json_null());
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(o, "error", e);
	return ctl_dump(o);
}

char *
ps_ctl_event_snapshot(uint64_t seq, const struct ps_ctl_status *st)
{
	json_t	*o = json_object();

	json_object_set_new(o, "event", json_string("snapshot"));
	json_object_set_new(o, "seq", ctl_uint(seq));
	json_object_set_new(o, "snapshot", ps_ctl_status_json(st));
	return ctl_dump(o);
}

json_t *
ps_ctl_subscribe_result(double interval)
{
	json_t	*o = json_object();

	json_object_set_new(o, "interval", ctl_number(interval));
	return o;
}

json_t *
ps_ctl_checkpoint_result(const char *path, uint64_t model_version,
    uint64_t bytes, double seconds)
{
	json_t	*o = json_object();

	json_object_set_new(o, "path", ctl_string_or_null(path));
	json_object_set_new(o, "model_version", ctl_uint(model_version));
	json_object_set_new(o, "bytes", ctl_uint(bytes));
	json_object_set_new(o, "seconds", ctl_number(seconds));
	return o;
}

json_t *
ps_ctl_reset_result(const char *from, uint64_t model_version)
{
	json_t	*o = json_object();

	json_object_set_new(o, "from", ctl_string_or_null(from != NULL ?
	    from : "initial"));
	json_object_set_new(o, "model_version", ctl_uint(model_version));
	return o;
}

json_t *
ps_ctl_stop_result(const char *checkpoint)
{
	json_t	*o = json_object();

	json_object_set_new(o, "stopping", json_true());
	json_object_set_new(o, "checkpoint", ctl_string_or_null(checkpoint));
	return o;
}

json_t *
ps_ctl_kick_result(uint64_t id, const char *name, int kicked, int blocked)
{
	json_t	*o = json_object();

	json_object_set_new(o, "id", id != 0 ? ctl_uint(id) : json_null());
	json_object_set_new(o, "name", ctl_string_or_null(name));
	json_object_set_new(o, "kicked", json_boolean(kicked));
	json_object_set_new(o, "blocked", json_boolean(blocked));
	return o;
}

json_t *
ps_ctl_checkpoints_result(const struct ps_ctl_ckpt *c, size_t n)
{
	json_t	*o = json_object(), *a = json_array(), *e;
	size_t	 i;

	for (i = 0; i < n; i++) {
		e = json_object();
		json_object_set_new(e, "name", ctl_string_or_null(c[i].name));
		json_object_set_new(e, "path", ctl_string_or_null(c[i].path));
		json_object_set_new(e, "version", ctl_uint(c[i].version));
		json_object_set_new(e, "time", ctl_number(c[i].time));
		json_object_set_new(e, "age_s", ctl_number(c[i].age_s));
		json_object_set_new(e, "bytes", c[i].bytes >= 0 ?
		    ctl_uint((uint64_t)c[i].bytes) : json_null());
		json_object_set_new(e, "model_l2", ctl_number(c[i].model_l2));
		json_array_append_new(a, e);
	}
	json_object_set_new(o, "checkpoints", a);
	return o;
}

int
ps_ctl_checkpoints_parse(json_t *o, struct ps_ctl_ckpt **out, size_t *n,
    char **cause)
{
	const char		*doc = "the result of checkpoints";
	struct ps_ctl_ckpt	*c;
	json_t			*a, *e, *v;
	char			 where[48];
	uint64_t		 u;
	size_t			 i;

	*out = NULL;
	*n = 0;
	a = json_is_object(o) ? json_object_get(o, "checkpoints") : NULL;
	if (!json_is_array(a))
		return ctl_rd_fail(doc, "", "checkpoints", a, "an array",
		    cause);
	c = xcalloc(json_array_size(a) > 0 ? json_array_size(a) : 1,
	    sizeof *c);
	json_array_foreach(a, i, e) {
		snprintf(where, sizeof where, "checkpoints[%zu].", i);
		if (!json_is_object(e)) {
			*cause = xasprintf("%s \"checkpoints[%zu]\" is not an "
			    "object", doc, i);
			goto fail;
		}
		v = json_object_get(e, "name");
		if (!json_is_string(v)) {
			ctl_rd_fail(doc, where, "name", v, "a string", cause);
			goto fail;
		}
		c[i].name = json_string_value(v);
		c[i].bytes = -1;
		if (ctl_rd_str(e, doc, where, "path", &c[i].path, cause) != 0 ||
		    ctl_rd_uint(e, doc, where, "version", &c[i].version,
		    cause) != 0 ||
		    ctl_rd_num(e, doc, where, "time", &c[i].time, cause) != 0 ||
		    ctl_rd_num(e, doc, where, "age_s", &c[i].age_s,
		    cause) != 0 ||
		    ctl_rd_num(e, doc, where, "model_l2", &c[i].model_l2,
		    cause) != 0)
			goto fail;
		if (!json_is_null(json_object_get(e, "bytes"))) {
			if (ctl_rd_uint(e, doc, where, "bytes", &u, cause) != 0)
				goto fail;
			c[i].bytes = u > INT64_MAX ? INT64_MAX : (int64_t)u;
		}
	}
	*out = c;
	*n = json_array_size(a);
	return 0;

fail:
	free(c);
	return -1;
}

json_t *
ps_ctl_unblock_result(size_t unblocked)
{
	json_t	*o = json_object();

	json_object_set_new(o, "unblocked", ctl_uint(unblocked));
	return o;
}

void
ps_ctl_metrics(struct ps_prom *p, const struct ps_ctl_status *st)
{
	const struct ps_ctl_ckpt_status	*c = &st->checkpoint;
	const char			*labels[5];
	size_t				 i;

	ps_prom_family(p, "build_info", "gauge",
	    "Always 1; the version label says which psctl serves.");
	labels[0] = "version";
	labels[1] = st->version != NULL ? st->version : "";
	labels[2] = NULL;
	ps_prom_sample(p, "build_info", labels, 1);
	ps_prom_gauge(p, "uptime_seconds", "Seconds since the server started.",
	    st->uptime_s);
	ps_prom_gauge(p, "ready", "1 when the server has a model and is not "
	    "draining.", strcmp(st->state != NULL ? st->state : "", "serving")
	    == 0 ? 1 : 0);

	ps_prom_gauge(p, "model_version", "Model version: updates applied "
	    "since the model was created.", (double)st->model_version);
	ps_prom_gauge(p, "model_parameters", "Elements in the model's "
	    "tensors.", (double)st->params);
	ps_prom_gauge(p, "model_bytes", "Bytes of model data.",
	    (double)st->bytes);
	ps_prom_gauge(p, "model_tensors", "Tensors in the model.",
	    (double)st->ntensors);
	ps_prom_gauge(p, "model_l2_norm", "L2 norm of all the model's "
	    "weights.", st->model_l2);
	ps_prom_gauge(p, "last_update_l2_norm", "L2 norm of the change the "
	    "last update made.", st->last_update_l2);
	if (st->ntensors > 0) {
		ps_prom_family(p, "tensor_l2_norm", "gauge",
		    "L2 norm of each tensor's weights.");
		labels[0] = "tensor";
		for (i = 0; i < st->ntensors; i++) {
			labels[1] = st->tensors[i].name;
			ps_prom_sample(p, "tensor_l2_norm", labels,
			    st->tensors[i].l2_norm);
		}
		ps_prom_family(p, "tensor_updates_total", "counter",
		    "Updates applied to each tensor.");
		for (i = 0; i < st->ntensors; i++) {
			labels[1] = st->tensors[i].name;
			ps_prom_sample(p, "tensor_updates_total", labels,
			    (double)st->tensors[i].updates_total);
		}
	}

	ps_prom_gauge(p, "workers_connected", "Worker connections open now.",
	    st->workers_connected);
	if (st->workers_expected > 0)
		ps_prom_gauge(p, "workers_expected", "Workers a synchronous "
		    "round waits for.", st->workers_expected);
	ps_prom_counter(p, "pushes_total", "Updates applied.",
	    (double)st->pushes_total);
	ps_prom_counter(p, "pulls_total", "Pulls answered.",
	    (double)st->pulls_total);
	ps_prom_family(p, "rejected_total", "counter",
	    "Pushes refused, by error code (a reason appears once counted).");
	labels[0] = "reason";
	for (i = 0; i < st->nrejected; i++) {
		labels[1] = st->rejected[i].name;
		ps_prom_sample(p, "rejected_total", labels,
		    (double)st->rejected[i].n);
	}
	ps_prom_counter(p, "received_bytes_total", "Bytes of worker "
	    "messages received.", (double)st->bytes_in_total);
	ps_prom_counter(p, "sent_bytes_total", "Bytes of worker messages "
	    "sent.", (double)st->bytes_out_total);
	ps_prom_counter(p, "resets_total", "Rollbacks to a checkpoint or "
	    "the initial model.", (double)st->resets_total);

	ps_prom_family(p, "checkpoints_total", "counter",
	    "Checkpoints attempted, by result.");
	labels[0] = "result";
	labels[1] = "ok";
	ps_prom_sample(p, "checkpoints_total", labels, (double)c->count);
	labels[1] = "error";
	ps_prom_sample(p, "checkpoints_total", labels, (double)c->failed);
	ps_prom_gauge(p, "checkpoint_in_progress", "1 while a checkpoint is "
	    "being written.", c->in_progress ? 1 : 0);
	if (c->have_last) {
		ps_prom_gauge(p, "checkpoint_last_success", "1 when the last "
		    "checkpoint was written, 0 when it failed.",
		    c->last_ok ? 1 : 0);
		ps_prom_gauge(p, "checkpoint_last_age_seconds", "Seconds since "
		    "the last checkpoint finished.", c->last_age_s);
	}
	if (st->usage.present) {
		ps_prom_gauge(p, "receive_budget_bytes", "The receive budget, "
		    "--max-inflight-bytes.", (double)st->usage.rx_budget);
		ps_prom_gauge(p, "receive_inflight_bytes", "Bytes of worker "
		    "messages being received or held now, charged to the "
		    "budget.", (double)st->usage.rx_inflight);
		ps_prom_gauge(p, "receive_paused_connections", "Worker "
		    "connections not read until the budget has room.",
		    (double)st->usage.rx_paused);
		ps_prom_gauge(p, "receive_socket_budget_bytes", "What worker "
		    "connections' large kernel receive buffers may add up to, "
		    "--max-socket-bytes.", (double)st->usage.sock_budget);
		ps_prom_gauge(p, "receive_socket_bytes", "Worker connections' "
		    "large kernel receive buffers, summed.",
		    (double)st->usage.sock_bytes);
		ps_prom_gauge(p, "receive_socket_large_connections", "Worker "
		    "connections with a large kernel receive buffer.",
		    (double)st->usage.sock_large);
		ps_prom_counter(p, "accept_emfile_total", "Accepts that found "
		    "no file descriptor or kernel memory free (EMFILE, "
		    "ENFILE, ENOBUFS, ENOMEM); accepting pauses after each.", (double)st->usage.accept_refused);
		ps_prom_gauge(p, "accept_paused", "1 while accepting is "
		    "paused for want of a file descriptor or kernel memory.",
		    st->usage.accept_paused ? 1 : 0);
	}
	if (st->checkpoint_seconds != NULL)
		ps_prom_hist(p, "checkpoint_duration_seconds", "Time to write "
		    "a checkpoint, from snapshot to rename.",
		    st->checkpoint_seconds);
	if (st->apply_seconds != NULL)
		ps_prom_hist(p, "update_apply_duration_seconds", "Time to "
		    "apply one update to the model.", st->apply_seconds);
}

char *
ps_ctl_request(json_int_t id, enum ps_ctl_cmd cmd, const char *name,
    double interval, int flag)
{
	json_t	*o = json_object();

	json_object_set_new(o, "id", json_integer(id));
	json_object_set_new(o, "cmd", json_string(ps_ctl_cmd_name(cmd)));
	switch (cmd) {
	case PS_CTL_SUBSCRIBE:
		json_object_set_new(o, "interval", json_real(interval));
		break;
	case PS_CTL_CHECKPOINT:
	case PS_CTL_RESET:
		if (name != NULL)
			json_object_set_new(o, "name", ctl_string_or_null(name));
		if (cmd == PS_CTL_CHECKPOINT && flag)
			json_object_set_new(o, "force", json_true());
		break;
	case PS_CTL_STOP:
		json_object_set_new(o, "checkpoint", json_boolean(flag));
		break;
	default:
		break;
	}
	return ctl_dump(o);
}

char *
ps_ctl_request_worker(json_int_t id, enum ps_ctl_cmd cmd, const char *worker,
    int block)
{
	json_t		*o = json_object();
	const char	*p;
	uint64_t	 n = 0;
	int		 digits = worker[0] >= '1' && worker[0] <= '9';

	for (p = worker; digits && *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > (uint64_t)INT64_MAX / 10)
			digits = 0;
		else
			n = n * 10 + (uint64_t)(*p - '0');
	}
	json_object_set_new(o, "id", json_integer(id));
	json_object_set_new(o, "cmd", json_string(ps_ctl_cmd_name(cmd)));
	json_object_set_new(o, "worker", digits && n <= (uint64_t)INT64_MAX ?
	    json_integer((json_int_t)n) : ctl_string_or_null(worker));
	if (cmd == PS_CTL_KICK)
		json_object_set_new(o, "block", json_boolean(block));
	return ctl_dump(o);
}

int
ps_ctl_reply_parse(const char *buf, size_t len, struct ps_ctl_reply *r,
    char **cause)
{
	json_error_t	 jerr;
	json_t		*v, *e;

	memset(r, 0, sizeof *r);
	r->root = json_loadb(buf, len, 0, &jerr);
	if (r->root == NULL) {
		*cause = xasprintf("the server sent something that is not "
		    "JSON: %s", jerr.text);
		return -1;
	}
	if (!json_is_object(r->root)) {
		*cause = xstrdup("the server sent a JSON value that is not an "
		    "object");
		goto fail;
	}
	if ((v = json_object_get(r->root, "event")) != NULL) {
		if (!json_is_string(v)) {
			*cause = xstrdup("the server sent an event without a "
			    "name");
			goto fail;
		}
		r->is_event = 1;
		r->event = json_string_value(v);
		if (strcmp(r->event, "snapshot") != 0)
			return 0;
		v = json_object_get(r->root, "seq");
		r->snapshot = json_object_get(r->root, "snapshot");
		if (!json_is_integer(v) || !json_is_object(r->snapshot)) {
			*cause = xstrdup("the server sent a snapshot event "
			    "without its seq or snapshot");
			goto fail;
		}
		r->seq = json_integer_value(v);
		return 0;
	}
	v = json_object_get(r->root, "id");
	if (json_is_integer(v)) {
		r->has_id = 1;
		r->id = json_integer_value(v);
	} else if (v == NULL || !json_is_null(v)) {
		*cause = xstrdup("the server sent a reply without an id");
		goto fail;
	}
	v = json_object_get(r->root, "ok");
	if (!json_is_boolean(v)) {
		*cause = xstrdup("the server sent a reply without \"ok\"");
		goto fail;
	}
	r->ok = json_is_true(v);
	if (r->ok) {
		r->result = json_object_get(r->root, "result");
		if (r->result == NULL) {
			*cause = xstrdup("the server sent a reply without a "
			    "result");
			goto fail;
		}
		return 0;
	}
	e = json_object_get(r->root, "error");
	if (!json_is_object(e) ||
	    !json_is_string(json_object_get(e, "code"))) {
		*cause = xstrdup("the server sent an error without a code");
		goto fail;
	}
	r->code = json_string_value(json_object_get(e, "code"));
	v = json_object_get(e, "message");
	r->message = json_is_string(v) ? json_string_value(v) : "";
	return 0;

fail:
	json_decref(r->root);
	r->root = NULL;
	return -1;
}

void
ps_ctl_reply_clear(struct ps_ctl_reply *r)
{
	json_decref(r->root);
	memset(r, 0, sizeof *r);
}

/* Results: the reader of each command's result, beside the writers above. */
int
ps_ctl_result_parse(enum ps_ctl_cmd cmd, json_t *o, struct ps_ctl_result *res,
    char **cause)
{
	const char	*name;
	char		 doc[48];
	json_t		*v;

	memset(res, 0, sizeof *res);
	if ((name = ps_ctl_cmd_name(cmd)) == NULL || cmd == PS_CTL_STATUS) {
		*cause = xstrdup("no result reader for this command");
		return -1;
	}
	snprintf(doc, sizeof doc, "the result of %s", name);
	if (!json_is_object(o)) {
		*cause = xasprintf("%s is not a JSON object", doc);
		return -1;
	}
	switch (cmd) {
	case PS_CTL_SUBSCRIBE:
		v = json_object_get(o, "interval");
		if (!json_is_number(v))
			return ctl_rd_fail(doc, "", "interval", v, "a number",
			    cause);
		res->interval = json_number_value(v);
		break;
	case PS_CTL_CHECKPOINT:
		v = json_object_get(o, "path");
		if (!json_is_string(v))
			return ctl_rd_fail(doc, "", "path", v, "a string",
			    cause);
		res->path = json_string_value(v);
		if (ctl_rd_uint(o, doc, "", "model_version",
		    &res->model_version, cause) != 0 ||
		    ctl_rd_uint(o, doc, "", "bytes", &res->bytes, cause) != 0 ||
		    ctl_rd_num(o, doc, "", "seconds", &res->seconds, cause) != 0)
			return -1;
		break;
	case PS_CTL_RESET:
		v = json_object_get(o, "from");
		if (!json_is_string(v))
			return ctl_rd_fail(doc, "", "from", v, "a string",
			    cause);
		res->from = json_string_value(v);
		if (ctl_rd_uint(o, doc, "", "model_version",
		    &res->model_version, cause) != 0)
			return -1;
		break;
	case PS_CTL_STOP:
		if (ctl_rd_str(o, doc, "", "checkpoint", &res->checkpoint,
		    cause) != 0)
			return -1;
		break;
	case PS_CTL_KICK:
		v = json_object_get(o, "id");
		if (!json_is_null(v) && ctl_rd_uint(o, doc, "", "id",
		    &res->worker_id, cause) != 0)
			return -1;
		if (ctl_rd_str(o, doc, "", "name", &res->worker_name,
		    cause) != 0)
			return -1;
		v = json_object_get(o, "kicked");
		if (!json_is_boolean(v))
			return ctl_rd_fail(doc, "", "kicked", v,
			    "true or false", cause);
		res->kicked = json_is_true(v);
		v = json_object_get(o, "blocked");
		if (!json_is_boolean(v))
			return ctl_rd_fail(doc, "", "blocked", v,
			    "true or false", cause);
		res->blocked = json_is_true(v);
		break;
	case PS_CTL_UNBLOCK:
		if (ctl_rd_uint(o, doc, "", "unblocked", &res->unblocked,
		    cause) != 0)
			return -1;
		break;
	default:
		break;
	}
	return 0;
}
