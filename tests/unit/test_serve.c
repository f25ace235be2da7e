/*
 * test_serve.c - the serve module without sockets: OpenAI request bodies
 * (accepted, refused with a message), the energy attribution arithmetic,
 * the constant-time key comparison, answers and stream chunks, histograms.
 */
#define _POSIX_C_SOURCE 200809L
#include "serve.h"
#include "test.h"

#include <stdlib.h>

static enum joule_status parse(enum serve_api api, const char *body, struct serve_request *r,
                               char *err, size_t size)
{
    return serve_parse_request(api, body, strlen(body), 100, r, err, size);
}

static void test_parse_completion(void)
{
    struct serve_request r;
    char err[256];
    CHECK(parse(SERVE_API_COMPLETIONS,
                "{\"model\": \"m\", \"prompt\": \"Hello\", \"max_tokens\": 7, \"temperature\": 0,"
                " \"top_p\": 0.5, \"top_k\": 3, \"seed\": 9, \"stop\": [\"a\", \"bc\"],"
                " \"stream\": true, \"stream_options\": {\"include_usage\": true},"
                " \"presence_penalty\": 0, \"n\": 1, \"user\": \"x\"}",
                &r, err, sizeof(err)) == JOULE_OK);
    CHECK(strcmp(r.prompt, "Hello") == 0 && r.prompt_len == 5);
    CHECK(r.max_tokens == 7 && r.sampling.temperature == 0.0f && r.sampling.top_k == 3);
    CHECK(fabs(r.sampling.top_p - 0.5) < 1e-6 && r.sampling.seed == 9);
    CHECK(r.n_stop == 2 && strcmp(r.stop[1], "bc") == 0 && r.stop[2] == NULL);
    CHECK(r.stream && r.include_usage && r.system == NULL);
    serve_request_free(&r);

    /* Defaults: the server's limit, OpenAI's temperature 1; a prompt array of one. */
    CHECK(parse(SERVE_API_COMPLETIONS, "{\"prompt\": [\"x\"], \"stop\": \"s\"}", &r, err,
                sizeof(err)) == JOULE_OK);
    CHECK(r.max_tokens == 100 && r.sampling.temperature == 1.0f && !r.stream);
    CHECK(r.n_stop == 1 && strcmp(r.stop[0], "s") == 0);
    serve_request_free(&r);
}

static void test_parse_chat(void)
{
    struct serve_request r;
    char err[256];
    CHECK(parse(SERVE_API_CHAT,
                "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"},"
                " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"},"
                " {\"type\": \"text\", \"text\": \"b\"}]}], \"max_completion_tokens\": 4}",
                &r, err, sizeof(err)) == JOULE_OK);
    CHECK(strcmp(r.system, "S") == 0 && strcmp(r.prompt, "ab") == 0 && r.max_tokens == 4);
    serve_request_free(&r);
}

