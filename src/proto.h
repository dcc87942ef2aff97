/*
 * The worker wire format, psctl.worker.v1 (psctl-protocol(7) is normative).
 * Encoding and validated decoding only: no I/O.  Part of libpsctl, so it
 * uses malloc and reports errors; it never exits.
 *
 * A message is one binary WebSocket message, all integers little-endian:
 *
 *	header (40 bytes)
 *	  0  u32 magic		0x31575350 ("PSW1" as bytes)
 *	  4  u8  op		enum ps_op
 *	  5  u8  flags		0 (reserved; receivers refuse other bits)
 *	  6  u16 status		enum ps_errcode in ERROR, else 0
 *	  8  u64 id		request id, echoed by the reply
 *	 16  u64 version	model version (see each op)
 *	 24  u64 arg		op-specific (worker id, sequence number)
 *	 32  u32 count		number of tensor records that follow
 *	 36  u32 textlen	bytes of UTF-8 text after the header
 *	text, padded with zeros to a multiple of 8
 *	count tensor records, each:
 *	  0  u16 namelen	1..255
 *	  2  u8  dtype		enum ps_dtype (NONE: no data)
 *	  3  u8  ndim		0..8
 *	  4  u32 reserved	0
 *	  8  u64 dims[ndim]
 *	     name, padded with zeros to a multiple of 8
 *	     data: product(dims) * dtype size bytes, padded to a multiple of 8
 *
 * Every record and every data block thus starts 8-byte aligned relative to
 * the message start.  Ops:
 *	HELLO	text = worker name (may be empty); arg = worker id to resume
 *		(0 new); a resume's one record names its secret (dtype NONE)
 *		reply: arg = worker id, version = model version, text = server
 *		description, records = the model's names and shapes (dtype
 *		NONE), then the worker's resume secret (PS_RESUME_PREFIX)
 *	INIT	records = the full model, F32 (F16/BF16 accepted)
 *		reply: version, records = the model as it now is (F32)
 *	PULL	records = names wanted (dtype NONE, ndim 0), none = all
 *		reply: version, records (F32, in model order)
 *	PUSH	records = the update (F32); version = the model version the
 *		update was computed from (0 = unknown); arg = sequence number
 *		(0 = none) reply: version = the model version after it
 *	REPLY	answers the request with the same id
 *	ERROR	status = code, text = reason, same id as the request
 *
 * Rules ps_proto_decode() enforces beyond the layout (a receiver refuses
 * what breaks them):
 *	- status is 0 except in ERROR, where it is non-zero (any value: an
 *	  unknown code is a generic failure); ERROR carries no records;
 *	- HELLO carries at most one record, dtype NONE and ndim 0; PULL
 *	  records have dtype NONE and ndim 0;
 *	  INIT and PUSH records carry data (dtype F32, F16 or BF16);
 *	- text and names are UTF-8 without NUL (no overlongs, surrogates or
 *	  code points above U+10FFFF); text is at most PS_PROTO_TEXT_MAX bytes;
 *	- F64 (4) is never on the wire: checkpoints only;
 *	- every padding byte and the reserved u32 are zero: padding is
 *	  checked, so an encoder that misplaces a field is caught at once;
 *	- the message ends exactly after the last record's padded data.
 */
#ifndef PS_PROTO_H
#define PS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

#define PS_PROTO_MAGIC		0x31575350u
#define PS_PROTO_HDRLEN		40
#define PS_PROTO_RECHDR		8
#define PS_PROTO_TEXT_MAX	4096
#define PS_WORKER_PROTOCOL	"psctl.worker.v1"
/*
 * A worker's resume secret, as the last record of HELLO's reply and the
 * one record of a resuming HELLO: this prefix, then 32 lowercase hex
 * digits (128 random bits).  Names starting with "__" in a HELLO reply are
 * never model tensors.
 */
#define PS_RESUME_PREFIX	"__resume/"
#define PS_RESUME_LEN		(sizeof PS_RESUME_PREFIX - 1 + 32)

enum ps_op {
	PS_OP_HELLO = 1,
	PS_OP_INIT = 2,
	PS_OP_PULL = 3,
	PS_OP_PUSH = 4,
	PS_OP_REPLY = 16,
	PS_OP_ERROR = 17
};

struct ps_msg_hdr {
	uint8_t		op;
	uint8_t		flags;
	uint16_t	status;
	uint64_t	id;
	uint64_t	version;
	uint64_t	arg;
	uint32_t	count;
	uint32_t	textlen;
};

