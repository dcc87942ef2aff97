/*
 * Checkpoints and CRC-32C: round trips under every rule, files written by
 * numpy (tests/mksafetensors.py), psctl's files read back by that
 * independent reader, and refusals: truncation at every offset, every
 * single-bit flip, bad JSON, overlaps, gaps, foreign dtypes, failed saves.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "store.h"
#include "tap.h"

static char	*tmp;

/* xorshift64*: reproducible test data. */
static uint64_t	rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static float
rng_float(void)
{
	return (float)((double)(rng() >> 11) / 9007199254740992.0 * 2 - 1);
}

static char *
path_in(const char *name)
{
	static char	buf[4][4096];
	static int	i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", tmp, name);
	return buf[i];
}

static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE		*fp;
	unsigned char	*buf;
	long		 n;

	if ((fp = fopen(path, "rb")) == NULL)
		bail_out("open %s: %s", path, strerror(errno));
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, fp) != (size_t)n)
		bail_out("read %s", path);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void
write_file(const char *path, const void *buf, size_t len)
{
	FILE	*fp;

	/*
	 * Unlink first: ext4 flushes a file truncated and rewritten in
	 * place on close (auto_da_alloc), which costs milliseconds a time.
	 */
	unlink(path);
	if ((fp = fopen(path, "wb")) == NULL)
		bail_out("open %s: %s", path, strerror(errno));
	if (len > 0 && fwrite(buf, 1, len, fp) != len)
		bail_out("write %s", path);
	if (fclose(fp) != 0)
		bail_out("close %s", path);
}

/* A safetensors file from header text (padded here) and raw data. */
static void
write_st(const char *path, const char *json, const void *data, size_t dlen)
{
	size_t		 n = strlen(json), padded = (n + 7) & ~(size_t)7, i;
	unsigned char	*buf;

	buf = calloc(1, 8 + padded + dlen + 1);
	for (i = 0; i < 8; i++)
		buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
	memcpy(buf + 8, json, n);
	memset(buf + 8 + n, ' ', padded - n);
	if (dlen > 0)
		memcpy(buf + 8 + padded, data, dlen);
	write_file(path, buf, 8 + padded + dlen);
	free(buf);
}

/* Loads path expecting a refusal; returns the cause (static) or NULL. */
static const char *
refusal(const char *path)
{
	static char		 buf[1024];
	struct ps_store		*s;
	struct ps_ckpt_info	 info;
	char			*cause;

	s = ps_ckpt_load(path, NULL, &info, &cause);
	if (s != NULL) {
		ps_store_free(s);
		return NULL;
	}
	snprintf(buf, sizeof buf, "%s", cause);
	free(cause);
	return buf;
}

static int
contains(const char *s, const char *sub)
{
	return s != NULL && strstr(s, sub) != NULL;
}

/* Removes dir and what it holds (files, and directories of files). */
static void
remove_tree(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		 full[4096];

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
		if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(full);
		else
			unlink(full);
	}
	closedir(d);
	rmdir(dir);
}

/* Files in tmp whose name holds ".tmp.". */
static int
count_temps(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		bail_out("opendir %s", dir);
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".tmp.") != NULL)
			n++;
	}
	closedir(d);
	return n;
}

/*
 * A model of four tensors (one scalar, one empty) in an order that is not
 * alphabetical, then three updates touching different subsets so that
 * versions and steps differ per tensor.
 */
static struct ps_store *
make_store(const struct ps_rule *rule)
{
	static const char *const names[] = { "z.weight", "a.bias", "m", "e" };
	static const unsigned	 ndims[] = { 2, 1, 0, 2 };
	static const uint64_t	 dims[][2] = { { 4, 5 }, { 5, 0 }, { 0, 0 },
				     { 2, 0 } };
	struct ps_tview		 v[4];
	float			*buf[4];
	struct ps_store		*s;
	size_t			 i, j, n;
	int			 code, round;
	char			*cause;
	static const int	 touch[3][4] = { { 1, 1, 1, 1 }, { 0, 1, 0, 0 },
				     { 1, 0, 1, 0 } };

	s = ps_store_new(rule);
	for (i = 0; i < 4; i++) {
		memset(&v[i], 0, sizeof v[i]);
		v[i].name = names[i];
		v[i].namelen = strlen(names[i]);
		v[i].dtype = PS_DTYPE_F32;
		v[i].ndim = ndims[i];
		memcpy(v[i].dims, dims[i], sizeof dims[i]);
		ps_shape_count(v[i].ndim, v[i].dims, 4, &n);
		buf[i] = malloc((n + 1) * sizeof (float));
		for (j = 0; j < n; j++)
			buf[i][j] = rng_float();
		v[i].data = buf[i];
		v[i].nbytes = n * sizeof (float);
	}
	if (ps_store_init(s, v, 4, &code, &cause) != 0)
		bail_out("ps_store_init: %s", cause);
	for (round = 0; round < 3; round++) {
		struct ps_tview	u[4];
		size_t		nu = 0;

		for (i = 0; i < 4; i++) {
			if (!touch[round][i])
				continue;
			u[nu] = v[i];
			for (j = 0; j < v[i].nbytes / 4; j++)
				buf[i][j] = rng_float() / 10;
			nu++;
		}
		if (ps_store_apply(s, u, nu, &code, &cause) != 0)
			bail_out("ps_store_apply: %s", cause);
	}
	for (i = 0; i < 4; i++)
		free(buf[i]);
	return s;
}

/* The parameters the rule uses are equal (the file keeps only those). */
static int
same_rule(const struct ps_rule *a, const struct ps_rule *b)
{
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case PS_RULE_SGD:
		return a->lr == b->lr;
	case PS_RULE_MOMENTUM:
		return a->lr == b->lr && a->momentum == b->momentum &&
		    a->nesterov == b->nesterov;
	case PS_RULE_ADAM:
		return a->lr == b->lr && a->beta1 == b->beta1 &&
		    a->beta2 == b->beta2 && a->eps == b->eps;
	default:
		return 1;
	}
}

