/*
 * Send queues: what one connection still has to send, as a list of slices
 * of refcounted buffers.  A message is one or more consecutive slices (for
 * a reply: its own 40-byte header, then a body shared with every other
 * reply for the same model version).  The queue hands out one WebSocket
 * fragment at a time, so a large message goes out one fragment per
 * WRITEABLE callback.  Both protocols queue here: the worker protocol's
 * replies, and the control protocol's text messages (one slice each).  No
 * I/O and no lws: the protocols write.  Service thread only.
 */
#ifndef PS_SENDQ_H
#define PS_SENDQ_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

/*
 * Writable bytes every buffer has before its data and before any offset
 * into it: room for the frame header lws writes in front of the pointer it
 * is given (LWS_PRE, checked at compile time in server.c).
 */
#define PS_BUF_PRE	32

/* A refcounted byte buffer; the last ps_buf_unref() frees it. */
struct ps_buf {
	unsigned	 refs;
	/*
	 * Threads reading data now (a checkpoint written from a pull body):
	 * while pinned, nothing may write into it, not even a frame header
	 * in front of a fragment (PS_SENDQ_PINNED).
	 */
	unsigned	 pinned;
	size_t		 len;
	uint8_t		*data;	/* len bytes, 64-byte aligned, PS_BUF_PRE before */
	void		*base;	/* owned: the allocation */
};

/* A new buffer of len bytes (uninitialised), one reference held. */
struct ps_buf	*ps_buf_new(size_t len);
struct ps_buf	*ps_buf_ref(struct ps_buf *);
void		 ps_buf_unref(struct ps_buf *);	/* NULL is a no-op */

/* Slice flags. */
#define PS_SENDQ_FIRST	0x1	/* the slice starts a message */
#define PS_SENDQ_LAST	0x2	/* the slice ends a message */
#define PS_SENDQ_PINNED	0x4	/* fragment: the bytes before it are data
				   another thread reads (ps_buf.pinned) */

struct ps_sendq_item {
	struct ps_buf			*b;	/* one reference owned */
	size_t				 off;
	size_t				 len;
	int				 flags;
	TAILQ_ENTRY(ps_sendq_item)	 entry;
};

struct ps_sendq {
	TAILQ_HEAD(, ps_sendq_item)	 items;
	size_t				 done;	/* bytes of the head item sent */
	size_t				 bytes;	/* bytes queued and not yet sent */
	size_t				 msgs;	/* messages not wholly sent */
};

void		 ps_sendq_init(struct ps_sendq *);
/* Drops everything queued (releasing the buffers). */
void		 ps_sendq_clear(struct ps_sendq *);
/*
 * Queues len bytes of b starting at off; takes its own reference to b.
 * flags: PS_SENDQ_FIRST on a message's first slice, PS_SENDQ_LAST on its
 * last (both on a one-slice message).  A zero-length slice is allowed.
 */
void		 ps_sendq_add(struct ps_sendq *, struct ps_buf *, size_t off,
		     size_t len, int flags);
int		 ps_sendq_empty(const struct ps_sendq *);
/*
 * The next fragment: at most max bytes from the head slice.  Returns 0
 * when nothing is queued, else 1 with *p, *len and *flags (PS_SENDQ_FIRST
 * when it is the first fragment of a message, PS_SENDQ_LAST when the
 * message ends with it, PS_SENDQ_PINNED when the PS_BUF_PRE bytes
 * before *p are data of a pinned buffer).  Else *p has PS_BUF_PRE
 * writable bytes before it (which, inside a shared buffer, are data: the
 * writer puts them back).
 */
int		 ps_sendq_next(const struct ps_sendq *, size_t max,
		     uint8_t **p, size_t *len, int *flags);
/* Marks len bytes of the fragment from ps_sendq_next() as sent. */
void		 ps_sendq_consume(struct ps_sendq *, size_t len);

#endif
