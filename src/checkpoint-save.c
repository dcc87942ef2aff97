/*
 * Saving a checkpoint (checkpoint.h), the redis way (rdb.c's
 * rdbSaveInternal() and rdbSave()): ckpt_write_temp() writes the whole
 * file under a temporary name and names the step that failed;
 * ps_ckpt_save() renames it over the target and syncs the directory.
 *
 * The temporary file gets the header with both checksums as "00000000",
 * then the data straight from the store's buffers in CKPT_CHUNK writes,
 * computing the data CRC on each chunk just before it is written (while
 * it is in cache); then the two checksums are patched into the header
 * text (8 hex digits each, so its length cannot change) and the header is
 * rewritten in place.
 *
 * No global state: any thread, on a store no other thread writes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint-int.h"
#include "checkpoint.h"
#include "log.h"
#include "xmalloc.h"

/* One buffer of the data section, in file order. */
struct ckpt_part {
	const void	*data;
	size_t		 bytes;
};

static int	ckpt_pwrite_all(int, const void *, size_t, off_t);
static void	ckpt_add_entry(json_t *, const char *,
		    const struct ps_tensor *, const float *, struct ckpt_part *,
		    size_t *, uint64_t *);
static char	*ckpt_header(const struct ps_store *, const float *const *,
		    const struct ps_ckpt_extra *, struct ckpt_part **,
		    size_t *);
static void	ckpt_hex8(char *, uint32_t);
static char	*ckpt_number(double);
static int	ckpt_split(const char *, char **, const char **);
static int	ckpt_create_temp(const char *, const char *, char **);
static int	ckpt_write_file(int, const struct ps_store *,
		    const float *const *, const struct ps_ckpt_extra *, int);
static int	ckpt_write_temp(const struct ps_store *, const float *const *,
		    const struct ps_ckpt_extra *, const char *, const char *,
		    char **, char **);
static int	ckpt_sync_dir(const char *, char **);

