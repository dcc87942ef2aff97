/*
 * The console's terminal side (see ui.h): curses set-up and teardown, the
 * colour table, the key table, the layout that places the views, and key
 * handling.  Runs on the console's main loop; the signal handlers only set
 * a flag, except the fatal ones, which restore the terminal and re-raise.
 */
#include "config.h"

#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "model.h"
#include "text.h"
#include "ui.h"
#include "xmalloc.h"

#define UI_CTRL(c)	((c) & 0x1f)

static void	ui_quit_handler(int);
static void	ui_fatal_handler(int);
static void	ui_place(const struct ps_view *, const struct ps_top_model *,
		    int, int, double);
static void	ui_too_small(void);
static void	ui_scroll(struct ps_top_model *, enum ps_ui_action);
static enum ps_ui_action ui_lookup(int);
static void	ui_filter_key(struct ps_top_model *, int, double);
static void	ui_pick_key(struct ps_top_model *, int, double);
static int	ui_move(enum ps_ui_action, int, long long *);

volatile sig_atomic_t	 ps_ui_signal;
int			 ps_ui_table_rows[PS_TOP_NTABLES];

static volatile sig_atomic_t ui_active;
static int		 ui_color;
static int		 ui_full;	/* repaint everything at the next draw */
static int		 ui_utf8;
static int		 ui_atexit;

/*
 * The colour table, indexed by class: a colour pair (foreground and
 * background, -1 for the terminal's default) with attributes, and the
 * attributes alone for monochrome terminals and NO_COLOR.  Nothing is told
 * by colour alone: every mark is also a word (LAGGING, DISCONNECTED).
 */
static const struct {
	short	fg;
	short	bg;
	attr_t	attr;
	attr_t	mono;
} ui_colors[PS_TEXT_NCLASSES] = {
	[PS_TEXT_PLAIN] =		{ -1, -1, A_NORMAL, A_NORMAL },
	[PS_TEXT_LABEL] =		{ COLOR_CYAN, -1, A_NORMAL, A_NORMAL },
	[PS_TEXT_VALUE] =		{ -1, -1, A_BOLD, A_BOLD },
	[PS_TEXT_TITLE] =		{ COLOR_CYAN, -1, A_BOLD, A_BOLD },
	[PS_TEXT_TITLE_FOCUS] =		{ COLOR_BLACK, COLOR_CYAN, A_BOLD,
					  A_REVERSE | A_BOLD },
	[PS_TEXT_HEADING] =		{ COLOR_BLACK, COLOR_GREEN, A_NORMAL,
					  A_UNDERLINE },
	[PS_TEXT_HEADING_SORT] =	{ COLOR_BLACK, COLOR_CYAN, A_BOLD,
					  A_REVERSE | A_BOLD },
	[PS_TEXT_ROW] =			{ -1, -1, A_NORMAL, A_NORMAL },
	[PS_TEXT_WAITING] =		{ COLOR_BLUE, -1, A_NORMAL, A_NORMAL },
	[PS_TEXT_LAGGING] =		{ COLOR_YELLOW, -1, A_BOLD, A_BOLD },
	[PS_TEXT_SILENT] =		{ COLOR_MAGENTA, -1, A_BOLD,
					  A_BOLD | A_UNDERLINE },
	[PS_TEXT_GONE] =		{ COLOR_RED, -1, A_DIM, A_DIM },
	[PS_TEXT_SELECTED] =		{ COLOR_BLACK, COLOR_WHITE, A_BOLD,
					  A_REVERSE | A_BOLD },
	[PS_TEXT_SPARK] =		{ COLOR_GREEN, -1, A_NORMAL, A_NORMAL },
	[PS_TEXT_GOOD] =		{ COLOR_GREEN, -1, A_BOLD, A_BOLD },
	[PS_TEXT_BAD] =			{ COLOR_WHITE, COLOR_RED, A_BOLD,
					  A_REVERSE | A_BOLD },
	[PS_TEXT_STALE] =		{ COLOR_BLACK, COLOR_YELLOW, A_BOLD,
					  A_REVERSE },
	[PS_TEXT_MSG_INFO] =		{ -1, -1, A_NORMAL, A_NORMAL },
	[PS_TEXT_MSG_OK] =		{ COLOR_GREEN, -1, A_BOLD, A_BOLD },
	[PS_TEXT_MSG_ERROR] =		{ COLOR_RED, -1, A_BOLD, A_BOLD },
	[PS_TEXT_PROMPT] =		{ COLOR_BLACK, COLOR_YELLOW, A_BOLD,
					  A_REVERSE | A_BOLD },
	[PS_TEXT_KEY] =			{ -1, -1, A_BOLD, A_BOLD },
	[PS_TEXT_KEYTEXT] =		{ COLOR_BLACK, COLOR_CYAN, A_NORMAL,
					  A_REVERSE },
};

