/*
 * The console's text (see text.h): number formats, columns and the lines
 * of a frame, for the curses views and batch mode alike.  Runs on the
 * console's main loop; reads the model only.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "text.h"
#include "xmalloc.h"

#define TEXT_WINDOW	180.0	/* seconds the sparklines cover */

static int	 text_cols(const char *);
static void	 text_pad(char *, size_t, const char *, int, int);
static void	 text_fit_number(char *, size_t, int);
static enum ps_text_class text_mark_class(enum ps_top_wmark);
static void	 text_spark(struct ps_text_line *,
		     const struct ps_top_model *, enum ps_top_series, double,
		     int, const char *const *);
static size_t	 text_index(const struct ps_top_model *, enum ps_top_table,
		     size_t);
static const struct ps_text_col *text_cols_of(enum ps_top_table, int *);
static const char *text_name(const struct ps_top_model *, enum ps_top_table,
		     size_t);

static size_t	 text_bytes(const char *, int);

static void	 text_growth(double, int, char *, size_t);
static void	 text_round(struct ps_text_line *,
		     const struct ps_top_model *);

static const char *text_ellipsis = "~";

/*
 * A growth as the GROWTH column shows it: "+2.5%", "-10%", and past
 * +999% the factor, "x14.2", "x214k"; "!" after the worst one.  At most
 * 7 columns, so that the column never cuts it.
 */
static void
text_growth(double g, int worst, char *buf, size_t len)
{
	static const char	 units[] = "kMGTPE";
	const char		*mark = worst ? "!" : "";
	double			 f = g + 1;
	int			 u;

	if (isnan(g))
		snprintf(buf, len, "-");
	else if (f >= 999.5) {
		for (u = 0, f /= 1000; f >= 999.5 && units[u + 1] != '\0'; u++)
			f /= 1000;
		if (f >= 999.5)
			snprintf(buf, len, "x>1%c%s", units[u], mark);
		else
			snprintf(buf, len, "x%.0f%c%s", f, units[u], mark);
	} else if (f >= 99.95)
		snprintf(buf, len, "x%.0f%s", f, mark);
	else if (g >= 9.995)
		snprintf(buf, len, "x%.1f%s", f, mark);
	else if (fabs(g) >= 0.1)
		snprintf(buf, len, "%+.0f%%%s", g * 100, mark);
	else
		snprintf(buf, len, "%+.1f%%%s", g * 100, mark);
}

/* title, width, right, flex, prio (0: never dropped), yields */
const struct ps_text_col ps_text_tcols[PS_TOP_T_NCOLS] = {
	[PS_TOP_T_INDEX] =	{ "#",		4,  1, 0, 2, 1 },
	[PS_TOP_T_NAME] =	{ "NAME",	24, 0, 1, 0, 0 },
	[PS_TOP_T_SHAPE] =	{ "SHAPE",	12, 1, 0, 1, 1 },
	[PS_TOP_T_L2] =		{ "L2",		10, 1, 0, 6, 0 },
	[PS_TOP_T_UPDATE] =	{ "UPDATE_L2",	10, 1, 0, 4, 0 },
	[PS_TOP_T_GROWTH] =	{ "GROWTH",	8,  1, 0, 5, 0 },
	[PS_TOP_T_RATE] =	{ "UPD/S",	8,  1, 0, 3, 0 },
};

const struct ps_text_col ps_text_wcols[PS_TOP_W_NCOLS] = {
	[PS_TOP_W_ID] =		{ "ID",		4,  1, 0, 5, 0 },
	[PS_TOP_W_STATE] =	{ "STATE",	7,  0, 0, 0, 0 },
	[PS_TOP_W_NAME] =	{ "NAME",	12, 0, 1, 0, 0 },
	[PS_TOP_W_ADDRESS] =	{ "ADDRESS",	21, 0, 0, 1, 1 },
	[PS_TOP_W_PUSHES] =	{ "PUSH/S",	6,  1, 0, 7, 0 },
	[PS_TOP_W_PULLS] =	{ "PULL/S",	6,  1, 0, 2, 0 },
	[PS_TOP_W_UPD] =	{ "UPD_L2",	7,  1, 0, 8, 0 },
	[PS_TOP_W_UPDMAX] =	{ "MAX_L2",	7,  1, 0, 3, 0 },
	[PS_TOP_W_CLOCK] =	{ "CLOCK",	7,  1, 0, 4, 0 },
	[PS_TOP_W_LAG] =	{ "LAG",	5,  1, 0, 6, 0 },
	[PS_TOP_W_SEEN] =	{ "SEEN",	6,  1, 0, 9, 0 },
};

const char *const ps_text_ramp_ascii[8] = {
	"_", ".", "-", ":", "=", "+", "*", "#"
};
const char *const ps_text_ramp_utf8[8] = {
	"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
	"\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88"
};

void
ps_text_set_utf8(int utf8)
{
	text_ellipsis = utf8 ? "\xe2\x80\xa6" : "~";
}

/* Bytes of the first n characters of UTF-8 s (all of s if shorter). */
static size_t
text_bytes(const char *s, int n)
{
	size_t	b = 0;

	while (s[b] != '\0' && n-- > 0) {
		b++;
		while (((unsigned char)s[b] & 0xc0) == 0x80)
			b++;
	}
	return b;
}