/* Writes len bytes at off, or at the file's position when off is -1. */
static int
ckpt_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char	*p = buf;
	size_t		 k;
	ssize_t		 r;

	while (len > 0) {
		k = len > CKPT_CHUNK ? CKPT_CHUNK : len;
		r = off == -1 ? write(fd, p, k) : pwrite(fd, p, k, off);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		p += r;
		if (off != -1)
			off += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Adds one F32 entry to the header and its buffer to the parts. */
static void
ckpt_add_entry(json_t *root, const char *name, const struct ps_tensor *t,
    const float *buf, struct ckpt_part *parts, size_t *np, uint64_t *off)
{
	json_t		*e, *shape;
	size_t		 bytes = t->n * sizeof (float);
	unsigned	 d;

	shape = json_array();
	for (d = 0; d < t->ndim; d++)
		json_array_append_new(shape, json_integer(
		    (json_int_t)t->dims[d]));
	e = json_object();
	json_object_set_new(e, "dtype", json_string("F32"));
	json_object_set_new(e, "shape", shape);
	json_object_set_new(e, "data_offsets", json_pack("[II]",
	    (json_int_t)*off, (json_int_t)(*off + bytes)));
	json_object_set_new(root, name, e);
	parts[*np].data = buf;
	parts[*np].bytes = bytes;
	(*np)++;
	*off += bytes;
}

/*
 * x as JSON writes a number (caller frees): 17 significant digits, so
 * that it reads back exactly, whatever the locale.
 */
static char *
ckpt_number(double x)
{
	json_t	*j;
	char	*s;

	if ((j = json_real(x)) == NULL)
		fatalx("%s: %g is not finite", __func__, x);
	s = json_dumps(j, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
	json_decref(j);
	if (s == NULL)
		fatalx("%s: json_dumps failed", __func__);
	return s;
}

/*
 * The header text (JSON, not padded) with both checksums "00000000", and
 * the parts of the data section in the same order as its entries: the
 * model's tensors in order (their values data[i], or the store's own when
 * data is NULL), then for each of them its m and its v.
 */
static char *
ckpt_header(const struct ps_store *s, const float *const *data,
    const struct ps_ckpt_extra *extra, struct ckpt_part **partsp,
    size_t *nparts)
{
	const struct ps_tensor	*t;
	const struct ps_rule	*rule = ps_store_rule(s);
	struct ckpt_part	*parts;
	json_t			*root, *meta, *list, *e;
	char			*text, *name, num[32];
	size_t			 count, i, np = 0;
	uint64_t		 off = 0;

	count = ps_store_count(s);
	parts = xcalloc(3 * count, sizeof *parts);
	root = json_object();
	meta = json_object();
	list = json_array();
	json_object_set_new(root, "__metadata__", meta);
	for (i = 0; i < count; i++) {
		t = ps_store_tensor(s, i);
		ckpt_add_entry(root, t->name, t, data != NULL ? data[i] :
		    t->data, parts, &np, &off);
		e = json_object();
		json_object_set_new(e, "name", json_string(t->name));
		json_object_set_new(e, "version",
		    json_integer((json_int_t)t->version));
		json_object_set_new(e, "steps",
		    json_integer((json_int_t)t->steps));
		json_array_append_new(list, e);
	}
	for (i = 0; i < count; i++) {
		t = ps_store_tensor(s, i);
		if (t->m != NULL) {
			name = xasprintf("%sm.%s", PS_STATE_PREFIX, t->name);
			ckpt_add_entry(root, name, t, t->m, parts, &np, &off);
			free(name);
		}
		if (t->v != NULL) {
			name = xasprintf("%sv.%s", PS_STATE_PREFIX, t->name);
			ckpt_add_entry(root, name, t, t->v, parts, &np, &off);
			free(name);
		}
	}

	json_object_set_new(meta, "format", json_string("pt"));
	json_object_set_new(meta, "psctl.version",
	    json_string(PSCTL_VERSION));
	snprintf(num, sizeof num, "%" PRIu64, ps_store_version(s));
	json_object_set_new(meta, "psctl.model_version", json_string(num));
	text = ckpt_number(ps_store_model_l2_const(s, data));
	json_object_set_new(meta, "psctl.model_l2", json_string(text));
	free(text);
	json_object_set_new(meta, "psctl.rule",
	    json_string(ps_rule_name(rule->kind)));
	text = ps_rule_params_text(rule);
	json_object_set_new(meta, "psctl.rule_params", json_string(text));
	free(text);
	if (extra != NULL && extra->mode != NULL)
		json_object_set_new(meta, "psctl.mode",
		    json_string(extra->mode));
	text = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(list);
	if (text == NULL)
		fatalx("%s: json_dumps failed", __func__);
	json_object_set_new(meta, "psctl.tensors", json_string(text));
	free(text);
	json_object_set_new(meta, "psctl.crc32c", json_string(CKPT_ZEROS));
	json_object_set_new(meta, "psctl.header_crc32c",
	    json_string(CKPT_ZEROS));

	text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL)
		fatalx("%s: json_dumps failed", __func__);
	*partsp = parts;
	*nparts = np;
	return text;
}

static void
ckpt_hex8(char *p, uint32_t v)
{
	static const char	hex[] = "0123456789abcdef";
	int			i;

	for (i = 7; i >= 0; i--) {
		p[i] = hex[v & 0xf];
		v >>= 4;
	}
}

/* Splits path into its directory (allocated) and last component. */
static int
ckpt_split(const char *path, char **dir, const char **base)
{
	const char	*slash;

	slash = strrchr(path, '/');
	if (slash == NULL) {
		*dir = xstrdup(".");
		*base = path;
	} else {
		*dir = slash == path ? xstrdup("/") :
		    xstrndup(path, (size_t)(slash - path));
		*base = slash + 1;
	}
	if (**base == '\0' || strcmp(*base, ".") == 0 ||
	    strcmp(*base, "..") == 0) {
		free(*dir);
		*dir = NULL;
		return -1;
	}
	return 0;
}

/*
 * Creates a new file ".BASE.tmp.PID" (or ".BASE.tmp.PID.N" when that
 * exists) in dir, which ckptdir.c's sweep recognises.  Returns its
 * descriptor and *tmpp (allocated, caller frees) naming it, or -1 with
 * errno and *tmpp naming the last name tried.
 */
static int
ckpt_create_temp(const char *dir, const char *base, char **tmpp)
{
	unsigned	attempt;
	int		fd = -1;

	*tmpp = NULL;
	for (attempt = 0; attempt < 100; attempt++) {
		free(*tmpp);
		if (attempt == 0)
			*tmpp = xasprintf("%s/.%s.tmp.%ld", dir, base,
			    (long)getpid());
		else
			*tmpp = xasprintf("%s/.%s.tmp.%ld.%u", dir, base,
			    (long)getpid(), attempt);
		fd = open(*tmpp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0666);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	return fd;
}

/* Writes the data checksum crc and the header's own into hdr. */
static void
ckpt_seal(char *hdr, size_t tlen, size_t hlen, uint32_t crc)
{
	char	*p;
	size_t	 at;

	p = memmem(hdr + 8, tlen, CKPT_CRC_KEY CKPT_ZEROS,
	    sizeof CKPT_CRC_KEY CKPT_ZEROS - 1);
	if (p == NULL)
		fatalx("%s: no data checksum in the header", __func__);
	ckpt_hex8(p + sizeof CKPT_CRC_KEY - 1, crc);
	p = memmem(hdr + 8, tlen, CKPT_HCRC_KEY CKPT_ZEROS,
	    sizeof CKPT_HCRC_KEY CKPT_ZEROS - 1);
	if (p == NULL)
		fatalx("%s: no header checksum in the header", __func__);
	at = (size_t)(p - hdr) + sizeof CKPT_HCRC_KEY - 1;
	ckpt_hex8(hdr + at, ckpt_header_crc(hdr, 8 + hlen, at));
}

/*
 * Writes the header, the data and the header again with its checksums
 * into fd (at its start, with pwrite(2)).  With stream set, fd cannot seek
 * (a pipe, a device): the data is read once more first for its checksum,
 * then all is written once, in order.  Returns 0, or -1 with errno.
 */
static int
ckpt_write_file(int fd, const struct ps_store *s, const float *const *data,
    const struct ps_ckpt_extra *extra, int stream)
{
	struct ckpt_part	*parts;
	const unsigned char	*q;
	char			*text, *hdr;
	size_t			 nparts, tlen, hlen, i, off, k;
	uint32_t		 crc = 0;
	uint64_t		 n;
	off_t			 pos;
	int			 rc = -1, saved;

	text = ckpt_header(s, data, extra, &parts, &nparts);
	tlen = strlen(text);
	hlen = (tlen + 7) & ~(size_t)7;
	hdr = xmalloc(8 + hlen);
	n = hlen;
	for (i = 0; i < 8; i++)
		hdr[i] = (char)(unsigned char)(n >> (8 * i));
	memcpy(hdr + 8, text, tlen);
	memset(hdr + 8 + tlen, ' ', hlen - tlen);

	if (stream) {
		for (i = 0; i < nparts; i++)
			crc = ps_crc32c(crc, parts[i].data, parts[i].bytes);
		ckpt_seal(hdr, tlen, hlen, crc);
	}
	pos = stream ? -1 : (off_t)(8 + hlen);
	if (ckpt_pwrite_all(fd, hdr, 8 + hlen, stream ? -1 : 0) != 0)
		goto out;
	for (i = 0; i < nparts; i++) {
		q = parts[i].data;
		for (off = 0; off < parts[i].bytes; off += k) {
			k = parts[i].bytes - off;
			if (k > CKPT_CHUNK)
				k = CKPT_CHUNK;
			if (!stream)
				crc = ps_crc32c(crc, q + off, k);
			if (ckpt_pwrite_all(fd, q + off, k, pos) != 0)
				goto out;
			if (!stream)
				pos += (off_t)k;
		}
	}
	if (stream) {
		rc = 0;
		goto out;
	}
	ckpt_seal(hdr, tlen, hlen, crc);
	rc = ckpt_pwrite_all(fd, hdr, 8 + hlen, 0);
out:
	saved = errno;
	free(hdr);
	free(text);
	free(parts);
	errno = saved;
	return rc;
}

/*
 * Writes the whole checkpoint into a new temporary file in dir, synced
 * and closed.  Returns 0 with *tmpp (allocated, caller frees) naming it,
 * or -1 with *cause naming the step that failed ("create", "write",
 * "fsync", "close") and the file, which is then gone.
 */
static int
ckpt_write_temp(const struct ps_store *s, const float *const *data,
    const struct ps_ckpt_extra *extra, const char *dir, const char *base,
    char **tmpp, char **cause)
{
	const char	*step;
	char		*tmp;
	int		 fd, saved;

	if ((fd = ckpt_create_temp(dir, base, &tmp)) == -1) {
		*cause = xasprintf("create %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	step = "write";
	if (ckpt_write_file(fd, s, data, extra, 0) != 0)
		goto fail;
	step = "fsync";
	if (fsync(fd) != 0)
		goto fail;
	step = "close";
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	*tmpp = tmp;
	return 0;

fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	*cause = xasprintf("%s %s: %s", step, tmp, strerror(saved));
	free(tmp);
	return -1;
}

/* fsync(2)s the directory, so that a rename in it survives a crash. */
static int
ckpt_sync_dir(const char *dir, char **cause)
{
	int	dfd, saved;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		*cause = xasprintf("open directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (fsync(dfd) != 0) {
		saved = errno;
		close(dfd);
		*cause = xasprintf("fsync directory %s: %s", dir,
		    strerror(saved));
		return -1;
	}
	close(dfd);
	return 0;
}

/*
 * Writes the checkpoint straight into path, which exists and is not a
 * regular file (/dev/null, /dev/stdout, a FIFO): a rename would replace
 * the device or pipe with a file, and there is no old file to keep.
 */
static int
ckpt_write_special(const struct ps_store *s, const float *const *data,
    const struct ps_ckpt_extra *extra, const char *path, char **cause)
{
	int	fd, saved;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		*cause = xasprintf("open %s: %s", path, strerror(errno));
		return -1;
	}
	if (ckpt_write_file(fd, s, data, extra, 1) != 0) {
		saved = errno;
		close(fd);
		*cause = xasprintf("write %s: %s", path, strerror(saved));
		return -1;
	}
	if (close(fd) != 0) {
		*cause = xasprintf("close %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
ps_ckpt_save(const struct ps_store *s, const char *path,
    const struct ps_ckpt_extra *extra, char **cause)
{
	return ps_ckpt_save_values(s, NULL, path, extra, cause);
}

int
ps_ckpt_save_values(const struct ps_store *s, const float *const *data,
    const char *path, const struct ps_ckpt_extra *extra, char **cause)
{
	struct stat	 st;
	const char	*base;
	char		*dir, *tmp;
	int		 rc = -1;

	if (ps_store_count(s) == 0) {
		*cause = xasprintf("there is no model to save");
		return -1;
	}
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode)) {
			*cause = xasprintf("%s: is a directory", path);
			return -1;
		}
		return ckpt_write_special(s, data, extra, path, cause);
	}
	if (ckpt_split(path, &dir, &base) != 0) {
		*cause = xasprintf("%s: not a file name", path);
		return -1;
	}
	if (ckpt_write_temp(s, data, extra, dir, base, &tmp, cause) != 0)
		goto out;
	if (rename(tmp, path) != 0) {
		*cause = xasprintf("rename %s to %s: %s", tmp, path,
		    strerror(errno));
		unlink(tmp);
		free(tmp);
		goto out;
	}
	free(tmp);
	/* The new file is in place; only its durability is left. */
	rc = ckpt_sync_dir(dir, cause);
out:
	free(dir);
	return rc;
}

int
ps_ckpt_save_fd(const struct ps_store *s, const float *const *data, int fd,
    const struct ps_ckpt_extra *extra, char **cause)
{
	if (ps_store_count(s) == 0) {
		*cause = xasprintf("there is no model to save");
		return -1;
	}
	if (ckpt_write_file(fd, s, data, extra, 0) != 0) {
		*cause = xasprintf("write: %s", strerror(errno));
		return -1;
	}
	return 0;
}
