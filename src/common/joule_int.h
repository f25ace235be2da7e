/*
 * joule_int.h - the internal umbrella every library source includes after
 * its own header: assertions, small string helpers, and banned.h.
 */
#ifndef JOULE_INT_H
#define JOULE_INT_H

#include "joule.h"

#include <stdarg.h>
#include <stddef.h>

/* A broken invariant is a bug in joule, not bad input: stop loudly.
 * Never use it for anything a file, a user or the hardware can cause. */
#define JOULE_ASSERT(x)                                                               \
    do {                                                                              \
        if (!(x))                                                                     \
            joule_assert_fail(__FILE__, __LINE__, #x);                                \
    } while (0)

_Noreturn void joule_assert_fail(const char *file, int line, const char *expr);

#define JOULE_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Copy src into dst[size] always NUL-terminated; returns strlen(src) so a
 * caller can detect truncation (>= size). */
size_t joule_strlcpy(char *dst, const char *src, size_t size);

/* snprintf into dst[size]; never overflows, always terminates. */
void joule_fmt(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void joule_vfmt(char *dst, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#include "banned.h"

#endif /* JOULE_INT_H */
