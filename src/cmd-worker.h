/*
 * What psctl init, pull and push share: the common options (those of
 * cmd-ctl.h, plus --name), one libpsctl worker connection, loading a
 * safetensors file as tensors, and the exit codes (psctl(1) EXIT STATUS),
 * the same as the control commands':
 *	65 EX_DATAERR	the server refused the request (mismatch, shape,
 *			unknown tensor, non-finite values...), or FILE does
 *			not verify
 *	66 EX_NOINPUT	FILE or the token file cannot be opened
 *	69 EX_UNAVAILABLE the server cannot be reached, or went away
 *	70 EX_SOFTWARE	the server failed to carry it out (internal)
 *	73 EX_CANTCREAT	pull's output cannot be written
 *	75 EX_TEMPFAIL	busy or shutting down, or no reply in time
 *	76 EX_PROTOCOL	not a psctl server, TLS failure, a malformed reply
 *	77 EX_NOPERM	the token was refused
 * Runs in the psctl process only (xmalloc, stderr).
 */
#ifndef PS_CMD_WORKER_H
#define PS_CMD_WORKER_H

#include <getopt.h>
#include <stddef.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "psctl.h"
#include "store.h"

#define PS_CMD_WORKER_OPT_NAME	0x180

#define PS_CMD_WORKER_LONGOPTS						\
	PS_CMD_CTL_LONGOPTS,						\
	{ "name", required_argument, NULL, PS_CMD_WORKER_OPT_NAME }
#define PS_CMD_WORKER_USAGE	PS_CMD_CTL_USAGE " [--name NAME]"

struct ps_cmd_worker {
	struct ps_cmd_ctl	 o;	/* the common options, parsed only */
	const char		*name;	/* --name, borrowed */
	struct psctl		*c;	/* owned after ps_cmd_worker_open() */
};

/* Defaults: timeout 30 s, name "psctl CMD". */
void	ps_cmd_worker_init(struct ps_cmd_worker *, const char *cmd);
/* As ps_cmd_ctl_option(): 1 when ch was ours, an exit code > 1, or 0. */
int	ps_cmd_worker_option(struct ps_cmd_worker *, int ch, const char *arg);
/* Connects and says hello; 0, or an exit code after a message. */
int	ps_cmd_worker_open(struct ps_cmd_worker *);
/* After a failed call: prints what went wrong, returns its exit code. */
int	ps_cmd_worker_fail(struct ps_cmd_worker *, const char *what);
void	ps_cmd_worker_close(struct ps_cmd_worker *);

/*
 * Loads a safetensors file (psctl's own or foreign; F16/BF16/F64 become
 * float32) and makes tensors that point at the store's data.  Returns 0
 * with *store (ps_store_free()) and *t (free()), or an exit code after a
 * message.
 */
int	ps_cmd_worker_load(const char *cmd, const char *path,
	    struct ps_store **store, struct psctl_tensor **t, size_t *n);

/*
 * All of psctl init and psctl push: parses the options, loads FILE, sends
 * its tensors with send (psctl_init or psctl_push) and prints the model
 * version.  Returns the exit code.
 */
int	ps_cmd_worker_send_file(const struct ps_cmd_entry *, int argc,
	    char **argv, int (*send)(struct psctl *,
	    const struct psctl_tensor *, size_t, uint64_t *));

#endif