void
ps_text_shorten(const char *s, int width, int tail, char *out, size_t outlen)
{
	int	cols = text_cols(s), head;
	size_t	hb, tb, eb = strlen(text_ellipsis);

	if (cols <= width || width < 2) {
		snprintf(out, outlen, "%s", s);
		return;
	}
	if (tail > width - 2)
		tail = width - 2;
	if (tail < 0)
		tail = 0;
	head = width - 1 - tail;
	hb = text_bytes(s, head);
	tb = strlen(s) - text_bytes(s, cols - tail);
	if (hb + eb + tb + 1 > outlen) {
		snprintf(out, outlen, "%s", s);
		return;
	}
	memcpy(out, s, hb);
	memcpy(out + hb, text_ellipsis, eb);
	memcpy(out + hb + eb, s + strlen(s) - tb, tb + 1);
}

int
ps_text_shorten_tail(const char *const *names, size_t n, int width)
{
	char	a[PS_TEXT_SEGLEN], b[PS_TEXT_SEGLEN];
	int	half = (width - 1) / 2, tail;
	size_t	i, j;

	for (tail = half; tail <= width - 2; tail++) {
		for (i = 0; i < n; i++) {
			ps_text_shorten(names[i], width, tail, a, sizeof a);
			for (j = i + 1; j < n; j++) {
				ps_text_shorten(names[j], width, tail, b,
				    sizeof b);
				if (strcmp(a, b) == 0 &&
				    strcmp(names[i], names[j]) != 0)
					break;
			}
			if (j < n)
				break;
		}
		if (i == n)
			return tail;
	}
	return half;
}

static const struct ps_text_col *
text_cols_of(enum ps_top_table t, int *n)
{
	*n = t == PS_TOP_TENSORS ? PS_TOP_T_NCOLS : PS_TOP_W_NCOLS;
	return t == PS_TOP_TENSORS ? ps_text_tcols : ps_text_wcols;
}

/* The name of the row-th row shown. */
static const char *
text_name(const struct ps_top_model *m, enum ps_top_table t, size_t row)
{
	size_t	i = text_index(m, t, row);

	return t == PS_TOP_TENSORS ? m->tensors[i].name : m->workers[i].name;
}

void
ps_text_layout(const struct ps_top_model *m, enum ps_top_table t, int width,
    int gutter, struct ps_text_layout *lay)
{
	const struct ps_text_col	*cols;
	const char			**names;
	int				 ncols, on[PS_TEXT_MAXCOLS], c, k, fixed;
	int				 data = 4, want, pass, low;
	size_t				 i, n = ps_top_model_rows(m, t);

	cols = text_cols_of(t, &ncols);
	for (i = 0; i < n; i++) {
		if ((k = text_cols(text_name(m, t, i))) > data)
			data = k;
	}
	if (data > PS_TEXT_FLEX_MAX)
		data = PS_TEXT_FLEX_MAX;
	for (c = 0; c < ncols; c++)
		on[c] = 1;
	/*
	 * Pass 0 drops by priority until a PS_TEXT_FLEX_MIN name column
	 * fits; pass 1 drops the columns that yield until names fit whole
	 * up to PS_TEXT_FLEX_WANT.
	 */
	for (pass = 0; pass < 2; pass++) {
		want = pass == 0 ? PS_TEXT_FLEX_MIN :
		    (data < PS_TEXT_FLEX_WANT ? data : PS_TEXT_FLEX_WANT);
		for (;;) {
			fixed = gutter;
			for (c = 0, k = 0; c < ncols; c++) {
				if (!on[c])
					continue;
				fixed += (k++ > 0) + (cols[c].flex ? 0 :
				    cols[c].width);
			}
			if (fixed + want <= width)
				break;
			low = -1;
			for (c = 0; c < ncols; c++) {
				if (!on[c] || cols[c].prio == 0 ||
				    c == m->sort_col[t] ||
				    (pass == 1 && !cols[c].yields))
					continue;
				if (low == -1 || cols[c].prio < cols[low].prio)
					low = c;
			}
			if (low == -1)
				break;
			on[low] = 0;
		}
	}
	lay->gutter = gutter;
	lay->flex = width - fixed < data ? width - fixed : data;
	if (lay->flex < 4)
		lay->flex = 4;
	lay->ncols = 0;
	lay->total = gutter;
	for (c = 0; c < ncols; c++) {
		if (!on[c])
			continue;
		lay->col[lay->ncols] = c;
		lay->width[lay->ncols] = cols[c].flex ? lay->flex :
		    cols[c].width;
		lay->total += (lay->ncols > 0) + lay->width[lay->ncols];
		lay->ncols++;
	}
	/* The split that keeps the shortened names distinct. */
	lay->tail = (lay->flex - 1) / 2;
	if (data > lay->flex && n > 0) {
		names = xcalloc(n, sizeof *names);
		for (i = 0; i < n; i++)
			names[i] = text_name(m, t, i);
		lay->tail = ps_text_shorten_tail(names, n, lay->flex);
		free(names);
	}
}

void
ps_text_add(struct ps_text_line *l, enum ps_text_class cls, const char *fmt,
    ...)
{
	va_list	ap;

	if (l->n >= PS_TEXT_MAXSEG)
		return;
	l->seg[l->n].cls = cls;
	va_start(ap, fmt);
	vsnprintf(l->seg[l->n].text, sizeof l->seg[l->n].text, fmt, ap);
	va_end(ap);
	l->n++;
}

/* Display columns of UTF-8 text: every byte but continuation bytes. */
static int
text_cols(const char *s)
{
	int	n = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return n;
}

int
ps_text_width(const struct ps_text_line *l)
{
	int	i, n = 0;

	for (i = 0; i < l->n; i++)
		n += text_cols(l->seg[i].text);
	return n;
}

