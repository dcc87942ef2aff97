/*
 * ckpt-bench: checkpoint save and load against cp(1) of the same file, in
 * the same run, on the same file system.
 *
 *	ckpt-bench [-r runs] [-m megabytes] [-t tensors] [dir]
 *
 * Builds a model of m MB (default 400) in t tensors (default 4), then for
 * each run: `cp` of the saved file, `cp` followed by `sync FILE` (an fsync
 * of the copy, which a save pays too), ps_ckpt_save() to
 * dir/ckpt-bench.safetensors (fsync, rename, directory fsync included) and
 * ps_ckpt_load() of it (checksums included, the file in the page cache as
 * cp finds it).  Prints the best and the median of each in MB/s, and the
 * time ratios to cp.  Pass/fail is
 * never timed: this is not a test.  Pin it (taskset -c 1) and put dir on
 * a real disk, not a tmpfs, to compare like with like.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "store.h"

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
best(double *v, int n)
{
	double	m = v[0];
	int	i;

	for (i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs argv, returns the seconds it took; exits on failure. */
static double
run(char *const argv[])
{
	double	t0 = now();
	pid_t	pid;
	int	status;

	if ((pid = fork()) == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid == -1 || waitpid(pid, &status, 0) == -1 ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "ckpt-bench: %s failed\n", argv[0]);
		exit(1);
	}
	return now() - t0;
}

int
main(int argc, char **argv)
{
	struct ps_store	*s, *back;
	struct ps_rule	 rule;
	struct ps_tview	*v;
	char		 path[4096], copy[4096], names[16][16], *cause;
	const char	*dir = ".";
	double		 t_save[32], t_load[32], t_cp[32], t_cps[32], t0, mb;
	double		 save, load, cp, cps;
	float		*x;
	size_t		 per, i;
	int		 runs = 3, megabytes = 400, tensors = 4, ch, r, code;

	while ((ch = getopt(argc, argv, "m:r:t:")) != -1) {
		switch (ch) {
		case 'm':
			megabytes = atoi(optarg);
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 't':
			tensors = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind < argc)
		dir = argv[optind++];
	if (optind != argc || megabytes < 1 || runs < 1 || runs > 32 ||
	    tensors < 1 || tensors > 16)
		goto usage;

	per = (size_t)megabytes * 1000000 / 4 / (size_t)tensors;
	mb = (double)per * 4 * tensors / 1e6;
	x = malloc(per * sizeof *x);
	if (x == NULL) {
		fprintf(stderr, "ckpt-bench: out of memory\n");
		return 1;
	}
	for (i = 0; i < per; i++)
		x[i] = (float)(i % 1000) / 1000.0f - 0.5f;
	v = calloc((size_t)tensors, sizeof *v);
	for (r = 0; r < tensors; r++) {
		snprintf(names[r], sizeof names[r], "layer.%d", r);
		v[r].name = names[r];
		v[r].namelen = strlen(names[r]);
		v[r].dtype = PS_DTYPE_F32;
		v[r].ndim = 1;
		v[r].dims[0] = per;
		v[r].data = x;
		v[r].nbytes = per * sizeof *x;
	}
	ps_rule_defaults(&rule, PS_RULE_ADD);
	s = ps_store_new(&rule);
	if (ps_store_init(s, v, (size_t)tensors, &code, &cause) != 0) {
		fprintf(stderr, "ckpt-bench: %s\n", cause);
		return 1;
	}
	free(x);
	snprintf(path, sizeof path, "%s/ckpt-bench.safetensors", dir);
	snprintf(copy, sizeof copy, "%s/ckpt-bench.copy", dir);
	printf("model: %d tensors, %.0f MB; %d runs; files in %s\n", tensors,
	    mb, runs, dir);

	if (ps_ckpt_save(s, path, NULL, &cause) != 0) {
		fprintf(stderr, "ckpt-bench: save: %s\n", cause);
		return 1;
	}
	for (r = 0; r < runs; r++) {
		char *const cpv[] = { "cp", path, copy, NULL };
		char *const syncv[] = { "sync", copy, NULL };

		/* cp first: it finds the file as load does, in the cache. */
		unlink(copy);
		t_cp[r] = run(cpv);
		unlink(copy);
		t_cps[r] = run(cpv) + run(syncv);
		unlink(copy);

		t0 = now();
		if (ps_ckpt_save(s, path, NULL, &cause) != 0) {
			fprintf(stderr, "ckpt-bench: save: %s\n", cause);
			return 1;
		}
		t_save[r] = now() - t0;

		t0 = now();
		if ((back = ps_ckpt_load(path, NULL, NULL, &cause)) == NULL) {
			fprintf(stderr, "ckpt-bench: load: %s\n", cause);
			return 1;
		}
		t_load[r] = now() - t0;
		ps_store_free(back);
		printf("run %d: save %.3f s, load %.3f s, cp %.3f s, "
		    "cp+fsync %.3f s\n", r + 1, t_save[r], t_load[r], t_cp[r],
		    t_cps[r]);
	}
	unlink(path);
	for (r = 0; r < 2; r++) {
		/* r = 0: the best run of each; r = 1: the median. */
		save = r == 0 ? best(t_save, runs) : median(t_save, runs);
		load = r == 0 ? best(t_load, runs) : median(t_load, runs);
		cp = r == 0 ? best(t_cp, runs) : median(t_cp, runs);
		cps = r == 0 ? best(t_cps, runs) : median(t_cps, runs);
		printf("%s MB/s: save %.0f, load %.0f, cp %.0f, cp+fsync %.0f\n",
		    r == 0 ? "best" : "median", mb / save, mb / load, mb / cp,
		    mb / cps);
		printf("%s time ratios: save/cp %.2f, save/(cp+fsync) %.2f, "
		    "load/cp %.2f\n", r == 0 ? "best" : "median", save / cp,
		    save / cps, load / cp);
	}
	ps_store_free(s);
	return 0;

usage:
	fprintf(stderr, "usage: ckpt-bench [-r runs] [-m megabytes] "
	    "[-t tensors] [dir]\n");
	return 64;
}
