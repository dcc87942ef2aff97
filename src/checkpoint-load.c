/*
 * Loading a checkpoint (checkpoint.h), every field checked before it is
 * used (psctl-checkpoint(5) is the normative text).
 *
 * The loader reads and parses the header and checks the layout, then
 * creates the store from names and shapes only (ps_store_init_shapes())
 * and reads the data section once, in file order, in CKPT_CHUNK
 * pread(2)s: F32 straight into the store's buffers, other dtypes through
 * one bounce buffer and converted.  Each chunk is added to the data CRC
 * and checked finite just after it is read, while it is in cache.  Any
 * refusal frees the store: a half-loaded store never escapes.
 *
 * No global state: any thread, any number of loads at once.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint-int.h"
#include "checkpoint.h"
#include "kernel.h"
#include "log.h"
#include "utf8.h"
#include "xmalloc.h"

/* A load in progress: everything it owns, freed by ckpt_load_free(). */
struct ckpt_load {
	int		 fd;
	int		 fd_borrowed;	/* the caller's: not closed */
	uint64_t	 size;		/* of the file */
	uint64_t	 hlen;		/* N */
	uint64_t	 dlen;		/* data section bytes */
	char		*hdr;		/* the 8 + N header bytes */
	json_t		*root;
	json_t		*meta;		/* borrowed from root, or NULL */
	struct ps_ckpt_entry *ents;	/* header order */
	size_t		 nents;
	size_t		*sorted;	/* ents indexes by data offset */
	size_t		*model;		/* ents indexes of the model, in order */
	size_t		 nmodel;
	size_t		*byname;	/* model ents indexes sorted by name */
	uint64_t	*versions;	/* per model tensor, in order */
	uint64_t	*steps;
	unsigned char	*bounce;	/* a chunk, for conversions */
	char		*bad;		/* the first value not finite, or NULL */
	size_t		 bad_rank;
	int		 has_crc;
	uint32_t	 crc;
	int		 has_hcrc;
	uint32_t	 hcrc;
	int		 has_rule;
	struct ps_rule	 rule;
	uint64_t	 model_version;
	int		 has_model_l2;
	double		 model_l2;
	char		*cause;
	enum ps_ckpt_error error;
};

static int	ckpt_pread_all(int, void *, size_t, off_t);
static int	ckpt_fail(struct ckpt_load *, enum ps_ckpt_error,
		    const char *, ...)
		    __attribute__((__format__(__printf__, 3, 4)));
static int	ckpt_json_u64(json_t *, uint64_t *);
static int	ckpt_parse_u64(const char *, uint64_t *);
static int	ckpt_parse_hex8(const char *, uint32_t *);
static int	ckpt_parse_l2(const char *, double *);
static int	ckpt_read_header(struct ckpt_load *, const char *);
static void	ckpt_info_fill(const struct ckpt_load *, struct ps_ckpt_info *);
static int	ckpt_parse_entry(struct ckpt_load *, const char *, json_t *,
		    struct ps_ckpt_entry *);
static int	ckpt_parse_tensors(struct ckpt_load *);
static int	ckpt_cmp_offset(const void *, const void *);
static int	ckpt_check_layout(struct ckpt_load *);
static int	ckpt_cmp_name(const void *, const void *);
static size_t	ckpt_find_model(struct ckpt_load *, const char *);
static int	ckpt_check_names(struct ckpt_load *);
static int	ckpt_parse_rule(struct ckpt_load *, const char *,
		    const char *);
static int	ckpt_parse_list(struct ckpt_load *, const char *);
static int	ckpt_parse_meta(struct ckpt_load *, struct ps_ckpt_info *);
static int	ckpt_verify_header_crc(struct ckpt_load *);
static void	ckpt_nonfinite(struct ckpt_load *,
		    const struct ps_ckpt_entry *, size_t, const float *, size_t,
		    size_t);
static int	ckpt_read_entry(struct ckpt_load *,
		    const struct ps_ckpt_entry *, size_t, float *, uint32_t *);
static int	ckpt_read_data(struct ckpt_load *, struct ps_store *,
		    const struct ps_rule *, struct ps_ckpt_info *);
static struct ps_store *ckpt_build(struct ckpt_load *, const struct ps_rule *,
		    struct ps_ckpt_info *);
static struct ps_ckpt_detail *ckpt_detail(struct ckpt_load *);
static void	ckpt_load_free(struct ckpt_load *);

/* Ordering context for ckpt_cmp_offset() and ckpt_cmp_name(). */
static _Thread_local const struct ps_ckpt_entry *ckpt_sort_ents;

/* Returns 0, or -1 with errno (0 when the file ended first). */
static int
ckpt_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char	*p = buf;
	ssize_t	 r;

	while (len > 0) {
		r = pread(fd, p, len, off);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = 0;
			return -1;
		}
		p += r;
		off += r;
		len -= (size_t)r;
	}
	return 0;
}

static int
ckpt_fail(struct ckpt_load *l, enum ps_ckpt_error error, const char *fmt,
    ...)
{
	va_list	ap;

	if (l->cause == NULL) {
		va_start(ap, fmt);
		l->cause = xvasprintf(fmt, ap);
		va_end(ap);
		l->error = error;
	}
	return -1;
}

