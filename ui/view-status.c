/*
 * The bottom two rows: the status line (the open [y/N] question, or the
 * last result or error) and the footer of key hints from the key table.
 * Main loop only.
 */
#include "config.h"

#include <stdio.h>

#include <curses.h>

#include "model.h"
#include "text.h"
#include "ui.h"

static int	view_one_row(const struct ps_top_model *, int, double);
static void	view_status_draw(const struct ps_top_model *, WINDOW *,
		    double);
static void	view_footer_draw(const struct ps_top_model *, WINDOW *,
		    double);

const struct ps_view ps_view_status = {
	.name = "status",
	.height = view_one_row,
	.draw = view_status_draw,
};

const struct ps_view ps_view_footer = {
	.name = "footer",
	.height = view_one_row,
	.draw = view_footer_draw,
};

static int
view_one_row(const struct ps_top_model *m, int width, double now)
{
	return 1;
}

static void
view_status_draw(const struct ps_top_model *m, WINDOW *w, double now)
{
	struct ps_text_line	l;
	char			text[PS_TEXT_SEGLEN];
	int			width = getmaxx(w);

	ps_text_status(m, &l);
	/*
	 * A message too wide keeps both ends: what it is about and the
	 * "[y/N]" of a question.
	 */
	if (l.n == 1 && ps_text_width(&l) > width) {
		ps_text_shorten(l.seg[0].text, width, width / 2, text,
		    sizeof text);
		snprintf(l.seg[0].text, sizeof l.seg[0].text, "%s", text);
	}
	ps_ui_line(w, 0, &l);
}

/* "q Quit  ? Help  c Ckpt ...": actions --readonly refuses are left out. */
static void
view_footer_draw(const struct ps_top_model *m, WINDOW *w, double now)
{
	const struct ps_ui_key	*k;
	struct ps_text_line	 l;

	l.n = 0;
	if (m->pick != PS_TOP_PICK_NONE) {
		ps_text_add(&l, PS_TEXT_KEY, "Up/Down");
		ps_text_add(&l, PS_TEXT_KEYTEXT, " Select");
		ps_text_add(&l, PS_TEXT_PLAIN, "  ");
		ps_text_add(&l, PS_TEXT_KEY, "Enter");
		ps_text_add(&l, PS_TEXT_KEYTEXT, " Choose");
		ps_text_add(&l, PS_TEXT_PLAIN, "  ");
		ps_text_add(&l, PS_TEXT_KEY, "Esc");
		ps_text_add(&l, PS_TEXT_KEYTEXT, " Cancel");
		ps_ui_line(w, 0, &l);
		return;
	}
	for (k = ps_ui_keys; k->key != 0; k++) {
		if (k->footkey == NULL)
			continue;
		if (m->readonly && (k->action == PS_UI_CHECKPOINT ||
		    k->action == PS_UI_RESET || k->action == PS_UI_STOP ||
		    k->action == PS_UI_KICK))
			continue;
		ps_text_add(&l, PS_TEXT_KEY, "%s", k->footkey);
		ps_text_add(&l, PS_TEXT_KEYTEXT, " %s", k->footer);
		ps_text_add(&l, PS_TEXT_PLAIN, "  ");
	}
	if (m->readonly)
		ps_text_add(&l, PS_TEXT_STALE, "read-only");
	ps_ui_line(w, 0, &l);
}