/* Compares two stores; fills why with the first difference. */
static int
same_store(const struct ps_store *a, const struct ps_store *b, int state,
    char *why, size_t len)
{
	const struct ps_tensor	*x, *y;
	size_t			 i;

	if (ps_store_count(a) != ps_store_count(b)) {
		snprintf(why, len, "counts %zu and %zu", ps_store_count(a),
		    ps_store_count(b));
		return 0;
	}
	if (ps_store_version(a) != ps_store_version(b)) {
		snprintf(why, len, "model versions differ");
		return 0;
	}
	for (i = 0; i < ps_store_count(a); i++) {
		x = ps_store_tensor(a, i);
		y = ps_store_tensor(b, i);
		if (strcmp(x->name, y->name) != 0) {
			snprintf(why, len, "tensor %zu: %s, %s", i, x->name,
			    y->name);
			return 0;
		}
		if (x->ndim != y->ndim || memcmp(x->dims, y->dims,
		    x->ndim * sizeof *x->dims) != 0 || x->n != y->n) {
			snprintf(why, len, "%s: shapes differ", x->name);
			return 0;
		}
		if (x->n > 0 && memcmp(x->data, y->data, x->n * 4) != 0) {
			snprintf(why, len, "%s: data differs", x->name);
			return 0;
		}
		if (x->version != y->version || x->steps != y->steps) {
			snprintf(why, len, "%s: version %llu/%llu steps "
			    "%llu/%llu", x->name,
			    (unsigned long long)x->version,
			    (unsigned long long)y->version,
			    (unsigned long long)x->steps,
			    (unsigned long long)y->steps);
			return 0;
		}
		if (!state)
			continue;
		if ((x->m == NULL) != (y->m == NULL) ||
		    (x->v == NULL) != (y->v == NULL)) {
			snprintf(why, len, "%s: state kept differently",
			    x->name);
			return 0;
		}
		if (x->n > 0 && ((x->m != NULL && memcmp(x->m, y->m,
		    x->n * 4) != 0) || (x->v != NULL && memcmp(x->v, y->v,
		    x->n * 4) != 0))) {
			snprintf(why, len, "%s: state differs", x->name);
			return 0;
		}
	}
	return 1;
}

static void
test_crc32c(void)
{
	unsigned char	buf[70000], v[32];
	uint32_t	whole;
	size_t		i, off, len;
	int		bad = 0;

	is_int(ps_crc32c(0, "123456789", 9), 0xe3069283,
	    "crc32c(\"123456789\") is 0xe3069283");
	is_int(ps_crc32c_sw(0, "123456789", 9), 0xe3069283,
	    "the table-driven crc32c agrees on \"123456789\"");
	/* RFC 3720, appendix B.4. */
	memset(v, 0, sizeof v);
	is_int(ps_crc32c(0, v, 32), 0x8a9136aa,
	    "crc32c of 32 zero bytes is RFC 3720's 0x8a9136aa");
	memset(v, 0xff, sizeof v);
	is_int(ps_crc32c(0, v, 32), 0x62a8ab43,
	    "crc32c of 32 0xff bytes is RFC 3720's 0x62a8ab43");
	for (i = 0; i < 32; i++)
		v[i] = (unsigned char)i;
	is_int(ps_crc32c(0, v, 32), 0x46dd794e,
	    "crc32c of bytes 0..31 is RFC 3720's 0x46dd794e");
	is_int(ps_crc32c(0, "", 0), 0, "crc32c of nothing is 0");

	for (i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)rng();
	whole = ps_crc32c(0, buf, sizeof buf);
	is_int(ps_crc32c(ps_crc32c(0, buf, 12345), buf + 12345,
	    sizeof buf - 12345), whole,
	    "crc32c extends: crc(a then b) is crc(ab)");
	for (i = 0; i < 3000; i++) {
		off = rng() % 64;
		len = i < 2000 ? rng() % 1024 : rng() % (sizeof buf - 64);
		if (ps_crc32c(i, buf + off, len) !=
		    ps_crc32c_sw(i, buf + off, len))
			bad++;
	}
	diag("crc32c uses %s", ps_crc32c_hw() ? "SSE4.2" : "tables");
	is_int(bad, 0, "crc32c equals the table-driven version on 3000 random "
	    "buffers (offsets 0..63, lengths up to 70 KB)");
}

static void
test_round_trips(void)
{
	static const enum ps_rule_kind kinds[] = { PS_RULE_ADD,
	    PS_RULE_ELEPHAS, PS_RULE_SGD, PS_RULE_MOMENTUM, PS_RULE_ADAM };
	struct ps_store		*s, *back;
	struct ps_rule		 rule;
	struct ps_ckpt_info	 info;
	struct ps_ckpt_extra	 extra = { .mode = "ssp" };
	char			*cause, why[256];
	size_t			 k;
	int			 rc;

	for (k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		ps_rule_defaults(&rule, kinds[k]);
		rule.lr = 0.1;		/* not exact in binary: must survive */
		rule.momentum = 0.75;
		rule.nesterov = 1;
		rule.beta1 = 0.8;
		rule.beta2 = 0.95;
		rule.eps = 3e-7;
		s = make_store(&rule);
		rc = ps_ckpt_save(s, path_in("rt.safetensors"), &extra,
		    &cause);
		if (rc != 0)
			diag("save: %s", cause);
		back = ps_ckpt_load(path_in("rt.safetensors"), NULL, &info,
		    &cause);
		if (back == NULL)
			diag("load: %s", cause);
		ok(rc == 0 && back != NULL && same_store(s, back, 1, why,
		    sizeof why), "a %s model comes back with its order, "
		    "data, versions, steps and state", ps_rule_name(kinds[k]));
		if (back != NULL && !same_store(s, back, 1, why, sizeof why))
			diag("%s", why);
		ok(back != NULL && info.has_rule &&
		    same_rule(ps_store_rule(back), ps_store_rule(s)) &&
		    same_rule(&info.rule, &rule) && info.has_crc &&
		    info.model_version == 3 && strcmp(info.mode, "ssp") == 0 &&
		    strcmp(info.psctl_version, PSCTL_VERSION) == 0 &&
		    !info.converted, "a %s model's rule, parameters, version, "
		    "mode and checksum come back", ps_rule_name(kinds[k]));
		ok(back != NULL && info.has_model_l2 &&
		    info.model_l2 == ps_store_model_l2(s) &&
		    info.model_l2 == ps_store_model_l2(back),
		    "its L2 norm when saved comes back exactly (%.17g)",
		    info.model_l2);
		if (kinds[k] == PS_RULE_ADAM && back != NULL)
			is_int(info.state_restored, 8, "adam's m and v of "
			    "four tensors are restored");
		ps_store_free(back);
		ps_store_free(s);
	}

	/* Another rule than the file's: the state is dropped. */
	ps_rule_defaults(&rule, PS_RULE_SGD);
	back = ps_ckpt_load(path_in("rt.safetensors"), &rule, &info, &cause);
	ok(back != NULL && info.state_dropped == 8 &&
	    info.state_restored == 0 && ps_store_tensor(back, 0)->m == NULL &&
	    ps_store_rule(back)->kind == PS_RULE_SGD,
	    "loading adam's file to serve sgd drops the optimizer state");
	ps_store_free(back);
	/* The same rule with other parameters: the state is kept. */
	ps_rule_defaults(&rule, PS_RULE_ADAM);
	rule.lr = 0.5;
	back = ps_ckpt_load(path_in("rt.safetensors"), &rule, &info, &cause);
	ok(back != NULL && info.state_restored == 8 &&
	    ps_store_rule(back)->lr == 0.5 && info.rule.lr == 0.1,
	    "loading adam's file to serve adam with another lr keeps the "
	    "state and serves the given lr");
	ps_store_free(back);
	if (back == NULL)
		free(cause);
}

