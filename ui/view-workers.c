/*
 * The worker table view: id, mark, name, address, pushes and pulls per
 * second, clock, lag and last seen; the mark (LAGGING, SILENT, GONE) is a
 * word as well as an attribute.  Main loop only.
 */
#include "config.h"

#include <curses.h>

#include "model.h"
#include "ui.h"

static int	view_workers_height(const struct ps_top_model *, int, double);
static void	view_workers_draw(const struct ps_top_model *, WINDOW *,
		    double);

const struct ps_view ps_view_workers = {
	.name = "workers",
	.height = view_workers_height,
	.draw = view_workers_draw,
};

/* Title, headings and a row a worker (one "(none)" row when empty). */
static int
view_workers_height(const struct ps_top_model *m, int width, double now)
{
	return 2 + (m->nworkers > 0 ? (int)m->nworkers : 1);
}

static void
view_workers_draw(const struct ps_top_model *m, WINDOW *w, double now)
{
	ps_ui_table(m, PS_TOP_WORKERS, w, now);
}