/* A JSON integer >= 0. */
static int
ckpt_json_u64(json_t *j, uint64_t *v)
{
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return -1;
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

/* Decimal digits only, no sign, no overflow. */
static int
ckpt_parse_u64(const char *s, uint64_t *v)
{
	uint64_t	x = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return 0;
}

/* Exactly 8 lower-case hex digits. */
static int
ckpt_parse_hex8(const char *s, uint32_t *v)
{
	uint32_t	x = 0;
	int		i;

	for (i = 0; i < 8; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			x = x << 4 | (uint32_t)(s[i] - '0');
		else if (s[i] >= 'a' && s[i] <= 'f')
			x = x << 4 | (uint32_t)(s[i] - 'a' + 10);
		else
			return -1;
	}
	if (s[8] != '\0')
		return -1;
	*v = x;
	return 0;
}

/* A JSON number >= 0, and nothing else (the locale does not matter). */
static int
ckpt_parse_l2(const char *s, double *v)
{
	json_t	*j;
	int	 rc = -1;

	j = json_loads(s, JSON_DECODE_ANY, NULL);
	if (j != NULL && json_is_number(j) && json_number_value(j) >= 0 &&
	    isfinite(json_number_value(j)) && !isspace((unsigned char)*s)) {
		*v = json_number_value(j);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* Opens the file, reads and parses the header. */
static int
ckpt_read_header(struct ckpt_load *l, const char *path)
{
	struct stat	st;
	json_error_t	jerr;
	uint64_t	n;
	unsigned char	len[9];
	int		i;

	/* Without a path, l->fd is the caller's open file. */
	if (path != NULL &&
	    (l->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return ckpt_fail(l, PS_CKPT_E_NOFILE, "%s", strerror(errno));
	if (fstat(l->fd, &st) != 0)
		return ckpt_fail(l, PS_CKPT_E_IO, "fstat: %s",
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ckpt_fail(l, PS_CKPT_E_NOFILE, "not a regular file");
	l->size = (uint64_t)st.st_size;
	if (l->size < 8)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "the file is %" PRIu64
		    " bytes, too short for a safetensors header", l->size);
	if (ckpt_pread_all(l->fd, len, l->size > 8 ? 9 : 8, 0) != 0)
		return ckpt_fail(l, PS_CKPT_E_IO, "read: %s", errno == 0 ?
		    "the file shrank" : strerror(errno));
	/*
	 * The header begins with "{" (psctl-checkpoint(5)): a file that
	 * does not is something else (a text file's first 8 bytes make a
	 * header length of some 10^17), and is called that.
	 */
	if (l->size > 8 && len[8] != '{')
		return ckpt_fail(l, PS_CKPT_E_INVALID, "not a safetensors "
		    "file");
	for (n = 0, i = 7; i >= 0; i--)
		n = n << 8 | len[i];
	if (n > PS_CKPT_HEADER_MAX)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "header length %" PRIu64
		    " is over the limit of %llu bytes", n,
		    PS_CKPT_HEADER_MAX);
	if (n > l->size - 8)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "header length %" PRIu64
		    " runs past the end of the file (%" PRIu64 " bytes)", n,
		    l->size);
	if (n < 2)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "header length %" PRIu64
		    " is too short for a JSON object", n);
	l->hlen = n;
	l->dlen = l->size - 8 - n;
	l->hdr = xmalloc(8 + n);
	memcpy(l->hdr, len, 8);
	if (ckpt_pread_all(l->fd, l->hdr + 8, n, 8) != 0)
		return ckpt_fail(l, PS_CKPT_E_IO, "read: %s", errno == 0 ?
		    "the file shrank" : strerror(errno));
	l->root = json_loadb(l->hdr + 8, n, JSON_REJECT_DUPLICATES, &jerr);
	if (l->root == NULL)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "header is not valid "
		    "JSON (near byte %d of the file): %s", jerr.position + 8,
		    jerr.text);
	if (!json_is_object(l->root))
		return ckpt_fail(l, PS_CKPT_E_INVALID,
		    "header is not a JSON object");
	return 0;
}

/* One tensor's entry: types, dtype, shape, offsets and their sizes. */
static int
ckpt_parse_entry(struct ckpt_load *l, const char *name, json_t *o,
    struct ps_ckpt_entry *e)
{
	json_t		*dt, *shape, *offs, *v;
	const char	*key;
	char		 q[96], dq[96], shp[160];
	size_t		 i, elsize, count;

	ps_utf8_quote(name, q, sizeof q);
	if (!json_is_object(o))
		return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: not a JSON "
		    "object", q);
	json_object_foreach(o, key, v) {
		if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 &&
		    strcmp(key, "data_offsets") != 0)
			return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: "
			    "unknown key %s", q, ps_utf8_quote(key, dq,
			    sizeof dq));
	}
	dt = json_object_get(o, "dtype");
	shape = json_object_get(o, "shape");
	offs = json_object_get(o, "data_offsets");
	if (!json_is_string(dt))
		return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: \"dtype\" "
		    "is missing or not a string", q);
	if (!json_is_array(shape))
		return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: \"shape\" "
		    "is missing or not an array", q);
	if (!json_is_array(offs) || json_array_size(offs) != 2)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: "
		    "\"data_offsets\" is missing or not an array of two "
		    "integers", q);

	e->name = xstrdup(name);
	e->dtype = ps_dtype_parse(json_string_value(dt));
	if (e->dtype == PS_DTYPE_NONE) {
		ps_utf8_quote(json_string_value(dt), dq, sizeof dq);
		/* The dtype without its quotes: it is a short word. */
		dq[strlen(dq) - 1] = '\0';
		return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: dtype %s "
		    "is not supported", q, dq + 1);
	}
	if (json_array_size(shape) > PS_DIMS_MAX)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: shape has "
		    "%zu dimensions (at most %d)", q, json_array_size(shape),
		    PS_DIMS_MAX);
	e->ndim = (unsigned)json_array_size(shape);
	for (i = 0; i < e->ndim; i++) {
		if (ckpt_json_u64(json_array_get(shape, i), &e->dims[i]) != 0)
			return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: "
			    "shape dimension %zu is not an integer >= 0", q, i);
	}
	if (ckpt_json_u64(json_array_get(offs, 0), &e->begin) != 0 ||
	    ckpt_json_u64(json_array_get(offs, 1), &e->end) != 0)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: "
		    "data_offsets are not integers >= 0", q);
	if (e->begin > e->end)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: "
		    "data_offsets [%" PRIu64 ", %" PRIu64 "] end before they "
		    "begin", q, e->begin, e->end);
	if (e->end > l->dlen)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: "
		    "data_offsets [%" PRIu64 ", %" PRIu64 "] beyond the data "
		    "section (%" PRIu64 " bytes)", q, e->begin, e->end,
		    l->dlen);
	ps_shape_format(e->ndim, e->dims, shp, sizeof shp);
	elsize = ps_dtype_size(e->dtype);
	if (ps_shape_count(e->ndim, e->dims, elsize, &count) != 0)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: shape %s "
		    "overflows", q, shp);
	if ((uint64_t)count * elsize != e->end - e->begin)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: shape %s "
		    "of %s needs %zu bytes, data_offsets [%" PRIu64 ", %"
		    PRIu64 "] hold %" PRIu64, q, shp, ps_dtype_name(e->dtype),
		    count * elsize, e->begin, e->end, e->end - e->begin);
	return 0;
}