static void
test_save_failures(void)
{
	struct ps_store		*s, *back;
	struct ps_rule		 rule;
	char			*cause = NULL, why[256];
	pid_t			 pid;
	int			 status, rc;

	ps_rule_defaults(&rule, PS_RULE_ADD);
	s = ps_store_new(&rule);
	rc = ps_ckpt_save(s, path_in("empty.safetensors"), NULL, &cause);
	ok(rc == -1 && contains(cause, "no model"),
	    "saving a store without a model is refused");
	free(cause);
	ps_store_free(s);

	s = make_store(&rule);
	rc = ps_ckpt_save(s, path_in("nodir/x.safetensors"), NULL, &cause);
	ok(rc == -1 && contains(cause, "create") &&
	    contains(cause, "No such file"),
	    "saving into a missing directory fails at creating the "
	    "temporary file (%s)", cause);
	free(cause);

	mkdir(path_in("adir"), 0755);
	rc = ps_ckpt_save(s, path_in("adir"), NULL, &cause);
	ok(rc == -1 && contains(cause, "is a directory") &&
	    count_temps(tmp) == 0,
	    "saving over a directory is refused and leaves no temporary "
	    "file (%s)", cause);
	free(cause);

	/* A write that fails half-way: the file size limit. */
	if (ps_ckpt_save(s, path_in("old.safetensors"), NULL, &cause) != 0)
		bail_out("save: %s", cause);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		struct rlimit	rl = { 600, 600 };
		struct ps_store	*big;
		struct ps_tview	v;
		float		*x;
		int		code;

		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		big = ps_store_new(&rule);
		x = calloc(4096, sizeof *x);
		memset(&v, 0, sizeof v);
		v.name = "big";
		v.namelen = 3;
		v.dtype = PS_DTYPE_F32;
		v.ndim = 1;
		v.dims[0] = 4096;
		v.data = x;
		v.nbytes = 4096 * sizeof *x;
		if (ps_store_init(big, &v, 1, &code, &cause) != 0)
			_exit(2);
		rc = ps_ckpt_save(big, path_in("old.safetensors"), NULL,
		    &cause);
		/*
		 * Freed, the parent's store too: under check-valgrind,
		 * memcheck checks this child's leaks at _exit(), where
		 * the parent's pointer to s is dead, and --error-exitcode
		 * would turn the status into 1.
		 */
		ps_store_free(big);
		ps_store_free(s);
		free(x);
		if (rc == 0)
			_exit(1);
		rc = strncmp(cause, "write ", 6) == 0 ? 0 : 3;
		free(cause);
		_exit(rc);
	}
	waitpid(pid, &status, 0);
	back = ps_ckpt_load(path_in("old.safetensors"), NULL, NULL, &cause);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && back != NULL &&
	    same_store(s, back, 1, why, sizeof why) && count_temps(tmp) == 0,
	    "a save whose write fails (file size limit) says so, leaves "
	    "the old file intact and no temporary file (child status %#x)",
	    status);
	ps_store_free(back);
	ps_store_free(s);
}

/*
 * Saves to paths that are not regular files: a FIFO (a child reads it
 * into a file) and /dev/null.  Both are written into, never replaced by
 * a renamed file (as root, a rename onto /dev/null replaces the device).
 */
static void
test_save_special(void)
{
	struct ps_store	*s, *back;
	struct ps_rule	 rule;
	struct stat	 st;
	char		*cause = NULL, why[256];
	pid_t		 pid;
	int		 status, rc;

	ps_rule_defaults(&rule, PS_RULE_MOMENTUM);
	s = make_store(&rule);
	if (mkfifo(path_in("fifo"), 0600) != 0)
		bail_out("mkfifo: %s", strerror(errno));
	fflush(stdout);
	if ((pid = fork()) == 0) {
		char	 buf[4096];
		ssize_t	 n;
		int	 in, out;

		alarm(300);	/* bounds the wait when nothing writes */
		ps_store_free(s);	/* see test_save_failures() */
		in = open(path_in("fifo"), O_RDONLY);
		out = open(path_in("fromfifo.safetensors"),
		    O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (in == -1 || out == -1)
			_exit(2);
		while ((n = read(in, buf, sizeof buf)) > 0)
			if (write(out, buf, (size_t)n) != n)
				_exit(3);
		_exit(n == 0 && close(out) == 0 ? 0 : 4);
	}
	rc = ps_ckpt_save(s, path_in("fifo"), NULL, &cause);
	waitpid(pid, &status, 0);
	back = ps_ckpt_load(path_in("fromfifo.safetensors"), NULL, NULL,
	    &cause);
	ok(rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    back != NULL && same_store(s, back, 1, why, sizeof why),
	    "a checkpoint saved into a FIFO arrives whole and loads back "
	    "equal to the store (reader status %#x)", status);
	ok(stat(path_in("fifo"), &st) == 0 && S_ISFIFO(st.st_mode) &&
	    count_temps(tmp) == 0,
	    "the FIFO is still a FIFO and no temporary file is left");
	ps_store_free(back);

	rc = ps_ckpt_save(s, "/dev/null", NULL, &cause);
	ok(rc == 0 && stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode),
	    "a save to /dev/null succeeds and /dev/null stays a device "
	    "(%s)", rc == 0 ? "saved" : cause);
	if (rc != 0)
		free(cause);
	ps_store_free(s);
}

struct saver {
	struct ps_store	*clone;
	const char	*path;
	int		 rc;
	char		*cause;
};

static void *
saver_main(void *arg)
{
	struct saver	*sv = arg;

	sv->rc = ps_ckpt_save(sv->clone, sv->path, NULL, &sv->cause);
	return NULL;
}

