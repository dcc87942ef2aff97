/*
 * What psctl status, checkpoint, reset and stop share: the common options,
 * one psctl.control.v1 connection, one request and its reply.  psctl top
 * uses the connection too, quietly (ps_cmd_ctl_connect()), and sends and
 * reads on it itself.  Failures
 * are printed here and come back as retvals (cmd.c maps them to exit
 * codes, psctl(1) EXIT STATUS).
 */
#ifndef PS_CMD_CTL_H
#define PS_CMD_CTL_H

#include "cmd.h"
#include "control.h"
#include "wsc.h"

/* The common options, to put in a command's table, and their usage. */
#define PS_CMD_CTL_OPTS							\
	{ "connect", 0, 1 },						\
	{ "token-file", 0, 1 },						\
	{ "ca-file", 0, 1 },						\
	{ "timeout", 0, 1 }
/* The --timeout of the control commands, in seconds. */
#define PS_CMD_CTL_TIMEOUT	10.0

#define PS_CMD_CTL_USAGE \
	"[--connect url] [--token-file file] [--ca-file file] [--timeout secs]"

struct ps_cmd_ctl {
	struct ps_cmd	*cmd;		/* borrowed: the command running */
	const char	*url;		/* borrowed from cmd */
	const char	*token_file;	/* borrowed */
	const char	*ca_file;	/* borrowed */
	double		 timeout;	/* seconds for connect and short calls */
	struct ps_wsc	*wsc;		/* owned */
	json_int_t	 next_id;
};

/*
 * Reads the common options of cmd (timeout defaults to dflt seconds).
 * PS_CMD_ERR_USAGE after a message when one is bad.
 */
enum ps_cmd_retval ps_cmd_ctl_init(struct ps_cmd_ctl *, struct ps_cmd *,
	    double dflt);
/* Reads the token file, connects, and says why when it cannot. */
enum ps_cmd_retval ps_cmd_ctl_open(struct ps_cmd_ctl *);
/*
 * The quiet parts of ps_cmd_ctl_open(), for a client that shows failures
 * its own way (psctl top, on its screen) or keeps the token across
 * reconnections.  ps_cmd_ctl_connect() connects c with token (NULL for
 * none): 0, or -1 with *err and the reason in errbuf.
 * ps_cmd_ctl_fail() says on stderr what a connection failure means and
 * what to do about it, and returns its retval (watching: a stream's
 * client, for which a time-out means the server is gone).
 */
int	ps_cmd_ctl_connect(struct ps_cmd_ctl *, const char *token,
	    enum ps_wsc_err *err, char *errbuf, size_t len);
enum ps_cmd_retval ps_cmd_ctl_fail(struct ps_cmd_ctl *, enum ps_wsc_err,
	    const char *text, int had_token, int watching);
/* Sends a request's text as one message: 0, or -1 (ps_wsc_error()). */
int	ps_cmd_ctl_send(struct ps_cmd_ctl *, const char *text);
/*
 * Sends one request and waits for its reply (events are skipped), for at
 * most wait seconds (<= 0: the --timeout).  PS_CMD_OK with an ok reply in
 * *r (caller ps_ctl_reply_clear()s), or the failure after a message.
 */
enum ps_cmd_retval ps_cmd_ctl_call(struct ps_cmd_ctl *, enum ps_ctl_cmd,
	    const char *name, int checkpoint, double wait,
	    struct ps_ctl_reply *r);
/*
 * ps_cmd_ctl_call() for a request already encoded (text, borrowed) with
 * id, taken from c->next_id++ (ps_ctl_request_worker()'s, say).
 */
enum ps_cmd_retval ps_cmd_ctl_call_text(struct ps_cmd_ctl *, json_int_t id,
	    const char *text, double wait, struct ps_ctl_reply *r);
/* Waits up to wait seconds for the server to close the connection. */
int	ps_cmd_ctl_wait_close(struct ps_cmd_ctl *, double wait);
void	ps_cmd_ctl_close(struct ps_cmd_ctl *);
/*
 * All of psctl checkpoint and reset but the printing: the options, the
 * optional NAME, the call (flag as ps_ctl_request() takes it: checkpoint's
 * force).  PS_CMD_OK with *r (caller ps_ctl_reply_clear()s), or the
 * failure after a message.
 */
enum ps_cmd_retval ps_cmd_ctl_named(struct ps_cmd *, enum ps_ctl_cmd,
	    int flag, double wait, struct ps_ctl_reply *r);

#endif
