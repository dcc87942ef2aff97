/*
 * Types shared by every layer that handles tensors: dtypes, shapes, the
 * borrowed tensor view that proto decodes and store consumes, and the error
 * codes that travel on the wire.  No I/O, no allocation.
 */
#ifndef PS_TENSOR_H
#define PS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define PS_NAME_MAX	255	/* bytes of UTF-8, no NUL */
#define PS_DIMS_MAX	8

/* Wire values: never renumber. */
enum ps_dtype {
	PS_DTYPE_NONE = 0,	/* a name and shape without data */
	PS_DTYPE_F32 = 1,
	PS_DTYPE_F16 = 2,
	PS_DTYPE_BF16 = 3,
	PS_DTYPE_F64 = 4	/* checkpoints only: read, converted */
};

/*
 * Error codes carried by ERROR messages (psctl-protocol(7)) and returned by
 * the store.  Wire values: never renumber; retired values stay reserved.
 */
enum ps_errcode {
	PS_E_OK = 0,
	PS_E_MALFORMED = 1,	/* the message does not parse */
	PS_E_UNKNOWN_OP = 2,
	PS_E_TOO_LARGE = 3,	/* over a configured limit */
	PS_E_NO_MODEL = 4,	/* pull/push before any init */
	PS_E_MISMATCH = 5,	/* init disagrees with the model */
	PS_E_UNKNOWN_TENSOR = 6,
	PS_E_SHAPE = 7,		/* shape differs from the model's */
	PS_E_NONFINITE = 8,	/* NaN or infinity in an update */
	PS_E_DTYPE = 9,		/* dtype not accepted here */
	PS_E_PROTOCOL = 10,	/* valid message, wrong moment (no hello...) */
	PS_E_SHUTDOWN = 11,	/* server is stopping */
	PS_E_INTERNAL = 12,
	PS_E_DUPLICATE = 13,	/* a tensor named twice in one message */
	PS_E_BUSY = 14,		/* too many waiting requests */
	PS_E_UNAUTHORIZED = 15
};

/* A borrowed view of one tensor: valid while the buffer it points into. */
struct ps_tview {
	const char	*name;		/* not NUL-terminated */
	size_t		 namelen;
	enum ps_dtype	 dtype;
	unsigned	 ndim;
	uint64_t	 dims[PS_DIMS_MAX];
	const void	*data;		/* nbytes bytes; NULL for NONE */
	size_t		 nbytes;
};

/* Bytes per element: 4, 2, 2, 8, and 0 for NONE or an unknown dtype. */
size_t		 ps_dtype_size(enum ps_dtype);
/* "F32", "F16", "BF16", "F64" (the safetensors spellings), or NULL. */
const char	*ps_dtype_name(enum ps_dtype);
/* Parses a safetensors dtype string; PS_DTYPE_NONE when not one of ours. */
enum ps_dtype	 ps_dtype_parse(const char *);
/* Short name of an error code, e.g. "shape"; "unknown" for others. */
const char	*ps_errcode_name(int);

/*
 * Element count of a shape, overflow-checked: returns 0 and sets *n, or -1
 * when the product or its byte size (times elsize) exceeds SIZE_MAX.  A
 * shape with a zero dimension has 0 elements; ndim 0 is a scalar (1).
 */
int		 ps_shape_count(unsigned ndim, const uint64_t *dims,
		     size_t elsize, size_t *n);
/* Writes "[3, 4]" into buf (always NUL-terminated, truncated to len). */
void		 ps_shape_format(unsigned ndim, const uint64_t *dims,
		     char *buf, size_t len);
/*
 * Returns 1 when the name is 1..PS_NAME_MAX bytes of valid UTF-8
 * (ps_utf8_valid()) without NUL.
 */
int		 ps_name_valid(const char *, size_t);

/* Converters to float32 (little-endian input, possibly unaligned). */
void		 ps_f16_to_f32(const void *src, float *dst, size_t n);
void		 ps_bf16_to_f32(const void *src, float *dst, size_t n);
void		 ps_f64_to_f32(const void *src, float *dst, size_t n);
/* And back, rounding to nearest even (wire compression). */
void		 ps_f32_to_f16(const float *src, void *dst, size_t n);
void		 ps_f32_to_bf16(const float *src, void *dst, size_t n);

#endif