/*
 * The key table: every key the console knows, in the order help lists
 * them.  The footer shows the entries that have a footkey.
 */
const struct ps_ui_key ps_ui_keys[] = {
	{ 'q', PS_UI_QUIT, "q", "q", "Quit", "quit" },
	{ KEY_F(10), PS_UI_QUIT, "F10", NULL, NULL, NULL },
	{ '?', PS_UI_HELP, "?", "?", "Help",
	  "this help (any key returns)" },
	{ 'h', PS_UI_HELP, "h", NULL, NULL, NULL },
	{ KEY_F(1), PS_UI_HELP, "F1", NULL, NULL, NULL },
	{ 'c', PS_UI_CHECKPOINT, "c", "c", "Ckpt",
	  "checkpoint now; the result shows on the status line" },
	{ 'R', PS_UI_RESET, "R", "R", "Reset",
	  "reset the model: pick a checkpoint, Enter, then [y/N] by name" },
	{ 'S', PS_UI_STOP, "S", "S", "Stop",
	  "stop the server (asks [y/N])" },
	{ 'k', PS_UI_KICK, "k", "kK", "Kick",
	  "kick the selected worker: close its connection (asks [y/N])" },
	{ 'K', PS_UI_BLOCK, "K", NULL, NULL,
	  "kick and block it: its id and name refused (asks [y/N])" },
	{ 'u', PS_UI_UNBLOCK, "u", NULL, NULL,
	  "unblock: pick a block (the selected worker's first), [y/N]" },
	{ '\t', PS_UI_TAB, "Tab", "Tab", "Table",
	  "move the selection, sorting and scrolling to the other table" },
	{ 'g', PS_UI_GONE, "g", "g", "Gone",
	  "show or fold the GONE workers" },
	{ '/', PS_UI_FILTER, "/", "/", "Filter",
	  "show only the rows whose name contains a text" },
	{ '<', PS_UI_SORT_LEFT, "<", "<>", "Sort",
	  "sort by the column to the left" },
	{ '>', PS_UI_SORT_RIGHT, ">", NULL, NULL,
	  "sort by the column to the right" },
	{ 'I', PS_UI_INVERT, "I", "I", "Invert", "invert the sort order" },
	{ ' ', PS_UI_PAUSE, "Space", "Space", "Pause",
	  "freeze the screen; again to resume" },
	{ '+', PS_UI_FASTER, "+", "+-", "Refresh",
	  "refresh more often (0.1 s at most)" },
	{ '-', PS_UI_SLOWER, "-", NULL, NULL,
	  "refresh less often (60 s at least)" },
	{ UI_CTRL('l'), PS_UI_REDRAW, "C-l", NULL, NULL, "redraw the screen" },
	{ KEY_UP, PS_UI_UP, "Up", NULL, NULL,
	  "select the row above (the table scrolls to it)" },
	{ KEY_DOWN, PS_UI_DOWN, "Down", NULL, NULL, "select the row below" },
	{ KEY_PPAGE, PS_UI_PGUP, "PgUp", NULL, NULL, "up a page" },
	{ KEY_NPAGE, PS_UI_PGDN, "PgDn", NULL, NULL, "down a page" },
	{ KEY_HOME, PS_UI_HOME, "Home", NULL, NULL, "select the first row" },
	{ KEY_END, PS_UI_END, "End", NULL, NULL, "select the last row" },
	{ 0, PS_UI_NONE, NULL, NULL, NULL, NULL }
};

