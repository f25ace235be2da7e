/*
 * fuzz_audit.c - libFuzzer target for `joule advise audit`, which reads
 * whatever source files it is pointed at.
 *
 * Every finding must point inside the text (a line and column that exist)
 * and carry its rule, message, impact and fix.
 */
#include "advise.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct joule_audit a = {0};
    if (joule_audit_text(&a, "fuzz.py", (const char *)data, size) != JOULE_OK)
        abort(); /* only memory can fail, and not at these sizes */
    int32_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    for (size_t i = 0; i < a.n; i++) {
        const struct joule_audit_item *it = &a.items[i];
        if (it->line < 1 || it->line > lines || it->column < 1 || !it->rule || !it->message ||
            !it->impact || !it->fix || it->severity > JOULE_SEV_CRITICAL)
            abort();
    }
    joule_audit_free(&a);
    return 0;
}
