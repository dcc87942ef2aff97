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
	PS_TEXT_SELECTED,	/* the selected row of the focused table */
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

/*
 * A table column: heading, width and alignment; the name column flexes.
 * A terminal too narrow for every column drops them by priority, lowest
 * first, never the sort column, the name or STATE (ps_text_layout()).
 */
struct ps_text_col {
	const char	*title;
	int		 width;
	int		 right;		/* right-aligned (numbers) */
	int		 flex;		/* width follows the data */
	int		 prio;		/* dropped lowest first; 0: never */
	int		 yields;	/* dropped to keep names whole, too */
};

/* Most columns a table has. */
#define PS_TEXT_MAXCOLS		12
/* The name column: as wide as the longest name, within these. */
#define PS_TEXT_FLEX_MIN	8
#define PS_TEXT_FLEX_MAX	64
/* Names yield columns (text_col.yields) to be at least this wide. */
#define PS_TEXT_FLEX_WANT	20

/*
 * Which columns a table shows at a width, and how: the columns in display
 * order with their widths, whether rows begin with a gutter for the
 * selection mark, and how long names are shortened: names wider than the
 * name column keep their first and last characters around an ellipsis,
 * split alike for the whole column and so that the names shown stay
 * distinct ("trainer…gpu0" and "trainer…gpu1").
 */
struct ps_text_layout {
	int		 ncols;
	int		 col[PS_TEXT_MAXCOLS];
	int		 width[PS_TEXT_MAXCOLS];
	int		 gutter;
	int		 flex;		/* the name column's width */
	int		 tail;		/* characters a shortened name keeps at its end */
	int		 total;		/* columns a row takes */
};

extern const struct ps_text_col ps_text_tcols[PS_TOP_T_NCOLS];
extern const struct ps_text_col ps_text_wcols[PS_TOP_W_NCOLS];

/* Sparkline glyphs: 8 levels, ASCII and UTF-8 block elements. */
extern const char *const ps_text_ramp_ascii[8];
extern const char *const ps_text_ramp_utf8[8];

/*
 * The ellipsis shortened names and texts get: "~" (the default, for any
 * terminal) or "\u2026" when utf8 is set.
 */
void	 ps_text_set_utf8(int utf8);
/*
 * s shortened in the middle to width columns into out (outlen bytes):
 * the first width - 1 - tail characters, the ellipsis, the last tail;
 * s itself when it fits.
 */
void	 ps_text_shorten(const char *s, int width, int tail, char *out,
	     size_t outlen);
/*
 * The tail for shortening names[0 .. n) to width columns so that those
 * shortened stay distinct: half the width first, then longer tails; half
 * when none works.
 */
int	 ps_text_shorten_tail(const char *const *names, size_t n, int width);
/*
 * Lays out table t for width columns (gutter: rows begin with a column
 * for the selection mark).  Columns are dropped by priority until the
 * rest fit with a name column of PS_TEXT_FLEX_MIN, and the columns that
 * yield until names fit up to PS_TEXT_FLEX_WANT; the name column takes
 * what is left, up to the longest name shown.
 */
void	 ps_text_layout(const struct ps_top_model *, enum ps_top_table,
	     int width, int gutter, struct ps_text_layout *);

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
/*
 * A table's title line: "WORKERS 4  rows 1-3 of 4  sort: STATE desc  1
 * SILENT  +2 GONE (g)": the rows shown are rows first .. first + count - 1
 * (no "rows" when that is all of them).  The workers' title ends with
 * what LAGGING means when that fits in width columns (0: always).
 */
void	 ps_text_title(const struct ps_top_model *, enum ps_top_table,
	     size_t first, size_t count, int width, struct ps_text_line *);
/*
 * Column headings and one row (row-th in display order), laid out by
 * lay; a row with a gutter begins with '>' when it is the table's
 * selected row, and the focused table's selected row is drawn
 * PS_TEXT_SELECTED.
 */
void	 ps_text_heading(const struct ps_top_model *, enum ps_top_table,
	     const struct ps_text_layout *, struct ps_text_line *);
void	 ps_text_row(const struct ps_top_model *, enum ps_top_table,
	     size_t row, double now, const struct ps_text_layout *,
	     struct ps_text_line *);
/* One cell's text, for the row-th tensor or worker in display order. */
void	 ps_text_cell(const struct ps_top_model *, enum ps_top_table,
	     size_t row, int col, double now, char *buf, size_t len);
/*
 * The open list (model.h's pick: R's checkpoints, u's blocks) at width
 * columns: its title ("CHECKPOINTS 12  rows 1-10 of 12  reset to which?
 * the model now: version 19,603, L2 81.86"; the rows shown are first ..
 * first + count - 1), its headings, and its row-th row, which begins
 * with '>' and is PS_TEXT_SELECTED when selected.  Names too long for
 * the width are shortened in the middle.
 */
void	 ps_text_pick_title(const struct ps_top_model *, size_t first,
	     size_t count, struct ps_text_line *);
void	 ps_text_pick_heading(const struct ps_top_model *, int width,
	     struct ps_text_line *);
void	 ps_text_pick_row(const struct ps_top_model *, size_t row, double now,
	     int width, struct ps_text_line *);
/* The status line: the open prompt or the last message. */
void	 ps_text_status(const struct ps_top_model *, struct ps_text_line *);

#endif
