/*
 * Allocation that never fails: on exhaustion these call fatal(), so callers
 * never check for NULL.  Zero sizes and multiplication overflow are fatal too.
 * Used by the server and the commands, never by libpsctl (a library must
 * not exit its caller's process).
 */
#ifndef PS_XMALLOC_H
#define PS_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
/* Returns a new string (caller frees). */
char	*xasprintf(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2), __nonnull__(1)));
char	*xvasprintf(const char *, va_list)
	    __attribute__((__format__(__printf__, 1, 0), __nonnull__(1)));
/* 64-byte aligned, for model data the kernels vectorise over; free(). */
void	*xaligned_alloc(size_t);

#endif
