/*
 * The send queue (sendq.c) without a socket: messages made of shared
 * slices come out as fragments with the right first/last flags, in order,
 * and buffers are released when the last slice using them is sent.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "sendq.h"
#include "tap.h"

/* Drains q in fragments of at most max; returns the bytes and flags seen. */
static size_t
drain(struct ps_sendq *q, size_t max, uint8_t *out, int *flags, size_t *nfrag)
{
	uint8_t	*p;
	size_t	 len, total = 0;
	int	 f;

	*nfrag = 0;
	while (ps_sendq_next(q, max, &p, &len, &f)) {
		memcpy(out + total, p, len);
		flags[(*nfrag)++] = f;
		total += len;
		ps_sendq_consume(q, len);
	}
	return total;
}

int
main(void)
{
	struct ps_sendq	 q;
	struct ps_buf	*hdr, *body, *small;
	uint8_t		 out[4096], want[4096];
	int		 flags[64], i, good;
	size_t		 n, nfrag;

	plan(15);

	body = ps_buf_new(1000);
	for (i = 0; i < 1000; i++)
		body->data[i] = (uint8_t)(i * 7);
	ok(((uintptr_t)body->data % 64) == 0,
	    "buffer data is 64-byte aligned");
	memset(body->data - PS_BUF_PRE, 0xee, PS_BUF_PRE);
	ok(body->data[-1] == 0xee && body->data[-PS_BUF_PRE] == 0xee,
	    "PS_BUF_PRE bytes before the data are writable");

	ps_sendq_init(&q);
	ok(ps_sendq_empty(&q), "a new queue is empty");
	hdr = ps_buf_new(40);
	memset(hdr->data, 'h', 40);
	/* Two replies sharing one body, then a one-slice message. */
	ps_sendq_add(&q, hdr, 0, 40, PS_SENDQ_FIRST);
	ps_sendq_add(&q, body, 0, 1000, PS_SENDQ_LAST);
	ps_sendq_add(&q, hdr, 0, 40, PS_SENDQ_FIRST);
	ps_sendq_add(&q, body, 0, 1000, PS_SENDQ_LAST);
	small = ps_buf_new(8);
	memset(small->data, 's', 8);
	ps_sendq_add(&q, small, 0, 8, PS_SENDQ_FIRST | PS_SENDQ_LAST);
	is_int(q.msgs, 3, "three messages are queued");
	is_int(q.bytes, 2088, "2088 bytes are queued");
	is_int(body->refs, 3, "the shared body is referenced by both replies");
	ps_buf_unref(body);
	ps_buf_unref(hdr);
	ps_buf_unref(small);

	n = drain(&q, 256, out, flags, &nfrag);
	is_int(n, 2088, "every byte comes out");
	memset(want, 'h', 40);
	for (i = 0; i < 1000; i++)
		want[40 + i] = (uint8_t)(i * 7);
	memcpy(want + 1040, want, 1040);
	memset(want + 2080, 's', 8);
	ok(memcmp(out, want, 2088) == 0, "in order, with the body's contents");
	/* 40 | 256 256 256 232 | 40 | 256 256 256 232 | 8 */
	is_int(nfrag, 11, "a 1000-byte body goes out as four 256-byte "
	    "fragments after its header");
	good = flags[0] == PS_SENDQ_FIRST && flags[1] == 0 && flags[3] == 0 &&
	    flags[4] == PS_SENDQ_LAST;
	ok(good, "only a message's first fragment is FIRST and its last LAST");
	ok(flags[5] == PS_SENDQ_FIRST && flags[9] == PS_SENDQ_LAST,
	    "the second reply is framed the same way");
	ok(flags[10] == (PS_SENDQ_FIRST | PS_SENDQ_LAST),
	    "a one-slice message is both FIRST and LAST");
	ok(ps_sendq_empty(&q) && q.msgs == 0 && q.bytes == 0,
	    "the queue is empty afterwards");

	/* A zero-length slice still ends its message. */
	hdr = ps_buf_new(40);
	body = ps_buf_new(0);
	ps_sendq_add(&q, hdr, 0, 40, PS_SENDQ_FIRST);
	ps_sendq_add(&q, body, 0, 0, PS_SENDQ_LAST);
	ps_buf_unref(hdr);
	ps_buf_unref(body);
	n = drain(&q, 256, out, flags, &nfrag);
	ok(n == 40 && nfrag == 2 && flags[1] == PS_SENDQ_LAST,
	    "an empty last slice is an empty final fragment");

	/* Clearing drops queued slices and their references. */
	body = ps_buf_new(100);
	ps_sendq_add(&q, body, 10, 50, PS_SENDQ_FIRST | PS_SENDQ_LAST);
	ps_sendq_clear(&q);
	ok(body->refs == 1 && ps_sendq_empty(&q),
	    "ps_sendq_clear releases what was queued");
	ps_buf_unref(body);
	return exit_status();
}
