/*
 * psctl inspect: what a checkpoint holds, verified.  The file is loaded as
 * `psctl serve --load` would load it (every check, both checksums), then
 * described: each tensor's name, the file's dtype, shape, parameter count
 * and L2 norm, the optimizer state, the rule and the metadata.  A file
 * that does not load is one line on stderr and exit 65 (66 when it cannot
 * be opened).
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "checkpoint.h"
#include "cmd.h"
#include "kernel.h"
#include "store.h"
#include "xmalloc.h"

static enum ps_cmd_retval	cmd_inspect_exec(struct ps_cmd *);

static const struct ps_cmd_opt cmd_inspect_opts[] = {
	{ "json", 0, 0 },
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_inspect_entry = {
	.name = "inspect",
	.args = { cmd_inspect_opts, 1, 1, "file" },
	.usage = "[--json] file",
	.summary = "show what a checkpoint holds, verified",
	.exec = cmd_inspect_exec
};

/* One row of a table, before the column widths are known. */
struct inspect_row {
	char	*cell[7];
};

static char	*inspect_safe(const char *);
static char	*inspect_dtype(enum ps_dtype);
static double	 inspect_state_l2(struct ps_store *,
		     const struct ps_ckpt_entry *);
static void	 inspect_table(struct inspect_row *, size_t, size_t,
		     const int *);
static json_t	*inspect_rule_json(const struct ps_rule *);
static json_t	*inspect_shape_json(const struct ps_ckpt_entry *);
static void	 inspect_text(const char *, struct ps_store *,
		     const struct ps_ckpt_info *,
		     const struct ps_ckpt_detail *);
static void	 inspect_json(const char *, struct ps_store *,
		     const struct ps_ckpt_info *,
		     const struct ps_ckpt_detail *);

