/*
 * Checkpoint directory housekeeping: automatic and reserved names, pruning
 * with --keep (oldest by time, then by version), sweeping temporary files,
 * the directory's lock.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ckptdir.h"
#include "tap.h"

static char	*dir;

/* Creates name with modification time sec (0: now). */
static void
touch_at(const char *name, time_t sec)
{
	struct timespec	ts[2];
	char		path[4096];
	int		fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		bail_out("cannot create %s", path);
	if (sec != 0) {
		ts[0].tv_sec = ts[1].tv_sec = sec;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		if (futimens(fd, ts) != 0)
			bail_out("cannot set the time of %s", path);
	}
	close(fd);
}

static void
touch(const char *name)
{
	touch_at(name, 0);
}

static void
mkdir_in(const char *name)
{
	char	path[4096];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (mkdir(path, 0700) != 0)
		bail_out("cannot create %s", path);
}

static void
rmdir_in(const char *name)
{
	char	path[4096];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	rmdir(path);
}

static int
exists(const char *name)
{
	char	path[4096];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

int
main(void)
{
	char		 buf[64], *cause = NULL;
	uint64_t	 v = 0;
	int		 r, fd, fd2, held;

	plan(35);
	dir = tap_tmpdir();

	ps_ckptdir_auto_name(42, buf, sizeof buf);
	is_str(buf, "ckpt-000042.safetensors", "version 42 is ckpt-000042");
	ps_ckptdir_auto_name(12345678, buf, sizeof buf);
	is_str(buf, "ckpt-12345678.safetensors", "long versions are not cut");
	ok(ps_ckptdir_is_auto("ckpt-000042.safetensors", &v) && v == 42,
	    "ckpt-000042.safetensors is automatic, version 42");
	ok(ps_ckptdir_is_auto("ckpt-7.safetensors", &v) && v == 7,
	    "ckpt-7.safetensors is automatic, version 7");
	ok(!ps_ckptdir_is_auto("ckpt-.safetensors", &v), "no digits: not ours");
	ok(!ps_ckptdir_is_auto("ckpt-12a.safetensors", &v),
	    "a letter among the digits: not ours");
	ok(!ps_ckptdir_is_auto("before-lr.safetensors", &v),
	    "an operator's name is not automatic");
	ok(!ps_ckptdir_is_auto("ckpt-12.safetensors.tmp.99", &v),
	    "a temporary file is not a checkpoint");
	ok(!ps_ckptdir_is_auto("ckpt-99999999999999999999999.safetensors", &v),
	    "a version over 64 bits is not ours");

	ok(ps_ckptdir_reserved("ckpt-000042.safetensors") &&
	    ps_ckptdir_reserved("ckpt-0.safetensors") &&
	    ps_ckptdir_reserved("initial.safetensors"),
	    "automatic names and initial are reserved");
	ok(!ps_ckptdir_reserved("ckpt-best.safetensors") &&
	    !ps_ckptdir_reserved("initial-2.safetensors") &&
	    !ps_ckptdir_reserved("ckpt-.safetensors"),
	    "ckpt-best, initial-2 and ckpt- are not");

	/* The same time for all: the versions decide. */
	touch_at("ckpt-000009.safetensors", 1000000000);
	touch_at("ckpt-000010.safetensors", 1000000000);
	touch_at("ckpt-000100.safetensors", 1000000000);
	touch_at("ckpt-000002.safetensors", 1000000000);
	touch("before-lr.safetensors");
	touch("initial.safetensors");
	touch(".ckpt-000101.safetensors.tmp.1234");
	touch(".x.safetensors.tmp.1234.2");
	touch(".x.safetensors.tmp.");
	touch("notes.txt");

	is_int(ps_ckptdir_prune(dir, 0, &cause), 0, "keep 0 deletes nothing");
	r = ps_ckptdir_prune(dir, 2, &cause);
	is_int(r, 2, "keep 2 of four automatic checkpoints deletes two");
	ok(!exists("ckpt-000002.safetensors") && !exists("ckpt-000009.safetensors"),
	    "the two lowest versions went (2 and 9, by number not by text)");
	ok(exists("ckpt-000010.safetensors") && exists("ckpt-000100.safetensors"),
	    "versions 10 and 100 stay");
	ok(exists("before-lr.safetensors") && exists("initial.safetensors"),
	    "named and initial checkpoints are never pruned");
	is_int(ps_ckptdir_prune(dir, 2, &cause), 0,
	    "pruning again deletes nothing");

	/*
	 * After a restart on an older checkpoint the newest file has the
	 * lowest version: time decides, not the number.
	 */
	touch_at("ckpt-000003.safetensors", 1000000020);
	touch_at("ckpt-000200.safetensors", 1000000010);
	is_int(ps_ckptdir_prune(dir, 2, &cause), 2,
	    "keep 2 of four deletes two");
	ok(exists("ckpt-000003.safetensors") &&
	    exists("ckpt-000200.safetensors"),
	    "the two newest by time stay, version 3 among them");
	ok(!exists("ckpt-000010.safetensors") &&
	    !exists("ckpt-000100.safetensors"),
	    "the two oldest by time went, versions 10 and 100");
	mkdir_in("ckpt-000001.safetensors");
	is_int(ps_ckptdir_prune(dir, 1, &cause), 1,
	    "keep 1: one file deleted");
	ok(exists("ckpt-000001.safetensors") &&
	    exists("ckpt-000003.safetensors"),
	    "a directory with an automatic name is not pruned");
	rmdir_in("ckpt-000001.safetensors");

	r = ps_ckptdir_sweep(dir, &cause);
	is_int(r, 2, "two temporary files are swept");
	ok(!exists(".ckpt-000101.safetensors.tmp.1234") &&
	    !exists(".x.safetensors.tmp.1234.2"), "both forms of temporary name go");
	ok(exists(".x.safetensors.tmp."), "a name without the number stays");
	ok(exists("notes.txt") && exists("ckpt-000003.safetensors"),
	    "other files stay");

	/* The lock: one holder at a time, even within one process. */
	fd = ps_ckptdir_lock(dir, &held, &cause);
	ok(fd >= 0 && exists(PS_CKPTDIR_LOCK), "the lock is taken: %s",
	    PS_CKPTDIR_LOCK);
	ok((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "close-on-exec");
	fd2 = ps_ckptdir_lock(dir, &held, &cause);
	snprintf(buf, sizeof buf, "pid %ld", (long)getpid());
	ok(fd2 == -1 && held && cause != NULL && strstr(cause, buf) != NULL &&
	    strstr(cause, "in use") != NULL,
	    "a second taker is refused, told who holds it: %s", cause);
	free(cause);
	cause = NULL;
	close(fd);
	fd2 = ps_ckptdir_lock(dir, &held, &cause);
	ok(fd2 >= 0, "once closed, it can be taken again");
	close(fd2);
	fd2 = ps_ckptdir_lock("/nonexistent/psctl", &held, &cause);
	ok(fd2 == -1 && !held && cause != NULL,
	    "a missing directory is another failure: %s", cause);
	free(cause);
	cause = NULL;

	r = ps_ckptdir_prune("/nonexistent/psctl", 1, &cause);
	ok(r == -1 && cause != NULL, "a missing directory is an error: %s",
	    cause);
	free(cause);
	cause = NULL;

	snprintf(buf, sizeof buf, "%s/sub", dir);
	is_int(ps_ckptdir_create(buf, &cause), 0, "a new directory is created");
	is_int(ps_ckptdir_create(buf, &cause), 0, "an existing one is fine");
	snprintf(buf, sizeof buf, "%s/notes.txt", dir);
	r = ps_ckptdir_create(buf, &cause);
	ok(r == -1 && strstr(cause, "not a directory") != NULL,
	    "a file in the way is an error: %s", cause);
	free(cause);
	cause = NULL;
	snprintf(buf, sizeof buf, "%s/sub", dir);
	rmdir(buf);
	return exit_status();
}