/* A save of a clone on another thread while the live store moves on. */
static void
test_thread(void)
{
	struct ps_store		*s, *back;
	struct ps_rule		 rule;
	struct saver		 sv;
	struct ps_tview		 u;
	const struct ps_tensor	*t;
	pthread_t		 th;
	float			 g[20];
	char			*cause, why[256];
	int			 code, i, j;

	ps_rule_defaults(&rule, PS_RULE_MOMENTUM);
	s = make_store(&rule);
	sv.clone = ps_store_clone(s);
	sv.path = path_in("thread.safetensors");
	sv.cause = NULL;
	pthread_create(&th, NULL, saver_main, &sv);
	t = ps_store_tensor(s, 0);
	memset(&u, 0, sizeof u);
	u.name = t->name;
	u.namelen = t->namelen;
	u.dtype = PS_DTYPE_F32;
	u.ndim = t->ndim;
	memcpy(u.dims, t->dims, sizeof u.dims);
	u.data = g;
	u.nbytes = sizeof g;
	for (i = 0; i < 200; i++) {
		for (j = 0; j < 20; j++)
			g[j] = rng_float();
		ps_store_apply(s, &u, 1, &code, &cause);
	}
	pthread_join(th, NULL);
	back = ps_ckpt_load(sv.path, NULL, NULL, &cause);
	ok(sv.rc == 0 && back != NULL && same_store(sv.clone, back, 1, why,
	    sizeof why), "a clone saved on another thread while the store "
	    "takes updates loads back equal to the clone");
	ps_store_free(back);
	ps_store_free(sv.clone);
	ps_store_free(s);
}

/* The values in expect (NAME.json) against the store, in order. */
static int
matches_expect(struct ps_store *s, json_t *exp, char *why, size_t len)
{
	json_t			*order, *t, *vals;
	const struct ps_tensor	*x;
	const char		*name;
	size_t			 i, j;

	order = json_object_get(exp, "order");
	if (json_array_size(order) != ps_store_count(s)) {
		snprintf(why, len, "%zu tensors, want %zu",
		    ps_store_count(s), json_array_size(order));
		return 0;
	}
	for (i = 0; i < ps_store_count(s); i++) {
		x = ps_store_tensor(s, i);
		name = json_string_value(json_array_get(order, i));
		if (name == NULL || strcmp(x->name, name) != 0) {
			snprintf(why, len, "tensor %zu is %s, want %s", i,
			    x->name, name);
			return 0;
		}
		t = json_object_get(json_object_get(exp, "tensors"), name);
		vals = json_object_get(t, "values");
		if (json_array_size(vals) != x->n) {
			snprintf(why, len, "%s: %zu values", name, x->n);
			return 0;
		}
		for (j = 0; j < x->n; j++) {
			float	want;

			want = (float)json_number_value(json_array_get(vals,
			    j));
			if (memcmp(&want, &x->data[j], 4) != 0) {
				snprintf(why, len, "%s[%zu] = %.9g, want "
				    "%.9g", name, j, x->data[j], want);
				return 0;
			}
		}
	}
	return 1;
}

static json_t *
load_json(const char *path)
{
	json_error_t	 err;
	json_t		*j;

	if ((j = json_load_file(path, 0, &err)) == NULL)
		bail_out("%s: %s", path, err.text);
	return j;
}

/* Files written by tests/mksafetensors.py with numpy. */
static void
test_numpy_files(void)
{
	struct ps_store		*s;
	struct ps_ckpt_info	 info;
	struct ps_ckpt_detail	*d;
	json_t			*exp, *a;
	const struct ps_tensor	*t;
	char			*cause = NULL, why[256] = "";
	size_t			 i;
	int			 good;

	exp = load_json(tap_data("mixed.json"));
	s = ps_ckpt_load_detail(tap_data("mixed.safetensors"), NULL, &info,
	    &d, &cause);
	if (s == NULL)
		diag("%s", cause);
	ok(s != NULL && matches_expect(s, exp, why, sizeof why),
	    "numpy's F64, F16, empty, BF16 and scalar tensors load in data "
	    "order with numpy's float32 values %s", why);
	ok(s != NULL && info.converted && !info.has_crc && !info.has_rule &&
	    ps_store_rule(s)->kind == PS_RULE_ADD && info.model_version == 0,
	    "a foreign file loads as converted, without checksum, under add");
	ok(d != NULL && d->nmodel == 5 && d->model[0].dtype == PS_DTYPE_F64 &&
	    d->model[1].dtype == PS_DTYPE_F16 &&
	    d->model[3].dtype == PS_DTYPE_BF16 &&
	    d->model[4].dtype == PS_DTYPE_F32 && d->model[4].ndim == 0 &&
	    d->nmeta == 1 && strcmp(d->meta_keys[0], "format") == 0 &&
	    strcmp(d->meta_values[0], "np") == 0,
	    "the detail lists the file's dtypes and metadata");
	ps_ckpt_detail_free(d);
	ps_store_free(s);
	json_decref(exp);

	exp = load_json(tap_data("f32.json"));
	s = ps_ckpt_load(tap_data("f32.safetensors"), NULL, &info, &cause);
	ok(s != NULL && matches_expect(s, exp, why, sizeof why) &&
	    !info.converted, "a plain numpy F32 file loads %s", why);
	ps_store_free(s);
	json_decref(exp);

	/* Written from the man page with both checksums, by Python. */
	exp = load_json(tap_data("psctl.json"));
	s = ps_ckpt_load_detail(tap_data("psctl.safetensors"), NULL, &info,
	    &d, &cause);
	if (s == NULL)
		diag("%s", cause);
	ok(s != NULL && matches_expect(s, exp, why, sizeof why),
	    "a psctl file written by Python loads in psctl.tensors' order, "
	    "not the data's %s", why);
	good = s != NULL && info.has_crc && d->has_header_crc &&
	    info.model_version == 9 && info.rule.kind == PS_RULE_ADAM &&
	    info.rule.lr == 0.001 && info.rule.beta1 == 0.8 &&
	    info.rule.beta2 == 0.99 && info.rule.eps == 1e-7 &&
	    strcmp(info.mode, "sync") == 0 && info.state_restored == 6;
	a = json_object_get(exp, "versions");
	for (i = 0; good && i < 3; i++) {
		t = ps_store_tensor(s, i);
		good = t->version == (uint64_t)json_integer_value(
		    json_array_get(a, i)) && t->steps == (uint64_t)
		    json_integer_value(json_array_get(json_object_get(exp,
		    "steps"), i));
	}
	ok(good, "its checksums verify, and its version, rule, parameters, "
	    "mode, tensor versions and steps come back");
	t = s != NULL ? ps_store_tensor(s, 1) : NULL;
	ok(t != NULL && strcmp(t->name, "layer.1") == 0 && t->m != NULL &&
	    t->m[0] == -0.5f && t->v[0] == 0.25f && t->m[11] == 0.5f,
	    "its adam state lands on the right tensor");
	ps_ckpt_detail_free(d);
	ps_store_free(s);
	json_decref(exp);

	s = ps_ckpt_load(tap_data("i64.safetensors"), NULL, &info, &cause);
	is_str(s == NULL ? cause : "loaded",
	    "tensor \"step\": dtype I64 is not supported",
	    "an I64 tensor is refused by name and dtype");
	ok(info.error == PS_CKPT_E_INVALID, "and the error is about content");
	free(cause);
}

