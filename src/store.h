/*
 * The parameter store: one model, an ordered set of named float32 tensors,
 * with a model version, a version per tensor, an update rule and its
 * optimizer state.  No I/O, no locking: the server's service thread owns the
 * live store; other threads work on a ps_store_clone().  The update rules
 * themselves (names, parameters, JSON) are rule.h's.
 *
 * Every mutating call validates its whole input first and changes nothing
 * when it returns -1: no partial updates, ever.
 */
#ifndef PS_STORE_H
#define PS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "rule.h"
#include "tensor.h"

/*
 * Optimizer state is checkpointed as extra tensors named
 * PS_STATE_PREFIX "<slot>." "<tensor name>", slot "m" (momentum buffer, adam
 * first moment) or "v" (adam second moment).  Names beginning with "__" are
 * reserved: init and push refuse them.
 */
#define PS_STATE_PREFIX	"__psctl."

struct ps_tensor {
	char		*name;		/* owned, NUL-terminated */
	size_t		 namelen;
	unsigned	 ndim;
	uint64_t	 dims[PS_DIMS_MAX];
	size_t		 n;		/* elements */
	float		*data;		/* owned, n floats, 64-byte aligned */
	float		*m;		/* owned optimizer state or NULL */
	float		*v;		/* owned optimizer state or NULL */
	uint64_t	 version;	/* model version of its last update */
	uint64_t	 steps;		/* updates applied (adam's t) */
	double		 update_l2;	/* L2 norm of the last applied change */
	double		 l2;		/* cached L2 norm; see ps_store_l2() */
	int		 l2_stale;
	/*
	 * Upper bounds on max |data|, |m|, |v|, kept by every update so that
	 * an update of finite values that would overflow to infinity is
	 * caught before anything is written (see ps_store_apply()).
	 */
	double		 wmax;
	double		 mmax;
	double		 vmax;
	int		 bounds_stale;	/* recompute the bounds before use */
};

/*
 * A new, empty store (no tensors, version 0) that applies rule, which must
 * pass ps_rule_check() (fatal otherwise).
 */
struct ps_store	*ps_store_new(const struct ps_rule *);
void		 ps_store_free(struct ps_store *);	/* NULL is a no-op */
/* A deep copy: tensors, state, versions (the checkpoint snapshot). */
struct ps_store	*ps_store_clone(const struct ps_store *);
/*
 * A deep copy of everything but the model's values: every tensor's data
 * is NULL (its cached L2 norm may be stale: the values give it).  Only
 * ps_store_clone_with(), ps_store_free() and the checkpoint writer given
 * the values (ps_ckpt_save_values(), _save_fd()) may read it: it keeps a
 * model's names, shapes, versions and optimizer state beside values held
 * elsewhere (the pull body).  No pass over the values: cheap on the
 * service thread.
 */
struct ps_store	*ps_store_clone_meta(const struct ps_store *);
/*
 * A deep copy of s (usually a ps_store_clone_meta() one) whose tensor i
 * has the values data[i] (s's tensor i's n floats, copied).
 */
struct ps_store	*ps_store_clone_with(const struct ps_store *,
		     const float *const *data);

/*
 * Creates the model from n views (dtype F32; F16/BF16/F64 are converted),
 * in their order.  The store must be empty.  Refuses (-1, *code, *cause
 * allocated for the caller to free) empty or reserved or duplicate names,
 * invalid UTF-8, more than PS_DIMS_MAX dims, byte sizes that do not match
 * the shape, non-finite values.  Version stays 0; each tensor's version 0.
 * Codes: PS_E_MALFORMED (no tensors, bad or reserved name, byte size),
 * PS_E_DUPLICATE, PS_E_SHAPE (ndim), PS_E_TOO_LARGE (size overflows),
 * PS_E_DTYPE, PS_E_NONFINITE (also F64 values beyond float32's range),
 * PS_E_INTERNAL (the store is not empty).  Optimizer state is allocated
 * (zeroed) here for the rules that keep it.
 */
int		 ps_store_init(struct ps_store *, const struct ps_tview *,
		     size_t n, int *code, char **cause);
/*
 * Creates the model's tensors from n views without copying anything:
 * names, shapes and their order as ps_store_init() takes and refuses them,
 * but the views' dtype, data and nbytes are ignored (each tensor is n
 * float32, whatever the source holds).  Every tensor's data is allocated
 * and left uninitialised; optimizer state is allocated zeroed.  For a
 * caller that reads the values in place (checkpoint load, which reads the
 * file straight into the buffers): it must, before the store is used by
 * anything else, write every element of every tensor through
 * ps_store_tensor_mut() and check them finite (ps_k_finite() or
 * ps_k_maxabs()), or free the store.  The store cannot tell whether it
 * did; its cached norms and bounds start stale, so that they are computed
 * from what was written.
 */
int		 ps_store_init_shapes(struct ps_store *, const struct ps_tview *,
		     size_t n, int *code, char **cause);
/*
 * Returns 0 when the views name exactly the model's tensors with the same
 * shapes in the same order (what a second init must send), else -1 with
 * PS_E_MISMATCH and a cause saying the first difference.  Data is ignored.
 */