/* Every entry of the header but __metadata__, in header order. */
static int
ckpt_parse_tensors(struct ckpt_load *l)
{
	const char	*key;
	json_t		*v;
	size_t		 n;

	if ((v = json_object_get(l->root, "__metadata__")) != NULL) {
		if (!json_is_object(v))
			return ckpt_fail(l, PS_CKPT_E_INVALID,
			    "__metadata__ is not a JSON object");
		l->meta = v;
	}
	if (ckpt_verify_header_crc(l) != 0)
		return -1;
	n = json_object_size(l->root);
	l->ents = xcalloc(n > 0 ? n : 1, sizeof *l->ents);
	json_object_foreach(l->root, key, v) {
		if (strcmp(key, "__metadata__") == 0)
			continue;
		if (ckpt_parse_entry(l, key, v, &l->ents[l->nents++]) != 0)
			return -1;
	}
	return 0;
}

static int
ckpt_cmp_offset(const void *a, const void *b)
{
	const struct ps_ckpt_entry	*x = &ckpt_sort_ents[*(const size_t *)a];
	const struct ps_ckpt_entry	*y = &ckpt_sort_ents[*(const size_t *)b];

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	/* Header order among empty tensors at the same offset. */
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* The data section is covered exactly: no overlap, no gap. */
static int
ckpt_check_layout(struct ckpt_load *l)
{
	const struct ps_ckpt_entry	*e, *prev = NULL;
	char				 q1[96], q2[96];
	uint64_t			 pos = 0;
	size_t				 i;

	l->sorted = xcalloc(l->nents > 0 ? l->nents : 1, sizeof *l->sorted);
	for (i = 0; i < l->nents; i++)
		l->sorted[i] = i;
	ckpt_sort_ents = l->ents;
	qsort(l->sorted, l->nents, sizeof *l->sorted, ckpt_cmp_offset);
	for (i = 0; i < l->nents; i++) {
		e = &l->ents[l->sorted[i]];
		if (e->begin < pos)
			return ckpt_fail(l, PS_CKPT_E_INVALID, "tensors %s and "
			    "%s overlap in the data section (bytes %" PRIu64
			    " to %" PRIu64 ")", ps_utf8_quote(prev->name, q1,
			    sizeof q1), ps_utf8_quote(e->name, q2, sizeof q2),
			    e->begin, e->end < pos ? e->end : pos);
		if (e->begin > pos)
			return ckpt_fail(l, PS_CKPT_E_INVALID, "data section "
			    "bytes %" PRIu64 " to %" PRIu64 " belong to no "
			    "tensor", pos, e->begin);
		pos = e->end;
		prev = e;
	}
	if (pos != l->dlen)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "data section bytes %"
		    PRIu64 " to %" PRIu64 " belong to no tensor", pos, l->dlen);
	return 0;
}

static int
ckpt_cmp_name(const void *a, const void *b)
{
	return strcmp(ckpt_sort_ents[*(const size_t *)a].name,
	    ckpt_sort_ents[*(const size_t *)b].name);
}

