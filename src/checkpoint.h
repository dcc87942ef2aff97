/*
 * Checkpoints in the safetensors layout (psctl-checkpoint(5)): an 8-byte
 * little-endian header length, a JSON header, raw little-endian data.
 * psctl's __metadata__ records its version, the model version, the rule and
 * its parameters, per-tensor versions and steps, and a CRC-32C of the data
 * section.  Optimizer state is stored as extra tensors named
 * PS_STATE_PREFIX "m." NAME and PS_STATE_PREFIX "v." NAME (store.h).
 *
 * Saving is crash-safe: a temporary file in the target's directory, fsync,
 * rename over the target, fsync of the directory.  Loading checks every
 * field before use and refuses what does not verify.
 */
#ifndef PS_CHECKPOINT_H
#define PS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Extra facts to record in __metadata__ (all optional, may be NULL/0). */
struct ps_ckpt_extra {
	const char	*mode;		/* "async", "sync", "ssp" */
};

/*
 * Writes the store to path atomically.  Returns 0, or -1 with *cause
 * (allocated, caller frees) naming the failing step; the previous file at
 * path, if any, is then untouched and no temporary file is left behind.
 * Reads the store only: it may run on a clone in another thread.
 */
int	ps_ckpt_save(const struct ps_store *, const char *path,
	    const struct ps_ckpt_extra *, char **cause);

/* What a load found, for logs and `psctl inspect`. */
struct ps_ckpt_info {
	uint64_t	 model_version;	/* 0 when the file has none */
	int		 has_crc;	/* the file carries psctl.crc32c */
	int		 converted;	/* some tensor was F16/BF16/F64 */
	int		 has_rule;	/* the file names an update rule */
	struct ps_rule	 rule;		/* valid when has_rule */
	char		 psctl_version[32]; /* "" for foreign files */
	char		 mode[16];	/* "" when absent */
};

/*
 * Loads a checkpoint into a new store.  rule: the rule to serve with; NULL
 * takes the file's (or "add" for a foreign file).  Optimizer state in the
 * file is restored when the rule keeps it and shapes agree; otherwise it is
 * dropped (and the caller can log info->... ).  Returns the store, or NULL
 * with *cause saying what is wrong and where ("tensor \"w\": data_offsets
 * [8, 4096] beyond the data section (4000 bytes)").
 */
struct ps_store	*ps_ckpt_load(const char *path, const struct ps_rule *rule,
		    struct ps_ckpt_info *info, char **cause);

#endif