static void
ui_quit_handler(int sig)
{
	ps_ui_signal = sig;
}

/* A crash: give the terminal back, then die of the same signal. */
static void
ui_fatal_handler(int sig)
{
	ps_ui_done();
	signal(sig, SIG_DFL);
	raise(sig);
}

int
ps_ui_init(int color, char **cause)
{
	static const int	 quit_sigs[] = { SIGINT, SIGTERM, SIGHUP,
				     SIGQUIT };
	static const int	 fatal_sigs[] = { SIGSEGV, SIGBUS, SIGFPE,
				     SIGILL, SIGABRT };
	struct sigaction	 sa;
	const char		*cs;
	size_t			 i;
	int			 c;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		*cause = xstrdup("not a terminal (use -b for text output)");
		return -1;
	}
	setlocale(LC_ALL, "");
	cs = nl_langinfo(CODESET);
	ui_utf8 = cs != NULL && strcmp(cs, "UTF-8") == 0;
	ps_text_set_utf8(ui_utf8);

	/* Handlers first, so that curses does not install its own. */
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = ui_quit_handler;
	for (i = 0; i < sizeof quit_sigs / sizeof *quit_sigs; i++)
		sigaction(quit_sigs[i], &sa, NULL);
	sa.sa_handler = ui_fatal_handler;
	sa.sa_flags = SA_RESETHAND;
	for (i = 0; i < sizeof fatal_sigs / sizeof *fatal_sigs; i++)
		sigaction(fatal_sigs[i], &sa, NULL);
	if (!ui_atexit) {
		atexit(ps_ui_done);
		ui_atexit = 1;
	}

	if (newterm(NULL, stdout, stdin) == NULL) {
		*cause = xasprintf("cannot use terminal type %s",
		    getenv("TERM") != NULL ? getenv("TERM") : "(unset)");
		return -1;
	}
	ui_active = 1;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	ui_color = 0;
	if (color && has_colors() && start_color() == OK) {
		ui_color = 1;
		use_default_colors();
		for (c = 0; c < PS_TEXT_NCLASSES; c++)
			init_pair((short)(c + 1), ui_colors[c].fg,
			    ui_colors[c].bg);
	}
	ui_full = 1;
	return 0;
}

void
ps_ui_done(void)
{
	if (!ui_active)
		return;
	ui_active = 0;
	curs_set(1);
	endwin();
}

attr_t
ps_ui_attr(enum ps_text_class c)
{
	if ((unsigned)c >= PS_TEXT_NCLASSES)
		return A_NORMAL;
	if (!ui_color)
		return ui_colors[c].mono;
	return ui_colors[c].attr | COLOR_PAIR(c + 1);
}

const char *const *
ps_ui_ramp(void)
{
	return ui_utf8 ? ps_text_ramp_utf8 : ps_text_ramp_ascii;
}

void
ps_ui_line(WINDOW *w, int y, const struct ps_text_line *l)
{
	const char	*s;
	int		 maxx = getmaxx(w), x = 0, i, bytes;

	if (y < 0 || y >= getmaxy(w))
		return;
	wmove(w, y, 0);
	for (i = 0; i < l->n && x < maxx; i++) {
		s = l->seg[i].text;
		/* Bytes of the characters that fit in the columns left. */
		for (bytes = 0; s[bytes] != '\0' && x < maxx; x++) {
			bytes++;
			while (((unsigned char)s[bytes] & 0xc0) == 0x80)
				bytes++;
		}
		wattrset(w, ps_ui_attr(l->seg[i].cls));
		waddnstr(w, s, bytes);
	}
	wattrset(w, A_NORMAL);
	if (x < maxx)
		wclrtoeol(w);
}

/*
 * The first row to show so that the selection is in view: the table's
 * scroll position, moved the least that shows sel, and a last page full
 * when there is enough to fill it.
 */
size_t
ps_ui_first_row(size_t scroll, size_t sel, size_t n, size_t rows)
{
	if (rows == 0)
		return 0;
	if (sel < scroll)
		scroll = sel;
	if (sel >= scroll + rows)
		scroll = sel - rows + 1;
	if (scroll + rows > n)
		scroll = n > rows ? n - rows : 0;
	return scroll;
}