/* Index into ents of the model tensor called name, or SIZE_MAX. */
static size_t
ckpt_find_model(struct ckpt_load *l, const char *name)
{
	size_t	lo = 0, hi = l->nmodel, mid;
	int	c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, l->ents[l->byname[mid]].name);
		if (c == 0)
			return l->byname[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return SIZE_MAX;
}

/*
 * Sorts the entries into the model and its optimizer state.  The model's
 * order is, for now, that of the data offsets; psctl.tensors may set it.
 */
static int
ckpt_check_names(struct ckpt_load *l)
{
	struct ps_ckpt_entry	*e, *owner;
	const char		*rest;
	char			 q[96];
	size_t			 i, j, plen = strlen(PS_STATE_PREFIX);

	l->model = xcalloc(l->nents > 0 ? l->nents : 1, sizeof *l->model);
	l->byname = xcalloc(l->nents > 0 ? l->nents : 1, sizeof *l->byname);
	for (i = 0; i < l->nents; i++) {
		e = &l->ents[l->sorted[i]];
		if (strncmp(e->name, PS_STATE_PREFIX, plen) == 0) {
			rest = e->name + plen;
			if ((rest[0] != 'm' && rest[0] != 'v') ||
			    rest[1] != '.')
				return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor "
				    "%s: not an optimizer state slot psctl "
				    "knows (m or v)", ps_utf8_quote(e->name, q,
				    sizeof q));
			e->slot = rest[0];
			continue;
		}
		if (strncmp(e->name, "__", 2) == 0)
			return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: "
			    "names beginning with \"__\" are reserved",
			    ps_utf8_quote(e->name, q, sizeof q));
		if (!ps_name_valid(e->name, strlen(e->name)))
			return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: "
			    "a name must be 1 to %d bytes of UTF-8",
			    ps_utf8_quote(e->name, q, sizeof q), PS_NAME_MAX);
		l->model[l->nmodel] = l->sorted[i];
		l->byname[l->nmodel] = l->sorted[i];
		l->nmodel++;
	}
	if (l->nmodel == 0)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "the file holds no "
		    "model tensors");
	ckpt_sort_ents = l->ents;
	qsort(l->byname, l->nmodel, sizeof *l->byname, ckpt_cmp_name);

	/* Each state tensor belongs to a model tensor of the same shape. */
	for (i = 0; i < l->nents; i++) {
		e = &l->ents[i];
		if (e->slot == 0)
			continue;
		j = ckpt_find_model(l, e->name + plen + 2);
		if (j == SIZE_MAX)
			return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: "
			    "optimizer state of a tensor the file does not "
			    "hold", ps_utf8_quote(e->name, q, sizeof q));
		owner = &l->ents[j];
		if (owner->ndim != e->ndim || memcmp(owner->dims, e->dims,
		    e->ndim * sizeof *e->dims) != 0)
			return ckpt_fail(l, PS_CKPT_E_INVALID, "tensor %s: "
			    "optimizer state shaped unlike its tensor",
			    ps_utf8_quote(e->name, q, sizeof q));
		e->index = j;	/* an ents index until ckpt_build() */
	}
	return 0;
}

/* psctl.rule and psctl.rule_params (JSON text), into l->rule. */
static int
ckpt_parse_rule(struct ckpt_load *l, const char *name, const char *params)
{
	enum ps_rule_kind	 kind;
	json_t			*o;
	json_error_t		 jerr;
	char			*why, q[96];
	int			 rc;

	if (ps_rule_parse(name, &kind) != 0)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.rule %s is not "
		    "an update rule psctl knows", ps_utf8_quote(name, q,
		    sizeof q));
	ps_rule_defaults(&l->rule, kind);
	l->has_rule = 1;
	if (params == NULL)
		return 0;
	o = json_loads(params, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.rule_params is "
		    "not a JSON object");
	}
	if ((rc = ps_rule_params_from_json(&l->rule, o, &why)) != 0) {
		ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.rule_params: %s", why);
		free(why);
	}
	json_decref(o);
	return rc;
}

