#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"

/* Buffers from this size on are backed by huge pages and prefaulted. */
#define XALIGNED_BIG	((size_t)4 << 20)

static void	xaligned_prefault(void *, size_t);

void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		fatalx("xmalloc: zero size");
	if ((p = malloc(size)) == NULL)
		fatal("xmalloc: allocating %zu bytes", size);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("xcalloc: zero size");
	if ((p = calloc(nmemb, size)) == NULL)
		fatal("xcalloc: allocating %zu * %zu bytes", nmemb, size);
	return p;
}

void *
xrealloc(void *ptr, size_t size)
{
	return xreallocarray(ptr, 1, size);
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("xreallocarray: zero size");
	if (SIZE_MAX / nmemb < size)
		fatalx("xreallocarray: %zu * %zu bytes overflows", nmemb, size);
	if ((p = realloc(ptr, nmemb * size)) == NULL)
		fatal("xreallocarray: allocating %zu * %zu bytes", nmemb, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("xstrdup");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		fatal("xstrndup");
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	va_list	 ap2;
	char	*s;
	int	 n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		fatal("xvasprintf");
	s = xmalloc((size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

void *
xaligned_alloc(size_t size)
{
	void	*p;
	int	 error;

	if (size == 0)
		fatalx("xaligned_alloc: zero size");
	if ((error = posix_memalign(&p, 64, size)) != 0) {
		errno = error;
		fatal("xaligned_alloc: allocating %zu bytes", size);
	}
	if (size >= XALIGNED_BIG)
		xaligned_prefault(p, size);
	return p;
}

/*
 * Asks for transparent huge pages over the whole pages of a big buffer,
 * then faults them all in with one call, so that the caller's first
 * write (a copy, a read(2) into it) does not take a fault every 4 KB.
 * Advice only: where the kernel lacks either (MADV_POPULATE_WRITE is
 * Linux 5.14), nothing changes but the speed.
 */
static void
xaligned_prefault(void *p, size_t size)
{
#if defined(MADV_HUGEPAGE) || defined(MADV_POPULATE_WRITE)
	uintptr_t	pg, start, end;
	long		ps;
	int		saved = errno;

	if ((ps = sysconf(_SC_PAGESIZE)) <= 0)
		return;
	pg = (uintptr_t)ps;
	start = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	end = ((uintptr_t)p + size) & ~(pg - 1);
	if (end <= start)
		return;
#ifdef MADV_HUGEPAGE
	madvise((void *)start, end - start, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
	madvise((void *)start, end - start, MADV_POPULATE_WRITE);
#endif
	errno = saved;
#else
	(void)p;
	(void)size;
#endif
}
