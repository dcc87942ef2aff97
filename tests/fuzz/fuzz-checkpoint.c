/*
 * libFuzzer harness for the checkpoint loader (src/checkpoint-load.c) and
 * saver (src/checkpoint-save.c).
 *
 * The input is a checkpoint file.  Property: a file ps_ckpt_load_detail()
 * accepts saves (ps_ckpt_save()) to a file that loads again into an equal
 * store (names, shapes, values bit for bit, optimizer state, versions,
 * steps, rule), and saving that second store writes the same bytes as the
 * first save.  A refusal always says why.
 *
 * The checksums would stop almost every mutation at the first check, so
 * inputs of even length have psctl.crc32c and psctl.header_crc32c
 * rewritten to match before they are loaded (where they are written as
 * psctl writes them); odd lengths are loaded as they are.
 *
 * Files go to a directory of the harness's own under /dev/shm (or
 * $TMPDIR, or /tmp), removed at exit.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "fuzz.h"
#include "store.h"

#define CRC_KEY		"\"psctl.crc32c\":\""
#define HCRC_KEY	"\"psctl.header_crc32c\":\""

static char	dir[256];
static char	in_path[300], a_path[300], b_path[300];

static void
cleanup(void)
{
	unlink(in_path);
	unlink(a_path);
	unlink(b_path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*base = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	if (access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	else if (base == NULL || *base == '\0')
		base = "/tmp";
	snprintf(dir, sizeof dir, "%s/psctl-fuzz-ckpt.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		exit(1);
	}
	snprintf(in_path, sizeof in_path, "%s/in.safetensors", dir);
	snprintf(a_path, sizeof a_path, "%s/a.safetensors", dir);
	snprintf(b_path, sizeof b_path, "%s/b.safetensors", dir);
	atexit(cleanup);
	return 0;
}

static void
hex8(unsigned char *p, uint32_t v)
{
	static const char	hex[] = "0123456789abcdef";
	int			i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)hex[v & 0xf];
		v >>= 4;
	}
}

/* The first "key":"XXXXXXXX" in the n header bytes at h: the X's, or NULL. */
static unsigned char *
find_digits(unsigned char *h, size_t n, const char *key)
{
	unsigned char	*p;
	size_t		 k = strlen(key);

	p = memmem(h, n, key, k);
	if (p == NULL || (size_t)(p - h) + k + 9 > n || p[k + 8] != '"')
		return NULL;
	return p + k;
}

/* Rewrites both checksums of the file in b (len bytes) to match. */
static void
fix_checksums(unsigned char *b, size_t len)
{
	unsigned char	*d, *hd;
	uint64_t	 n = 0;
	uint32_t	 crc;
	int		 i;

	if (len < 8)
		return;
	for (i = 7; i >= 0; i--)
		n = n << 8 | b[i];
	if (n > len - 8)
		return;
	if ((d = find_digits(b + 8, (size_t)n, CRC_KEY)) != NULL)
		hex8(d, ps_crc32c(0, b + 8 + n, len - 8 - (size_t)n));
	if ((hd = find_digits(b + 8, (size_t)n, HCRC_KEY)) != NULL) {
		crc = ps_crc32c(0, b, (size_t)(hd - b));
		crc = ps_crc32c(crc, "00000000", 8);
		crc = ps_crc32c(crc, hd + 8, 8 + (size_t)n - (size_t)(hd - b) - 8);
		hex8(hd, crc);
	}
}

static void
write_file(const char *path, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 w;
	int		 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fuzz_check(fd != -1, "the input file can be created");
	while (len > 0) {
		w = write(fd, p, len);
		fuzz_check(w > 0, "the input file can be written");
		p += w;
		len -= (size_t)w;
	}
	close(fd);
}