/* psctl.tensors: the model's order, versions and steps. */
static int
ckpt_parse_list(struct ckpt_load *l, const char *text)
{
	json_t		*a, *o, *name, *v;
	json_error_t	 jerr;
	unsigned char	*seen;
	const char	*key;
	char		 q[96];
	size_t		 i, j;
	int		 rc = -1;

	a = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (a == NULL || !json_is_array(a)) {
		json_decref(a);
		return ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.tensors is not "
		    "a JSON array");
	}
	seen = xcalloc(l->nents > 0 ? l->nents : 1, 1);
	if (json_array_size(a) != l->nmodel) {
		ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.tensors lists %zu "
		    "tensors, the file holds %zu", json_array_size(a),
		    l->nmodel);
		goto out;
	}
	json_array_foreach(a, i, o) {
		name = json_object_get(o, "name");
		if (!json_is_object(o) || !json_is_string(name)) {
			ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.tensors: entry "
			    "%zu has no name", i);
			goto out;
		}
		ps_utf8_quote(json_string_value(name), q, sizeof q);
		json_object_foreach(o, key, v) {
			if (strcmp(key, "name") != 0 &&
			    strcmp(key, "version") != 0 &&
			    strcmp(key, "steps") != 0) {
				ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.tensors:"
				    " %s: unknown key", q);
				goto out;
			}
		}
		j = ckpt_find_model(l, json_string_value(name));
		if (j == SIZE_MAX || seen[j]) {
			ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.tensors: %s "
			    "is %s", q, j == SIZE_MAX ? "not in the file" :
			    "listed twice");
			goto out;
		}
		seen[j] = 1;
		l->model[i] = j;
		l->versions[i] = l->steps[i] = 0;
		if (((v = json_object_get(o, "version")) != NULL &&
		    ckpt_json_u64(v, &l->versions[i]) != 0) ||
		    ((v = json_object_get(o, "steps")) != NULL &&
		    ckpt_json_u64(v, &l->steps[i]) != 0)) {
			ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.tensors: %s: "
			    "version and steps must be integers >= 0", q);
			goto out;
		}
		if (l->versions[i] > l->model_version) {
			ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.tensors: %s: "
			    "version %" PRIu64 " is above the model version %"
			    PRIu64, q, l->versions[i], l->model_version);
			goto out;
		}
	}
	rc = 0;
out:
	free(seen);
	json_decref(a);
	return rc;
}

/* __metadata__: every value a string; psctl's keys checked. */
static int
ckpt_parse_meta(struct ckpt_load *l, struct ps_ckpt_info *info)
{
	const char	*key, *s, *rule = NULL, *params = NULL, *list = NULL;
	json_t		*v;
	char		 q[96];

	l->versions = xcalloc(l->nmodel, sizeof *l->versions);
	l->steps = xcalloc(l->nmodel, sizeof *l->steps);
	if (l->meta == NULL)
		return 0;
	json_object_foreach(l->meta, key, v) {
		if (!json_is_string(v))
			return ckpt_fail(l, PS_CKPT_E_INVALID, "__metadata__ "
			    "%s is not a string", ps_utf8_quote(key, q,
			    sizeof q));
	}
	json_object_foreach(l->meta, key, v) {
		s = json_string_value(v);
		if (strcmp(key, "psctl.crc32c") == 0) {
			if (ckpt_parse_hex8(s, &l->crc) != 0)
				return ckpt_fail(l, PS_CKPT_E_INVALID,
				    "psctl.crc32c is not 8 hex digits");
			l->has_crc = 1;
		} else if (strcmp(key, "psctl.model_version") == 0) {
			if (ckpt_parse_u64(s, &l->model_version) != 0)
				return ckpt_fail(l, PS_CKPT_E_INVALID,
				    "psctl.model_version %s is not a decimal "
				    "integer", ps_utf8_quote(s, q, sizeof q));
		} else if (strcmp(key, "psctl.model_l2") == 0) {
			if (ckpt_parse_l2(s, &l->model_l2) != 0)
				return ckpt_fail(l, PS_CKPT_E_INVALID,
				    "psctl.model_l2 %s is not a number >= 0",
				    ps_utf8_quote(s, q, sizeof q));
			l->has_model_l2 = 1;
		} else if (strcmp(key, "psctl.version") == 0) {
			if (strlen(s) >= sizeof info->psctl_version)
				return ckpt_fail(l, PS_CKPT_E_INVALID,
				    "psctl.version is too long");
			strcpy(info->psctl_version, s);
		} else if (strcmp(key, "psctl.mode") == 0) {
			if (strlen(s) >= sizeof info->mode)
				return ckpt_fail(l, PS_CKPT_E_INVALID,
				    "psctl.mode is too long");
			strcpy(info->mode, s);
		} else if (strcmp(key, "psctl.rule") == 0)
			rule = s;
		else if (strcmp(key, "psctl.rule_params") == 0)
			params = s;
		else if (strcmp(key, "psctl.tensors") == 0)
			list = s;
	}
	/*
	 * Together or not at all: otherwise one flipped bit in either key's
	 * name would turn its check off unnoticed.
	 */
	if (l->has_crc != l->has_hcrc)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "%s without %s",
		    l->has_crc ? "psctl.crc32c" : "psctl.header_crc32c",
		    l->has_crc ? "psctl.header_crc32c" : "psctl.crc32c");
	if (params != NULL && rule == NULL)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.rule_params "
		    "without psctl.rule");
	if (rule != NULL && ckpt_parse_rule(l, rule, params) != 0)
		return -1;
	if (list != NULL && ckpt_parse_list(l, list) != 0)
		return -1;
	return 0;
}

/*
 * psctl.header_crc32c, when present, covers the 8 + N header bytes with
 * its own 8 digits read as "00000000".  Its digits are found where the
 * writer put them: at the first "psctl.header_crc32c":" in the header.
 * Checked before anything in the header is interpreted beyond its syntax.
 */
