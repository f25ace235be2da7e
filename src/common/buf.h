/*
 * buf.h - a growable NUL-terminated string buffer.  Appends never fail
 * loudly: a failed allocation sets oom and later appends do nothing, so a
 * writer appends freely and checks oom once at the end.
 */
#ifndef JOULE_BUF_H
#define JOULE_BUF_H

#include <stddef.h>

struct joule_buf {
    char *p;    /* malloc'd text, NUL-terminated once anything was appended; free() it */
    size_t n;   /* bytes of text */
    size_t cap; /* bytes allocated */
    int oom;    /* an append failed */
};

/* Appends s[0 .. n). */
void joule_buf_put(struct joule_buf *b, const char *s, size_t n);

/* Appends the string s. */
void joule_buf_puts(struct joule_buf *b, const char *s);

#endif /* JOULE_BUF_H */