void
ps_ui_table(const struct ps_top_model *m, enum ps_top_table t, WINDOW *w,
    double now)
{
	struct ps_text_layout	 lay;
	struct ps_text_line	 l;
	int			 h = getmaxy(w), width = getmaxx(w);
	int			 rows, r;
	size_t			 n, first, shown;

	n = ps_top_model_rows(m, t);
	rows = h - 2;
	if (rows < 0)
		rows = 0;
	ps_ui_table_rows[t] = rows;
	ps_text_layout(m, t, width, 1, &lay);
	first = ps_ui_first_row(m->scroll[t], m->sel[t], n, (size_t)rows);
	shown = n - first < (size_t)rows ? n - first : (size_t)rows;
	ps_text_title(m, t, first, shown, width, &l);
	ps_ui_line(w, 0, &l);
	ps_text_heading(m, t, &lay, &l);
	ps_ui_line(w, 1, &l);
	if (n == 0 && rows > 0) {
		l.n = 0;
		ps_text_add(&l, PS_TEXT_PLAIN, "  (none)");
		ps_ui_line(w, 2, &l);
		return;
	}
	for (r = 0; r < rows && first + (size_t)r < n; r++) {
		ps_text_row(m, t, first + (size_t)r, now, &lay, &l);
		ps_ui_line(w, 2 + r, &l);
	}
}

/* Draws a view in rows [y, y + h) of the whole width. */
static void
ui_place(const struct ps_view *v, const struct ps_top_model *m, int y, int h,
    double now)
{
	WINDOW	*w;

	if (h <= 0)
		return;
	if ((w = derwin(stdscr, h, COLS, y, 0)) == NULL)
		return;
	v->draw(m, w, now);
	delwin(w);
}

static void
ui_too_small(void)
{
	char	msg[128];

	snprintf(msg, sizeof msg, "terminal too small: %dx%d, psctl top "
	    "needs %dx%d", COLS, LINES, PS_UI_MIN_COLS, PS_UI_MIN_LINES);
	attrset(A_BOLD);
	mvaddnstr(0, 0, msg, COLS);
	attrset(A_NORMAL);
}

void
ps_ui_draw(const struct ps_top_model *m, double now)
{
	static const struct ps_view *const ui_tables[PS_TOP_NTABLES] = {
		&ps_view_tensors, &ps_view_workers
	};
	int			 y, avail, space, need[PS_TOP_NTABLES];
	int			 h, half, t;

	if (!ui_active)
		return;
	if (ui_full) {
		clearok(curscr, TRUE);
		ui_full = 0;
	}
	werase(stdscr);
	if (COLS < PS_UI_MIN_COLS || LINES < PS_UI_MIN_LINES) {
		ui_too_small();
		goto out;
	}
	ui_place(&ps_view_status, m, LINES - 2, 1, now);
	ui_place(&ps_view_footer, m, LINES - 1, 1, now);
	if (m->help) {
		ui_place(&ps_view_help, m, 0, LINES - 2, now);
		goto out;
	}

	y = ps_view_header.height(m, COLS, now);
	ui_place(&ps_view_header, m, 0, y, now);
	avail = LINES - 2 - y;
	if (m->pick != PS_TOP_PICK_NONE) {
		/* The list takes the tables' place; the header stays. */
		ui_place(&ps_view_pick, m, y + 1, avail - 1, now);
		goto out;
	}
	if (avail < 9) {
		/* Room for one table: the one the keys act on. */
		ps_ui_table_rows[!m->focus] = 0;
		ui_place(ui_tables[m->focus], m, y, avail, now);
		goto out;
	}
	/*
	 * A blank row above each table.  The tensors get what they need
	 * when that leaves the workers theirs or half; past that the table
	 * with focus gets the larger half.
	 */
	space = avail - 2;
	half = space / 2;
	for (t = 0; t < PS_TOP_NTABLES; t++)
		need[t] = ui_tables[t]->height(m, COLS, now);
	t = PS_TOP_TENSORS;
	if (need[t] + need[!t] <= space || need[t] <= half)
		h = need[t];
	else if (need[!t] <= space - half)
		h = space - need[!t];
	else
		h = (int)m->focus == t ? space - half : half;
	ui_place(ui_tables[PS_TOP_TENSORS], m, y + 1, h, now);
	ui_place(ui_tables[PS_TOP_WORKERS], m, y + 2 + h, space - h, now);
out:
	wnoutrefresh(stdscr);
	doupdate();
}