/* psctl's own file read by the independent Python reader. */
static void
test_python_reads(void)
{
	const char		*py = getenv("PYTHON3"), *src = getenv("PS_SRCDIR");
	struct ps_store		*s;
	struct ps_rule		 rule;
	json_t			*out, *meta, *order, *t, *vals;
	const struct ps_tensor	*x;
	char			 cmd[8192], *cause, name[300];
	size_t			 i, j, k;
	int			 good = 1;
	const float		*buf;

	if (py == NULL || *py == '\0' || src == NULL ||
	    access(py, X_OK) != 0) {
		skip(3, "no $PYTHON3 or $PS_SRCDIR");
		return;
	}
	snprintf(cmd, sizeof cmd, "%s -c 'import numpy' 2>/dev/null", py);
	if (system(cmd) != 0) {
		skip(3, "no numpy");
		return;
	}
	ps_rule_defaults(&rule, PS_RULE_ADAM);
	s = make_store(&rule);
	if (ps_ckpt_save(s, path_in("py.safetensors"), NULL, &cause) != 0)
		bail_out("save: %s", cause);
	snprintf(cmd, sizeof cmd, "%s %s/tests/mksafetensors.py dump %s > %s",
	    py, src, path_in("py.safetensors"), path_in("py.json"));
	if (system(cmd) != 0)
		bail_out("%s failed", cmd);
	out = load_json(path_in("py.json"));
	meta = json_object_get(out, "metadata");
	ok(json_is_true(json_object_get(out, "crc_ok")) &&
	    json_is_true(json_object_get(out, "header_crc_ok")),
	    "Python's own CRC-32C verifies both of psctl's checksums");
	ok(strcmp(json_string_value(json_object_get(meta, "format")), "pt")
	    == 0 && strcmp(json_string_value(json_object_get(meta,
	    "psctl.rule")), "adam") == 0 && strcmp(json_string_value(
	    json_object_get(meta, "psctl.model_version")), "3") == 0,
	    "Python finds format pt, the rule and the model version");
	order = json_object_get(out, "order");
	good = json_array_size(order) == 12;
	for (k = 0; good && k < 12; k++) {
		i = k < 4 ? k : (k - 4) / 2;
		x = ps_store_tensor(s, i);
		if (k < 4) {
			snprintf(name, sizeof name, "%s", x->name);
			buf = x->data;
		} else {
			snprintf(name, sizeof name, "__psctl.%c.%s",
			    k % 2 == 0 ? 'm' : 'v', x->name);
			buf = k % 2 == 0 ? x->m : x->v;
		}
		good = strcmp(json_string_value(json_array_get(order, k)),
		    name) == 0;
		t = json_object_get(json_object_get(out, "tensors"), name);
		vals = json_object_get(t, "values");
		good = good && json_array_size(vals) == x->n;
		for (j = 0; good && j < x->n; j++)
			good = (float)json_number_value(json_array_get(vals,
			    j)) == buf[j];
		if (!good)
			diag("differs at %s", name);
	}
	ok(good, "Python reads the model in order, then each tensor's m and "
	    "v, with the same values");
	json_decref(out);
	ps_store_free(s);
}

/* Every prefix of the file is refused. */
static int
truncations(const char *from)
{
	unsigned char	*buf;
	size_t		 len, n;
	int		 bad = 0;

	buf = read_file(from, &len);
	for (n = 0; n < len; n++) {
		write_file(path_in("cut.safetensors"), buf, n);
		if (refusal(path_in("cut.safetensors")) == NULL) {
			if (bad++ == 0)
				diag("%s cut to %zu bytes loads", from, n);
		}
	}
	free(buf);
	return bad;
}

/*
 * Every single-bit flip of a file.  With checksums, each must be refused.
 * Without, a flip may load only if it changed exactly what it touched: a
 * data bit changes that one bit of one value; a header bit may rename one
 * tensor (a name is free text); anything else is a failure.
 */
static int
flips(const char *from, int checksummed)
{
	struct ps_store		*orig, *s;
	const struct ps_tensor	*x, *y;
	unsigned char		*buf;
	char			*cause;
	size_t			 len, pos, i, dstart, renamed, bit;
	uint32_t		 a, b;
	int			 bad = 0, diffs;

	if ((orig = ps_ckpt_load(from, NULL, NULL, &cause)) == NULL)
		bail_out("%s: %s", from, cause);
	buf = read_file(from, &len);
	dstart = 8;
	for (i = 0; i < 8; i++)
		dstart += (size_t)buf[i] << (8 * i);
	for (pos = 0; pos < len; pos++) {
		for (bit = 0; bit < 8; bit++) {
			buf[pos] ^= (unsigned char)(1 << bit);
			write_file(path_in("flip.safetensors"), buf, len);
			buf[pos] ^= (unsigned char)(1 << bit);
			s = ps_ckpt_load(path_in("flip.safetensors"), NULL,
			    NULL, &cause);
			if (s == NULL) {
				free(cause);
				continue;
			}
			diffs = 0;
			renamed = 0;
			if (checksummed ||
			    ps_store_count(s) != ps_store_count(orig))
				diffs = 99;
			for (i = 0; diffs < 99 && i < ps_store_count(s); i++) {
				x = ps_store_tensor(orig, i);
				y = ps_store_tensor(s, i);
				if (strcmp(x->name, y->name) != 0)
					renamed++;
				if (x->n != y->n) {
					diffs = 99;
					break;
				}
				for (size_t j = 0; j < x->n; j++) {
					memcpy(&a, &x->data[j], 4);
					memcpy(&b, &y->data[j], 4);
					if (a != b)
						diffs++;
				}
			}
			if (pos >= dstart) {
				/* Only the flipped bit of that value. */
				if (diffs != 1 || renamed != 0)
					diffs = 99;
			} else if (diffs != 0 || renamed != 1)
				diffs = 99;
			if (diffs == 99 && bad++ == 0)
				diag("%s with bit %zu of byte %zu flipped "
				    "loads", from, bit, pos);
			ps_store_free(s);
		}
	}
	free(buf);
	ps_store_free(orig);
	return bad;
}

