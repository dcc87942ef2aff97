/*
 * Checkpoint directory housekeeping (ckptdir.h).
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckptdir.h"
#include "xmalloc.h"

static int	ckptdir_cmp(const void *, const void *);
static int	ckptdir_is_temp(const char *);

static const char	ckptdir_suffix[] = ".safetensors";

void
ps_ckptdir_auto_name(uint64_t v, char *buf, size_t len)
{
	snprintf(buf, len, PS_CKPTDIR_AUTO_FMT, v);
}

int
ps_ckptdir_is_auto(const char *name, uint64_t *v)
{
	const char	*p, *end;
	uint64_t	 n = 0;
	size_t		 len = strlen(name), slen = sizeof ckptdir_suffix - 1;

	if (strncmp(name, "ckpt-", 5) != 0 || len <= 5 + slen)
		return 0;
	end = name + len - slen;
	if (strcmp(end, ckptdir_suffix) != 0)
		return 0;
	for (p = name + 5; p < end; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		if (n > (UINT64_MAX - 9) / 10)
			return 0;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*v = n;
	return 1;
}

int
ps_ckptdir_reserved(const char *file)
{
	uint64_t	v;

	return ps_ckptdir_is_auto(file, &v) ||
	    strcmp(file, PS_CKPTDIR_INITIAL) == 0;
}

struct ckptdir_ent {
	struct timespec	 mtime;
	uint64_t	 v;
	char		*name;
};

/* Oldest first: by modification time, then by version. */
static int
ckptdir_cmp(const void *a, const void *b)
{
	const struct ckptdir_ent	*x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	return strcmp(x->name, y->name);
}

int
ps_ckptdir_prune(const char *dir, unsigned keep, char **cause)
{
	DIR			*d;
	struct dirent		*de;
	struct ckptdir_ent	*e = NULL;
	struct stat		 sb;
	size_t			 n = 0, cap = 0, i;
	uint64_t		 v;
	char			*path;
	int			 removed = 0, rc = 0, saved;

	if (keep == 0)
		return 0;
	if ((d = opendir(dir)) == NULL) {
		*cause = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!ps_ckptdir_is_auto(de->d_name, &v))
			continue;
		/* Gone since the listing, or not a file: not ours to prune. */
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			e = xreallocarray(e, cap, sizeof *e);
		}
		e[n].mtime = sb.st_mtim;
		e[n].v = v;
		e[n].name = xstrdup(de->d_name);
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(e, n, sizeof *e, ckptdir_cmp);
	for (i = 0; i + keep < n; i++) {
		path = xasprintf("%s/%s", dir, e[i].name);
		if (unlink(path) == 0)
			removed++;
		else if (errno != ENOENT && rc == 0) {
			saved = errno;
			*cause = xasprintf("remove %s: %s", path,
			    strerror(saved));
			rc = -1;
		}
		free(path);
	}
	for (i = 0; i < n; i++)
		free(e[i].name);
	free(e);
	return rc == 0 ? removed : -1;
}

/* ".X.safetensors.tmp.N" or ".X.safetensors.tmp.N.M". */
static int
ckptdir_is_temp(const char *name)
{
	const char	*p;
	int		 dots = 0, digits = 0;

	if (name[0] != '.' || (p = strstr(name, ".safetensors.tmp.")) == NULL ||
	    p == name)
		return 0;
	for (p += strlen(".safetensors.tmp."); *p != '\0'; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (*p == '.' && digits > 0 && dots == 0) {
			dots++;
			digits = 0;
		} else
			return 0;
	}
	return digits > 0;
}

int
ps_ckptdir_sweep(const char *dir, char **cause)
{
	DIR		*d;
	struct dirent	*de;
	char		*path;
	int		 removed = 0;

	if ((d = opendir(dir)) == NULL) {
		*cause = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!ckptdir_is_temp(de->d_name))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (unlink(path) == 0)
			removed++;
		free(path);
	}
	closedir(d);
	return removed;
}

int
ps_ckptdir_create(const char *dir, char **cause)
{
	struct stat	sb;

	if (mkdir(dir, 0750) == 0)
		return 0;
	if (errno != EEXIST) {
		*cause = xasprintf("create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		*cause = xasprintf("%s: not a directory", dir);
		return -1;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		*cause = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
ps_ckptdir_lock(const char *dir, int *held, char **cause)
{
	char	*path, buf[32];
	ssize_t	 r;
	long	 pid;
	int	 fd, len;

	*held = 0;
	path = xasprintf("%s/%s", dir, PS_CKPTDIR_LOCK);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0640)) == -1) {
		*cause = xasprintf("cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			*cause = xasprintf("cannot lock %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		*held = 1;
		r = pread(fd, buf, sizeof buf - 1, 0);
		buf[r > 0 ? r : 0] = '\0';
		if (sscanf(buf, "%ld", &pid) == 1 && pid > 0)
			*cause = xasprintf("%s is in use by another psctl serve "
			    "(pid %ld holds %s)", dir, pid, path);
		else
			*cause = xasprintf("%s is in use by another psctl serve "
			    "(it holds %s)", dir, path);
		goto fail;
	}
	/* For the message of the next server that tries; advice only. */
	len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
		*cause = xasprintf("cannot write %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	free(path);
	return fd;

fail:
	close(fd);
	free(path);
	return -1;
}