void
ps_text_plain(const struct ps_text_line *l, char *buf, size_t len)
{
	size_t	off = 0, k;
	int	i;

	buf[0] = '\0';
	for (i = 0; i < l->n && off + 1 < len; i++) {
		k = strlen(l->seg[i].text);
		if (k > len - off - 1)
			k = len - off - 1;
		memcpy(buf + off, l->seg[i].text, k);
		off += k;
		buf[off] = '\0';
	}
}

/*
 * s into out, exactly width columns: cut (at a character boundary) or
 * padded with spaces on the left (right) or the right.
 */
static void
text_pad(char *out, size_t outlen, const char *s, int width, int right)
{
	size_t	bytes = 0, off = 0;
	int	cols = 0, pad, i;

	while (s[bytes] != '\0' && cols < width) {
		bytes++;
		while (((unsigned char)s[bytes] & 0xc0) == 0x80)
			bytes++;
		cols++;
	}
	if (bytes + (size_t)(width - cols) + 1 > outlen) {
		out[0] = '\0';
		return;
	}
	pad = width - cols;
	if (right) {
		for (i = 0; i < pad; i++)
			out[off++] = ' ';
	}
	memcpy(out + off, s, bytes);
	off += bytes;
	if (!right) {
		for (i = 0; i < pad; i++)
			out[off++] = ' ';
	}
	out[off] = '\0';
}

/*
 * A number too wide for its column, rewritten in place with a unit so that
 * it fits: 16,060 in 5 columns is "16.1k", 1,234,567 in 7 is "1.235M";
 * one under 1000 with fewer digits instead: 1.532e-05 in 7 is "1.5e-05".
 * Cutting it would show another number ("16,06").  When even the unit
 * form does not fit, the cell is filled with '#', as spreadsheets do.
 * Text that is not a number is left alone (text_pad cuts it).
 */
static void
text_fit_number(char *cell, size_t len, int width)
{
	static const char	 units[] = "kMGTPE";
	char			 digits[64], out[64], *end;
	size_t			 i, k = 0;
	double			 v, a;
	int			 u, dec, n;

	if (text_cols(cell) <= width)
		return;
	for (i = 0; cell[i] != '\0' && k + 1 < sizeof digits; i++) {
		if (cell[i] != ',')
			digits[k++] = cell[i];
	}
	digits[k] = '\0';
	v = strtod(digits, &end);
	if (k == 0 || *end != '\0' || !isfinite(v))
		return;
	if (fabs(v) < 1000) {
		/* Small: fewer digits ("1.53e-05" in 7 reads "1.5e-05"). */
		for (dec = 6; dec >= 1; dec--) {
			n = snprintf(out, sizeof out, "%.*g", dec, v);
			if (n > 0 && n <= width && (size_t)n < len) {
				memcpy(cell, out, (size_t)n + 1);
				return;
			}
		}
		goto fill;
	}
	/* The unit that leaves less than 1000 before the point. */
	a = fabs(v) / 1000;
	for (u = 0; a >= 999.5 && units[u + 1] != '\0'; u++)
		a /= 1000;
	for (dec = 3; dec >= 0; dec--) {
		n = snprintf(out, sizeof out, "%s%.*f%c", v < 0 ? "-" : "", dec,
		    a, units[u]);
		if (n > 0 && n <= width && (size_t)n < len) {
			memcpy(cell, out, (size_t)n + 1);
			return;
		}
	}
fill:
	for (i = 0; i < (size_t)width && i + 1 < len; i++)
		cell[i] = '#';
	cell[i] = '\0';
}

void
ps_text_uptime(double v, char *buf, size_t len)
{
	long long	t, d;

	if (isnan(v) || v < 0) {
		snprintf(buf, len, "-");
		return;
	}
	t = (long long)v;
	d = t / 86400;
	t %= 86400;
	if (d > 0)
		snprintf(buf, len, "%lldd %02lld:%02lld:%02lld", d, t / 3600,
		    t / 60 % 60, t % 60);
	else
		snprintf(buf, len, "%02lld:%02lld:%02lld", t / 3600,
		    t / 60 % 60, t % 60);
}

void
ps_text_age(double v, char *buf, size_t len)
{
	long long	t;

	if (isnan(v)) {
		snprintf(buf, len, "-");
		return;
	}
	if (v < 0)
		v = 0;
	if (v < 60) {
		snprintf(buf, len, "%.1fs", v);
		return;
	}
	t = (long long)v;
	if (t < 3600)
		snprintf(buf, len, "%lldm%02llds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%lldh%02lldm", t / 3600, t / 60 % 60);
	else
		snprintf(buf, len, "%lldd%02lldh", t / 86400, t / 3600 % 24);
}

void
ps_text_count(double v, char *buf, size_t len)
{
	ps_top_count(v, buf, len);
}

void
ps_text_rate(double v, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f", v);
}

/* "updates/s  ___..-=#  40.0 now, max 52.0" for one series. */
static void
text_spark(struct ps_text_line *l, const struct ps_top_model *m,
    enum ps_top_series s, double now, int cols, const char *const *ramp)
{
	double	vals[512], lo, hi, cur;
	int	levels[512], marks[512], i;
	char	spark[PS_TEXT_SEGLEN], a[32], b[32];
	size_t	off = 0, k;
	const char *g;