/* Each body is refused with the status and a message naming the cause. */
static void test_parse_refused(void)
{
    static const struct {
        enum serve_api api;
        const char *body;
        enum joule_status st;
        const char *in_msg;
    } cases[] = {
        {SERVE_API_COMPLETIONS, "{bad", JOULE_ERR_FORMAT, "line 1"},
        {SERVE_API_COMPLETIONS, "", JOULE_ERR_FORMAT, "not valid JSON"},
        {SERVE_API_COMPLETIONS, "[1]", JOULE_ERR_INVALID, "JSON object"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": 1}", JOULE_ERR_INVALID, "'prompt'"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": \"\"}", JOULE_ERR_INVALID, "empty"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": [\"a\", \"b\"]}", JOULE_ERR_UNSUPPORTED, "one"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": \"a\\u0000b\"}", JOULE_ERR_FORMAT, "not valid JSON"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": \"a\", \"max_tokens\": 101}", JOULE_ERR_INVALID,
         "--max-tokens"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": \"a\", \"max_tokens\": 0}", JOULE_ERR_INVALID,
         "positive"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": \"a\", \"temperature\": 3}", JOULE_ERR_INVALID,
         "temperature"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": \"a\", \"n\": 2}", JOULE_ERR_UNSUPPORTED, "'n'"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": \"a\", \"logprobs\": 3}", JOULE_ERR_UNSUPPORTED,
         "logprobs"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": \"a\", \"frequency_penalty\": 1}",
         JOULE_ERR_UNSUPPORTED, "frequency_penalty"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": \"a\", \"stream\": 1}", JOULE_ERR_INVALID,
         "'stream'"},
        {SERVE_API_COMPLETIONS,
         "{\"prompt\": \"a\", \"stop\": [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}",
         JOULE_ERR_INVALID, "more than 8"},
        {SERVE_API_COMPLETIONS, "{\"prompt\": \"a\", \"prompt\": \"b\"}", JOULE_ERR_FORMAT,
         "duplicate"},
        {SERVE_API_CHAT, "{\"messages\": []}", JOULE_ERR_INVALID, "non-empty"},
        {SERVE_API_CHAT, "{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}]}",
         JOULE_ERR_INVALID, "no user message"},
        {SERVE_API_CHAT,
         "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", "
         "\"content\": \"b\"}]}",
         JOULE_ERR_UNSUPPORTED, "multi-turn"},
        {SERVE_API_CHAT, "{\"messages\": [{\"role\": \"tool\", \"content\": \"a\"}]}",
         JOULE_ERR_UNSUPPORTED, "role 'tool'"},
        {SERVE_API_CHAT,
         "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}",
         JOULE_ERR_UNSUPPORTED, "\"text\""},
        {SERVE_API_CHAT,
         "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"tools\": [{}]}",
         JOULE_ERR_UNSUPPORTED, "tools"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct serve_request r;
        char err[256] = "";
        const enum joule_status st = parse(cases[i].api, cases[i].body, &r, err, sizeof(err));
        CHECK(st == cases[i].st);
        CHECK(strstr(err, cases[i].in_msg) != NULL);
        if (st != cases[i].st || !strstr(err, cases[i].in_msg))
            fprintf(stderr, "  case %zu: %s -> %d '%s'\n", i, cases[i].body, (int)st, err);
        CHECK(r.prompt == NULL && r.n_stop == 0); /* nothing left to free */
    }
}

static void test_attribute(void)
{
    double share[4];
    /* Prefill: 3 requests with 10, 30 and 60 prompt tokens share 2 J. */
    const int32_t prefill[3] = {10, 30, 60};
    serve_attribute(2.0, prefill, 3, share);
    CHECK_NEAR(share[0], 0.2, 1e-12);
    CHECK_NEAR(share[1], 0.6, 1e-12);
    CHECK_NEAR(share[2], 1.2, 1e-12);
    /* Decode: one token each, equal shares that sum to the step. */
    const int32_t decode[4] = {1, 1, 1, 1};
    serve_attribute(0.5, decode, 4, share);
    CHECK_NEAR(share[0] + share[1] + share[2] + share[3], 0.5, 1e-12);
    CHECK_NEAR(share[3], 0.125, 1e-12);
    /* No reading: NAN shares; no tokens: zeros. */
    serve_attribute(NAN, decode, 2, share);
    CHECK(isnan(share[0]) && isnan(share[1]));
    const int32_t none[2] = {0, 0};
    serve_attribute(1.0, none, 2, share);
    CHECK(share[0] == 0.0 && share[1] == 0.0);
}

static void test_key_equal(void)
{
    CHECK(serve_key_equal("sekrit", 6, "sekrit", 6) == 1);
    CHECK(serve_key_equal("sekriT", 6, "sekrit", 6) == 0);
    CHECK(serve_key_equal("sekri", 5, "sekrit", 6) == 0);
    CHECK(serve_key_equal("sekrit2", 7, "sekrit", 6) == 0);
    CHECK(serve_key_equal("", 0, "sekrit", 6) == 0);
    /* A guess that is the key followed by NUL bytes is still wrong. */
    CHECK(serve_key_equal("sekrit\0", 7, "sekrit", 6) == 0);
}

static void test_answers(void)
{
    const struct serve_usage u = {3, 2, 0.25, 0.5, JOULE_PROV_ESTIMATED};
    json_t *j = serve_response_json(SERVE_API_CHAT, "chatcmpl-1", 7, "m", "hi\xff", 3,
                                    JOULE_FINISH_EOS, &u);
    json_t *usage = json_object_get(j, "usage");
    CHECK(json_integer_value(json_object_get(usage, "total_tokens")) == 5);
    CHECK_NEAR(json_real_value(json_object_get(usage, "energy_joules")), 0.75, 1e-12);
    CHECK(strcmp(json_string_value(json_object_get(usage, "energy_provenance")), "estimated") == 0);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    CHECK(strcmp(json_string_value(json_object_get(c0, "finish_reason")), "stop") == 0);
    /* Invalid UTF-8 from the model becomes U+FFFD, not a failure. */
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(c0, "message"), "content")),
                 "hi\xEF\xBF\xBD") == 0);
    json_decref(j);

    const struct serve_usage none = {3, 0, NAN, NAN, JOULE_PROV_UNAVAILABLE};
    j = serve_usage_json(&none);
    CHECK(json_is_null(json_object_get(j, "energy_joules")));
    json_decref(j);

    j = serve_chunk_json(SERVE_API_COMPLETIONS, "cmpl-1", 7, "m", "ab", 2, false, JOULE_FINISH_NONE,
                         NULL, false);
    c0 = json_array_get(json_object_get(j, "choices"), 0);
    CHECK(strcmp(json_string_value(json_object_get(c0, "text")), "ab") == 0);
    CHECK(json_is_null(json_object_get(c0, "finish_reason")));
    CHECK(json_is_null(json_object_get(j, "usage")));
    json_decref(j);
    j = serve_chunk_json(SERVE_API_CHAT, "c", 7, "m", NULL, 0, false, JOULE_FINISH_NONE, &u, true);
    CHECK(json_array_size(json_object_get(j, "choices")) == 0);
    CHECK(json_is_object(json_object_get(j, "usage")));
    json_decref(j);
}

static void test_hist(void)
{
    static const double b[] = {1, 2, 4};
    struct serve_hist h;
    serve_hist_init(&h, b, 3);
    serve_hist_add(&h, 1);
    serve_hist_add(&h, 3);
    serve_hist_add(&h, 9);
    serve_hist_add(&h, NAN); /* ignored */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    serve_hist_write(f, "x", "help", &h);
    fclose(f);
    CHECK(strstr(buf, "# TYPE x histogram\n") != NULL);
    CHECK(strstr(buf, "x_bucket{le=\"1\"} 1\n") != NULL);
    CHECK(strstr(buf, "x_bucket{le=\"2\"} 1\n") != NULL);
    CHECK(strstr(buf, "x_bucket{le=\"4\"} 2\n") != NULL);
    CHECK(strstr(buf, "x_bucket{le=\"+Inf\"} 3\n") != NULL);
    CHECK(strstr(buf, "x_sum 13\nx_count 3\n") != NULL);
    free(buf);
}

int main(void)
{
    test_parse_completion();
    test_parse_chat();
    test_parse_refused();
    test_attribute();
    test_key_equal();
    test_answers();
    test_hist();
    TEST_MAIN_END();
}
