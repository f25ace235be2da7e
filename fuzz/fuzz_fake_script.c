/* fuzz_fake_script.c - the fake-source script parser on arbitrary bytes. */
#include "meter_int.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct meter_fake_script *s = NULL;
    char err[256];
    if (meter_fake_parse((const char *)data, size, "<fuzz>", &s, err, sizeof(err)) == JOULE_OK)
        meter_fake_free(s);
    return 0;
}