static int
ckpt_verify_header_crc(struct ckpt_load *l)
{
	const char	*p, *want;
	json_t		*v;
	size_t		 at;
	uint32_t	 got;

	if (l->meta == NULL ||
	    (v = json_object_get(l->meta, "psctl.header_crc32c")) == NULL)
		return 0;
	if (!json_is_string(v) ||
	    ckpt_parse_hex8(json_string_value(v), &l->hcrc) != 0)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.header_crc32c "
		    "is not 8 hex digits");
	l->has_hcrc = 1;
	want = json_string_value(v);
	p = memmem(l->hdr + 8, l->hlen, CKPT_HCRC_KEY,
	    sizeof CKPT_HCRC_KEY - 1);
	if (p == NULL)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.header_crc32c "
		    "is not written as psctl writes it (no whitespace)");
	at = (size_t)(p - l->hdr) + sizeof CKPT_HCRC_KEY - 1;
	if (at + 9 > 8 + l->hlen || memcmp(l->hdr + at, want, 8) != 0 ||
	    l->hdr[at + 8] != '"')
		return ckpt_fail(l, PS_CKPT_E_INVALID, "psctl.header_crc32c "
		    "is not written as psctl writes it");
	got = ckpt_header_crc(l->hdr, 8 + l->hlen, at);
	if (got != l->hcrc)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "header checksum "
		    "mismatch: the file says %08" PRIx32 ", the header has %08"
		    PRIx32, l->hcrc, got);
	return 0;
}

/*
 * Records that the tensor ranked rank (model tensors by store index, then
 * state tensors after them by header index: the order in which
 * ps_store_init() and the state loop used to find them) holds a value
 * that is not finite, unless a tensor ranked before it already does.
 */
static void
ckpt_nonfinite(struct ckpt_load *l, const struct ps_ckpt_entry *e,
    size_t rank, const float *x, size_t n, size_t first)
{
	char	q[96];
	size_t	j;

	if (rank >= l->bad_rank)
		return;
	free(l->bad);
	l->bad_rank = rank;
	if (e->slot != 0) {
		l->bad = xasprintf("tensor %s: a value is not finite",
		    ps_utf8_quote(e->name, q, sizeof q));
		return;
	}
	for (j = 0; j < n && isfinite(x[j]); j++)
		/* nothing */;
	/* As ps_store_init() words it. */
	l->bad = xasprintf("tensor \"%s\": element %zu is %s", e->name,
	    first + j, isnan(x[j]) ? "NaN" : e->dtype == PS_DTYPE_F64 ?
	    "infinite or beyond float32's range" : "infinite");
}

/*
 * Reads entry e (bytes of the data section) in CKPT_CHUNK steps into dst
 * (n float32, converted from e->dtype), or only for the checksum when dst
 * is NULL.  F32 goes straight from the file into dst; other dtypes through
 * l->bounce.  Each chunk is checksummed and checked finite right after it
 * is read, while it is in cache.
 */
static int
ckpt_read_entry(struct ckpt_load *l, const struct ps_ckpt_entry *e,
    size_t rank, float *dst, uint32_t *crc)
{
	unsigned char	*buf;
	size_t		 bytes, off, k, elsize, first, n;
	off_t		 at;

	bytes = (size_t)(e->end - e->begin);
	elsize = ps_dtype_size(e->dtype);
	at = (off_t)(8 + l->hlen + e->begin);
	for (off = 0; off < bytes; off += k) {
		k = bytes - off;
		if (k > CKPT_CHUNK)
			k = CKPT_CHUNK;
		if (dst != NULL && e->dtype == PS_DTYPE_F32)
			buf = (unsigned char *)dst + off;
		else {
			if (l->bounce == NULL)
				l->bounce = xmalloc(l->dlen < CKPT_CHUNK ?
				    (size_t)l->dlen : CKPT_CHUNK);
			buf = l->bounce;
		}
		if (ckpt_pread_all(l->fd, buf, k, at + (off_t)off) != 0)
			return ckpt_fail(l, PS_CKPT_E_IO, "read: %s",
			    errno == 0 ? "the file shrank" : strerror(errno));
		if (l->has_crc)
			*crc = ps_crc32c(*crc, buf, k);
		if (dst == NULL)
			continue;
		first = off / elsize;
		n = k / elsize;
		switch (e->dtype) {
		case PS_DTYPE_F32:
			break;
		case PS_DTYPE_F16:
			ps_f16_to_f32(buf, dst + first, n);
			break;
		case PS_DTYPE_BF16:
			ps_bf16_to_f32(buf, dst + first, n);
			break;
		case PS_DTYPE_F64:
			ps_f64_to_f32(buf, dst + first, n);
			break;
		default:
			fatalx("%s: dtype %d", __func__, (int)e->dtype);
		}
		if (rank < l->bad_rank && !ps_k_finite(dst + first, n))
			ckpt_nonfinite(l, e, rank, dst + first, n, first);
	}
	return 0;
}

/*
 * Reads the data section once, in file order, into s (NULL: only for the
 * checksum).  Refuses, in this order: a read error, a data checksum
 * mismatch, then the first tensor (by rank) holding a value that is not
 * finite.  Optimizer state goes only into the rule that wrote it.
 */
