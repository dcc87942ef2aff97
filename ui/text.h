/*
 * The console's text: the words of its frames, shared by the curses views
 * (ui.h) and -b batch mode (batch.h) so that both show the same facts in
 * the same words.  A line is a list of segments, each with a class: the
 * views pick attributes by class (ui.c's colour table is indexed by enum
 * ps_text_class), batch mode prints the text alone.  Here live the
 * console's number formats, the table columns (headings, widths,
 * alignment, numbers too wide for their column), UTF-8-aware widths and
 * padding, and the header, title, heading, row and status lines built
 * from the model.  No curses and no I/O; everything reads the model only,
 * on the console's main loop.
 */
#ifndef PS_TOP_TEXT_H
#define PS_TOP_TEXT_H

#include <stddef.h>

#include "model.h"

/* What a piece of text is, for its colour and attributes. */
enum ps_text_class {
	PS_TEXT_PLAIN = 0,
	PS_TEXT_LABEL,		/* header labels */
	PS_TEXT_VALUE,		/* header values */
	PS_TEXT_TITLE,		/* a table's title */
	PS_TEXT_TITLE_FOCUS,	/* the title of the table the keys act on */
	PS_TEXT_HEADING,	/* column headings */
	PS_TEXT_HEADING_SORT,	/* the heading of the sort column */
	PS_TEXT_ROW,
	PS_TEXT_WAITING,	/* worker rows by mark */
	PS_TEXT_LAGGING,
	PS_TEXT_SILENT,
	PS_TEXT_GONE,
	PS_TEXT_SPARK,
	PS_TEXT_GOOD,		/* connected, checkpoint ok */
	PS_TEXT_BAD,		/* DISCONNECTED, checkpoint failed */
	PS_TEXT_STALE,		/* STALE, PAUSED */
	PS_TEXT_MSG_INFO,	/* the status line by message kind */
	PS_TEXT_MSG_OK,
	PS_TEXT_MSG_ERROR,
	PS_TEXT_PROMPT,
	PS_TEXT_KEY,		/* footer: a key */
	PS_TEXT_KEYTEXT,	/* footer: what it does */
	PS_TEXT_NCLASSES
};

#define PS_TEXT_MAXSEG	32
#define PS_TEXT_SEGLEN	256
/* Header lines ps_text_header() can produce. */
#define PS_TEXT_HEADER_MAX	8

struct ps_text_seg {
	enum ps_text_class cls;
	char		 text[PS_TEXT_SEGLEN];
};

struct ps_text_line {
	int		 n;
	struct ps_text_seg seg[PS_TEXT_MAXSEG];
};

/* A table column: heading, width and alignment; the name column flexes. */
struct ps_text_col {
	const char	*title;
	int		 width;
	int		 right;		/* right-aligned (numbers) */
	int		 flex;		/* width follows the data */
};

extern const struct ps_text_col ps_text_tcols[PS_TOP_T_NCOLS];
extern const struct ps_text_col ps_text_wcols[PS_TOP_W_NCOLS];

/* Sparkline glyphs: 8 levels, ASCII and UTF-8 block elements. */
extern const char *const ps_text_ramp_ascii[8];
extern const char *const ps_text_ramp_utf8[8];

/* Appends a segment (printf-style); silently drops past PS_TEXT_MAXSEG. */
void	 ps_text_add(struct ps_text_line *, enum ps_text_class,
	     const char *, ...) __attribute__((__format__(__printf__, 3, 4)));
/* Display columns of the line's text (UTF-8 aware, one column a glyph). */
int	 ps_text_width(const struct ps_text_line *);
/* The line's text alone, into buf. */
void	 ps_text_plain(const struct ps_text_line *, char *buf, size_t len);

/* Numbers the way the console shows them; "-" for NAN. */
void	 ps_text_uptime(double, char *, size_t);	/* "1d 02:03:04" */
void	 ps_text_age(double, char *, size_t);	/* "0.3s" "2m05s" "1h03m" */
void	 ps_text_count(double, char *, size_t);	/* "1,000,000" */
void	 ps_text_rate(double, char *, size_t);	/* "23.5" */

/*
 * The header: status, server, model, traffic, checkpoint and the two
 * sparklines, spark_cols wide, drawn with ramp.  Returns the number of
 * lines written to lines[0 .. PS_TEXT_HEADER_MAX).
 */
int	 ps_text_header(const struct ps_top_model *, double now,
	     int spark_cols, const char *const *ramp,
	     struct ps_text_line *lines);
/* A table's title line: "TENSORS 4  sort: L2 desc". */
void	 ps_text_title(const struct ps_top_model *, enum ps_top_table,
	     struct ps_text_line *);
/* Width of the flexible column for the data, at most max. */
int	 ps_text_flex_width(const struct ps_top_model *, enum ps_top_table,
	     int max);
/* Column headings and one row (row-th in display order). */
void	 ps_text_heading(const struct ps_top_model *, enum ps_top_table,
	     int flex, struct ps_text_line *);
void	 ps_text_row(const struct ps_top_model *, enum ps_top_table,
	     size_t row, double now, int flex, struct ps_text_line *);
/* One cell's text, for the row-th tensor or worker in display order. */
void	 ps_text_cell(const struct ps_top_model *, enum ps_top_table,
	     size_t row, int col, double now, char *buf, size_t len);
/* The status line: the open prompt or the last message. */
void	 ps_text_status(const struct ps_top_model *, struct ps_text_line *);

#endif