	if (cols > 512)
		cols = 512;
	if (cols < 1)
		cols = 1;
	ps_top_model_spark(m, s, now, TEXT_WINDOW, cols, vals, &lo, &hi);
	ps_top_model_spark_marks(m, now, TEXT_WINDOW, cols, marks);
	if (s == PS_TOP_SERIES_RATE)
		ps_top_spark_levels(vals, cols, 0, hi, 8, levels);
	else
		ps_top_spark_levels(vals, cols, lo, hi, 8, levels);
	ps_text_add(l, PS_TEXT_LABEL, "%s", s == PS_TOP_SERIES_RATE ?
	    "updates/s  " : "model L2   ");
	/*
	 * The glyphs, in as many segments as they need: a UTF-8 glyph is 3
	 * bytes, so a wide sparkline does not fit one segment, and cutting
	 * it would drop the newest columns.
	 */
	spark[0] = '\0';
	for (i = 0; i < cols; i++) {
		/* A restart or reset is a bar: the series starts over. */
		g = marks[i] ? "|" : levels[i] < 0 ? " " : ramp[levels[i]];
		k = strlen(g);
		if (off + k + 1 > sizeof spark) {
			ps_text_add(l, PS_TEXT_SPARK, "%s", spark);
			off = 0;
		}
		memcpy(spark + off, g, k);
		off += k;
		spark[off] = '\0';
	}
	ps_text_add(l, PS_TEXT_SPARK, "%s", spark);
	if (s == PS_TOP_SERIES_RATE) {
		cur = m->update_rate;
		ps_text_rate(cur, a, sizeof a);
		ps_text_rate(hi, b, sizeof b);
		ps_text_add(l, PS_TEXT_VALUE, "  %s now, max %s", a, b);
	} else {
		cur = m->have ? m->srv.model_l2 : NAN;
		if (isnan(cur))
			snprintf(a, sizeof a, "-");
		else
			snprintf(a, sizeof a, "%.6g", cur);
		if (isnan(lo))
			ps_text_add(l, PS_TEXT_VALUE, "  %s now", a);
		else
			ps_text_add(l, PS_TEXT_VALUE, "  %s now, min %.6g "
			    "max %.6g", a, lo, hi);
	}
	ps_text_add(l, PS_TEXT_PLAIN, " (last %.0fm)", TEXT_WINDOW / 60);
}

