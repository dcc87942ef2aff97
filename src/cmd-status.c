/*
 * psctl status: one STATUS from the server, as a summary for people or as
 * the JSON object for scripts (--json).
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"

static int	cmd_status_exec(int, char **);

const struct ps_cmd_entry ps_cmd_status_entry = {
	.name = "status",
	.usage = "[--json] " PS_CMD_CTL_USAGE,
	.summary = "show the server's model, workers and counters",
	.exec = cmd_status_exec
};

static double
st_num(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *
st_str(json_t *o, const char *key, const char *dflt)
{
	json_t	*v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

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

static void
st_shape(json_t *shape, char *buf, size_t len)
{
	json_t	*d;
	size_t	 i, off = 0;

	off += (size_t)snprintf(buf, len, "[");
	json_array_foreach(shape, i, d) {
		if (off >= len)
			break;
		off += (size_t)snprintf(buf + off, len - off, "%s%lld",
		    i > 0 ? ", " : "", (long long)json_integer_value(d));
	}
	if (off < len)
		snprintf(buf + off, len - off, "]");
}

static void
st_print(json_t *st)
{
	json_t		*a, *v, *ck, *p;
	const char	*key;
	char		 up[32], sz[32], shape[128], seen[32];
	size_t		 i;
	int		 first;

	st_duration(st_num(st, "uptime_s"), up, sizeof up);
	printf("psctl %s at %s, up %s, %s\n", st_str(st, "version", "?"),
	    st_str(st, "listen", "?"), up, st_str(st, "state", "?"));
	printf("mode %s", st_str(st, "mode", "?"));
	if (json_is_integer(json_object_get(st, "sync_workers")))
		printf(" (%lld workers a round)",
		    (long long)st_num(st, "sync_workers"));
	if (json_is_integer(json_object_get(st, "staleness")))
		printf(" (staleness %lld)", (long long)st_num(st, "staleness"));
	printf(", rule %s", st_str(st, "rule", "?"));
	p = json_object_get(st, "rule_params");
	first = 1;
	json_object_foreach(p, key, v) {
		printf("%s%s ", first ? " (" : ", ", key);
		if (json_is_boolean(v))
			printf("%s", json_is_true(v) ? "true" : "false");
		else
			printf("%g", json_number_value(v));
		first = 0;
	}
	printf("%s\n", first ? "" : ")");

	st_bytes(st_num(st, "bytes"), sz, sizeof sz);
	a = json_object_get(st, "tensors");
	printf("model version %.0f: %.0f parameters (%s) in %zu tensors, "
	    "L2 norm %.6g\n", st_num(st, "model_version"), st_num(st, "params"),
	    sz, json_array_size(a), st_num(st, "model_l2"));
	printf("workers %.0f connected; pushes %.0f (%.1f/s), pulls %.0f "
	    "(%.1f/s), rejected %.0f, resets %.0f\n",
	    st_num(st, "workers_connected"), st_num(st, "pushes_total"),
	    st_num(st, "pushes_per_s"), st_num(st, "pulls_total"),
	    st_num(st, "pulls_per_s"), st_num(st, "rejected_total"),
	    st_num(st, "resets_total"));
	ck = json_object_get(st, "checkpoint");
	if (json_is_string(json_object_get(ck, "dir"))) {
		printf("checkpoints in %s: %.0f written", st_str(ck, "dir", "?"),
		    st_num(ck, "count"));
		if (st_num(ck, "failed") > 0)
			printf(", %.0f failed", st_num(ck, "failed"));
		if (json_is_boolean(json_object_get(ck, "last_ok"))) {
			st_duration(st_num(ck, "last_age_s"), seen, sizeof seen);
			if (json_is_true(json_object_get(ck, "last_ok")))
				printf("; last %s, %s ago",
				    st_str(ck, "last_path", "?"), seen);
			else
				printf("; last failed %s ago: %s", seen,
				    st_str(ck, "last_error", "?"));
		}
		if (json_is_true(json_object_get(ck, "in_progress")))
			printf("; one in progress");
		printf("\n");
	} else
		printf("checkpoints: no --checkpoint-dir\n");

	if (json_array_size(a) > 0) {
		printf("\n%-32s %-20s %12s %10s %9s\n", "TENSOR", "SHAPE",
		    "L2 NORM", "VERSION", "UPDATES");
		json_array_foreach(a, i, v) {
			st_shape(json_object_get(v, "shape"), shape,
			    sizeof shape);
			printf("%-32s %-20s %12.6g %10.0f %9.0f\n",
			    st_str(v, "name", "?"), shape, st_num(v, "l2_norm"),
			    st_num(v, "version"), st_num(v, "updates_total"));
		}
	}
	a = json_object_get(st, "workers");
	if (json_array_size(a) > 0) {
		printf("\n%5s %-16s %-22s %-8s %9s %9s %6s %10s\n", "ID",
		    "NAME", "ADDRESS", "STATE", "PUSHES", "PULLS", "CLOCK",
		    "LAST SEEN");
		json_array_foreach(a, i, v) {
			st_duration(st_num(v, "last_seen_s"), seen, sizeof seen);
			printf("%5.0f %-16.16s %-22s %-8s %9.0f %9.0f %6.0f "
			    "%10s\n", st_num(v, "id"), st_str(v, "name", ""),
			    st_str(v, "address", "?"), st_str(v, "state", "?"),
			    st_num(v, "pushes"), st_num(v, "pulls"),
			    st_num(v, "clock"), seen);
		}
	}
}

static int
cmd_status_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		PS_CMD_CTL_LONGOPTS,
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ps_cmd_ctl	 c;
	struct ps_ctl_reply	 r;
	char			*s;
	int			 ch, ex, json = 0;

	ps_cmd_ctl_init(&c, "status");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if ((ex = ps_cmd_ctl_option(&c, ch, optarg)) > 1)
			return ex;
		if (ex == 1)
			continue;
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'h':
			ps_cmd_usage(&ps_cmd_status_entry, stdout);
			return EX_OK;
		default:
			return ps_cmd_usage_error(&ps_cmd_status_entry, NULL);
		}
	}
	if (optind != argc)
		return ps_cmd_usage_error(&ps_cmd_status_entry,
		    "unexpected argument: %s", argv[optind]);

	if ((ex = ps_cmd_ctl_open(&c)) != 0)
		return ex;
	ex = ps_cmd_ctl_call(&c, PS_CTL_STATUS, NULL, 0, 0, &r);
	ps_cmd_ctl_close(&c);
	if (ex != 0)
		return ex;
	if (json) {
		s = json_dumps(r.result, isatty(STDOUT_FILENO) ?
		    JSON_INDENT(2) : JSON_COMPACT);
		if (s != NULL) {
			puts(s);
			free(s);
		}
	} else
		st_print(r.result);
	ps_ctl_reply_clear(&r);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("psctl status: stdout");
		return EX_IOERR;
	}
	return EX_OK;
}