static void
test_corruption(void)
{
	struct ps_store	*s;
	struct ps_rule	 rule;
	char		*cause;
	unsigned char	*buf;
	size_t		 len;

	ps_rule_defaults(&rule, PS_RULE_ADAM);
	s = make_store(&rule);
	if (ps_ckpt_save(s, path_in("small.safetensors"), NULL, &cause) != 0)
		bail_out("save: %s", cause);
	ps_store_free(s);

	is_int(truncations(path_in("small.safetensors")), 0,
	    "psctl's file cut at every offset is refused every time");
	is_int(truncations(tap_data("mixed.safetensors")), 0,
	    "numpy's mixed file cut at every offset is refused every time");
	is_int(flips(path_in("small.safetensors"), 1), 0,
	    "every single-bit flip of a checksummed file is refused");
	is_int(flips(tap_data("f32.safetensors"), 0), 0,
	    "every single-bit flip of a file without checksum is refused, "
	    "or changes exactly one value's bit or one tensor's name");

	/* A flipped data bit, named as such. */
	buf = read_file(path_in("small.safetensors"), &len);
	buf[len - 5] ^= 0x10;
	write_file(path_in("bad.safetensors"), buf, len);
	ok(contains(refusal(path_in("bad.safetensors")),
	    "data checksum mismatch"), "a changed data byte is a data "
	    "checksum mismatch");
	free(buf);
}

/*
 * Recomputes both checksums of a psctl file in buf after an edit, as
 * psctl-checkpoint(5) defines them: the data CRC over the data section,
 * the header CRC over the 8 + N header bytes with its own digits read as
 * "00000000".
 */
static void
fix_crcs(unsigned char *buf, size_t len)
{
	static const char	 dkey[] = "\"psctl.crc32c\":\"";
	static const char	 hkey[] = "\"psctl.header_crc32c\":\"";
	char			*p, hex[9];
	size_t			 n = 0, i;

	for (i = 0; i < 8; i++)
		n |= (size_t)buf[i] << (8 * i);
	p = memmem(buf + 8, n, dkey, sizeof dkey - 1);
	if (p == NULL)
		bail_out("no psctl.crc32c");
	snprintf(hex, sizeof hex, "%08x", ps_crc32c(0, buf + 8 + n,
	    len - 8 - n));
	memcpy(p + sizeof dkey - 1, hex, 8);
	p = memmem(buf + 8, n, hkey, sizeof hkey - 1);
	if (p == NULL)
		bail_out("no psctl.header_crc32c");
	memcpy(p + sizeof hkey - 1, "00000000", 8);
	snprintf(hex, sizeof hex, "%08x", ps_crc32c(0, buf, 8 + n));
	memcpy(p + sizeof hkey - 1, hex, 8);
}

/* Puts bits (a float's or anything's) at element i of a psctl file's data. */
static void
poke(unsigned char *buf, size_t i, uint32_t bits)
{
	size_t	n = 0, k;

	for (k = 0; k < 8; k++)
		n |= (size_t)buf[k] << (8 * k);
	for (k = 0; k < 4; k++)
		buf[8 + n + 4 * i + k] = (unsigned char)(bits >> (8 * k));
}

/*
 * Tensors larger than one read (8 MiB): the load reads the data in
 * chunks straight into the store, converts other dtypes chunk by chunk,
 * and must put every byte in its place, find a bad value in a later
 * chunk at its true index, and check the sum over every chunk.
 */
