/*
 * psctl status: one STATUS from the server, as a summary for people or as
 * the JSON object for scripts (--json).
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"
#include "utf8.h"

static enum ps_cmd_retval	cmd_status_exec(struct ps_cmd *);

static const struct ps_cmd_opt cmd_status_opts[] = {
	{ "json", 0, 0 },
	PS_CMD_CTL_OPTS,
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_status_entry = {
	.name = "status",
	.args = { cmd_status_opts, 0, 0, NULL },
	.usage = "[--json] " PS_CMD_CTL_USAGE,
	.summary = "show the server's model, workers and counters",
	.exec = cmd_status_exec
};

/* "1h02m", "3m05s", "12.5s". */
static void
st_duration(double s, char *buf, size_t len)
{
	unsigned long	t;

	if (!isfinite(s) || s < 0)
		snprintf(buf, len, "?");
	else if (s < 60)
		snprintf(buf, len, "%.1fs", s);
	else if (s < 3600) {
		t = (unsigned long)s;
		snprintf(buf, len, "%lum%02lus", t / 60, t % 60);
	} else {
		t = (unsigned long)s;
		snprintf(buf, len, "%luh%02lum", t / 3600, (t / 60) % 60);
	}
}

/* 4000000 -> "3.8 MiB". */
static void
st_bytes(double b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned	i = 0;

	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%.0f %s", b, units[i]);
	else
		snprintf(buf, len, "%.1f %s", b, units[i]);
}

/* "[784, 128]". */
static void
st_shape(const struct ps_ctl_tensor *t, char *buf, size_t len)
{
	size_t		off = 0;
	unsigned	i;

	off += (size_t)snprintf(buf, len, "[");
	for (i = 0; i < t->ndim; i++) {
		if (off >= len)
			break;
		off += (size_t)snprintf(buf + off, len - off, "%s%" PRIu64,
		    i > 0 ? ", " : "", t->dims[i]);
	}
	if (off < len)
		snprintf(buf + off, len - off, "]");
}

/* A STATUS string, or dflt for null. */
static const char *
st_str(const char *s, const char *dflt)
{
	static char	buf[8][4 * 256 + 64];
	static int	next;
	char		*b;

	/*
	 * Names, addresses and reasons come from peers: escaped, so that no
	 * control character reaches the terminal (ps_utf8_escape()).  Eight
	 * buffers: one printf() uses at most that many.
	 */
	if (s == NULL)
		return dflt;
	b = buf[next];
	next = (next + 1) % 8;
	ps_utf8_escape(s, b, sizeof buf[0]);
	return b;
}

