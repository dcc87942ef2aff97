/*
 * psctl kick WORKER [--block] and psctl unblock WORKER: an operator
 * disconnects a worker (by id or by name), and keeps it out until
 * unblocked.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "control.h"

static enum ps_cmd_retval	cmd_kick_exec(struct ps_cmd *);
static enum ps_cmd_retval	cmd_worker_call(struct ps_cmd *, enum ps_ctl_cmd,
				    int, struct ps_ctl_result *,
				    struct ps_ctl_reply *);
static enum ps_cmd_retval	cmd_unblock_exec(struct ps_cmd *);

static const struct ps_cmd_opt cmd_kick_opts[] = {
	{ "block", 0, 0 },
	PS_CMD_CTL_OPTS,
	PS_CMD_OPT_END
};

static const struct ps_cmd_opt cmd_unblock_opts[] = {
	PS_CMD_CTL_OPTS,
	PS_CMD_OPT_END
};

const struct ps_cmd_entry ps_cmd_kick_entry = {
	.name = "kick",
	.args = { cmd_kick_opts, 1, 1, "worker" },
	.usage = "[--block] " PS_CMD_CTL_USAGE " worker",
	.summary = "disconnect a worker, and with --block keep it out",
	.exec = cmd_kick_exec
};

const struct ps_cmd_entry ps_cmd_unblock_entry = {
	.name = "unblock",
	.args = { cmd_unblock_opts, 1, 1, "worker" },
	.usage = PS_CMD_CTL_USAGE " worker",
	.summary = "let a blocked worker connect again",
	.exec = cmd_unblock_exec
};

/* The request for WORKER (an id when all digits, else a name), read. */
static enum ps_cmd_retval
cmd_worker_call(struct ps_cmd *self, enum ps_ctl_cmd what, int block,
    struct ps_ctl_result *res, struct ps_ctl_reply *r)
{
	struct ps_cmd_ctl	 c;
	enum ps_cmd_retval	 ret;
	const char		*worker = ps_args_string(self->args, 0);
	char			*req, *cause;
	json_int_t		 id;

	if ((ret = ps_cmd_ctl_init(&c, self, PS_CMD_CTL_TIMEOUT)) != PS_CMD_OK)
		return ret;
	if (worker == NULL || *worker == '\0') {
		ps_cmd_error(self, "give the worker: its id or its name");
		return PS_CMD_ERR_USAGE;
	}
	if ((ret = ps_cmd_ctl_open(&c)) != PS_CMD_OK)
		return ret;
	id = c.next_id++;
	req = ps_ctl_request_worker(id, what, worker, block);
	ret = ps_cmd_ctl_call_text(&c, id, req, 0, r);
	free(req);
	ps_cmd_ctl_close(&c);
	if (ret != PS_CMD_OK)
		return ret;
	if (ps_ctl_result_parse(what, r->result, res, &cause) != 0) {
		ps_cmd_error(self, "%s", cause);
		free(cause);
		ps_ctl_reply_clear(r);
		return PS_CMD_ERR_PROTOCOL;
	}
	return PS_CMD_OK;
}

static enum ps_cmd_retval
cmd_kick_exec(struct ps_cmd *self)
{
	struct ps_ctl_reply	 r;
	struct ps_ctl_result	 res;
	enum ps_cmd_retval	 ret;
	char			 id[32];

	ret = cmd_worker_call(self, PS_CTL_KICK,
	    ps_args_has(self->args, "block"), &res, &r);
	if (ret != PS_CMD_OK)
		return ret;
	snprintf(id, sizeof id, "%" PRIu64, res.worker_id);
	printf("worker %s%s%s%s: %s\n", res.worker_id != 0 ? id : "",
	    res.worker_id != 0 && res.worker_name != NULL ? " (" : "",
	    res.worker_name != NULL ? res.worker_name : "",
	    res.worker_id != 0 && res.worker_name != NULL ? ")" : "",
	    res.kicked && res.blocked ? "kicked and blocked" :
	    res.kicked ? "kicked" : "blocked (it was not connected)");
	ps_ctl_reply_clear(&r);
	return PS_CMD_OK;
}

static enum ps_cmd_retval
cmd_unblock_exec(struct ps_cmd *self)
{
	struct ps_ctl_reply	 r;
	struct ps_ctl_result	 res;
	enum ps_cmd_retval	 ret;

	ret = cmd_worker_call(self, PS_CTL_UNBLOCK, 0, &res, &r);
	if (ret != PS_CMD_OK)
		return ret;
	printf("%s: unblocked (%" PRIu64 " block%s lifted)\n",
	    ps_args_string(self->args, 0), res.unblocked,
	    res.unblocked == 1 ? "" : "s");
	ps_ctl_reply_clear(&r);
	return PS_CMD_OK;
}