int
ps_text_header(const struct ps_top_model *m, double now, int spark_cols,
    const char *const *ramp, struct ps_text_line *lines)
{
	const struct ps_top_server	*s = &m->srv;
	struct ps_text_line		*l;
	char				 a[64], b[64];
	double				 wait;
	int				 n = 0;

	l = &lines[n++];
	l->n = 0;
	ps_text_add(l, PS_TEXT_LABEL, "psctl top  ");
	ps_text_add(l, PS_TEXT_VALUE, "%s  ", m->url);
	wait = m->retry_at - now;
	if (wait < 0)
		wait = 0;
	switch (m->conn) {
	case PS_TOP_CONNECTING:
		ps_text_add(l, PS_TEXT_STALE, "CONNECTING");
		break;
	case PS_TOP_CONNECTED:
		ps_text_add(l, PS_TEXT_GOOD, "CONNECTED");
		break;
	case PS_TOP_DISCONNECTED:
	case PS_TOP_AUTH_REFUSED:
		ps_text_add(l, PS_TEXT_BAD, "%s", m->conn ==
		    PS_TOP_AUTH_REFUSED ? "TOKEN REFUSED" : "DISCONNECTED");
		break;
	}
	if (ps_top_model_stale(m, now)) {
		ps_text_age(ps_top_model_age(m, now), a, sizeof a);
		ps_text_add(l, PS_TEXT_PLAIN, "  ");
		ps_text_add(l, PS_TEXT_STALE, "STALE %s old", a);
	}
	if (m->paused) {
		ps_text_add(l, PS_TEXT_PLAIN, "  ");
		ps_text_add(l, PS_TEXT_STALE, "PAUSED");
	}
	ps_text_add(l, PS_TEXT_LABEL, "  every ");
	ps_text_add(l, PS_TEXT_VALUE, "%gs", m->interval);
	/* The reason last: it is the longest, and the screen may cut it. */
	if (m->conn == PS_TOP_DISCONNECTED || m->conn == PS_TOP_AUTH_REFUSED)
		ps_text_add(l, PS_TEXT_PLAIN, "  retry in %.0fs: %s", ceil(wait),
		    m->conn_error != NULL ? m->conn_error : "");

	if (!m->have) {
		l = &lines[n++];
		l->n = 0;
		ps_text_add(l, PS_TEXT_PLAIN, "no snapshot yet");
		goto sparks;
	}

	l = &lines[n++];
	l->n = 0;
	ps_text_add(l, PS_TEXT_LABEL, "server ");
	ps_text_add(l, PS_TEXT_VALUE, "%s", s->version);
	ps_text_add(l, PS_TEXT_LABEL, " at ");
	ps_text_add(l, PS_TEXT_VALUE, "%s  %s", s->listen, s->state);
	ps_text_uptime(s->uptime, a, sizeof a);
	ps_text_add(l, PS_TEXT_LABEL, "  up ");
	ps_text_add(l, PS_TEXT_VALUE, "%s", a);
	ps_text_add(l, PS_TEXT_LABEL, "  mode ");
	if (strcmp(s->mode, "ssp") == 0 && !isnan(s->staleness))
		ps_text_add(l, PS_TEXT_VALUE, "ssp (staleness %.0f)",
		    s->staleness);
	else if (strcmp(s->mode, "sync") == 0 && !isnan(s->sync_workers))
		ps_text_add(l, PS_TEXT_VALUE, "sync (%.0f workers)",
		    s->sync_workers);
	else
		ps_text_add(l, PS_TEXT_VALUE, "%s", s->mode);
	ps_text_add(l, PS_TEXT_LABEL, "  rule ");
	ps_text_add(l, PS_TEXT_VALUE, "%s", s->rule);
	if (*s->rule_params != '\0')
		ps_text_add(l, PS_TEXT_VALUE, " (%s)", s->rule_params);

	l = &lines[n++];
	l->n = 0;
	ps_text_add(l, PS_TEXT_LABEL, "model ");
	ps_text_count(s->params, a, sizeof a);
	ps_top_human_bytes(s->bytes, b, sizeof b);
	ps_text_add(l, PS_TEXT_VALUE, "%s", a);
	ps_text_add(l, PS_TEXT_LABEL, " params, ");
	ps_text_add(l, PS_TEXT_VALUE, "%s", b);
	ps_text_count(s->model_version, a, sizeof a);
	ps_text_add(l, PS_TEXT_LABEL, "  version ");
	ps_text_add(l, PS_TEXT_VALUE, "%s", a);
	/*
	 * Fits 80 columns with a model L2 of 1.0635e+06 (the blown-up
	 * model an operator is looking for); the resets go on the
	 * checkpoint line.
	 */
	ps_text_add(l, PS_TEXT_LABEL, "  L2 ");
	ps_text_add(l, PS_TEXT_VALUE, "%.5g", s->model_l2);
	ps_text_add(l, PS_TEXT_LABEL, "  update L2 ");
	ps_text_add(l, PS_TEXT_VALUE, "%.4g", s->last_update_l2);

	l = &lines[n++];
	l->n = 0;
	if (s->round_present && s->round_nwaiting > 0)
		text_round(l, m);
	ps_text_add(l, PS_TEXT_LABEL, "workers ");
	ps_text_add(l, PS_TEXT_VALUE, "%.0f", s->workers_connected);
	if (!isnan(s->workers_expected)) {
		ps_text_add(l, PS_TEXT_LABEL, "/");
		ps_text_add(l, PS_TEXT_VALUE, "%.0f", s->workers_expected);
	}
	ps_text_rate(s->pushes_per_s, a, sizeof a);
	ps_text_add(l, PS_TEXT_LABEL, "  pushes/s ");
	ps_text_add(l, PS_TEXT_VALUE, "%s", a);
	ps_text_rate(s->pulls_per_s, a, sizeof a);
	ps_text_add(l, PS_TEXT_LABEL, "  pulls/s ");
	ps_text_add(l, PS_TEXT_VALUE, "%s", a);
	ps_top_human_bytes(s->bytes_in_per_s, a, sizeof a);
	ps_top_human_bytes(s->bytes_out_per_s, b, sizeof b);
	ps_text_add(l, PS_TEXT_LABEL, "  in ");
	ps_text_add(l, PS_TEXT_VALUE, "%s/s", a);
	ps_text_add(l, PS_TEXT_LABEL, "  out ");
	ps_text_add(l, PS_TEXT_VALUE, "%s/s", b);
	ps_text_add(l, PS_TEXT_LABEL, "  rejected ");
	ps_text_add(l, !isnan(s->rejected_total) && s->rejected_total > 0 ?
	    PS_TEXT_BAD : PS_TEXT_VALUE, "%.0f", s->rejected_total);
	if (*s->rejected != '\0')
		ps_text_add(l, PS_TEXT_VALUE, " (%s)", s->rejected);

	l = &lines[n++];
	l->n = 0;
	ps_text_add(l, PS_TEXT_LABEL, "checkpoint ");
	if (!s->ckpt_has_dir && s->ckpt_last_ok == -1)
		ps_text_add(l, PS_TEXT_VALUE, "off (no checkpoint dir)");
	else if (s->ckpt_last_ok == -1)
		ps_text_add(l, PS_TEXT_VALUE, "none yet");
	else {
		ps_text_age(ps_top_model_ckpt_age(m, now), a, sizeof a);
		ps_text_add(l, PS_TEXT_VALUE, "%s ago ", a);
		if (s->ckpt_last_ok == 1) {
			ps_text_add(l, PS_TEXT_GOOD, "ok");
			if (!isnan(s->ckpt_last_seconds))
				ps_text_add(l, PS_TEXT_VALUE, " in %.3f s",
				    s->ckpt_last_seconds);
		} else
			ps_text_add(l, PS_TEXT_BAD, "FAILED: %s",
			    s->ckpt_last_error != NULL ? s->ckpt_last_error :
			    "?");
		if (!isnan(s->ckpt_count))
			ps_text_add(l, PS_TEXT_LABEL, "  %.0f saved",
			    s->ckpt_count);
		if (!isnan(s->ckpt_failed) && s->ckpt_failed > 0)
			ps_text_add(l, PS_TEXT_BAD, ", %.0f failed",
			    s->ckpt_failed);
	}
	if (s->ckpt_in_progress) {
		ps_text_add(l, PS_TEXT_PLAIN, "  ");
		ps_text_add(l, PS_TEXT_STALE, "in progress");
	}
	if (!isnan(s->resets_total) && s->resets_total > 0) {
		ps_text_add(l, PS_TEXT_LABEL, "  resets ");
		ps_text_add(l, PS_TEXT_VALUE, "%.0f", s->resets_total);
	}
	if (s->ckpt_last_path != NULL)
		ps_text_add(l, PS_TEXT_VALUE, "  %s", s->ckpt_last_path);

sparks:
	l = &lines[n++];
	l->n = 0;
	text_spark(l, m, PS_TOP_SERIES_RATE, now, spark_cols, ramp);
	l = &lines[n++];
	l->n = 0;
	text_spark(l, m, PS_TOP_SERIES_L2, now, spark_cols, ramp);
	return n;
}

