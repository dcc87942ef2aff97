/*
 * Text of the console's frames, shared by the curses views and -b batch
 * mode so both show the same facts in the same words.  Lines are lists of
 * segments, each with a class: the views pick attributes by class (ui.c's
 * colour table is indexed by enum ps_fmt_class), batch mode prints the
 * text alone.  No curses here.
 */
#ifndef PS_TOP_BATCH_H
#define PS_TOP_BATCH_H

#include <stdio.h>

#include "model.h"

/* What a piece of text is, for its colour and attributes. */
enum ps_fmt_class {
	PS_FMT_TEXT = 0,
	PS_FMT_LABEL,		/* header labels */
	PS_FMT_VALUE,		/* header values */
	PS_FMT_TITLE,		/* a table's title */
	PS_FMT_TITLE_FOCUS,	/* the title of the table the keys act on */
	PS_FMT_HEADING,		/* column headings */
	PS_FMT_HEADING_SORT,	/* the heading of the sort column */
	PS_FMT_ROW,
	PS_FMT_WAITING,		/* worker rows by mark */
	PS_FMT_LAGGING,
	PS_FMT_SILENT,
	PS_FMT_GONE,
	PS_FMT_SPARK,
	PS_FMT_GOOD,		/* connected, checkpoint ok */
	PS_FMT_BAD,		/* DISCONNECTED, checkpoint failed */
	PS_FMT_STALE,		/* STALE, PAUSED */
	PS_FMT_MSG_INFO,	/* the status line by message kind */
	PS_FMT_MSG_OK,
	PS_FMT_MSG_ERROR,
	PS_FMT_PROMPT,
	PS_FMT_KEY,		/* footer: a key */
	PS_FMT_KEYTEXT,		/* footer: what it does */
	PS_FMT_NCLASSES
};

#define PS_FMT_MAXSEG	32
#define PS_FMT_SEGLEN	256
/* Header lines ps_fmt_header() can produce. */
#define PS_FMT_HEADER_MAX	8

struct ps_fmt_seg {
	enum ps_fmt_class cls;
	char		 text[PS_FMT_SEGLEN];
};

struct ps_fmt_line {
	int		 n;
	struct ps_fmt_seg seg[PS_FMT_MAXSEG];
};

/* A table column: heading, width and alignment; the name column flexes. */
struct ps_fmt_col {
	const char	*title;
	int		 width;
	int		 right;		/* right-aligned (numbers) */
	int		 flex;		/* width follows the data */
};

extern const struct ps_fmt_col ps_fmt_tcols[PS_TOP_T_NCOLS];
extern const struct ps_fmt_col ps_fmt_wcols[PS_TOP_W_NCOLS];

/* Sparkline glyphs: 8 levels, ASCII and UTF-8 block elements. */
extern const char *const ps_fmt_ramp_ascii[8];
extern const char *const ps_fmt_ramp_utf8[8];

/* Appends a segment (printf-style); silently drops past PS_FMT_MAXSEG. */
void	 ps_fmt_add(struct ps_fmt_line *, enum ps_fmt_class, const char *, ...)
	     __attribute__((__format__(__printf__, 3, 4)));
/* Display columns of the line's text (UTF-8 aware, one column a glyph). */
int	 ps_fmt_width(const struct ps_fmt_line *);
/* The line's text alone, into buf. */
void	 ps_fmt_text(const struct ps_fmt_line *, char *buf, size_t len);

/* Numbers the way the console shows them; "-" for NAN. */
void	 ps_fmt_uptime(double, char *, size_t);	/* "1d 02:03:04" */
void	 ps_fmt_age(double, char *, size_t);	/* "0.3s" "2m05s" "1h03m" */
void	 ps_fmt_count(double, char *, size_t);	/* "1,000,000" */
void	 ps_fmt_rate(double, char *, size_t);	/* "23.5" */

/*
 * The header: status, server, model, traffic, checkpoint and the two
 * sparklines, spark_cols wide, drawn with ramp.  Returns the number of
 * lines written to lines[0 .. PS_FMT_HEADER_MAX).
 */
int	 ps_fmt_header(const struct ps_top_model *, double now, int spark_cols,
	     const char *const *ramp, struct ps_fmt_line *lines);
/* A table's title line: "TENSORS 4  sort: L2 desc". */
void	 ps_fmt_title(const struct ps_top_model *, enum ps_top_table,
	     struct ps_fmt_line *);
/* Width of the flexible column for the data, at most max. */
int	 ps_fmt_flex_width(const struct ps_top_model *, enum ps_top_table,
	     int max);
/* Column headings and one row (row-th in display order). */
void	 ps_fmt_heading(const struct ps_top_model *, enum ps_top_table,
	     int flex, struct ps_fmt_line *);
void	 ps_fmt_row(const struct ps_top_model *, enum ps_top_table,
	     size_t row, double now, int flex, struct ps_fmt_line *);
/* One cell's text, for the row-th tensor or worker in display order. */
void	 ps_fmt_cell(const struct ps_top_model *, enum ps_top_table,
	     size_t row, int col, double now, char *buf, size_t len);
/* The status line: the open prompt or the last message. */
void	 ps_fmt_status(const struct ps_top_model *, struct ps_fmt_line *);

/*
 * Batch mode: prints one whole frame, plain text, to fp; frames end with
 * an empty line.  frame is the frame's number, from 1.
 */
void	 ps_batch_frame(FILE *, const struct ps_top_model *, double now,
	     unsigned long frame);

#endif
