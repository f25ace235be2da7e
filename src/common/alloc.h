/*
 * alloc.h - size arithmetic that cannot overflow silently.  Every size that
 * comes from a file, a config or a user goes through these before it is
 * multiplied, added, allocated or used as an index.
 */
#ifndef JOULE_ALLOC_H
#define JOULE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* *out = a * b; false (and *out untouched) on overflow. */
static inline bool joule_mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* *out = a + b; false on overflow. */
static inline bool joule_add_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* The capacity a growing array should have to hold `need` items: `cur`
 * (or `initial` when cur is 0) doubled until it does.  false on overflow. */
static inline bool joule_grow_cap(size_t cur, size_t need, size_t initial, size_t *out)
{
    size_t cap = cur ? cur : initial;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return false;
        cap *= 2;
    }
    *out = cap;
    return true;
}

/* calloc(n, size) with the product checked; NULL on overflow or no memory. */
void *joule_calloc(size_t n, size_t size);

/* realloc to n * size bytes, checked; NULL (old block intact) on failure. */
void *joule_realloc_array(void *p, size_t n, size_t size);

#endif /* JOULE_ALLOC_H */