#define BIG_N		2500000		/* floats: 10 MB, two reads */
static void
test_chunks(void)
{
	/* Little-endian f16 bits and the floats they are, by hand. */
	static const uint16_t	 h16[5] = { 0x3c00, 0xc000, 0x3800, 0x7bff,
				     0x0001 };
	static const float	 h32[5] = { 1.0f, -2.0f, 0.5f, 65504.0f,
				     5.9604644775390625e-8f };
	const size_t		 n64 = 1100000, n16 = 4194305, n32 = 2200000;
	struct ps_store		*s, *back;
	struct ps_rule		 rule;
	struct ps_ckpt_info	 info;
	struct ps_tview		 v;
	struct ps_tensor	*t;
	const struct ps_tensor	*x;
	unsigned char		*buf, *data;
	char			 json[512], why[256], *cause;
	float			*g;
	double			 d;
	uint16_t		 h;
	uint32_t		 nanbits = 0x7fc00000;
	size_t			 len, i, dlen;
	int			 code, good;
	const char		*p = path_in("big.safetensors");

	/* A momentum model of one big tensor, with its m. */
	ps_rule_defaults(&rule, PS_RULE_MOMENTUM);
	s = ps_store_new(&rule);
	g = malloc(BIG_N * sizeof *g);
	for (i = 0; i < BIG_N; i++)
		g[i] = rng_float();
	memset(&v, 0, sizeof v);
	v.name = "big";
	v.namelen = 3;
	v.dtype = PS_DTYPE_F32;
	v.ndim = 2;
	v.dims[0] = 2;
	v.dims[1] = BIG_N / 2;
	v.data = g;
	v.nbytes = BIG_N * sizeof *g;
	if (ps_store_init(s, &v, 1, &code, &cause) != 0)
		bail_out("init: %s", cause);
	for (i = 0; i < BIG_N; i++)
		g[i] = rng_float();
	if (ps_store_apply(s, &v, 1, &code, &cause) != 0)
		bail_out("apply: %s", cause);
	free(g);
	if (ps_ckpt_save(s, p, NULL, &cause) != 0)
		bail_out("save: %s", cause);
	back = ps_ckpt_load(p, NULL, &info, &cause);
	if (back == NULL)
		diag("load: %s", cause);
	ok(back != NULL && same_store(s, back, 1, why, sizeof why) &&
	    info.state_restored == 1, "a 10 MB tensor and its m come back "
	    "exactly across reads %s", back != NULL ? "" : cause);
	ps_store_free(back);
	ps_rule_defaults(&rule, PS_RULE_SGD);
	buf = read_file(p, &len);
	buf[len - 1] ^= 1;		/* m's last byte */
	write_file(p, buf, len);
	back = ps_ckpt_load(p, &rule, &info, &cause);
	ok(back == NULL && contains(cause, "data checksum mismatch"),
	    "m, dropped under sgd, is still read for the checksum");
	if (back == NULL)
		free(cause);
	ps_store_free(back);
	buf[len - 1] ^= 1;
	/* Element 2,200,000 of big: past the first 8 MiB. */
	poke(buf, 2200000, nanbits);
	fix_crcs(buf, len);
	write_file(p, buf, len);
	is_str(refusal(p), "tensor \"big\": element 2200000 is NaN",
	    "a NaN in the second read of a checksummed file is found at its "
	    "index once the checksum verifies");
	buf[len - 1] ^= 1;
	write_file(p, buf, len);
	ok(contains(refusal(p), "data checksum mismatch"), "with the data "
	    "damaged too, the checksum mismatch is what is said");
	buf[len - 1] ^= 1;
	/* And in m's second read: the model is fine, the state not. */
	poke(buf, 2200000, 0);
	poke(buf, BIG_N + 2400000, 0xff800000);
	fix_crcs(buf, len);
	write_file(p, buf, len);
	is_str(refusal(p), "tensor \"__psctl.m.big\": a value is not finite",
	    "-Inf in the optimizer state's second read is refused");
	back = ps_ckpt_load(p, &rule, &info, &cause);
	ok(back != NULL && info.state_dropped == 1,
	    "but not when that state is dropped (served under sgd)");
	ps_store_free(back);
	free(buf);
	ps_store_free(s);

	/*
	 * A foreign file: F64 over 8 MiB, F16 of 8 MiB and one element,
	 * then F32 starting 2 bytes past a multiple of 4, over 8 MiB.
	 */
	dlen = n64 * 8 + n16 * 2 + n32 * 4;
	data = malloc(dlen);
	for (i = 0; i < n64; i++) {
		d = (double)(i % 1000) * 0.25 - 100;
		memcpy(data + 8 * i, &d, 8);
	}
	for (i = 0; i < n16; i++) {
		h = h16[i % 5];
		data[n64 * 8 + 2 * i] = (unsigned char)h;
		data[n64 * 8 + 2 * i + 1] = (unsigned char)(h >> 8);
	}
	for (i = 0; i < n32; i++) {
		float	f = (float)i * 0.5f;

		memcpy(data + n64 * 8 + n16 * 2 + 4 * i, &f, 4);
	}
	snprintf(json, sizeof json, "{\"d\":{\"dtype\":\"F64\",\"shape\":"
	    "[%zu],\"data_offsets\":[0,%zu]},\"h\":{\"dtype\":\"F16\","
	    "\"shape\":[%zu],\"data_offsets\":[%zu,%zu]},\"f\":{\"dtype\":"
	    "\"F32\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}}", n64,
	    n64 * 8, n16, n64 * 8, n64 * 8 + n16 * 2, n32, n64 * 8 + n16 * 2,
	    dlen);
	write_st(p, json, data, dlen);
	back = ps_ckpt_load(p, NULL, &info, &cause);
	good = back != NULL && ps_store_count(back) == 3 && info.converted;
	for (i = 0; good && i < n64; i++) {
		x = ps_store_tensor(back, 0);
		good = x->data[i] == (float)(i % 1000) * 0.25f - 100;
	}
	for (i = 0; good && i < n16; i++) {
		x = ps_store_tensor(back, 1);
		good = x->data[i] == h32[i % 5];
	}
	for (i = 0; good && i < n32; i++) {
		x = ps_store_tensor(back, 2);
		good = x->data[i] == (float)i * 0.5f;
	}
	if (back == NULL)
		diag("load: %s", cause);
	else if (!good)
		diag("differs at element %zu", i - 1);
	ok(good, "F64 and F16 converted across reads, and F32 at an offset "
	    "that is not a multiple of 4, load with the values written");
	if (back != NULL) {
		t = ps_store_tensor_mut(back, 2);
		ok(t->n == n32 && ((uintptr_t)t->data & 63) == 0,
		    "and the store's copy is aligned for the kernels");
	} else
		ok(0, "and the store's copy is aligned for the kernels");
	ps_store_free(back);

	/* +Inf in F32 past 8 MiB of it, no checksum: found at its index. */
	i = n32 - 3;
	memcpy(data + n64 * 8 + n16 * 2 + 4 * i, &(float){ INFINITY }, 4);
	write_st(p, json, data, dlen);
	snprintf(why, sizeof why, "tensor \"f\": element %zu is infinite", i);
	is_str(refusal(p), why, "+Inf late in an unchecksummed file is found "
	    "at its index");
	/* An F64 value beyond float32, in the second read of d. */
	d = 1e300;
	memcpy(data + 8 * (n64 - 1), &d, 8);
	write_st(p, json, data, dlen);
	snprintf(why, sizeof why, "tensor \"d\": element %zu is infinite or "
	    "beyond float32's range", n64 - 1);
	is_str(refusal(p), why, "an F64 beyond float32 in the last element "
	    "is named, before the later tensor's +Inf");
	free(data);

	/*
	 * Two bad tensors, stored in the other order: the one the model
	 * lists first (psctl.tensors) is named, whatever the file order.
	 */
	{
		const float	two[4] = { NAN, 1, 1, INFINITY };

		write_st(p, "{\"__metadata__\":{\"psctl.tensors\":"
		    "\"[{\\\"name\\\":\\\"f\\\"},{\\\"name\\\":"
		    "\\\"d\\\"}]\"},\"d\":{\"dtype\":\"F32\",\"shape\":[2],"
		    "\"data_offsets\":[0,8]},\"f\":{\"dtype\":\"F32\","
		    "\"shape\":[2],\"data_offsets\":[8,16]}}", two, 16);
		is_str(refusal(p), "tensor \"f\": element 1 is infinite",
		    "of two bad tensors the model's first is named, not the "
		    "file's first");
	}
	unlink(p);
}

