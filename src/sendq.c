/*
 * Send queues of refcounted buffer slices (sendq.h).  Service thread only.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "sendq.h"
#include "xmalloc.h"

/* Data starts this far into the allocation: PS_BUF_PRE, rounded to 64. */
#define BUF_HEAD	64

struct ps_buf *
ps_buf_new(size_t len)
{
	struct ps_buf	*b;

	if (len > SIZE_MAX - BUF_HEAD)
		fatalx("%s: %zu bytes", __func__, len);
	b = xmalloc(sizeof *b);
	b->refs = 1;
	b->pinned = 0;
	b->len = len;
	b->base = xaligned_alloc(BUF_HEAD + len);
	b->data = (uint8_t *)b->base + BUF_HEAD;
	return b;
}

struct ps_buf *
ps_buf_ref(struct ps_buf *b)
{
	b->refs++;
	return b;
}

void
ps_buf_unref(struct ps_buf *b)
{
	if (b == NULL || --b->refs > 0)
		return;
	free(b->base);
	free(b);
}

void
ps_sendq_init(struct ps_sendq *q)
{
	TAILQ_INIT(&q->items);
	q->done = 0;
	q->bytes = 0;
	q->msgs = 0;
}

void
ps_sendq_clear(struct ps_sendq *q)
{
	struct ps_sendq_item	*it;

	while ((it = TAILQ_FIRST(&q->items)) != NULL) {
		TAILQ_REMOVE(&q->items, it, entry);
		ps_buf_unref(it->b);
		free(it);
	}
	ps_sendq_init(q);
}

void
ps_sendq_add(struct ps_sendq *q, struct ps_buf *b, size_t off, size_t len,
    int flags)
{
	struct ps_sendq_item	*it;

	if (off > b->len || len > b->len - off)
		fatalx("%s: slice %zu+%zu of %zu", __func__, off, len, b->len);
	it = xmalloc(sizeof *it);
	it->b = ps_buf_ref(b);
	it->off = off;
	it->len = len;
	it->flags = flags;
	TAILQ_INSERT_TAIL(&q->items, it, entry);
	q->bytes += len;
	if (flags & PS_SENDQ_FIRST)
		q->msgs++;
}

int
ps_sendq_empty(const struct ps_sendq *q)
{
	return TAILQ_EMPTY(&q->items);
}

int
ps_sendq_next(const struct ps_sendq *q, size_t max, uint8_t **p,
    size_t *len, int *flags)
{
	const struct ps_sendq_item	*it;
	size_t				 left;

	if ((it = TAILQ_FIRST(&q->items)) == NULL)
		return 0;
	left = it->len - q->done;
	*len = left < max ? left : max;
	*p = it->b->data + it->off + q->done;
	*flags = 0;
	if ((it->flags & PS_SENDQ_FIRST) && q->done == 0)
		*flags |= PS_SENDQ_FIRST;
	if ((it->flags & PS_SENDQ_LAST) && *len == left)
		*flags |= PS_SENDQ_LAST;
	if (it->b->pinned > 0 && it->off + q->done > 0)
		*flags |= PS_SENDQ_PINNED;
	return 1;
}

void
ps_sendq_consume(struct ps_sendq *q, size_t len)
{
	struct ps_sendq_item	*it;

	if ((it = TAILQ_FIRST(&q->items)) == NULL)
		return;
	if (len > it->len - q->done)
		fatalx("%s: %zu bytes past the slice", __func__, len);
	q->done += len;
	q->bytes -= len;
	if (q->done < it->len)
		return;
	if (it->flags & PS_SENDQ_LAST)
		q->msgs--;
	TAILQ_REMOVE(&q->items, it, entry);
	ps_buf_unref(it->b);
	free(it);
	q->done = 0;
}
