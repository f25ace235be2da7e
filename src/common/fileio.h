/* fileio.h - whole-file reads and atomic writes. */
#ifndef JOULE_FILEIO_H
#define JOULE_FILEIO_H

#include "joule.h"

#include <stddef.h>
#include <stdio.h>

/* Read the whole file at path into a malloc'd NUL-terminated buffer
 * (caller frees *out); *len gets the byte count without the NUL.  At most
 * max_bytes.  JOULE_ERR_IO with a message "PATH: reason" in err. */
enum joule_status joule_read_all(const char *path, size_t max_bytes, char **out, size_t *len,
                                 char *err, size_t err_size);

/* Write a file atomically: `write` fills a temporary FILE next to path,
 * which is then flushed, fsync'd and renamed over path.  A failure leaves
 * any old file at path untouched. */
enum joule_status joule_write_atomic(const char *path,
                                     enum joule_status (*write)(FILE *f, void *ctx), void *ctx,
                                     char *err, size_t err_size);

/* Creates the folder path and its missing parents (mode 0777 & ~umask), as
 * `mkdir -p` does.  JOULE_ERR_IO with the reason in err. */
enum joule_status joule_mkdirs(const char *path, char *err, size_t err_size);

#endif /* JOULE_FILEIO_H */