static int
ckpt_read_data(struct ckpt_load *l, struct ps_store *s,
    const struct ps_rule *rule, struct ps_ckpt_info *info)
{
	struct ps_ckpt_entry	*e;
	struct ps_tensor	*t;
	float			*dst;
	uint32_t		 crc = 0;
	size_t			 i, rank;
	int			 keep;

	l->bad_rank = SIZE_MAX;
	for (i = 0; i < l->nents; i++) {
		e = &l->ents[l->sorted[i]];
		dst = NULL;
		rank = e->index;
		if (s != NULL && e->slot == 0)
			dst = ps_store_tensor_mut(s, e->index)->data;
		else if (s != NULL) {
			rank = l->nmodel + l->sorted[i];
			keep = l->has_rule && l->rule.kind == rule->kind &&
			    (e->slot == 'm' ? ps_rule_has_m(rule->kind) :
			    ps_rule_has_v(rule->kind));
			if (keep) {
				t = ps_store_tensor_mut(s, e->index);
				dst = e->slot == 'm' ? t->m : t->v;
				if (dst == NULL)
					fatalx("%s: no state allocated",
					    __func__);
			}
		}
		if (dst == NULL && !l->has_crc)
			continue;
		if (ckpt_read_entry(l, e, rank, dst, &crc) != 0)
			return -1;
	}
	if (l->has_crc && crc != l->crc)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "data checksum "
		    "mismatch: the file says %08" PRIx32 ", the data has %08"
		    PRIx32, l->crc, crc);
	if (l->bad != NULL)
		return ckpt_fail(l, PS_CKPT_E_INVALID, "%s", l->bad);
	if (s == NULL)
		return 0;

	for (i = 0; i < l->nents; i++) {
		e = &l->ents[i];
		if (e->slot == 0)
			continue;
		keep = l->has_rule && l->rule.kind == rule->kind &&
		    (e->slot == 'm' ? ps_rule_has_m(rule->kind) :
		    ps_rule_has_v(rule->kind));
		if (!keep) {
			info->state_dropped++;
			continue;
		}
		if (e->dtype != PS_DTYPE_F32)
			info->converted = 1;
		e->restored = 1;
		info->state_restored++;
	}
	return 0;
}

/*
 * Creates the store from the layout and reads the data straight into it.
 * A refusal found before the data is read (the rule to serve with, the
 * store's own checks) is reported only once the data checksum has
 * verified, as when the data was checked first: a damaged file is said
 * to be damaged whatever else is wrong.
 */
static struct ps_store *
ckpt_build(struct ckpt_load *l, const struct ps_rule *want,
    struct ps_ckpt_info *info)
{
	struct ps_store		*s = NULL;
	struct ps_tensor	*t;
	struct ps_tview		*views;
	struct ps_ckpt_entry	*e;
	struct ps_rule		 rule;
	char			*why, *early = NULL;
	size_t			 i;
	int			 code;

	if (l->dlen > SIZE_MAX) {
		ckpt_fail(l, PS_CKPT_E_INVALID, "the file is too large to "
		    "load");
		return NULL;
	}
	if (want != NULL)
		rule = *want;
	else if (l->has_rule)
		rule = l->rule;
	else
		ps_rule_defaults(&rule, PS_RULE_ADD);

	views = xcalloc(l->nmodel, sizeof *views);
	for (i = 0; i < l->nmodel; i++) {
		e = &l->ents[l->model[i]];
		e->index = i;
		views[i].name = e->name;
		views[i].namelen = strlen(e->name);
		views[i].dtype = e->dtype;
		views[i].ndim = e->ndim;
		memcpy(views[i].dims, e->dims, sizeof e->dims);
		if (e->dtype != PS_DTYPE_F32)
			info->converted = 1;
	}
	/* State entries: from their owner's ents index to its store index. */
	for (i = 0; i < l->nents; i++) {
		e = &l->ents[i];
		if (e->slot != 0)
			e->index = l->ents[e->index].index;
	}
	if (ps_rule_check(&rule, &why) != 0) {
		early = xasprintf("rule to serve with: %s", why);
		free(why);
	} else {
		s = ps_store_new(&rule);
		if (ps_store_init_shapes(s, views, l->nmodel, &code,
		    &why) != 0) {
			early = why;
			ps_store_free(s);
			s = NULL;
		}
	}
	free(views);

	if (ckpt_read_data(l, s, &rule, info) != 0) {
		free(early);
		ps_store_free(s);
		return NULL;
	}
	if (early != NULL) {
		ckpt_fail(l, PS_CKPT_E_INVALID, "%s", early);
		free(early);
		return NULL;
	}
	ps_store_set_version(s, l->model_version);
	for (i = 0; i < l->nmodel; i++) {
		t = ps_store_tensor_mut(s, i);
		t->version = l->versions[i];
		t->steps = l->steps[i];
	}
	return s;
}

