/* fuzz_proc_stat.c - the /proc/stat and sysfs number parsers on arbitrary bytes. */
#include "meter_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1); /* both parsers take NUL-terminated text */
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    uint64_t busy, total, v;
    uint32_t ncpu;
    meter_parse_proc_stat(text, &busy, &total, &ncpu);
    meter_parse_u64(text, &v);
    free(text);
    return 0;
}
