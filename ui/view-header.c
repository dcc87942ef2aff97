/*
 * The header view: connection and staleness, server, model, traffic,
 * checkpoint and the two sparklines, in batch.h's words.  Main loop only.
 */
#include "config.h"

#include <curses.h>

#include "batch.h"
#include "model.h"
#include "ui.h"

static int	view_header_height(const struct ps_top_model *, int, double);
static void	view_header_draw(const struct ps_top_model *, WINDOW *,
		    double);
static int	view_header_spark_cols(int);

const struct ps_view ps_view_header = {
	.name = "header",
	.height = view_header_height,
	.draw = view_header_draw,
};

/* The sparklines take what the label and the figures after them leave. */
static int
view_header_spark_cols(int width)
{
	int	cols = width - 56;

	if (cols < 10)
		cols = 10;
	if (cols > 180)
		cols = 180;
	return cols;
}

static int
view_header_height(const struct ps_top_model *m, int width, double now)
{
	struct ps_fmt_line	lines[PS_FMT_HEADER_MAX];

	return ps_fmt_header(m, now, view_header_spark_cols(width),
	    ps_ui_ramp(), lines);
}

static void
view_header_draw(const struct ps_top_model *m, WINDOW *w, double now)
{
	struct ps_fmt_line	lines[PS_FMT_HEADER_MAX];
	int			n, i;

	n = ps_fmt_header(m, now, view_header_spark_cols(getmaxx(w)),
	    ps_ui_ramp(), lines);
	for (i = 0; i < n; i++)
		ps_ui_line(w, i, &lines[i]);
}
