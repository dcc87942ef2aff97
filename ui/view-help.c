/*
 * The help view: every key from the key table, what each column means and
 * what the worker marks say.  Any key returns.  Main loop only.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <curses.h>

#include "model.h"
#include "text.h"
#include "ui.h"

static int	view_help_height(const struct ps_top_model *, int, double);
static void	view_help_draw(const struct ps_top_model *, WINDOW *, double);

const struct ps_view ps_view_help = {
	.name = "help",
	.height = view_help_height,
	.draw = view_help_draw,
};

/* Column and mark explanations, after the keys. */
static const char *const view_help_text[] = {
	"TENSORS  # place in the model, NAME, SHAPE, L2 norm, UPDATE_L2 norm "
	"of the",
	"         last update, GROWTH of L2 over a minute (! the worst), UPD/S.",
	"WORKERS  ID, STATE, NAME, ADDRESS, PUSH/S, PULL/S, UPD_L2 of its last "
	"push,",
	"         MAX_L2 in a minute, CLOCK (as the mode counts), LAG behind the "
	"fastest",
	"         clock, SEEN since the server heard from it.",
	"STATE    active, waiting (in a barrier), LAGGING (lag over the "
	"limit: the",
	"         staleness in ssp, 1 in sync; in async under half the fastest",
	"         push rate; async: under half its own pace), BLOCKING (the sync",
	"         round waits on it), SILENT, GONE (folded: g shows them).",
	"         Sorting by STATE puts SILENT, BLOCKING, LAGGING first.",
	"NARROW   columns are dropped (ADDRESS first), long names shortened "
	"in the",
	"         middle (trainer~gpu0); > marks the selected row.",
	"DISCONNECTED  the last frame stays, marked STALE; actions are "
	"refused until",
	"         psctl top reconnects, which it does by itself.",
	NULL
};

static int
view_help_height(const struct ps_top_model *m, int width, double now)
{
	return 0;
}

static void
view_help_draw(const struct ps_top_model *m, WINDOW *w, double now)
{
	const struct ps_ui_key	*k;
	struct ps_text_line	 l;
	char			 keys[32];
	size_t			 n;
	int			 y = 0, i;

	l.n = 0;
	ps_text_add(&l, PS_TEXT_TITLE_FOCUS, "psctl top help");
	ps_text_add(&l, PS_TEXT_PLAIN, "  (any key returns)%s",
	    m->readonly ? "  read-only: c, R, S, k, K and u are refused" : "");
	ps_ui_line(w, y++, &l);
	for (k = ps_ui_keys; k->key != 0; k++) {
		if (k->help == NULL)
			continue;
		/* Keys that share an action share a line: "q F10". */
		snprintf(keys, sizeof keys, "%s", k->label);
		for (i = 1; k[i].key != 0 && k[i].help == NULL &&
		    k[i].action == k->action; i++) {
			n = strlen(keys);
			snprintf(keys + n, sizeof keys - n, " %s", k[i].label);
		}
		l.n = 0;
		ps_text_add(&l, PS_TEXT_KEY, " %-10s", keys);
		ps_text_add(&l, PS_TEXT_PLAIN, " %s", k->help);
		ps_ui_line(w, y++, &l);
	}
	for (i = 0; view_help_text[i] != NULL; i++) {
		l.n = 0;
		ps_text_add(&l, PS_TEXT_PLAIN, "%s", view_help_text[i]);
		ps_ui_line(w, y++, &l);
	}
}
