/*
 * Crash safety of ps_ckpt_save(): a child saves model A, then model B
 * (4 MB each, every value 1.5 in A and -2.25 in B, model versions 111 and
 * 222), to the same path in a loop, and the parent SIGKILLs it at a random
 * moment, 30 times.  After each kill:
 *   - the file at the path loads (every check of ps_ckpt_load passes,
 *     both checksums included) and is exactly A or exactly B;
 *   - the directory holds, besides the file, at most one other entry: the
 *     killed child's temporary file ".ckpt.safetensors.tmp.PID" (the save
 *     it was in the middle of), which the parent then removes, as an
 *     operator would.
 * Finally a child that saves a few times and exits normally leaves no
 * temporary file at all.
 *
 * SIGKILL does not lose the page cache, so this checks the atomicity of
 * the rename protocol, not durability across a power loss (the fsyncs).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "store.h"
#include "tap.h"

#define KILLS		30
#define TENSOR_FLOATS	(512 * 1024)	/* two tensors: 4 MB a model */

static char	*dir;
static char	 path[4096];

static struct ps_store *
make_model(float fill, uint64_t version)
{
	struct ps_rule	 rule;
	struct ps_store	*s;
	struct ps_tview	 v[2];
	float		*x;
	size_t		 i;
	int		 code;
	char		*cause;

	x = malloc(TENSOR_FLOATS * sizeof *x);
	for (i = 0; i < TENSOR_FLOATS; i++)
		x[i] = fill;
	memset(v, 0, sizeof v);
	for (i = 0; i < 2; i++) {
		v[i].name = i == 0 ? "w" : "u";
		v[i].namelen = 1;
		v[i].dtype = PS_DTYPE_F32;
		v[i].ndim = 2;
		v[i].dims[0] = 512;
		v[i].dims[1] = 1024;
		v[i].data = x;
		v[i].nbytes = TENSOR_FLOATS * sizeof *x;
	}
	ps_rule_defaults(&rule, PS_RULE_ADD);
	s = ps_store_new(&rule);
	if (ps_store_init(s, v, 2, &code, &cause) != 0)
		bail_out("init: %s", cause);
	ps_store_set_version(s, version);
	free(x);
	return s;
}

/* 'A', 'B', or 0 when the file is neither (or does not load). */
static int
which_model(char *why, size_t len)
{
	struct ps_store		*s;
	const struct ps_tensor	*t;
	char			*cause;
	float			 fill;
	size_t			 i, j;
	int			 m;

	if ((s = ps_ckpt_load(path, NULL, NULL, &cause)) == NULL) {
		snprintf(why, len, "load: %s", cause);
		free(cause);
		return 0;
	}
	m = ps_store_version(s) == 111 ? 'A' :
	    ps_store_version(s) == 222 ? 'B' : 0;
	fill = m == 'A' ? 1.5f : -2.25f;
	if (ps_store_count(s) != 2)
		m = 0;
	for (i = 0; m != 0 && i < 2; i++) {
		t = ps_store_tensor(s, i);
		if (t->n != TENSOR_FLOATS || strcmp(t->name,
		    i == 0 ? "w" : "u") != 0) {
			m = 0;
			break;
		}
		for (j = 0; j < t->n; j++) {
			if (t->data[j] != fill) {
				snprintf(why, len, "%s[%zu] is %g", t->name,
				    j, t->data[j]);
				m = 0;
				break;
			}
		}
	}
	ps_store_free(s);
	if (m == 0 && *why == '\0')
		snprintf(why, len, "neither A nor B");
	return m;
}

/*
 * Entries of dir other than the checkpoint: returns their number, and
 * whether each is the temporary file of pid (removed).
 */
