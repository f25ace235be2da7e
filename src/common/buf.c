/* buf.c - growable string buffer (see buf.h). */
#include "buf.h"

#include "alloc.h"
#include "joule_int.h"

#include <stdlib.h>
#include <string.h>

void joule_buf_put(struct joule_buf *b, const char *s, size_t n)
{
    size_t need, cap;
    if (b->oom)
        return;
    if (!joule_add_size(b->n, n + 1, &need)) {
        b->oom = 1;
        return;
    }
    if (need > b->cap) {
        char *p;
        if (!joule_grow_cap(b->cap, need, 1024, &cap) || !(p = realloc(b->p, cap))) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void joule_buf_puts(struct joule_buf *b, const char *s)
{
    joule_buf_put(b, s, strlen(s));
}