/* A copy of s fit for one line of a terminal: control bytes as \xNN. */
static char *
inspect_safe(const char *s)
{
	char	*out, *o;

	out = o = xmalloc(4 * strlen(s) + 1);
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			o += sprintf(o, "\\x%02x", (unsigned char)*s);
		else
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

static char *
inspect_dtype(enum ps_dtype dt)
{
	if (dt == PS_DTYPE_F32)
		return xstrdup("F32");
	return xasprintf("%s (converted to F32)", ps_dtype_name(dt));
}

/* L2 norm of a restored state tensor, or NAN when it was not restored. */
static double
inspect_state_l2(struct ps_store *s, const struct ps_ckpt_entry *e)
{
	const struct ps_tensor	*t;
	const float		*x;

	if (!e->restored)
		return NAN;
	t = ps_store_tensor(s, e->index);
	x = e->slot == 'm' ? t->m : t->v;
	return sqrt(ps_k_sumsq(x, t->n));
}

/* Prints rows (the first is the heading); right[i]: align column right. */
static void
inspect_table(struct inspect_row *rows, size_t nrows, size_t ncols,
    const int *right)
{
	size_t	w[7] = { 0 }, i, j, len;

	for (i = 0; i < nrows; i++) {
		for (j = 0; j < ncols; j++) {
			len = strlen(rows[i].cell[j]);
			if (len > w[j])
				w[j] = len;
		}
	}
	for (i = 0; i < nrows; i++) {
		for (j = 0; j < ncols; j++) {
			if (j + 1 == ncols && !right[j])
				printf("%s", rows[i].cell[j]);
			else
				printf(right[j] ? "%*s" : "%-*s", (int)w[j],
				    rows[i].cell[j]);
			if (j + 1 < ncols)
				printf("  ");
			free(rows[i].cell[j]);
		}
		printf("\n");
	}
}

static json_t *
inspect_rule_json(const struct ps_rule *r)
{
	json_t	*o, *params;

	o = json_object();
	json_object_set_new(o, "name", json_string(ps_rule_name(r->kind)));
	params = ps_rule_params_json(r);
	json_object_update(o, params);
	json_decref(params);
	return o;
}

static json_t *
inspect_shape_json(const struct ps_ckpt_entry *e)
{
	json_t		*a;
	unsigned	 i;

	a = json_array();
	for (i = 0; i < e->ndim; i++)
		json_array_append_new(a, json_integer((json_int_t)e->dims[i]));
	return a;
}

static void
inspect_text(const char *path, struct ps_store *s,
    const struct ps_ckpt_info *info, const struct ps_ckpt_detail *d)
{
	struct inspect_row	*rows;
	const struct ps_tensor	*t;
	const struct ps_ckpt_entry *e;
	char			 shape[256], rule[256], *safe, *v;
	size_t			 i, n, ncols;
	static const int	 right[7] = { 0, 0, 0, 1, 1, 1, 1 };

	safe = inspect_safe(path);
	printf("file: %s\n", safe);
	free(safe);
	printf("size: %" PRIu64 " bytes (header %" PRIu64 ", data %" PRIu64
	    ")\n", d->file_size, 8 + d->header_len, d->data_len);
	if (info->has_crc && d->has_header_crc)
		printf("checksum: verified (data crc32c %08" PRIx32 ", header "
		    "crc32c %08" PRIx32 ")\n", d->crc, d->header_crc);
	else if (info->has_crc)
		printf("checksum: verified (data crc32c %08" PRIx32 ")\n",
		    d->crc);
	else if (d->has_header_crc)
		printf("checksum: header verified (header crc32c %08" PRIx32
		    "), none for the data\n", d->header_crc);
	else
		printf("checksum: none in file\n");
	if (info->psctl_version[0] != '\0') {
		safe = inspect_safe(info->psctl_version);
		printf("written by: psctl %s\n", safe);
		free(safe);
	}
	printf("model version: %" PRIu64 "\n", info->model_version);
	if (info->has_model_l2)
		printf("model L2 norm when saved: %.6g\n", info->model_l2);
	if (info->has_rule) {
		ps_rule_format(&info->rule, rule, sizeof rule);
		printf("rule: %s\n", rule);
	}
	if (info->mode[0] != '\0') {
		safe = inspect_safe(info->mode);
		printf("mode: %s\n", safe);
		free(safe);
	}
	printf("tensors: %zu, %zu parameters, L2 norm %.6g%s\n",
	    ps_store_count(s), ps_store_params(s), ps_store_model_l2(s),
	    d->order_listed ? "" : " (in data order)");

	/* The model. */
	n = ps_store_count(s);
	ncols = d->order_listed ? 7 : 5;
	rows = xcalloc(n + 1, sizeof *rows);
	rows[0].cell[0] = xstrdup("NAME");
	rows[0].cell[1] = xstrdup("DTYPE");
	rows[0].cell[2] = xstrdup("SHAPE");
	rows[0].cell[3] = xstrdup("PARAMS");
	rows[0].cell[4] = xstrdup("L2 NORM");
	rows[0].cell[5] = xstrdup("VERSION");
	rows[0].cell[6] = xstrdup("STEPS");
	for (i = 0; i < n; i++) {
		t = ps_store_tensor(s, i);
		e = &d->model[i];
		ps_shape_format(t->ndim, t->dims, shape, sizeof shape);
		rows[i + 1].cell[0] = inspect_safe(t->name);
		rows[i + 1].cell[1] = inspect_dtype(e->dtype);
		rows[i + 1].cell[2] = xstrdup(shape);
		rows[i + 1].cell[3] = xasprintf("%zu", t->n);
		rows[i + 1].cell[4] = xasprintf("%.6g", ps_store_l2(s, i));
		rows[i + 1].cell[5] = xasprintf("%" PRIu64, t->version);
		rows[i + 1].cell[6] = xasprintf("%" PRIu64, t->steps);
	}
	if (ncols == 5) {
		for (i = 0; i <= n; i++) {
			free(rows[i].cell[5]);
			free(rows[i].cell[6]);
		}
	}
	printf("\n");
	inspect_table(rows, n + 1, ncols, right);
	free(rows);

	/* Optimizer state. */
	if (d->nstate > 0) {
		printf("\noptimizer state: %zu tensors, %zu restored, %zu "
		    "dropped\n", d->nstate, info->state_restored,
		    info->state_dropped);
		rows = xcalloc(d->nstate + 1, sizeof *rows);
		rows[0].cell[0] = xstrdup("NAME");
		rows[0].cell[1] = xstrdup("DTYPE");
		rows[0].cell[2] = xstrdup("SHAPE");
		rows[0].cell[3] = xstrdup("PARAMS");
		rows[0].cell[4] = xstrdup("L2 NORM");
		for (i = 0; i < d->nstate; i++) {
			e = &d->state[i];
			ps_shape_format(e->ndim, e->dims, shape, sizeof shape);
			rows[i + 1].cell[0] = inspect_safe(e->name);
			rows[i + 1].cell[1] = inspect_dtype(e->dtype);
			rows[i + 1].cell[2] = xstrdup(shape);
			rows[i + 1].cell[3] = xasprintf("%zu",
			    ps_store_tensor(s, e->index)->n);
			rows[i + 1].cell[4] = e->restored ? xasprintf("%.6g",
			    inspect_state_l2(s, e)) : xstrdup("(dropped)");
		}
		inspect_table(rows, d->nstate + 1, 5, right);
		free(rows);
	}

	if (d->nmeta > 0) {
		printf("\nmetadata:\n");
		for (i = 0; i < d->nmeta; i++) {
			safe = inspect_safe(d->meta_keys[i]);
			v = inspect_safe(d->meta_values[i]);
			printf("  %s: %s\n", safe, v);
			free(safe);
			free(v);
		}
	}
}

static void
inspect_json(const char *path, struct ps_store *s,
    const struct ps_ckpt_info *info, const struct ps_ckpt_detail *d)
{
	const struct ps_tensor	*t;
	const struct ps_ckpt_entry *e;
	json_t			*o, *a, *x, *meta;
	char			 hex[16];
	size_t			 i;
	double			 l2;

	o = json_object();
	json_object_set_new(o, "file", json_string(path));
	json_object_set_new(o, "size", json_integer((json_int_t)d->file_size));
	json_object_set_new(o, "header_bytes",
	    json_integer((json_int_t)(8 + d->header_len)));
	json_object_set_new(o, "data_bytes",
	    json_integer((json_int_t)d->data_len));
	json_object_set_new(o, "checksum",
	    json_string(info->has_crc ? "verified" : "none"));
	snprintf(hex, sizeof hex, "%08" PRIx32, d->crc);
	json_object_set_new(o, "crc32c", info->has_crc ? json_string(hex) :
	    json_null());
	snprintf(hex, sizeof hex, "%08" PRIx32, d->header_crc);
	json_object_set_new(o, "header_crc32c", d->has_header_crc ?
	    json_string(hex) : json_null());
	json_object_set_new(o, "psctl_version",
	    info->psctl_version[0] != '\0' ?
	    json_string(info->psctl_version) : json_null());
	json_object_set_new(o, "model_version",
	    json_integer((json_int_t)info->model_version));
	json_object_set_new(o, "model_l2", info->has_model_l2 ?
	    json_real(info->model_l2) : json_null());
	json_object_set_new(o, "rule", info->has_rule ?
	    inspect_rule_json(&info->rule) : json_null());
	json_object_set_new(o, "mode", info->mode[0] != '\0' ?
	    json_string(info->mode) : json_null());
	json_object_set_new(o, "converted", json_boolean(info->converted));
	json_object_set_new(o, "parameters",
	    json_integer((json_int_t)ps_store_params(s)));
	json_object_set_new(o, "l2", json_real(ps_store_model_l2(s)));
	json_object_set_new(o, "order", json_string(d->order_listed ?
	    "psctl.tensors" : "data_offsets"));

	a = json_array();
	for (i = 0; i < ps_store_count(s); i++) {
		t = ps_store_tensor(s, i);
		e = &d->model[i];
		x = json_object();
		json_object_set_new(x, "name", json_string(t->name));
		json_object_set_new(x, "dtype",
		    json_string(ps_dtype_name(e->dtype)));
		json_object_set_new(x, "converted",
		    json_boolean(e->dtype != PS_DTYPE_F32));
		json_object_set_new(x, "shape", inspect_shape_json(e));
		json_object_set_new(x, "params", json_integer((json_int_t)t->n));
		json_object_set_new(x, "l2", json_real(ps_store_l2(s, i)));
		json_object_set_new(x, "version",
		    json_integer((json_int_t)t->version));
		json_object_set_new(x, "steps",
		    json_integer((json_int_t)t->steps));
		json_array_append_new(a, x);
	}
	json_object_set_new(o, "tensors", a);

	a = json_array();
	for (i = 0; i < d->nstate; i++) {
		e = &d->state[i];
		t = ps_store_tensor(s, e->index);
		x = json_object();
		json_object_set_new(x, "name", json_string(e->name));
		json_object_set_new(x, "slot", json_stringn(&e->slot, 1));
		json_object_set_new(x, "tensor", json_string(t->name));
		json_object_set_new(x, "dtype",
		    json_string(ps_dtype_name(e->dtype)));
		json_object_set_new(x, "shape", inspect_shape_json(e));
		json_object_set_new(x, "params", json_integer((json_int_t)t->n));
		l2 = inspect_state_l2(s, e);
		json_object_set_new(x, "l2", isnan(l2) ? json_null() :
		    json_real(l2));
		json_object_set_new(x, "restored", json_boolean(e->restored));
		json_array_append_new(a, x);
	}
	json_object_set_new(o, "state", a);

	meta = json_object();
	for (i = 0; i < d->nmeta; i++)
		json_object_set_new(meta, d->meta_keys[i],
		    json_string(d->meta_values[i]));
	json_object_set_new(o, "metadata", meta);

	/* A failed write leaves stdout in error: psctl.c reports it. */
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(o);
}

static enum ps_cmd_retval
cmd_inspect_exec(struct ps_cmd *self)
{
	struct ps_store		*s;
	struct ps_ckpt_info	 info;
	struct ps_ckpt_detail	*d;
	const char		*path = ps_args_string(self->args, 0);
	char			*cause, *safe, *why;

	s = ps_ckpt_load_detail(path, NULL, &info, &d, &cause);
	if (s == NULL) {
		safe = inspect_safe(path);
		why = inspect_safe(cause);
		ps_cmd_error(self, "%s: %s", safe, why);
		free(why);
		free(safe);
		free(cause);
		return ps_cmd_ckpt_retval(info.error);
	}
	if (ps_args_has(self->args, "json"))
		inspect_json(path, s, &info, d);
	else
		inspect_text(path, s, &info, d);
	ps_ckpt_detail_free(d);
	ps_store_free(s);
	return PS_CMD_OK;
}