static int
other_entries(pid_t pid, int *all_of_pid)
{
	DIR		*d;
	struct dirent	*de;
	char		 prefix[256], full[4096];
	int		 n = 0;

	snprintf(prefix, sizeof prefix, ".ckpt.safetensors.tmp.%ld",
	    (long)pid);
	*all_of_pid = 1;
	if ((d = opendir(dir)) == NULL)
		bail_out("opendir %s", dir);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "ckpt.safetensors") == 0)
			continue;
		n++;
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
		    (de->d_name[strlen(prefix)] != '\0' &&
		    de->d_name[strlen(prefix)] != '.'))
			*all_of_pid = 0;
		snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
		unlink(full);
	}
	closedir(d);
	return n;
}

/*
 * Saves A and B alternately, starting with B when first is 1; one byte on
 * fd after each save.
 */
static void
saver(struct ps_store *a, struct ps_store *b, int fd, int first, int rounds)
{
	char	*cause;
	int	 i;

	for (i = 0; rounds == 0 || i < rounds; i++) {
		if (ps_ckpt_save((i + first) % 2 == 0 ? a : b, path, NULL,
		    &cause) != 0) {
			fprintf(stderr, "save: %s\n", cause);
			_exit(3);
		}
		if (write(fd, "s", 1) != 1)
			_exit(4);
	}
	_exit(0);
}

int
main(void)
{
	struct ps_store	*a, *b;
	struct timespec	 ts;
	char		*cause, why[512], buf[4096];
	pid_t		 pid;
	unsigned	 seed;
	long		 saves = 0;
	ssize_t		 r;
	int		 k, m, n, mine, status, fds[2], seen[2] = { 0, 0 };
	int		 inflight = 0;

	plan(2 * KILLS + 1);
	dir = tap_tmpdir();
	snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
	a = make_model(1.5f, 111);
	b = make_model(-2.25f, 222);
	if (ps_ckpt_save(a, path, NULL, &cause) != 0)
		bail_out("first save: %s", cause);
	seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	diag("seed %u", seed);
	srand(seed);

	for (k = 0; k < KILLS; k++) {
		if (pipe(fds) != 0)
			bail_out("pipe: %s", strerror(errno));
		fflush(stdout);
		if ((pid = fork()) == -1)
			bail_out("fork: %s", strerror(errno));
		if (pid == 0) {
			close(fds[0]);
			saver(a, b, fds[1], k % 2, 0);
		}
		close(fds[1]);
		/* 2 to 200 ms: a save of 4 MB with fsync takes 10 to 100. */
		ts.tv_sec = 0;
		ts.tv_nsec = (2 + rand() % 199) * 1000000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		while ((r = read(fds[0], buf, sizeof buf)) > 0)
			saves += r;
		close(fds[0]);
		if (WIFEXITED(status))
			diag("the saver exited with %d before the kill",
			    WEXITSTATUS(status));

		why[0] = '\0';
		m = which_model(why, sizeof why);
		ok(m != 0, "after kill %d the file loads and is exactly model "
		    "A or model B", k + 1);
		if (m == 0)
			diag("%s", why);
		else
			seen[m - 'A']++;
		n = other_entries(pid, &mine);
		inflight += n;
		ok(n <= 1 && mine, "after kill %d at most the killed saver's "
		    "temporary file is left (%d)", k + 1, n);
	}
	diag("%ld saves completed; %d kills landed in a save; the file was "
	    "A %d times, B %d times", saves, inflight, seen[0], seen[1]);

	if (pipe(fds) != 0)
		bail_out("pipe: %s", strerror(errno));
	fflush(stdout);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		saver(a, b, fds[1], 0, 3);
	}
	close(fds[1]);
	waitpid(pid, &status, 0);
	close(fds[0]);
	n = other_entries(pid, &mine);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && n == 0 &&
	    which_model(why, sizeof why) == 'A',
	    "three saves that finish leave the last model and no temporary "
	    "file");
	ps_store_free(a);
	ps_store_free(b);
	unlink(path);
	rmdir(dir);
	return exit_status();
}
