/*
 * The checkpoint directory (--checkpoint-dir): the names the server gives
 * its own checkpoints and reserves for them, pruning them (--keep),
 * sweeping the temporary files a crash mid-write leaves (ps_ckpt_save()
 * writes ".NAME.tmp.PID"), and the lock that gives the directory to one
 * server.  Directory listings only; the files themselves are
 * checkpoint.h's.  Called on the service thread: a listing of a small
 * directory is quick.
 */
#ifndef PS_CKPTDIR_H
#define PS_CKPTDIR_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>

/* The automatic name for model version v: "ckpt-000812.safetensors". */
#define PS_CKPTDIR_AUTO_FMT	"ckpt-%06" PRIu64 ".safetensors"
/* The model as first created, when there is a checkpoint directory. */
#define PS_CKPTDIR_INITIAL	"initial.safetensors"
/*
 * The lock file: flock()ed by the server that uses the directory, for as
 * long as it runs.  A leading '.' keeps it out of the checkpoint names.
 */
#define PS_CKPTDIR_LOCK		".psctl.lock"

/* Writes the automatic name for version v into buf (>= 48 bytes). */
void	ps_ckptdir_auto_name(uint64_t v, char *buf, size_t len);
/*
 * 1 when name is an automatic checkpoint's ("ckpt-", digits,
 * ".safetensors"), with its version in *v; else 0.
 */
int	ps_ckptdir_is_auto(const char *name, uint64_t *v);
/*
 * 1 when file (a name with its ".safetensors") is reserved for the server's
 * own checkpoints: an automatic name or PS_CKPTDIR_INITIAL.  An operator
 * may reset to these but not write them.
 */
int	ps_ckptdir_reserved(const char *file);
/*
 * Deletes the oldest automatic checkpoints so that keep remain; other
 * files are never touched.  Oldest is by modification time, then by
 * version, so that after a reset to an older model the new, lower-numbered
 * checkpoints are the ones kept.  keep 0 keeps all.  Returns the number
 * deleted, or -1 with *cause (some may have been deleted).
 */
int	ps_ckptdir_prune(const char *dir, unsigned keep, char **cause);
/*
 * Deletes temporary files left by interrupted saves (".X.safetensors.tmp.N"
 * and ".X.safetensors.tmp.N.M").  Call before any save starts.  Returns
 * the number deleted, or -1 with *cause.
 */
int	ps_ckptdir_sweep(const char *dir, char **cause);
/* Creates dir (mode 0750) unless it exists; 0 or -1 with *cause. */
int	ps_ckptdir_create(const char *dir, char **cause);
/*
 * Takes dir's lock (PS_CKPTDIR_LOCK, created if missing, an exclusive
 * flock() that does not wait) and writes this process's id into it.
 * Returns the open descriptor, held until closed (close-on-exec), or -1
 * with *cause; *held is 1 when another process holds the lock (its id in
 * *cause when the file says it), 0 for any other failure.
 */
int	ps_ckptdir_lock(const char *dir, int *held, char **cause);

#endif