/* Hands the parsed layout to the caller. */
static struct ps_ckpt_detail *
ckpt_detail(struct ckpt_load *l)
{
	struct ps_ckpt_detail	*d;
	struct ps_ckpt_entry	*e;
	const char		*key;
	json_t			*v;
	size_t			 i;

	d = xcalloc(1, sizeof *d);
	d->file_size = l->size;
	d->header_len = l->hlen;
	d->data_len = l->dlen;
	d->crc = l->crc;
	d->has_header_crc = l->has_hcrc;
	d->header_crc = l->hcrc;
	d->order_listed = l->meta != NULL &&
	    json_object_get(l->meta, "psctl.tensors") != NULL;
	d->model = xcalloc(l->nmodel, sizeof *d->model);
	d->nmodel = l->nmodel;
	for (i = 0; i < l->nmodel; i++) {
		e = &l->ents[l->model[i]];
		d->model[i] = *e;
		e->name = NULL;		/* moved */
	}
	d->state = xcalloc(l->nents, sizeof *d->state);
	for (i = 0; i < l->nents; i++) {
		e = &l->ents[l->sorted[i]];
		if (e->slot == 0)
			continue;
		d->state[d->nstate++] = *e;
		e->name = NULL;
	}
	if (l->meta != NULL) {
		d->meta_keys = xcalloc(json_object_size(l->meta) + 1,
		    sizeof *d->meta_keys);
		d->meta_values = xcalloc(json_object_size(l->meta) + 1,
		    sizeof *d->meta_values);
		json_object_foreach(l->meta, key, v) {
			d->meta_keys[d->nmeta] = xstrdup(key);
			d->meta_values[d->nmeta] =
			    xstrdup(json_string_value(v));
			d->nmeta++;
		}
	}
	return d;
}

void
ps_ckpt_detail_free(struct ps_ckpt_detail *d)
{
	size_t	i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nmodel; i++)
		free(d->model[i].name);
	for (i = 0; i < d->nstate; i++)
		free(d->state[i].name);
	for (i = 0; i < d->nmeta; i++) {
		free(d->meta_keys[i]);
		free(d->meta_values[i]);
	}
	free(d->model);
	free(d->state);
	free(d->meta_keys);
	free(d->meta_values);
	free(d);
}

static void
ckpt_load_free(struct ckpt_load *l)
{
	size_t	i;

	free(l->bounce);
	free(l->bad);
	if (l->fd != -1 && !l->fd_borrowed)
		close(l->fd);
	for (i = 0; i < l->nents; i++)
		free(l->ents[i].name);
	free(l->ents);
	free(l->sorted);
	free(l->model);
	free(l->byname);
	free(l->versions);
	free(l->steps);
	json_decref(l->root);
	free(l->hdr);
}

/* A load from path, or from fd (borrowed) when path is NULL. */
static struct ps_store *
ckpt_load(const char *path, int fd, const struct ps_rule *rule,
    struct ps_ckpt_info *info, struct ps_ckpt_detail **detail, char **cause)
{
	struct ckpt_load	 l;
	struct ps_ckpt_info	 local;
	struct ps_store		*s = NULL;

	if (info == NULL)
		info = &local;
	memset(info, 0, sizeof *info);
	memset(&l, 0, sizeof l);
	l.fd = fd;
	l.fd_borrowed = path == NULL;
	*cause = NULL;
	if (detail != NULL)
		*detail = NULL;

	if (ckpt_read_header(&l, path) != 0 ||
	    ckpt_parse_tensors(&l) != 0 ||
	    ckpt_check_layout(&l) != 0 ||
	    ckpt_check_names(&l) != 0 ||
	    ckpt_parse_meta(&l, info) != 0 ||
	    (s = ckpt_build(&l, rule, info)) == NULL) {
		info->error = l.error;
		*cause = l.cause;
		ckpt_load_free(&l);
		return NULL;
	}
	ckpt_info_fill(&l, info);
	if (detail != NULL)
		*detail = ckpt_detail(&l);
	ckpt_load_free(&l);
	return s;
}

struct ps_store *
ps_ckpt_load_detail(const char *path, const struct ps_rule *rule,
    struct ps_ckpt_info *info, struct ps_ckpt_detail **detail, char **cause)
{
	return ckpt_load(path, -1, rule, info, detail, cause);
}

struct ps_store *
ps_ckpt_load_fd(int fd, const struct ps_rule *rule, struct ps_ckpt_info *info,
    char **cause)
{
	return ckpt_load(NULL, fd, rule, info, NULL, cause);
}

/* What a load or a peek found, for the caller. */
static void
ckpt_info_fill(const struct ckpt_load *l, struct ps_ckpt_info *info)
{
	info->model_version = l->model_version;
	info->has_model_l2 = l->has_model_l2;
	info->model_l2 = l->model_l2;
	info->has_crc = l->has_crc;
	info->has_rule = l->has_rule;
	if (l->has_rule)
		info->rule = l->rule;
}

int
ps_ckpt_peek(const char *path, struct ps_ckpt_info *info, uint64_t *size,
    char **cause)
{
	struct ckpt_load	 l;

	memset(info, 0, sizeof *info);
	memset(&l, 0, sizeof l);
	l.fd = -1;
	*cause = NULL;
	*size = 0;
	if (ckpt_read_header(&l, path) != 0 ||
	    ckpt_parse_tensors(&l) != 0 ||
	    ckpt_check_layout(&l) != 0 ||
	    ckpt_check_names(&l) != 0 ||
	    ckpt_parse_meta(&l, info) != 0) {
		info->error = l.error;
		*cause = l.cause;
		ckpt_load_free(&l);
		return -1;
	}
	ckpt_info_fill(&l, info);
	*size = l.size;
	ckpt_load_free(&l);
	return 0;
}

struct ps_store *
ps_ckpt_load(const char *path, const struct ps_rule *rule,
    struct ps_ckpt_info *info, char **cause)
{
	return ps_ckpt_load_detail(path, rule, info, NULL, cause);
}
