/* alloc.c - checked allocation. */
#include "alloc.h"
#include "joule_int.h"

#include <stdlib.h>

void *joule_calloc(size_t n, size_t size)
{
    size_t bytes;
    if (!joule_mul_size(n, size, &bytes))
        return NULL;
    return calloc(bytes ? n : 1, bytes ? size : 1);
}

void *joule_realloc_array(void *p, size_t n, size_t size)
{
    size_t bytes;
    if (!joule_mul_size(n, size, &bytes))
        return NULL;
    return realloc(p, bytes ? bytes : 1);
}
