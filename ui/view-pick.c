/*
 * The list an operator picks from before a question (model.h's pick): R's
 * checkpoints, newest first, and u's blocks.  It takes the tables' place
 * under the header, so that the model's version and L2 now stay in view
 * while a checkpoint is chosen.  Main loop only.
 */
#include "config.h"

#include <curses.h>

#include "model.h"
#include "text.h"
#include "ui.h"

static int	view_pick_height(const struct ps_top_model *, int, double);
static void	view_pick_draw(const struct ps_top_model *, WINDOW *, double);

const struct ps_view ps_view_pick = {
	.name = "pick",
	.height = view_pick_height,
	.draw = view_pick_draw,
};

int	ps_ui_pick_rows;

/* Title, headings and a row each. */
static int
view_pick_height(const struct ps_top_model *m, int width, double now)
{
	size_t	n = ps_top_model_pick_rows(m);

	return 2 + (n > 0 ? (int)n : 1);
}

static void
view_pick_draw(const struct ps_top_model *m, WINDOW *w, double now)
{
	struct ps_text_line	 l;
	int			 h = getmaxy(w), width = getmaxx(w), r;
	size_t			 n = ps_top_model_pick_rows(m), first, shown;
	size_t			 rows;

	rows = h > 2 ? (size_t)(h - 2) : 0;
	ps_ui_pick_rows = (int)rows;
	first = ps_ui_first_row(m->pick_scroll, m->pick_sel, n, rows);
	shown = n - first < rows ? n - first : rows;
	ps_text_pick_title(m, first, shown, &l);
	ps_ui_line(w, 0, &l);
	ps_text_pick_heading(m, width, &l);
	ps_ui_line(w, 1, &l);
	if (n == 0 && rows > 0) {
		l.n = 0;
		ps_text_add(&l, PS_TEXT_PLAIN, "  (asking the server...)");
		ps_ui_line(w, 2, &l);
		return;
	}
	for (r = 0; (size_t)r < shown; r++) {
		ps_text_pick_row(m, first + (size_t)r, now, width, &l);
		ps_ui_line(w, 2 + r, &l);
	}
}