static void
test_refusals(void)
{
	static const float	 data[6] = { 1, 2, 3, 4, 5, 6 };
	const float		 nan[2] = { 1, NAN };
	struct ps_ckpt_info	 info;
	struct ps_store		*s;
	char			*cause;
	unsigned char		 hdr[16];
	const char		*why;
	const char		*p = path_in("r.safetensors");

	write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
	    "\"data_offsets\":[0,8]},}", data, 8);
	why = refusal(p);
	ok(contains(why, "not valid JSON"), "bad JSON is refused (%s)", why);

	write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],"
	    "\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],"
	    "\"data_offsets\":[8,24]}}", data, 24);
	why = refusal(p);
	ok(contains(why, "tensors \"a\" and \"b\" overlap"),
	    "overlapping offsets are refused (%s)", why);

	write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
	    "\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
	    "\"data_offsets\":[16,24]}}", data, 24);
	why = refusal(p);
	is_str(why, "data section bytes 8 to 16 belong to no tensor",
	    "a gap in the data section is refused");

	write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1024],"
	    "\"data_offsets\":[8,4096]}}", data, 24);
	is_str(refusal(p), "tensor \"w\": data_offsets [8, 4096] beyond the "
	    "data section (24 bytes)", "offsets past the data are refused");

	write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3, 3],"
	    "\"data_offsets\":[0,24]}}", data, 24);
	is_str(refusal(p), "tensor \"w\": shape [3, 3] of F32 needs 36 bytes, "
	    "data_offsets [0, 24] hold 24",
	    "a shape that does not match its bytes is refused");

	write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,"
	    "4294967296,4294967296],\"data_offsets\":[0,24]}}", data, 24);
	ok(contains(refusal(p), "overflows"),
	    "a shape whose size overflows is refused");

	write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[6],"
	    "\"data_offsets\":[24,0]}}", data, 24);
	ok(contains(refusal(p), "end before they begin"),
	    "offsets that end before they begin are refused");

	write_st(p, "{\"__w\":{\"dtype\":\"F32\",\"shape\":[6],"
	    "\"data_offsets\":[0,24]}}", data, 24);
	ok(contains(refusal(p), "reserved"), "a reserved name is refused");

	write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],"
	    "\"data_offsets\":[0,12]},\"w\":{\"dtype\":\"F32\",\"shape\":[3],"
	    "\"data_offsets\":[12,24]}}", data, 24);
	ok(contains(refusal(p), "JSON"), "a name used twice is refused");

	write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],"
	    "\"data_offsets\":[0,8]}}", nan, 8);
	ok(contains(refusal(p), "NaN"), "a NaN in the data is refused (%s)",
	    refusal(p));

	write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[6],"
	    "\"data_offsets\":[0,24]},\"__psctl.m.x\":{\"dtype\":\"F32\","
	    "\"shape\":[0],\"data_offsets\":[24,24]}}", data, 24);
	ok(contains(refusal(p), "optimizer state of a tensor the file does "
	    "not hold"), "state for a missing tensor is refused");

	write_st(p, "{\"__metadata__\":{\"psctl.rule\":\"sgd\","
	    "\"psctl.rule_params\":\"{\\\"lr\\\":-1}\"},\"w\":{\"dtype\":"
	    "\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}", data, 24);
	ok(contains(refusal(p), "lr -1"),
	    "a file with a negative lr is refused, not served (%s)",
	    refusal(p));

	/*
	 * Issue 11 item 12: the unknown key was quoted after the object that
	 * owns it was freed (a heap use-after-free under the sanitizers).
	 */
	write_st(p, "{\"__metadata__\":{\"psctl.rule\":\"sgd\","
	    "\"psctl.rule_params\":\"{\\\"lr\\\":0.1,"
	    "\\\"learning_rate_decay\\\":0.5}\"},\"w\":{\"dtype\":\"F32\","
	    "\"shape\":[6],\"data_offsets\":[0,24]}}", data, 24);
	is_str(refusal(p), "psctl.rule_params: unknown parameter "
	    "\"learning_rate_decay\"",
	    "an unknown rule parameter is refused and named");

	write_st(p, "{\"__metadata__\":{\"psctl.model_l2\":\"-1\"},"
	    "\"w\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}",
	    data, 24);
	is_str(refusal(p), "psctl.model_l2 \"-1\" is not a number >= 0",
	    "a negative psctl.model_l2 is refused");
	write_st(p, "{\"__metadata__\":{\"psctl.model_l2\":\"1.5x\"},"
	    "\"w\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}",
	    data, 24);
	ok(contains(refusal(p), "psctl.model_l2"),
	    "psctl.model_l2 that is not a number is refused");

	write_st(p, "{\"__metadata__\":{\"psctl.tensors\":\"[{\\\"name\\\":"
	    "\\\"v\\\"}]\"},\"w\":{\"dtype\":\"F32\",\"shape\":[6],"
	    "\"data_offsets\":[0,24]}}", data, 24);
	ok(contains(refusal(p), "psctl.tensors: \"v\" is not in the file"),
	    "psctl.tensors naming another tensor is refused");

	/* Header length: beyond the file, over the cap. */
	memset(hdr, 0, sizeof hdr);
	hdr[0] = 0x40;
	hdr[8] = '{';
	write_file(p, hdr, sizeof hdr);
	is_str(refusal(p), "header length 64 runs past the end of the file "
	    "(16 bytes)", "a header length past the file is refused");
	hdr[0] = 0;
	hdr[4] = 1;
	write_file(p, hdr, sizeof hdr);
	ok(contains(refusal(p), "over the limit"),
	    "a header length over 100 MB is refused before reading");

	/* Something else: it says so (issue 12), not "header length...". */
	write_file(p, "# psctl\n\nA parameter server.\n", 29);
	is_str(refusal(p), "not a safetensors file",
	    "a text file is not a safetensors file");
	write_file(p, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
	is_str(refusal(p), "not a safetensors file",
	    "nor is a PNG image");

	s = ps_ckpt_load(path_in("missing.safetensors"), NULL, &info, &cause);
	ok(s == NULL && info.error == PS_CKPT_E_NOFILE &&
	    contains(cause, "No such file"),
	    "a missing file is a missing file (%s)", cause);
	free(cause);
}

int
main(void)
{
	tmp = tap_tmpdir();
	if (getenv("T_CKPT_KEEP") != NULL)
		diag("files in %s", tmp);
	test_crc32c();
	test_round_trips();
	test_save_failures();
	test_save_special();
	test_thread();
	test_numpy_files();
	test_python_reads();
	test_corruption();
	test_chunks();
	test_refusals();
	if (getenv("T_CKPT_KEEP") == NULL)
		remove_tree(tmp);
	done_testing();
	return exit_status();
}
