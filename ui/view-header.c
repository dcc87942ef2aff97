/*
 * The header view: connection and staleness, server, model, traffic,
 * checkpoint and the two sparklines, in text.h's words.  Main loop only.
 */
#include "config.h"

#include <curses.h>

#include "model.h"
#include "text.h"
#include "ui.h"

static int	view_header_height(const struct ps_top_model *, int, double);
static void	view_header_draw(const struct ps_top_model *, WINDOW *,
		    double);
static int	view_header_spark_cols(const struct ps_top_model *, int,
		    double);

const struct ps_view ps_view_header = {
	.name = "header",
	.height = view_header_height,
	.draw = view_header_draw,
};

/*
 * The sparklines take what their label and the figures after them leave,
 * so that the figures are never cut: measured with a one-column sparkline
 * (the last two header lines are the sparklines), then rounded up to a
 * multiple of 8 so that the width does not jitter as the figures' digits
 * come and go.
 */
static int
view_header_spark_cols(const struct ps_top_model *m, int width, double now)
{
	struct ps_text_line	lines[PS_TEXT_HEADER_MAX];
	int			n, i, rest = 0, w, cols;

	n = ps_text_header(m, now, 1, ps_text_ramp_ascii, lines);
	for (i = n - 2; i < n; i++) {
		if (i >= 0 && (w = ps_text_width(&lines[i]) - 1) > rest)
			rest = w;
	}
	rest = (rest + 7) / 8 * 8;
	cols = width - rest;
	if (cols < 10)
		cols = 10;
	if (cols > 180)
		cols = 180;
	return cols;
}

static int
view_header_height(const struct ps_top_model *m, int width, double now)
{
	struct ps_text_line	lines[PS_TEXT_HEADER_MAX];

	/* The sparklines' width does not change the number of lines. */
	return ps_text_header(m, now, 1, ps_text_ramp_ascii, lines);
}

static void
view_header_draw(const struct ps_top_model *m, WINDOW *w, double now)
{
	struct ps_text_line	lines[PS_TEXT_HEADER_MAX];
	int			n, i;

	n = ps_text_header(m, now, view_header_spark_cols(m, getmaxx(w), now),
	    ps_ui_ramp(), lines);
	for (i = 0; i < n; i++)
		ps_ui_line(w, i, &lines[i]);
}