void
ps_ui_redraw(void)
{
	ui_full = 1;
}

int
ps_ui_getkey(void)
{
	if (!ui_active)
		return ERR;
	return wgetch(stdscr);
}

static enum ps_ui_action
ui_lookup(int key)
{
	const struct ps_ui_key	*k;

	for (k = ps_ui_keys; k->key != 0; k++) {
		if (k->key == key)
			return k->action;
	}
	return PS_UI_NONE;
}

/*
 * The rows a selection key moves by, in a view of rows rows (a large
 * number reaches an end): 0 with *delta set, -1 for other keys.
 */
static int
ui_move(enum ps_ui_action a, int rows, long long *delta)
{
	long long	page = rows > 1 ? rows : 1;

	switch (a) {
	case PS_UI_UP:
		*delta = -1;
		return 0;
	case PS_UI_DOWN:
		*delta = 1;
		return 0;
	case PS_UI_PGUP:
		*delta = -page;
		return 0;
	case PS_UI_PGDN:
		*delta = page;
		return 0;
	case PS_UI_HOME:
		*delta = LLONG_MIN / 2;
		return 0;
	case PS_UI_END:
		*delta = LLONG_MAX / 2;
		return 0;
	default:
		return -1;
	}
}

/* Moves the focused table's selection; the view scrolls to keep it. */
static void
ui_scroll(struct ps_top_model *m, enum ps_ui_action a)
{
	enum ps_top_table	 t = m->focus;
	int			 rows = ps_ui_table_rows[t];
	long long		 delta;

	if (ui_move(a, rows, &delta) == 0)
		ps_top_model_select(m, delta);
	m->scroll[t] = ps_ui_first_row(m->scroll[t], m->sel[t],
	    ps_top_model_rows(m, t), rows > 0 ? (size_t)rows : 1);
}

/*
 * A key while the filter is typed: the tables follow each change; Enter
 * keeps it, Esc puts back the one before.
 */
static void
ui_filter_key(struct ps_top_model *m, int key, double now)
{
	char	f[sizeof m->filter];
	size_t	n;

	snprintf(f, sizeof f, "%s", m->filter);
	n = strlen(f);
	if (key == '\r' || key == '\n' || key == KEY_ENTER) {
		m->editing = 0;
		if (f[0] != '\0')
			ps_top_model_status(m, PS_TOP_MSG_INFO, now,
			    "showing names containing \"%s\"; / and Enter "
			    "show all", f);
		else
			ps_top_model_status(m, PS_TOP_MSG_INFO, now,
			    "no filter");
		return;
	}
	if (key == 27) {
		m->editing = 0;
		ps_top_model_filter(m, m->filter_old);
		return;
	}
	if (key == KEY_BACKSPACE || key == 127 || key == 8) {
		/* Drops a whole UTF-8 character. */
		while (n > 0 && ((unsigned char)f[--n] & 0xc0) == 0x80)
			;
		f[n] = '\0';
	} else if (key == UI_CTRL('u'))
		f[0] = '\0';
	else if (key >= 0x20 && key <= 0xff && key != 0x7f &&
	    n + 1 < sizeof f) {
		f[n] = (char)key;
		f[n + 1] = '\0';
	} else
		return;
	ps_top_model_filter(m, f);
}

/*
 * A key while a list is open: the arrow and page keys move its
 * selection, Enter chooses (the question follows), Esc or q closes it;
 * other keys do nothing.
 */
