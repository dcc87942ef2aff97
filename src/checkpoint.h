/*
 * Checkpoints in the safetensors layout (psctl-checkpoint(5)): an 8-byte
 * little-endian header length, a JSON header, raw little-endian data.
 * psctl's __metadata__ records its version, the model version and L2 norm,
 * the rule and its parameters, per-tensor versions and steps, a CRC-32C of
 * the data section and one of the header.  Optimizer state is stored as extra
 * tensors named PS_STATE_PREFIX "m." NAME and PS_STATE_PREFIX "v." NAME
 * (store.h), after the model's tensors.
 *
 * Saving is crash-safe: a temporary file in the target's directory, fsync,
 * rename over the target, fsync of the directory.  Loading checks every
 * field before use and refuses what does not verify.  Neither keeps any
 * global state: both may run on any thread, on different stores at once.
 * checkpoint-save.c saves, checkpoint-load.c loads.
 */
#ifndef PS_CHECKPOINT_H
#define PS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The largest JSON header accepted (as the safetensors library's). */
#define PS_CKPT_HEADER_MAX	100000000ULL

/* Extra facts to record in __metadata__ (all optional, may be NULL/0). */
struct ps_ckpt_extra {
	const char	*mode;		/* "async", "sync", "ssp" */
};

/*
 * Writes the store to path atomically.  Returns 0, or -1 with *cause
 * (allocated, caller frees) naming the failing step; the previous file at
 * path, if any, is then untouched and no temporary file is left behind
 * (except when only the final fsync of the directory failed: the new file
 * is then in place but may not survive a power loss).  A store without a
 * model is refused.  A path that exists and is neither a regular file
 * nor a directory (/dev/null, /dev/stdout, a FIFO) is written straight,
 * never replaced.  Reads the store only: it may run on a clone in
 * another thread.  The data is written straight from the store's buffers.
 */
int	ps_ckpt_save(const struct ps_store *, const char *path,
	    const struct ps_ckpt_extra *, char **cause);
/*
 * ps_ckpt_save() with tensor i's values data[i] (s's tensor i's n floats,
 * read only) instead of s's own, so that s may be a ps_store_clone_meta()
 * whose values are elsewhere (the pull body).  data NULL: s's own.
 */
int	ps_ckpt_save_values(const struct ps_store *, const float *const *data,
	    const char *path, const struct ps_ckpt_extra *, char **cause);

/*
 * Writes the checkpoint into fd, an empty regular file open for writing,
 * from its start (pwrite(2)), without syncing: for a scratch file, not
 * for one that must survive a crash.  Tensor i's values are data[i] (s's
 * tensor i's n floats, read only), or s's own when data is NULL, so s
 * may be a ps_store_clone_meta() whose values are elsewhere.  fd stays
 * open.  0, or -1 with *cause.
 */
int	ps_ckpt_save_fd(const struct ps_store *, const float *const *data,
	    int fd, const struct ps_ckpt_extra *, char **cause);

/* Why a load failed (ps_ckpt_info.error). */
enum ps_ckpt_error {
	PS_CKPT_E_NONE = 0,
	PS_CKPT_E_NOFILE,	/* cannot be opened, or not a regular file */
	PS_CKPT_E_IO,		/* reading it failed */
	PS_CKPT_E_INVALID	/* its content does not verify */
};

/* What a load found, for logs and `psctl inspect`. */
struct ps_ckpt_info {
	uint64_t	 model_version;	/* 0 when the file has none */
	int		 has_model_l2;	/* the file records psctl.model_l2 */
	double		 model_l2;	/* the model's L2 norm when saved */
	int		 has_crc;	/* the file carries psctl.crc32c (verified) */
	int		 converted;	/* some tensor was F16/BF16/F64 */
	int		 has_rule;	/* the file names an update rule */
	struct ps_rule	 rule;		/* valid when has_rule */
	char		 psctl_version[32]; /* "" for foreign files */
	char		 mode[16];	/* "" when absent */
	size_t		 state_restored; /* optimizer state tensors loaded */
	size_t		 state_dropped;	/* ... in the file, not kept by the rule */
	enum ps_ckpt_error error;	/* set when the load fails */
};

/*
 * Loads a checkpoint into a new store.  rule: the rule to serve with; NULL
 * takes the file's (or "add" for a foreign file).  Optimizer state in the
 * file is restored when the serving rule is the file's rule and keeps that
 * state; otherwise it is dropped (counted in info->state_dropped) and the
 * state starts at zero.  info may be NULL.  Returns the store, or NULL
 * with info->error set and *cause saying what is wrong and where ("tensor
 * \"w\": data_offsets [8, 4096] beyond the data section (4000 bytes)"); the
 * cause does not repeat the path.  The data is read with pread(2) straight
 * into the new store's buffers; a file that shrinks while it loads is an
 * I/O error (PS_CKPT_E_IO).
 */
struct ps_store	*ps_ckpt_load(const char *path, const struct ps_rule *rule,
		    struct ps_ckpt_info *info, char **cause);

/*
 * ps_ckpt_load() from fd, a regular file open for reading (pread(2): its
 * offset is not used), which stays open.
 */
struct ps_store	*ps_ckpt_load_fd(int fd, const struct ps_rule *rule,
		    struct ps_ckpt_info *info, char **cause);

/*
 * Reads a checkpoint's header and metadata only, not its data: the checks
 * of ps_ckpt_load() that need no data (the header, its checksum, the
 * layout, the names, the metadata), and info's version, model_l2 and
 * rule.  *size is the file's.  0, or -1 with info->error and *cause.
 */
int		 ps_ckpt_peek(const char *path, struct ps_ckpt_info *info,
		     uint64_t *size, char **cause);

/* One tensor as the file holds it (ps_ckpt_load_detail()). */
struct ps_ckpt_entry {
	char		*name;		/* owned, NUL-terminated */
	enum ps_dtype	 dtype;		/* as stored in the file */
	unsigned	 ndim;
	uint64_t	 dims[PS_DIMS_MAX];
	uint64_t	 begin;		/* data_offsets, within the data section */
	uint64_t	 end;
	char		 slot;		/* 0: model tensor; 'm' or 'v': state */
	size_t		 index;		/* the (owning) model tensor's store index */
	int		 restored;	/* state: loaded into the store */
};

/* The file's layout, for `psctl inspect`. */
struct ps_ckpt_detail {
	uint64_t	 file_size;
	uint64_t	 header_len;	/* N: the JSON and its padding */
	uint64_t	 data_len;
	uint32_t	 crc;		/* psctl.crc32c, when info->has_crc */
	int		 has_header_crc; /* psctl.header_crc32c (verified) */
	uint32_t	 header_crc;
	int		 order_listed;	/* order from psctl.tensors, not offsets */
	struct ps_ckpt_entry *model;	/* owned: one per store tensor, in order */
	size_t		 nmodel;
	struct ps_ckpt_entry *state;	/* owned: optimizer state, file order */
	size_t		 nstate;
	char		**meta_keys;	/* owned: __metadata__, file order */
	char		**meta_values;	/* owned */
	size_t		 nmeta;
};

/*
 * ps_ckpt_load(), and on success also *detail (caller frees with
 * ps_ckpt_detail_free()); *detail is NULL on failure.
 */
struct ps_store	*ps_ckpt_load_detail(const char *path,
		    const struct ps_rule *rule, struct ps_ckpt_info *info,
		    struct ps_ckpt_detail **detail, char **cause);
void		 ps_ckpt_detail_free(struct ps_ckpt_detail *); /* NULL: no-op */

#endif