/*
 * "round 47 waiting on sw-c for 8.5 s  ": the sync round and the workers
 * it waits on, by name (three at most, then how many more).
 */
static void
text_round(struct ps_text_line *l, const struct ps_top_model *m)
{
	const struct ps_top_server	*s = &m->srv;
	char				 names[PS_TEXT_SEGLEN];
	size_t				 i, j, off = 0;
	const char			*name;

	names[0] = '\0';
	for (i = 0; i < s->round_nwaiting && i < 3; i++) {
		name = NULL;
		for (j = 0; j < m->nworkers; j++) {
			if (m->workers[j].id == s->round_waiting[i])
				name = m->workers[j].name;
		}
		off += (size_t)snprintf(names + off, sizeof names - off,
		    "%s%s", i > 0 ? ", " : "", name != NULL && *name != '\0' &&
		    strcmp(name, "-") != 0 ? name : "?");
		if (name == NULL || *name == '\0' || strcmp(name, "-") == 0)
			off += (size_t)snprintf(names + off - 1,
			    sizeof names - off + 1, "#%lld",
			    s->round_waiting[i]) - 1;
		if (off >= sizeof names)
			break;
	}
	if (s->round_nwaiting > 3)
		snprintf(names + off, off < sizeof names ? sizeof names - off :
		    0, " and %zu more", s->round_nwaiting - 3);
	ps_text_add(l, s->round_waiting_s >= PS_TOP_BLOCKING_S ? PS_TEXT_BAD :
	    PS_TEXT_VALUE, "round %.0f waiting on %s for %.1f s",
	    s->round_number, names, s->round_waiting_s);
	ps_text_add(l, PS_TEXT_PLAIN, "  ");
}

static enum ps_text_class
text_mark_class(enum ps_top_wmark k)
{
	switch (k) {
	case PS_TOP_MARK_WAITING:
		return PS_TEXT_WAITING;
	case PS_TOP_MARK_LAGGING:
		return PS_TEXT_LAGGING;
	case PS_TOP_MARK_BLOCKING:
	case PS_TOP_MARK_SILENT:
		return PS_TEXT_SILENT;
	case PS_TOP_MARK_GONE:
		return PS_TEXT_GONE;
	default:
		return PS_TEXT_ROW;
	}
}

void
ps_text_title(const struct ps_top_model *m, enum ps_top_table t,
    size_t first, size_t count, int width, struct ps_text_line *l)
{
	char	hint[64], now[512];
	size_t	i, count_mark[PS_TOP_MARK_GONE + 1];
	size_t	n = ps_top_model_rows(m, t);
	int	col = m->sort_col[t];
	enum ps_text_class cls;

	l->n = 0;
	cls = m->focus == t ? PS_TEXT_TITLE_FOCUS : PS_TEXT_TITLE;
	ps_text_add(l, cls, "%s %zu", t == PS_TOP_TENSORS ? "TENSORS" :
	    "WORKERS", n);
	if (count < n)
		ps_text_add(l, PS_TEXT_PLAIN, "  rows %zu-%zu of %zu", first + 1,
		    first + count, n);
	if (m->filter[0] != '\0')
		ps_text_add(l, PS_TEXT_STALE, "  /%s/", m->filter);
	ps_text_add(l, PS_TEXT_PLAIN, "  sort: %s %s", t == PS_TOP_TENSORS ?
	    ps_top_tcol_name(col) : ps_top_wcol_name(col),
	    m->sort_desc[t] ? "desc" : "asc");
	if (t == PS_TOP_TENSORS)
		return;
	memset(count_mark, 0, sizeof count_mark);
	for (i = 0; i < m->nworkers; i++) {
		if (!m->workers[i].oneshot ||
		    m->workers[i].mark != PS_TOP_MARK_GONE)
			count_mark[m->workers[i].mark]++;
	}
	for (i = PS_TOP_MARK_LAGGING; i < PS_TOP_MARK_GONE; i++) {
		if (count_mark[i] > 0)
			ps_text_add(l, text_mark_class(i), "  %zu %s",
			    count_mark[i], ps_top_mark_name(i));
	}
	if (m->srv.nblocked > 0)
		ps_text_add(l, PS_TEXT_BAD, "  %zu blocked (u)",
		    m->srv.nblocked);
	if (m->ngone_folded > 0)
		ps_text_add(l, PS_TEXT_GONE, "  +%zu GONE (g shows)",
		    m->ngone_folded);
	else if (count_mark[PS_TOP_MARK_GONE] > 0)
		ps_text_add(l, PS_TEXT_GONE, "  %zu GONE",
		    count_mark[PS_TOP_MARK_GONE]);
	/* A help, not a fact: left out whole rather than cut. */
	if (isnan(m->lag_limit))
		snprintf(hint, sizeof hint, "  (LAGGING: under %.0f%% of its "
		    "pace)", m->slow_ratio * 100);
	else
		snprintf(hint, sizeof hint, "  (LAGGING: lag over %.0f)",
		    m->lag_limit);
	ps_text_plain(l, now, sizeof now);
	if (width <= 0 || strlen(now) + strlen(hint) <= (size_t)width)
		ps_text_add(l, PS_TEXT_PLAIN, "%s", hint);
}

/* The model's index of the row-th entry in display order. */
static size_t
text_index(const struct ps_top_model *m, enum ps_top_table t, size_t row)
{
	return ps_top_model_index(m, t, row);
}