static void
ui_pick_key(struct ps_top_model *m, int key, double now)
{
	long long	delta;

	switch (key) {
	case '\r':
	case '\n':
	case KEY_ENTER:
		ps_top_model_pick_choose(m, now);
		return;
	case 27:
	case 'q':
		ps_top_model_pick_cancel(m, now);
		return;
	default:
		break;
	}
	if (ui_move(ui_lookup(key), ps_ui_pick_rows, &delta) != 0)
		return;
	ps_top_model_pick_move(m, delta);
	m->pick_scroll = ps_ui_first_row(m->pick_scroll, m->pick_sel,
	    ps_top_model_pick_rows(m), ps_ui_pick_rows > 0 ?
	    (size_t)ps_ui_pick_rows : 1);
}

int
ps_ui_key(struct ps_top_model *m, int key, double now, char **send,
    int *resubscribe)
{
	enum ps_ui_action	a;
	double			old;

	*send = NULL;
	*resubscribe = 0;
	if (key == ERR || key == KEY_RESIZE)
		return 0;
	if (m->editing) {
		ui_filter_key(m, key, now);
		return 0;
	}
	if (m->prompt != PS_TOP_ACT_NONE) {
		/* y confirms; Esc, Enter, n and every other key say No. */
		*send = ps_top_model_answer(m, key == 'y' || key == 'Y', now);
		return 0;
	}
	if (m->pick != PS_TOP_PICK_NONE) {
		ui_pick_key(m, key, now);
		return 0;
	}
	a = ui_lookup(key);
	if (m->help) {
		m->help = 0;
		return a == PS_UI_QUIT;
	}
	switch (a) {
	case PS_UI_QUIT:
		return 1;
	case PS_UI_HELP:
		m->help = 1;
		break;
	case PS_UI_TAB:
		m->focus = m->focus == PS_TOP_TENSORS ? PS_TOP_WORKERS :
		    PS_TOP_TENSORS;
		break;
	case PS_UI_FILTER:
		m->editing = 1;
		snprintf(m->filter_old, sizeof m->filter_old, "%s", m->filter);
		break;
	case PS_UI_GONE:
		ps_top_model_show_gone(m, !m->show_gone);
		ps_top_model_status(m, PS_TOP_MSG_INFO, now, "%s",
		    m->show_gone ? "GONE workers shown; g folds them" :
		    "GONE workers folded; g shows them");
		break;
	case PS_UI_SORT_LEFT:
		ps_top_model_sort_step(m, -1);
		break;
	case PS_UI_SORT_RIGHT:
		ps_top_model_sort_step(m, 1);
		break;
	case PS_UI_INVERT:
		ps_top_model_sort_invert(m);
		break;
	case PS_UI_PAUSE:
		ps_top_model_pause(m, !m->paused, now);
		ps_top_model_status(m, PS_TOP_MSG_INFO, now, "%s",
		    m->paused ? "paused; Space resumes" : "resumed");
		break;
	case PS_UI_REDRAW:
		ps_ui_redraw();
		break;
	case PS_UI_FASTER:
	case PS_UI_SLOWER:
		old = m->interval;
		ps_top_model_interval_step(m, a == PS_UI_FASTER ? -1 : 1);
		*resubscribe = m->interval != old;
		ps_top_model_status(m, PS_TOP_MSG_INFO, now,
		    "refresh every %g s", m->interval);
		break;
	case PS_UI_CHECKPOINT:
		*send = ps_top_model_action(m, PS_TOP_ACT_CHECKPOINT, now);
		break;
	case PS_UI_RESET:
		*send = ps_top_model_action(m, PS_TOP_ACT_RESET, now);
		break;
	case PS_UI_STOP:
		*send = ps_top_model_action(m, PS_TOP_ACT_STOP, now);
		break;
	case PS_UI_KICK:
	case PS_UI_BLOCK:
		*send = ps_top_model_action(m, a == PS_UI_KICK ?
		    PS_TOP_ACT_KICK : PS_TOP_ACT_BLOCK, now);
		break;
	case PS_UI_UNBLOCK:
		*send = ps_top_model_action(m, PS_TOP_ACT_UNBLOCK, now);
		break;
	case PS_UI_UP:
	case PS_UI_DOWN:
	case PS_UI_PGUP:
	case PS_UI_PGDN:
	case PS_UI_HOME:
	case PS_UI_END:
		ui_scroll(m, a);
		break;
	case PS_UI_NONE:
		break;
	}
	return 0;
}
