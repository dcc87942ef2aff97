/*
 * Batch mode's frames (see batch.h): the console's text (text.h), plain,
 * one frame after another.  Runs on the console's main loop; reads the
 * model only.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "model.h"
#include "text.h"

static void	batch_line(FILE *, const struct ps_text_line *);

/* Prints a line's text, without trailing blanks. */
static void
batch_line(FILE *fp, const struct ps_text_line *l)
{
	char	buf[PS_TEXT_MAXSEG * PS_TEXT_SEGLEN];
	size_t	n;

	ps_text_plain(l, buf, sizeof buf);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	fprintf(fp, "%s\n", buf);
}

void
ps_batch_frame(FILE *fp, const struct ps_top_model *m, double now,
    unsigned long frame)
{
	struct ps_text_layout	lay;
	struct ps_text_line	lines[PS_TEXT_HEADER_MAX], l;
	int			n, i, t;
	size_t			r, rows;

	n = ps_text_header(m, now, 60, ps_text_ramp_ascii, lines);
	for (i = 0; i < n; i++) {
		if (i == 0)
			ps_text_add(&lines[0], PS_TEXT_PLAIN, "  frame %lu",
			    frame);
		batch_line(fp, &lines[i]);
	}
	for (t = 0; t < PS_TOP_NTABLES; t++) {
		fputc('\n', fp);
		rows = ps_top_model_rows(m, t);
		ps_text_title(m, t, 0, rows, 0, &l);
		batch_line(fp, &l);
		/* Every column: a frame is as wide as it needs. */
		ps_text_layout(m, t, INT_MAX / 2, 0, &lay);
		ps_text_heading(m, t, &lay, &l);
		batch_line(fp, &l);
		for (r = 0; r < rows; r++) {
			ps_text_row(m, t, r, now, &lay, &l);
			batch_line(fp, &l);
		}
	}
	ps_text_status(m, &l);
	if (l.n > 0) {
		fputc('\n', fp);
		batch_line(fp, &l);
	}
	fputc('\n', fp);
	fflush(fp);
}
