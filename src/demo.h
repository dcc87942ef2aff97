/*
 * --demo: a small model and a few synthetic workers that train it through
 * libpsctl, over the server's own port, exactly as outside workers would.
 * The module knows the store and libpsctl, not the server: the server
 * (server.c) creates the model and starts and stops the threads.
 */
#ifndef PS_DEMO_H
#define PS_DEMO_H

#include "store.h"

struct ps_demo;

/*
 * Creates the demo model (a two-layer perceptron) in the empty store s.
 * Returns 0, or -1 with *cause (caller frees).
 */
int		 ps_demo_model(struct ps_store *s, char **cause);
/*
 * Starts n worker threads that connect to host (NULL, "0.0.0.0" and "::"
 * mean this machine) on port, with token (copied; NULL for none), and
 * train with a step fit for rule.  Returns the demo (ps_demo_stop() frees
 * it), or NULL with *cause (caller frees).
 */
struct ps_demo	*ps_demo_start(const char *host, int port, const char *token,
		     enum ps_rule_kind rule, unsigned n, char **cause);
/* Tells the threads to stop, without waiting; NULL is a no-op.  Any thread. */
void		 ps_demo_halt(struct ps_demo *);
/*
 * Stops and joins the threads and frees the demo; NULL is a no-op.  Not on
 * the service thread while it serves: the threads may wait for a reply.
 */
void		 ps_demo_stop(struct ps_demo *);

#endif
