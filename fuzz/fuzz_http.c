/*
 * fuzz_http.c - libFuzzer target for what an OpenAI-compatible server
 * sends the http backend: the bytes go through the event-stream parser in
 * pieces whose sizes the input picks (first byte), each event's data
 * through the completion-chunk reader; the whole input is also read as a
 * non-streamed body.  A refusal must say why; a chunk's text must lie
 * within its storage.
 */
#include "oai.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_event(void *user, const char *d, size_t len)
{
    (void)user;
    if (strlen(d) != len && !memchr(d, '\0', len))
        abort(); /* the data is NUL-terminated at len */
    struct joule_oai_chunk c;
    char err[200] = "";
    if (joule_oai_parse(d, len, &c, err, sizeof(err)) != 0) {
        if (!err[0])
            abort();
        return 0;
    }
    if (c.text && (c.text != c.storage || strlen(c.text) > c.text_len))
        abort();
    joule_oai_chunk_release(&c);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const size_t step = (size_t)(data[0] % 16) + 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    struct joule_sse s = {.max_event = 4096};
    for (size_t i = 0; i < n; i += step)
        if (joule_sse_feed(&s, p + i, n - i < step ? n - i : step, on_event, NULL) != 0)
            break;
    joule_sse_pending(&s);
    joule_sse_release(&s);
    struct joule_oai_chunk c;
    char err[200] = "";
    if (joule_oai_parse(p, n, &c, err, sizeof(err)) != 0) {
        if (!err[0])
            abort();
    } else {
        joule_oai_chunk_release(&c);
    }
    return 0;
}
