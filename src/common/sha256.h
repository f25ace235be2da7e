/*
 * sha256.h - SHA-256 (FIPS 180-4), for the digests results carry: the model
 * file a number was measured on, and the config that produced it.
 */
#ifndef JOULE_SHA256_H
#define JOULE_SHA256_H

#include "joule.h"

#include <stddef.h>
#include <stdint.h>

struct joule_sha256 {
    uint32_t h[8];
    uint64_t bytes;     /* message length so far */
    uint8_t block[64];
    size_t used;        /* bytes waiting in block */
};

void joule_sha256_init(struct joule_sha256 *s);
void joule_sha256_update(struct joule_sha256 *s, const void *data, size_t len);
/* Finishes and writes the digest as 64 lowercase hex digits and a NUL. */
void joule_sha256_hex(struct joule_sha256 *s, char out[65]);

/* Digest of the file at path.  JOULE_ERR_IO with the reason in err. */
enum joule_status joule_sha256_file(const char *path, char out[65], char *err, size_t err_size);

#endif /* JOULE_SHA256_H */