/*
 * Limits enforced by ps_proto_decode() before it trusts any length; 0 (or
 * a NULL pointer for the struct) means no limit beyond the format's own.
 */
struct ps_limits {
	size_t		max_message;	/* bytes */
	size_t		max_tensors;	/* records per message */
};

/* A decoded message.  t[] is owned and reused across decodes. */
struct ps_msg {
	struct ps_msg_hdr  h;
	const char	  *text;	/* borrowed from the buffer; not NUL-terminated */
	size_t		   textlen;
	struct ps_tview	  *t;		/* owned: count views into the buffer */
	size_t		   count;
	size_t		   cap;
};

const char	*ps_op_name(int);
/* Zeroes m; ps_msg_free() releases t[] (the views borrow, they free nothing). */
void		 ps_msg_init(struct ps_msg *);
void		 ps_msg_free(struct ps_msg *);

/*
 * Checks the header alone (len >= PS_PROTO_HDRLEN): magic, flags, op.
 * Fills the header fields whenever len allows, even on failure.
 * Returns 0, or -1 with a reason in err (errlen bytes, NUL-terminated).
 */
int		 ps_proto_decode_hdr(const void *buf, size_t len,
		     struct ps_msg_hdr *, char *err, size_t errlen);
/*
 * Decodes and validates a whole message: header, text (UTF-8), every
 * record (name valid, dtype known, ndim <= 8, sizes overflow-checked and
 * inside the message, padding in range), no trailing bytes, count and size
 * under the limits.  Views point into buf, which must stay alive and be
 * 8-byte aligned.  Returns 0, or -1 with *code (PS_E_MALFORMED,
 * PS_E_TOO_LARGE, PS_E_UNKNOWN_OP, PS_E_DTYPE) and a reason that names the
 * record and byte offset in err.  On -1 m->count is 0.  -2: out of memory.
 * Checks run in this order: message size against the limit, length >= 40,
 * magic, flags, op (PS_E_UNKNOWN_OP), count against the limit and text
 * length (PS_E_TOO_LARGE), text, count against the bytes left (each record
 * needs 16 at least), each record in turn, trailing bytes, op rules (a
 * record dtype the op does not take is PS_E_DTYPE).  m->h is filled from
 * the raw header whenever len >= 40, even on failure, so that an ERROR
 * reply can echo the request id.  t[] grows (realloc) only when count
 * exceeds m->cap; nothing else allocates.  Any thread; m is the caller's.
 */
int		 ps_proto_decode(const void *buf, size_t len,
		     const struct ps_limits *, struct ps_msg *m, int *code,
		     char *err, size_t errlen);

/* Encoded size of one record (header, dims, padded name and data). */
size_t		 ps_proto_record_size(const struct ps_tview *);
/* Size of a record's head (everything before its data). */
size_t		 ps_proto_record_head_size(const struct ps_tview *);
/*
 * Size of a whole message; SIZE_MAX on overflow or when it cannot be
 * encoded: text over PS_PROTO_TEXT_MAX, a namelen outside 1..255, ndim
 * over 8, an unknown dtype, or nbytes other than product(dims) times the
 * dtype size (0 for NONE).  The put functions below trust their input.
 */
size_t		 ps_proto_size(size_t textlen, const struct ps_tview *, size_t n);
/* Writes the 40-byte header. */
void		 ps_proto_put_hdr(void *buf, const struct ps_msg_hdr *);
/* Writes text plus padding at buf; returns bytes written (padded). */
size_t		 ps_proto_put_text(void *buf, const char *text, size_t len);
/* Writes a record's head (no data); returns ps_proto_record_head_size(). */
size_t		 ps_proto_put_record_head(void *buf, const struct ps_tview *);
/* Writes a whole record including data and padding; returns its size. */
size_t		 ps_proto_put_record(void *buf, const struct ps_tview *);
/*
 * Encodes a whole message into buf (cap bytes).  h->count and h->textlen
 * are set from n and textlen.  Returns its size, or 0 when cap is short
 * or ps_proto_size() refuses the views.  Never allocates; buf needs no
 * alignment.
 */
size_t		 ps_proto_encode(void *buf, size_t cap, struct ps_msg_hdr *h,
		     const char *text, size_t textlen,
		     const struct ps_tview *, size_t n);

#endif
