/*
 * fuzz_space.c - libFuzzer target for prompt spaces of `joule tune` (YAML).
 *
 * Anything the reader accepts must be a usable space: every configuration
 * it names (the first and last few of the grid) has a key that parses back
 * to itself and renders a prompt.  Anything it refuses must say why.
 */
#include "space.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cfg(const struct joule_tune_space *s, uint32_t i)
{
    struct joule_tune_cfg c = joule_tune_cfg_at(s, i), d;
    char key[JOULE_TUNE_MAX_FACTORS * 2 * JOULE_TUNE_NAME_MAX], err[256];
    if (joule_tune_cfg_index(s, &c) != i)
        abort();
    if (joule_tune_cfg_key(s, &c, key, sizeof(key)) != JOULE_OK)
        abort();
    if (joule_tune_cfg_parse(s, key, &d, err, sizeof(err)) != JOULE_OK ||
        memcmp(&c, &d, sizeof(c)) != 0)
        abort(); /* a key that does not name its configuration */
    char *p = NULL;
    if (joule_tune_render(s, &c, "INPUT", &p) != JOULE_OK || !strstr(p, "INPUT"))
        abort(); /* the template lost the input */
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct joule_tune_space *s = NULL;
    char err[1024];
    enum joule_status st =
        joule_tune_space_parse("fuzz.yaml", (const char *)data, size, &s, err, sizeof(err));
    if (st != JOULE_OK) {
        if (!err[0])
            abort(); /* a refusal without a reason */
        return 0;
    }
    uint32_t n = joule_tune_space_size(s);
    if (n < 1 || n > JOULE_TUNE_MAX_COMBOS)
        abort();
    for (uint32_t i = 0; i < n && i < 4; i++)
        check_cfg(s, i);
    for (uint32_t i = n > 4 ? n - 4 : n; i < n; i++)
        check_cfg(s, i);
    joule_tune_space_free(s);
    return 0;
}