void
ps_text_cell(const struct ps_top_model *m, enum ps_top_table t, size_t row,
    int col, double now, char *buf, size_t len)
{
	const struct ps_top_tensor	*tt;
	const struct ps_top_worker	*w;
	size_t				 i = text_index(m, t, row);
	double				 v = NAN;

	if (t == PS_TOP_TENSORS) {
		tt = &m->tensors[i];
		switch (col) {
		case PS_TOP_T_INDEX:
			snprintf(buf, len, "%zu", i + 1);
			return;
		case PS_TOP_T_NAME:
			snprintf(buf, len, "%s", tt->name);
			return;
		case PS_TOP_T_SHAPE:
			snprintf(buf, len, "%s", tt->shape);
			return;
		case PS_TOP_T_L2:
			v = tt->l2;
			break;
		case PS_TOP_T_UPDATE:
			v = tt->update_l2;
			break;
		case PS_TOP_T_GROWTH:
			text_growth(tt->growth, tt->worst, buf, len);
			return;
		case PS_TOP_T_RATE:
			ps_text_rate(tt->rate, buf, len);
			return;
		}
		if (isnan(v))
			snprintf(buf, len, "-");
		else
			snprintf(buf, len, "%.4g", v);
		return;
	}
	w = &m->workers[i];
	switch (col) {
	case PS_TOP_W_ID:
		snprintf(buf, len, "%lld", w->id);
		break;
	case PS_TOP_W_STATE:
		snprintf(buf, len, "%s", ps_top_mark_name(w->mark));
		break;
	case PS_TOP_W_NAME:
		snprintf(buf, len, "%s", w->name);
		break;
	case PS_TOP_W_ADDRESS:
		snprintf(buf, len, "%s", w->address);
		break;
	case PS_TOP_W_PUSHES:
		ps_text_rate(w->pushes_per_s, buf, len);
		break;
	case PS_TOP_W_PULLS:
		ps_text_rate(w->pulls_per_s, buf, len);
		break;
	case PS_TOP_W_UPD:
	case PS_TOP_W_UPDMAX:
		v = col == PS_TOP_W_UPD ? w->update_l2 : w->update_l2_max;
		if (isnan(v))
			snprintf(buf, len, "-");
		else
			snprintf(buf, len, "%.4g", v);
		break;
	case PS_TOP_W_CLOCK:
		ps_text_count(w->clock, buf, len);
		break;
	case PS_TOP_W_LAG:
		ps_text_count(w->lag, buf, len);
		break;
	case PS_TOP_W_SEEN:
		ps_text_age(ps_top_model_seen(m, w, now), buf, len);
		break;
	default:
		snprintf(buf, len, "?");
		break;
	}
}

void
ps_text_heading(const struct ps_top_model *m, enum ps_top_table t,
    const struct ps_text_layout *lay, struct ps_text_line *l)
{
	const struct ps_text_col	*cols;
	char			 cell[PS_TEXT_SEGLEN];
	int			 n, i, c;

	cols = text_cols_of(t, &n);
	l->n = 0;
	if (lay->gutter)
		ps_text_add(l, PS_TEXT_HEADING, " ");
	for (i = 0; i < lay->ncols; i++) {
		c = lay->col[i];
		text_pad(cell, sizeof cell, cols[c].title, lay->width[i],
		    cols[c].right);
		if (i > 0)
			ps_text_add(l, PS_TEXT_HEADING, " ");
		ps_text_add(l, c == m->sort_col[t] ? PS_TEXT_HEADING_SORT :
		    PS_TEXT_HEADING, "%s", cell);
	}
}

void
ps_text_row(const struct ps_top_model *m, enum ps_top_table t, size_t row,
    double now, const struct ps_text_layout *lay, struct ps_text_line *l)
{
	const struct ps_text_col	*cols;
	char			 text[PS_TEXT_SEGLEN], cell[PS_TEXT_SEGLEN];
	char			 padded[PS_TEXT_SEGLEN], name[PS_TEXT_SEGLEN];
	enum ps_text_class	 cls = PS_TEXT_ROW;
	int			 n, i, c, sel;
	size_t			 off = 0, k;

	cols = text_cols_of(t, &n);
	if (t == PS_TOP_WORKERS)
		cls = text_mark_class(m->workers[text_index(m, t, row)].mark);
	else if (m->tensors[text_index(m, t, row)].worst)
		cls = PS_TEXT_LAGGING;
	sel = row == m->sel[t];
	if (sel && m->focus == t && lay->gutter)
		cls = PS_TEXT_SELECTED;
	text[0] = '\0';
	if (lay->gutter) {
		text[off++] = sel ? '>' : ' ';
		text[off] = '\0';
	}
	for (i = 0; i < lay->ncols; i++) {
		c = lay->col[i];
		ps_text_cell(m, t, row, c, now, cell, sizeof cell);
		if (cols[c].right)
			text_fit_number(cell, sizeof cell, lay->width[i]);
		if (cols[c].flex) {
			ps_text_shorten(cell, lay->width[i], lay->tail, name,
			    sizeof name);
			snprintf(cell, sizeof cell, "%s", name);
		}
		text_pad(padded, sizeof padded, cell, lay->width[i],
		    cols[c].right);
		k = strlen(padded);
		if (off + k + 2 > sizeof text)
			break;
		if (i > 0)
			text[off++] = ' ';
		memcpy(text + off, padded, k + 1);
		off += k;
	}
	l->n = 0;
	ps_text_add(l, cls, "%s", text);
}

/* Columns of a checkpoint row after its name: VERSION, AGE, L2, SIZE. */
#define TEXT_CKPT_FIXED	(9 + 1 + 7 + 1 + 10 + 1 + 10)

