/*
 * The tensor table view: name, shape, L2 norm, last update's norm, their
 * ratio and updates per second, sorted as the model says.  Main loop only.
 */
#include "config.h"

#include <curses.h>

#include "model.h"
#include "ui.h"

static int	view_tensors_height(const struct ps_top_model *, int, double);
static void	view_tensors_draw(const struct ps_top_model *, WINDOW *,
		    double);

const struct ps_view ps_view_tensors = {
	.name = "tensors",
	.height = view_tensors_height,
	.draw = view_tensors_draw,
};

/* Title, headings and a row a tensor (one "(none)" row when empty). */
static int
view_tensors_height(const struct ps_top_model *m, int width, double now)
{
	return 2 + (m->ntensors > 0 ? (int)m->ntensors : 1);
}

static void
view_tensors_draw(const struct ps_top_model *m, WINDOW *w, double now)
{
	ps_ui_table(m, PS_TOP_TENSORS, w, now);
}
