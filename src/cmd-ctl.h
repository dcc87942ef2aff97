/*
 * What psctl status, checkpoint, reset and stop share: the common options,
 * one psctl.control.v1 connection, one request and its reply, and the exit
 * codes (psctl(1) EXIT STATUS):
 *	64 EX_USAGE	bad options or URL
 *	65 EX_DATAERR	the server refused the request as given (bad_request,
 *			unknown_command, not_found, mismatch, no_model,
 *			no_checkpoint_dir)
 *	69 EX_UNAVAILABLE the server cannot be reached, or went away
 *	70 EX_SOFTWARE	the server failed to carry it out (io, other codes)
 *	75 EX_TEMPFAIL	busy or shutting_down, or no reply in time: try again
 *	76 EX_PROTOCOL	not a psctl server, TLS failure, a malformed reply
 *	77 EX_NOPERM	the token was refused (or none was given and one is
 *			needed), or the reply said forbidden
 */
#ifndef PS_CMD_CTL_H
#define PS_CMD_CTL_H

#include <getopt.h>

#include "control.h"
#include "wsc.h"

/* Long option values above any short option character. */
enum {
	PS_CMD_CTL_OPT_CONNECT = 0x100,
	PS_CMD_CTL_OPT_TOKEN_FILE,
	PS_CMD_CTL_OPT_CA_FILE,
	PS_CMD_CTL_OPT_TIMEOUT
};

/* The common long options, to put first in a command's option table. */
#define PS_CMD_CTL_LONGOPTS						\
	{ "connect", required_argument, NULL, PS_CMD_CTL_OPT_CONNECT },	\
	{ "token-file", required_argument, NULL, PS_CMD_CTL_OPT_TOKEN_FILE }, \
	{ "ca-file", required_argument, NULL, PS_CMD_CTL_OPT_CA_FILE },	\
	{ "timeout", required_argument, NULL, PS_CMD_CTL_OPT_TIMEOUT }
#define PS_CMD_CTL_USAGE \
	"[--connect URL] [--token-file FILE] [--ca-file FILE] [--timeout SECS]"

struct ps_cmd_ctl {
	const char	*cmd;		/* "status", for messages */
	const char	*url;		/* --connect, borrowed */
	const char	*token_file;	/* borrowed */
	const char	*ca_file;	/* borrowed */
	double		 timeout;	/* seconds for connect and short calls */
	struct ps_wsc	*wsc;		/* owned */
	json_int_t	 next_id;
};

void	ps_cmd_ctl_init(struct ps_cmd_ctl *, const char *cmd);
/*
 * Handles one of the common options: returns 1 when ch was one (0 if
 * not), or an exit code > 1 after a message when its argument is bad.
 */
int	ps_cmd_ctl_option(struct ps_cmd_ctl *, int ch, const char *arg);
/* Connects; 0, or an exit code after a message on stderr. */
int	ps_cmd_ctl_open(struct ps_cmd_ctl *);
/*
 * Sends one request and waits for its reply (events are skipped), for at
 * most wait seconds (<= 0: the --timeout).  Returns 0 with an ok reply in
 * *r (caller ps_ctl_reply_clear()s), or an exit code after a message.
 */
int	ps_cmd_ctl_call(struct ps_cmd_ctl *, enum ps_ctl_cmd, const char *name,
	    int checkpoint, double wait, struct ps_ctl_reply *r);
/* Waits up to wait seconds for the server to close the connection. */
int	ps_cmd_ctl_wait_close(struct ps_cmd_ctl *, double wait);
void	ps_cmd_ctl_close(struct ps_cmd_ctl *);
/*
 * All of psctl checkpoint and reset but the printing: options, an optional
 * NAME, the call.  0 with *r (caller ps_ctl_reply_clear()s), or an exit code.
 */
struct ps_cmd_entry;
int	ps_cmd_ctl_named(const struct ps_cmd_entry *, enum ps_ctl_cmd,
	    double wait, int argc, char **argv, struct ps_ctl_reply *r);

#endif
