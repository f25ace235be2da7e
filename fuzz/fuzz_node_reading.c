/*
 * fuzz_node_reading.c - libFuzzer target for the reading another node of a
 * multi-node experiment writes into the shared results database (JSON,
 * src/experiment/nodes.c).
 *
 * Whatever the reader accepts must survive a round trip: written back and
 * read again, it writes the same text (no field lost, no domain beyond
 * the reading's capacity), and adding it to a reading never overflows.
 */
#include "nodes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    struct joule_reading *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    if (!a || !b || joule_reading_from_json(in, a) != JOULE_OK) {
        free(in);
        free(a);
        free(b);
        return 0;
    }
    if (a->n_domains > JOULE_MAX_DOMAINS)
        abort();
    char *t1 = joule_reading_to_json(a);
    if (!t1 || joule_reading_from_json(t1, b) != JOULE_OK)
        abort(); /* what it wrote, it cannot read */
    char *t2 = joule_reading_to_json(b);
    if (!t2 || strcmp(t1, t2) != 0)
        abort(); /* a field changed or was lost on the way */
    joule_reading_add_node(b, a, "node-with-a-rather-long-name-to-cut-the-domain-names");
    if (b->n_domains > JOULE_MAX_DOMAINS)
        abort();
    free(t1);
    free(t2);
    free(in);
    free(a);
    free(b);
    return 0;
}