/* The name column of the open list at width: its longest name, or less. */
static int
text_pick_name_width(const struct ps_top_model *m, int width)
{
	size_t	i, n = ps_top_model_pick_rows(m);
	int	w = 8, fixed, k;

	fixed = 2 + (m->pick == PS_TOP_PICK_CKPT ? TEXT_CKPT_FIXED + 1 : 7);
	for (i = 0; i < n; i++) {
		k = text_cols(m->pick == PS_TOP_PICK_CKPT ? m->ckpts[i].name :
		    m->srv.blocked[i].name != NULL ? m->srv.blocked[i].name :
		    "-");
		if (k > w)
			w = k;
	}
	if (w > width - fixed)
		w = width - fixed;
	return w < 4 ? 4 : w;
}

void
ps_text_pick_title(const struct ps_top_model *m, size_t first, size_t count,
    struct ps_text_line *l)
{
	size_t	n = ps_top_model_pick_rows(m);
	char	ver[32], l2[32];

	l->n = 0;
	ps_text_add(l, PS_TEXT_TITLE_FOCUS, "%s %zu", m->pick ==
	    PS_TOP_PICK_CKPT ? "CHECKPOINTS" : "BLOCKED", n);
	if (count < n)
		ps_text_add(l, PS_TEXT_PLAIN, "  rows %zu-%zu of %zu", first + 1,
		    first + count, n);
	if (m->pick == PS_TOP_PICK_BLOCK) {
		ps_text_add(l, PS_TEXT_PLAIN, "  unblock which?");
		return;
	}
	ps_top_count(m->srv.model_version, ver, sizeof ver);
	ps_top_l2_text(m->srv.model_l2, l2, sizeof l2);
	ps_text_add(l, PS_TEXT_PLAIN, "  reset to which?  now: version %s, "
	    "L2 %s", ver, l2);
}

void
ps_text_pick_heading(const struct ps_top_model *m, int width,
    struct ps_text_line *l)
{
	char	name[PS_TEXT_SEGLEN];

	l->n = 0;
	if (m->pick == PS_TOP_PICK_CKPT) {
		text_pad(name, sizeof name, "NAME",
		    text_pick_name_width(m, width), 0);
		ps_text_add(l, PS_TEXT_HEADING, "  %s %9s %7s %10s %10s", name,
		    "VERSION", "AGE", "MODEL_L2", "SIZE");
	} else
		ps_text_add(l, PS_TEXT_HEADING, "  %6s %s", "ID", "NAME");
}

void
ps_text_pick_row(const struct ps_top_model *m, size_t row, double now,
    int width, struct ps_text_line *l)
{
	const struct ps_top_ckpt	*c;
	const struct ps_top_block	*b;
	char	name[PS_TEXT_SEGLEN], cell[PS_TEXT_SEGLEN], ver[32], age[32];
	char	l2[32], size[32], id[32];
	int	nw = text_pick_name_width(m, width), sel = row == m->pick_sel;

	l->n = 0;
	if (row >= ps_top_model_pick_rows(m))
		return;
	if (m->pick == PS_TOP_PICK_CKPT) {
		c = &m->ckpts[row];
		ps_text_shorten(c->name, nw, nw / 2, cell, sizeof cell);
		text_pad(name, sizeof name, cell, nw, 0);
		ps_top_count(c->version, ver, sizeof ver);
		text_fit_number(ver, sizeof ver, 9);
		ps_text_age(isnan(c->age_s) ? NAN : c->age_s + now -
		    m->ckpts_time, age, sizeof age);
		ps_top_l2_text(c->model_l2, l2, sizeof l2);
		text_fit_number(l2, sizeof l2, 10);
		/* The initial model the server keeps: no file of ours. */
		if (isnan(c->bytes))
			snprintf(size, sizeof size, "kept");
		else
			ps_top_human_bytes(c->bytes, size, sizeof size);
		ps_text_add(l, sel ? PS_TEXT_SELECTED : PS_TEXT_ROW,
		    "%c %s %9s %7s %10s %10s", sel ? '>' : ' ', name, ver, age,
		    l2, size);
		return;
	}
	b = &m->srv.blocked[row];
	if (b->id != 0)
		snprintf(id, sizeof id, "%lld", b->id);
	else
		snprintf(id, sizeof id, "-");
	ps_text_shorten(b->name != NULL ? b->name : "-", nw, nw / 2, name,
	    sizeof name);
	ps_text_add(l, sel ? PS_TEXT_SELECTED : PS_TEXT_ROW, "%c %6s %s",
	    sel ? '>' : ' ', id, name);
}

void
ps_text_status(const struct ps_top_model *m, struct ps_text_line *l)
{
	enum ps_text_class	cls;

	l->n = 0;
	if (m->editing) {
		ps_text_add(l, PS_TEXT_PROMPT, "filter names: /%s_", m->filter);
		ps_text_add(l, PS_TEXT_PLAIN, "  Enter keeps it, Esc "
		    "cancels, empty shows all");
		return;
	}
	if (m->msg_kind == PS_TOP_MSG_NONE || m->msg[0] == '\0')
		return;
	switch (m->msg_kind) {
	case PS_TOP_MSG_OK:
		cls = PS_TEXT_MSG_OK;
		break;
	case PS_TOP_MSG_ERROR:
		cls = PS_TEXT_MSG_ERROR;
		break;
	case PS_TOP_MSG_PROMPT:
		cls = PS_TEXT_PROMPT;
		break;
	default:
		cls = PS_TEXT_MSG_INFO;
		break;
	}
	ps_text_add(l, cls, "%s", m->msg);
}
