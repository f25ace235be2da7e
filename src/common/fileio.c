/* fileio.c - whole-file reads and atomic writes. */
#define _POSIX_C_SOURCE 200809L
#include "fileio.h"
#include "joule_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum joule_status joule_read_all(const char *path, size_t max_bytes, char **out, size_t *len,
                                 char *err, size_t err_size)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        joule_fmt(err, err_size, "%s: %s", path, strerror(errno));
        return JOULE_ERR_IO;
    }
    /* Read up to max_bytes + 1: one byte more than allowed means too large. */
    size_t cap = max_bytes < 4096 ? max_bytes + 1 : 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > max_bytes) {
            fclose(f);
            free(buf);
            joule_fmt(err, err_size, "%s: larger than %zu bytes", path, max_bytes);
            return JOULE_ERR_FORMAT;
        }
        if (got == 0)
            break;
        if (n == cap) {
            size_t ncap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
            } else {
                buf = nb;
                cap = ncap;
            }
        }
    }
    int rerr = ferror(f);
    fclose(f);
    if (!buf) {
        joule_fmt(err, err_size, "%s: out of memory", path);
        return JOULE_ERR_NOMEM;
    }
    if (rerr) {
        free(buf);
        joule_fmt(err, err_size, "%s: read error", path);
        return JOULE_ERR_IO;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return JOULE_OK;
}

enum joule_status joule_write_atomic(const char *path,
                                     enum joule_status (*write)(FILE *f, void *ctx), void *ctx,
                                     char *err, size_t err_size)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        joule_fmt(err, err_size, "%s: out of memory", path);
        return JOULE_ERR_NOMEM;
    }
    joule_fmt(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        joule_fmt(err, err_size, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return JOULE_ERR_IO;
    }
    enum joule_status s = write(f, ctx);
    if (s == JOULE_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        s = JOULE_ERR_IO;
    if (fclose(f) != 0 && s == JOULE_OK)
        s = JOULE_ERR_IO;
    if (s == JOULE_OK && rename(tmp, path) != 0)
        s = JOULE_ERR_IO;
    if (s != JOULE_OK) {
        joule_fmt(err, err_size, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return s;
}

enum joule_status joule_mkdirs(const char *path, char *err, size_t err_size)
{
    char buf[4096];
    if (joule_strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) {
        joule_fmt(err, err_size, "%s: path too long", path);
        return JOULE_ERR_IO;
    }
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        struct stat st;
        if (mkdir(buf, 0777) != 0 && (errno != EEXIST || stat(buf, &st) != 0 ||
                                      !S_ISDIR(st.st_mode))) {
            joule_fmt(err, err_size, "%s: cannot create folder: %s", buf,
                      errno == EEXIST ? "a file is in the way" : strerror(errno));
            return JOULE_ERR_IO;
        }
        *p = c;
        if (c == '\0')
            return JOULE_OK;
    }
}
