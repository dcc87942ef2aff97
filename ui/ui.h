/*
 * The console's terminal side: curses lifetime, the colour table, the key
 * table and the views that draw the screen model (model.h) with the words
 * of text.h.  Everything here runs on the console's main loop, the only
 * thread psctl top has.
 *
 * ps_ui_done() restores the terminal and is safe to call more than once,
 * from an atexit() handler (fatal() exits through it) and from the fatal
 * signal handlers ps_ui_init() installs.
 */
#ifndef PS_UI_H
#define PS_UI_H

#include <signal.h>

#include <curses.h>
#include <jansson.h>

#include "model.h"
#include "text.h"

/* Below this the screen says "terminal too small" instead of drawing. */
#define PS_UI_MIN_COLS	60
#define PS_UI_MIN_LINES	12

/* What a key does (the key table maps keys to these). */
enum ps_ui_action {
	PS_UI_NONE = 0,
	PS_UI_QUIT,
	PS_UI_HELP,
	PS_UI_TAB,		/* move the keys' focus to the other table */
	PS_UI_GONE,		/* show or fold GONE workers */
	PS_UI_FILTER,		/* type a name filter */
	PS_UI_SORT_LEFT,
	PS_UI_SORT_RIGHT,
	PS_UI_INVERT,
	PS_UI_PAUSE,
	PS_UI_REDRAW,
	PS_UI_FASTER,		/* shorter refresh interval */
	PS_UI_SLOWER,
	PS_UI_CHECKPOINT,
	PS_UI_RESET,
	PS_UI_STOP,
	PS_UI_KICK,		/* the selected worker */
	PS_UI_BLOCK,
	PS_UI_UNBLOCK,		/* pick a block to lift */
	PS_UI_UP,		/* move the focused table's selection */
	PS_UI_DOWN,
	PS_UI_PGUP,
	PS_UI_PGDN,
	PS_UI_HOME,
	PS_UI_END
};

struct ps_ui_key {
	int		 key;		/* a character or KEY_* code */
	enum ps_ui_action action;
	const char	*label;		/* how help names the key */
	const char	*footkey;	/* footer: the key(s), or NULL for none */
	const char	*footer;	/* footer: what it does */
	const char	*help;		/* one line for the help view, or NULL */
};

/* The key table, ended by an entry with key 0. */
extern const struct ps_ui_key ps_ui_keys[];

/*
 * A view, htop style: a const table of functions that only read the
 * model.  height says how many rows the view wants at this width (0 for
 * "whatever is left"); draw fills the window it is given.
 */
struct ps_view {
	const char	*name;
	int		(*height)(const struct ps_top_model *, int width,
			    double now);
	void		(*draw)(const struct ps_top_model *, WINDOW *,
			    double now);
};

extern const struct ps_view ps_view_header;
extern const struct ps_view ps_view_tensors;
extern const struct ps_view ps_view_workers;
extern const struct ps_view ps_view_help;
extern const struct ps_view ps_view_status;
extern const struct ps_view ps_view_pick;
extern const struct ps_view ps_view_footer;

/*
 * Set by the SIGINT/SIGTERM/SIGHUP/SIGQUIT handlers ps_ui_init() installs;
 * the main loop quits when it is non-zero (the signal's number).
 */
extern volatile sig_atomic_t ps_ui_signal;

/*
 * Takes the terminal (stdin/stdout must be a terminal).  color 0 draws
 * with attributes only (NO_COLOR, -C).  Returns 0, or -1 with *cause.
 */
int		 ps_ui_init(int color, char **cause);
/* Gives the terminal back. */
void		 ps_ui_done(void);
/* Draws the whole screen for the model now. */
void		 ps_ui_draw(const struct ps_top_model *, double now);
/* Forces a full repaint at the next draw (Ctrl-L). */
void		 ps_ui_redraw(void);
/* The next key, or ERR when none is waiting (never blocks). */
int		 ps_ui_getkey(void);
/*
 * Acts on one key: an open [y/N] question takes it first, then an open
 * list (arrows, Enter, Esc), then the help view, then the key table.  *send gets the text of a request to send
 * (caller frees) or NULL; *resubscribe is set when the refresh interval
 * changed.  Returns 1 when the key asks to quit.
 */
int		 ps_ui_key(struct ps_top_model *, int key, double now,
		     char **send, int *resubscribe);

/* Attributes for a class of text, from the colour table. */
attr_t		 ps_ui_attr(enum ps_text_class);
/* Draws a line of segments at row y, clipped to the window, clearing the rest. */
void		 ps_ui_line(WINDOW *, int y, const struct ps_text_line *);
/*
 * Draws a table in w: title, column headings, then the rows from the
 * table's scroll position moved to show the selection, with the columns
 * that fit (ps_text_layout()); records the rows shown in
 * ps_ui_table_rows.
 */
void		 ps_ui_table(const struct ps_top_model *, enum ps_top_table,
		     WINDOW *, double now);
/*
 * The first of n rows to show in a window of rows rows, from the scroll
 * position, so that row sel is in view.
 */
size_t		 ps_ui_first_row(size_t scroll, size_t sel, size_t n,
		     size_t rows);
/* The sparkline glyphs for this terminal (UTF-8 blocks or ASCII). */
const char *const *ps_ui_ramp(void);
/* Rows the table views showed at the last draw (for paging). */
extern int	 ps_ui_table_rows[PS_TOP_NTABLES];
/* Rows the open list showed at the last draw. */
extern int	 ps_ui_pick_rows;

#endif
