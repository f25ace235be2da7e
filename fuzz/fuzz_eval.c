/*
 * fuzz_eval.c - libFuzzer target for the scoring of generated text (ROUGE
 * with and without stemming, exact match, numeric answers).
 *
 * The input is split at its first NUL (or its middle) into a candidate and
 * a reference.  Scores must lie in [0, 1], a text's ROUGE against itself is
 * 1 whenever it has a token, and exact and numeric matches are symmetric
 * with themselves.
 */
#include "score.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rouge(const char *a, const char *b, int stem)
{
    struct joule_eval_rouge r[3];
    if (joule_eval_rouge(a, b, stem, r) != JOULE_OK)
        return;
    for (int k = 0; k < 3; k++)
        if (!(r[k].p >= 0 && r[k].p <= 1 && r[k].r >= 0 && r[k].r <= 1 && r[k].f >= 0 &&
              r[k].f <= 1 + 1e-12))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *buf = malloc(size + 2);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = '\0';
    size_t cut = strlen(buf) < size ? strlen(buf) : size / 2;
    /* A middle cut drops the byte at the cut: the fuzzer does not mind. */
    buf[cut] = '\0';
    const char *a = buf, *b = buf + cut + 1;
    for (int stem = 0; stem < 2; stem++) {
        check_rouge(a, b, stem);
        struct joule_eval_rouge r[3];
        if (joule_eval_rouge(a, a, stem, r) == JOULE_OK && r[0].r > 0)
            for (int k = 0; k < 3; k++)
                if (fabs(r[k].f - 1) > 1e-12 && !(k == 1 && r[k].f == 0))
                    abort(); /* itself, but not 1 (ROUGE-2 of one token is 0) */
    }
    if (!joule_eval_exact(a, a) && !strchr(a, '\n'))
        abort();
    double v;
    if (joule_eval_number(a, &v) && !joule_eval_numeric_match(a, a) && isfinite(v))
        abort();
    (void)joule_eval_numeric_match(a, b);
    (void)joule_eval_exact(a, b);
    free(buf);
    return 0;
}
