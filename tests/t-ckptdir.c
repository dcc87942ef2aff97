/*
 * Checkpoint directory housekeeping: automatic names, pruning with --keep,
 * sweeping temporary files.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckptdir.h"
#include "tap.h"

static char	*dir;

static void
touch(const char *name)
{
	char	path[4096];
	int	fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		bail_out("cannot create %s", path);
	close(fd);
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
	int		 r;

	plan(23);
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

	touch("ckpt-000009.safetensors");
	touch("ckpt-000010.safetensors");
	touch("ckpt-000100.safetensors");
	touch("ckpt-000002.safetensors");
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

	r = ps_ckptdir_sweep(dir, &cause);
	is_int(r, 2, "two temporary files are swept");
	ok(!exists(".ckpt-000101.safetensors.tmp.1234") &&
	    !exists(".x.safetensors.tmp.1234.2"), "both forms of temporary name go");
	ok(exists(".x.safetensors.tmp."), "a name without the number stays");
	ok(exists("notes.txt") && exists("ckpt-000100.safetensors"),
	    "other files stay");

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
