/*
 * fuzz_config.c - libFuzzer target for experiment config files (YAML).
 *
 * Parses the input as a config, with and without a preset.  Anything it
 * accepts must survive the round trip that the results store relies on: the
 * canonical YAML of the config parses again, to the same canonical YAML.
 * Anything it refuses must say why (a non-empty message).
 */
#include "joule.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size, const char *preset)
{
    struct joule_config *c = NULL, *d = NULL;
    char err[1024];
    if (joule_config_new(&c) != JOULE_OK || joule_config_new(&d) != JOULE_OK)
        abort();
    enum joule_status st =
        joule_config_parse(c, "fuzz.yaml", (const char *)data, size, preset, err, sizeof(err));
    if (st != JOULE_OK) {
        if (!err[0])
            abort(); /* a refusal without a reason */
    } else {
        char *a = NULL, *b = NULL;
        if (joule_config_to_yaml(c, 1, &a) != JOULE_OK)
            abort();
        if (joule_config_parse(d, "again.yaml", a, strlen(a), NULL, err, sizeof(err)) != JOULE_OK)
            abort(); /* its own output refused */
        if (joule_config_to_yaml(d, 1, &b) != JOULE_OK || strcmp(a, b) != 0)
            abort(); /* the round trip changed the config */
        (void)joule_config_validate(d, err, sizeof(err));
        joule_free(a);
        joule_free(b);
    }
    joule_config_free(c);
    joule_config_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, NULL);
    check(data, size, "quick-test");
    return 0;
}
