/* util.c - assertion failure, bounded string copies and formatting. */
#include "joule_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void joule_assert_fail(const char *file, int line, const char *expr)
{
    /* The one place the library writes to stderr: a bug, about to abort. */
    fprintf(stderr, "joule: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

size_t joule_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size > 0) {
        size_t k = n < size - 1 ? n : size - 1;
        memcpy(dst, src, k);
        dst[k] = '\0';
    }
    return n;
}

void joule_vfmt(char *dst, size_t size, const char *fmt, va_list ap)
{
    if (size == 0)
        return;
    int n = vsnprintf(dst, size, fmt, ap);
    if (n < 0)
        dst[0] = '\0';
}

void joule_fmt(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    joule_vfmt(dst, size, fmt, ap);
    va_end(ap);
}