/* The whole file at path (caller frees), its size in *len. */
static unsigned char *
read_file(const char *path, size_t *len)
{
	unsigned char	*b;
	FILE		*f;
	long		 n;

	f = fopen(path, "rb");
	fuzz_check(f != NULL, "a saved checkpoint can be opened");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = malloc(n > 0 ? (size_t)n : 1);
	fuzz_check(b != NULL, "memory for a saved checkpoint");
	fuzz_check(fread(b, 1, (size_t)n, f) == (size_t)n,
	    "a saved checkpoint can be read");
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Same floats, bit for bit (both NULL, or n equal values). */
static int
same_floats(const float *a, const float *b, size_t n)
{
	if (a == NULL || b == NULL)
		return a == b;
	return n == 0 || memcmp(a, b, n * sizeof *a) == 0;
}

static void
check_equal(const struct ps_store *x, const struct ps_store *y)
{
	const struct ps_tensor	*s, *t;
	const struct ps_rule	*r = ps_store_rule(x), *q = ps_store_rule(y);
	size_t			 i;

	fuzz_check(ps_store_count(x) == ps_store_count(y),
	    "the reloaded store has as many tensors");
	fuzz_check(ps_store_version(x) == ps_store_version(y),
	    "the reloaded store has the model version");
	fuzz_check(r->kind == q->kind && r->lr == q->lr &&
	    r->momentum == q->momentum && r->nesterov == q->nesterov &&
	    r->beta1 == q->beta1 && r->beta2 == q->beta2 && r->eps == q->eps,
	    "the reloaded store has the rule and its parameters");
	for (i = 0; i < ps_store_count(x); i++) {
		s = ps_store_tensor(x, i);
		t = ps_store_tensor(y, i);
		fuzz_check(strcmp(s->name, t->name) == 0,
		    "a reloaded tensor has its name and place");
		fuzz_check(s->ndim == t->ndim && memcmp(s->dims, t->dims,
		    sizeof s->dims) == 0 && s->n == t->n,
		    "a reloaded tensor has its shape");
		fuzz_check(same_floats(s->data, t->data, s->n),
		    "a reloaded tensor has its values");
		fuzz_check(same_floats(s->m, t->m, s->n) &&
		    same_floats(s->v, t->v, s->n),
		    "a reloaded tensor has its optimizer state");
		fuzz_check(s->version == t->version && s->steps == t->steps,
		    "a reloaded tensor has its version and steps");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct ps_ckpt_info	 info, info2;
	struct ps_ckpt_detail	*detail;
	struct ps_ckpt_extra	 extra;
	struct ps_store		*s1, *s2, *s3;
	struct ps_rule		 other;
	unsigned char		*b, *fa, *fb;
	size_t			 la, lb;
	char			*cause;

	b = malloc(len > 0 ? len : 1);
	fuzz_check(b != NULL, "memory for the input");
	if (len > 0)
		memcpy(b, data, len);
	if (len % 2 == 0)
		fix_checksums(b, len);
	write_file(in_path, b, len);
	free(b);

	s1 = ps_ckpt_load_detail(in_path, NULL, &info, &detail, &cause);
	if (s1 == NULL) {
		fuzz_check(cause != NULL && *cause != '\0',
		    "a refused file comes with a cause");
		fuzz_check(info.error != PS_CKPT_E_NONE,
		    "a refused file comes with an error kind");
		fuzz_check(detail == NULL, "a refused file has no detail");
		free(cause);
		return 0;
	}
	fuzz_check(cause == NULL, "an accepted file has no cause");
	fuzz_check(detail != NULL && detail->nmodel == ps_store_count(s1),
	    "the detail lists every model tensor");
	ps_ckpt_detail_free(detail);

	/* Load, save, load again: equal. */
	memset(&extra, 0, sizeof extra);
	extra.mode = info.mode[0] != '\0' ? info.mode : NULL;
	fuzz_check(ps_ckpt_save(s1, a_path, &extra, &cause) == 0,
	    "an accepted store saves");
	s2 = ps_ckpt_load(a_path, NULL, &info2, &cause);
	if (s2 == NULL)
		fprintf(stderr, "reload: %s\n", cause);
	fuzz_check(s2 != NULL, "a saved checkpoint loads again");
	fuzz_check(info2.has_crc && info2.has_rule,
	    "a saved checkpoint has its checksums and rule");
	fuzz_check(info2.model_version == info.model_version &&
	    strcmp(info2.mode, info.mode) == 0,
	    "a saved checkpoint keeps the model version and mode");
	check_equal(s1, s2);

	/* And its second save is byte for byte the first. */
	fuzz_check(ps_ckpt_save(s2, b_path, &extra, &cause) == 0,
	    "a reloaded store saves");
	fa = read_file(a_path, &la);
	fb = read_file(b_path, &lb);
	fuzz_check(la == lb && memcmp(fa, fb, la) == 0,
	    "saving a reloaded store writes the same file");
	free(fa);
	free(fb);

	/* Served with another rule, the state is dropped or restored. */
	ps_rule_defaults(&other, ps_store_rule(s1)->kind == PS_RULE_ADAM ?
	    PS_RULE_MOMENTUM : PS_RULE_ADAM);
	s3 = ps_ckpt_load(a_path, &other, &info2, &cause);
	if (s3 == NULL)
		fprintf(stderr, "reload with another rule: %s\n", cause);
	fuzz_check(s3 != NULL, "a saved checkpoint loads under another rule");
	fuzz_check(ps_store_rule(s3)->kind == other.kind,
	    "the rule asked for is the rule served");

	ps_store_free(s3);
	ps_store_free(s2);
	ps_store_free(s1);
	return 0;
}
