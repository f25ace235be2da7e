/*
 * fuzz_serve.c - libFuzzer target for joule serve's request bodies.
 *
 * The first byte picks the API (completions or chat); the rest is the body
 * an HTTP client sent.  Anything accepted must have a non-empty prompt and a
 * max_tokens within the limit; anything refused must say why.  Answers built
 * from the prompt (as if the model echoed it) must serialise.
 */
#include "serve.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const enum serve_api api = data[0] & 1 ? SERVE_API_CHAT : SERVE_API_COMPLETIONS;
    struct serve_request r;
    char err[512];
    enum joule_status st =
        serve_parse_request(api, (const char *)data + 1, size - 1, 64, &r, err, sizeof(err));
    if (st != JOULE_OK) {
        if (!err[0])
            abort(); /* a refusal without a reason */
        return 0;
    }
    if (!r.prompt || r.prompt_len == 0 || r.max_tokens < 1 || r.max_tokens > 64)
        abort();
    const struct serve_usage u = {1, 1, 0.5, 0.5, JOULE_PROV_MEASURED};
    json_t *j =
        serve_response_json(api, "id", 0, "m", r.prompt, r.prompt_len, JOULE_FINISH_LENGTH, &u);
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s)
        abort();
    free(s);
    json_decref(j);
    serve_request_free(&r);
    return 0;
}
