/*
 * What psctl init, pull and push share: the common options (those of
 * cmd-ctl.h, plus --name), one libpsctl worker connection, loading a
 * safetensors file as tensors.  Failures are printed here and come back
 * as retvals (psctl(1) EXIT STATUS).
 */
#ifndef PS_CMD_WORKER_H
#define PS_CMD_WORKER_H

#include <stddef.h>

#include "cmd.h"
#include "cmd-ctl.h"
#include "psctl.h"
#include "store.h"

#define PS_CMD_WORKER_OPTS						\
	PS_CMD_CTL_OPTS,						\
	{ "name", 0, 1 }
#define PS_CMD_WORKER_USAGE	PS_CMD_CTL_USAGE " [--name name]"

struct ps_cmd_worker {
	struct ps_cmd_ctl	 o;	/* the common options, parsed only */
	const char		*name;	/* --name, borrowed */
	struct psctl		*c;	/* owned after ps_cmd_worker_open() */
};

/* Reads the options: timeout 30 s, name "psctl CMD" unless given. */
enum ps_cmd_retval ps_cmd_worker_init(struct ps_cmd_worker *,
	    struct ps_cmd *);
/* Connects and says hello. */
enum ps_cmd_retval ps_cmd_worker_open(struct ps_cmd_worker *);
/* After a failed call: prints what went wrong, returns what it means. */
enum ps_cmd_retval ps_cmd_worker_fail(struct ps_cmd_worker *,
	    const char *what);
void	ps_cmd_worker_close(struct ps_cmd_worker *);

/*
 * Loads a safetensors file (psctl's own or foreign; F16/BF16/F64 become
 * float32) and makes tensors that point at the store's data.  PS_CMD_OK
 * with *store (ps_store_free()) and *t (free()), or the failure after a
 * message that names the file.
 */
enum ps_cmd_retval ps_cmd_worker_load(struct ps_cmd *, const char *path,
	    struct ps_store **store, struct psctl_tensor **t, size_t *n);

/*
 * All of psctl init and psctl push: loads FILE, sends its tensors with
 * send (psctl_init or psctl_push) and prints the model version.
 */
enum ps_cmd_retval ps_cmd_worker_send_file(struct ps_cmd *,
	    int (*send)(struct psctl *, const struct psctl_tensor *, size_t,
	    uint64_t *));

#endif