static void
st_print(const struct ps_ctl_status *st)
{
	const struct ps_ctl_ckpt_status	*ck = &st->checkpoint;
	const struct ps_ctl_tensor	*t;
	const struct ps_ctl_worker	*w;
	const struct ps_ctl_param	*p;
	char				 up[32], sz[32], shape[128], seen[32];
	size_t				 i;

	st_duration(st->uptime_s, up, sizeof up);
	printf("psctl %s at %s, up %s, %s\n", st_str(st->version, "?"),
	    st_str(st->listen, "?"), up, st_str(st->state, "?"));
	printf("mode %s", st_str(st->mode, "?"));
	if (st->sync_workers > 0)
		printf(" (%u workers a round)", st->sync_workers);
	if (st->staleness >= 0)
		printf(" (staleness %" PRId64 ")", st->staleness);
	printf(", rule %s", st_str(st->rule, "?"));
	for (i = 0; i < st->nrule_items; i++) {
		p = &st->rule_items[i];
		printf("%s%s ", i == 0 ? " (" : ", ", st_str(p->name, "?"));
		if (p->boolean)
			printf("%s", p->value != 0 ? "true" : "false");
		else
			printf("%g", p->value);
	}
	printf("%s\n", st->nrule_items == 0 ? "" : ")");

	st_bytes((double)st->bytes, sz, sizeof sz);
	printf("model version %" PRIu64 ": %" PRIu64 " parameters (%s) in %zu "
	    "tensors, L2 norm %.6g\n", st->model_version, st->params, sz,
	    st->ntensors, st->model_l2);
	printf("workers %u connected; pushes %" PRIu64 " (%.1f/s), pulls %"
	    PRIu64 " (%.1f/s), rejected %" PRIu64 ", resets %" PRIu64 "\n",
	    st->workers_connected, st->pushes_total, st->pushes_per_s,
	    st->pulls_total, st->pulls_per_s, st->rejected_total,
	    st->resets_total);
	if (ck->dir != NULL) {
		printf("checkpoints in %s: %" PRIu64 " written",
		    st_str(ck->dir, "?"),
		    ck->count);
		if (ck->failed > 0)
			printf(", %" PRIu64 " failed", ck->failed);
		if (ck->have_last) {
			st_duration(ck->last_age_s, seen, sizeof seen);
			if (ck->last_ok)
				printf("; last %s, %s ago",
				    st_str(ck->last_path, "?"), seen);
			else
				printf("; last failed %s ago: %s", seen,
				    st_str(ck->last_error, "?"));
		}
		if (ck->in_progress)
			printf("; one in progress");
		printf("\n");
	} else
		printf("checkpoints: no --checkpoint-dir\n");

	if (st->ntensors > 0) {
		printf("\n%-32s %-20s %12s %10s %9s\n", "TENSOR", "SHAPE",
		    "L2 NORM", "VERSION", "UPDATES");
		for (i = 0; i < st->ntensors; i++) {
			t = &st->tensors[i];
			st_shape(t, shape, sizeof shape);
			printf("%-32s %-20s %12.6g %10" PRIu64 " %9" PRIu64
			    "\n", st_str(t->name, "?"), shape, t->l2_norm,
			    t->version, t->updates_total);
		}
	}
	if (st->nworkers > 0) {
		printf("\n%5s %-16s %-22s %-8s %9s %9s %6s %10s\n", "ID",
		    "NAME", "ADDRESS", "STATE", "PUSHES", "PULLS", "CLOCK",
		    "LAST SEEN");
		for (i = 0; i < st->nworkers; i++) {
			w = &st->workers[i];
			st_duration(w->last_seen_s, seen, sizeof seen);
			printf("%5" PRIu64 " %-16.16s %-22s %-8s %9" PRIu64
			    " %9" PRIu64 " %6" PRIu64 " %10s\n", w->id,
			    st_str(w->name, ""), st_str(w->address, "?"),
			    st_str(w->state, "?"), w->pushes, w->pulls,
			    w->clock, seen);
		}
	}
}

static enum ps_cmd_retval
cmd_status_exec(struct ps_cmd *self)
{
	struct ps_cmd_ctl	 c;
	struct ps_ctl_reply	 r;
	struct ps_ctl_status	 st;
	enum ps_cmd_retval	 ret;
	char			*s, *cause = NULL;

	if ((ret = ps_cmd_ctl_init(&c, self, PS_CMD_CTL_TIMEOUT)) != PS_CMD_OK ||
	    (ret = ps_cmd_ctl_open(&c)) != PS_CMD_OK)
		return ret;
	ret = ps_cmd_ctl_call(&c, PS_CTL_STATUS, NULL, 0, 0, &r);
	ps_cmd_ctl_close(&c);
	if (ret != PS_CMD_OK)
		return ret;
	/* Read even for --json: a reply that is not a STATUS is refused. */
	if (ps_ctl_status_parse(r.result, &st, &cause) != 0) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		ps_ctl_reply_clear(&r);
		return PS_CMD_ERR_PROTOCOL;
	}
	if (ps_args_has(self->args, "json")) {
		s = json_dumps(r.result, isatty(STDOUT_FILENO) ?
		    JSON_INDENT(2) : JSON_COMPACT);
		if (s != NULL) {
			puts(s);
			free(s);
		}
	} else
		st_print(&st);
	ps_ctl_status_clear(&st);
	ps_ctl_reply_clear(&r);
	return PS_CMD_OK;
}