int		 ps_store_matches(const struct ps_store *,
		     const struct ps_tview *, size_t n, int *code, char **cause);

int		 ps_store_empty(const struct ps_store *);
size_t		 ps_store_count(const struct ps_store *);
size_t		 ps_store_params(const struct ps_store *);	/* elements */
uint64_t	 ps_store_version(const struct ps_store *);
/* Sets the model version (load from checkpoint, reset keeps it rising). */
void		 ps_store_set_version(struct ps_store *, uint64_t);
const struct ps_rule *ps_store_rule(const struct ps_store *);
/*
 * Borrowed: valid until ps_store_free(); tensors never move or resize.
 * NULL when i is out of range.  ps_store_tensor_mut() marks the tensor's
 * cached norm and bounds stale: whoever writes data, m or v through it
 * (checkpoint load) does so before the next other ps_store_* call.
 */
const struct ps_tensor *ps_store_tensor(const struct ps_store *, size_t i);
struct ps_tensor *ps_store_tensor_mut(struct ps_store *, size_t i);
/* By name (not NUL-terminated); NULL when absent, else *index set. */
const struct ps_tensor *ps_store_find(const struct ps_store *,
		     const char *name, size_t namelen, size_t *index);
/* Allocates zeroed m/v for every tensor as the rule needs (idempotent). */
void		 ps_store_alloc_state(struct ps_store *);

/*
 * Validates an update of some or all tensors: every name known and named
 * once, dtype F32, shape equal to the model's, every value finite.  Returns
 * 0, or -1 with *code (PS_E_UNKNOWN_TENSOR, PS_E_DUPLICATE, PS_E_SHAPE,
 * PS_E_DTYPE, PS_E_NONFINITE, PS_E_NO_MODEL) and *cause naming the tensor.
 * A reserved name is PS_E_UNKNOWN_TENSOR.  PS_E_MALFORMED: nbytes does not
 * match the shape, or the data is not 4-byte aligned (proto's views are).
 * No views at all is a valid (empty) update.
 */
int		 ps_store_check(const struct ps_store *,
		     const struct ps_tview *, size_t n, int *code, char **cause);
/*
 * Checks, then applies the update under the store's rule: the model
 * version rises by one (ps_store_version() is the new one), and each
 * named tensor's version becomes it, its steps rise by one and its
 * update_l2 is the norm of the change to w.  Returns 0, or -1 with *code
 * and *cause and the store untouched.  Besides ps_store_check()'s
 * refusals: PS_E_NONFINITE when finite values would still overflow the
 * model or its optimizer state to infinity or NaN (decided before
 * writing, from the bounds, exactly when they are not enough).  No copy
 * and no allocation: the hot path.
 */
int		 ps_store_apply(struct ps_store *, const struct ps_tview *,
		     size_t n, int *code, char **cause);

/* L2 norm of tensor i, recomputed only when stale. */
double		 ps_store_l2(struct ps_store *, size_t i);
/* L2 norm of the whole model (sqrt of the sum of squared tensor norms). */
double		 ps_store_model_l2(struct ps_store *);
/*
 * The same value, reading only: cached norms where they are fresh, a pass
 * over the values of the others, no cache updated.  For a store that is
 * const where it is read (a checkpoint being saved).  Tensor i's values
 * are data[i] (a ps_store_clone_meta()'s, which has none), or its own
 * when data is NULL.
 */
double		 ps_store_model_l2_const(const struct ps_store *,
		     const float *const *data);
/* L2 norm of the last applied update across the tensors it touched. */
double		 ps_store_last_update_l2(const struct ps_store *);
/*
 * L2 norm of the last update ps_store_apply() accepted, as it came (not
 * as the rule applied it): measured in the pass that checks it.
 */
double		 ps_store_push_l2(const struct ps_store *);

/*
 * Synchronous rounds: an accumulator shaped like the model sums validated
 * updates; ps_store_apply_mean() applies, for each tensor, the sum of its
 * contributions divided by their number, as one update (one version), and
 * resets the accumulator.  Allocates only in ps_accum_new().
 */
struct ps_accum	*ps_accum_new(const struct ps_store *);
void		 ps_accum_free(struct ps_accum *);
/*
 * Validates with ps_store_check(); adds; 0 or -1 with nothing added.  Also
 * PS_E_NONFINITE when a sum would overflow, PS_E_INTERNAL when the
 * accumulator was made for another model.
 */
int		 ps_accum_add(struct ps_accum *, const struct ps_store *,
		     const struct ps_tview *, size_t n, int *code, char **cause);
size_t		 ps_accum_updates(const struct ps_accum *);
/* L2 norm of the last update ps_accum_add() took, as ps_store_push_l2(). */
double		 ps_accum_push_l2(const struct ps_accum *);
void		 ps_accum_reset(struct ps_accum *);
/*
 * Applies the round's mean as one update (the version rises by one), or
 * nothing when nothing was accumulated (the version stays): 0 either way.
 * -1 with *cause when the mean would overflow the model to non-finite
 * values or the accumulator was made for another model: the round is
 * dropped, the store untouched.  The accumulator is reset in every case.
 */
int		 ps_store_apply_mean(struct ps_store *, struct ps_accum *,
		     char **cause);

#endif
