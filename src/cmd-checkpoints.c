/*
 * psctl checkpoints [--json]: the checkpoints the server can reset to,
 * newest first, with the model version, age, model L2 norm and size of
 * each; "initial" last.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"

static enum ps_cmd_retval	cmd_checkpoints_exec(struct ps_cmd *);
static void			cmd_checkpoints_age(double, char *, size_t);

static const struct ps_cmd_opt cmd_checkpoints_opts[] = {
	{ "json", 0, 0 },
	PS_CMD_CTL_OPTS,
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_checkpoints_entry = {
	.name = "checkpoints",
	.args = { cmd_checkpoints_opts, 0, 0, NULL },
	.usage = "[--json] " PS_CMD_CTL_USAGE,
	.summary = "list the checkpoints the server can reset to",
	.exec = cmd_checkpoints_exec
};

/* "45s ago", "12m ago", "3h ago", "2d ago"; "-" when unknown. */
static void
cmd_checkpoints_age(double s, char *buf, size_t len)
{
	if (isnan(s))
		snprintf(buf, len, "-");
	else if (s < 60)
		snprintf(buf, len, "%.0fs ago", s < 0 ? 0 : s);
	else if (s < 3600)
		snprintf(buf, len, "%.0fm ago", floor(s / 60));
	else if (s < 86400)
		snprintf(buf, len, "%.0fh ago", floor(s / 3600));
	else
		snprintf(buf, len, "%.0fd ago", floor(s / 86400));
}

static enum ps_cmd_retval
cmd_checkpoints_exec(struct ps_cmd *self)
{
	struct ps_cmd_ctl	 c;
	struct ps_ctl_reply	 r;
	struct ps_ctl_ckpt	*ck;
	enum ps_cmd_retval	 ret;
	json_t			*a;
	char			*cause, *text, age[32], l2[32], size[32];
	size_t			 i, n;

	if ((ret = ps_cmd_ctl_init(&c, self, PS_CMD_CTL_TIMEOUT)) !=
	    PS_CMD_OK || (ret = ps_cmd_ctl_open(&c)) != PS_CMD_OK)
		return ret;
	ret = ps_cmd_ctl_call(&c, PS_CTL_CHECKPOINTS, NULL, 0, 0, &r);
	ps_cmd_ctl_close(&c);
	if (ret != PS_CMD_OK)
		return ret;
	if (ps_ctl_checkpoints_parse(r.result, &ck, &n, &cause) != 0) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		ps_ctl_reply_clear(&r);
		return PS_CMD_ERR_PROTOCOL;
	}
	if (ps_args_has(self->args, "json")) {
		/* The array, as the server sent it: one line. */
		a = json_object_get(r.result, "checkpoints");
		text = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
		if (text != NULL)
			printf("%s\n", text);
		free(text);
	} else {
		printf("%-24s %10s %10s %12s %12s\n", "NAME", "VERSION", "AGE",
		    "MODEL L2", "BYTES");
		for (i = 0; i < n; i++) {
			cmd_checkpoints_age(ck[i].age_s, age, sizeof age);
			if (isnan(ck[i].model_l2))
				snprintf(l2, sizeof l2, "-");
			else
				snprintf(l2, sizeof l2, "%.6g", ck[i].model_l2);
			if (ck[i].bytes < 0)
				snprintf(size, sizeof size, "-");
			else
				snprintf(size, sizeof size, "%" PRId64,
				    ck[i].bytes);
			printf("%-24s %10" PRIu64 " %10s %12s %12s\n",
			    ck[i].name, ck[i].version, age, l2, size);
		}
	}
	free(ck);
	ps_ctl_reply_clear(&r);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ps_cmd_error(self, "cannot write the list");
		return PS_CMD_ERR_IO;
	}
	return PS_CMD_OK;
}
