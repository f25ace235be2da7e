/*
 * test_http.c - the pieces of the http and command backends that need no
 * server: the event-stream parser (fed whole and byte by byte), completion
 * chunks, the Poisson arrivals, the command's JSON line, the managed
 * server's command template, and the backend keys in configs.
 */
#include "command.h"
#include "config.h"
#include "http.h"
#include "managed.h"
#include "oai.h"
#include "test.h"

#include <stdlib.h>

struct events {
    char got[8][128];
    size_t n;
};

static int collect(void *user, const char *data, size_t len)
{
    struct events *e = user;
    if (e->n < 8)
        snprintf(e->got[e->n++], sizeof(e->got[0]), "%.*s", (int)len, data);
    return 0;
}

static const char stream[] = ": a comment\r\n"
                             "event: message\r\n"
                             "data: {\"a\":1}\r\n"
                             "\r\n"
                             "data:two\n"
                             "data: lines\n"
                             "id: 7\n"
                             "\n"
                             "retry: 10\r\r"
                             "data: [DONE]\n\n"
                             "data: unfinished";

static void check_events(const struct events *e)
{
    CHECK(e->n == 3);
    CHECK_STR(e->got[0], "{\"a\":1}");
    CHECK_STR(e->got[1], "two\nlines");
    CHECK_STR(e->got[2], "[DONE]");
}

static void test_sse_whole_and_split(void)
{
    struct joule_sse s = {0};
    struct events e = {0};
    CHECK(joule_sse_feed(&s, stream, sizeof(stream) - 1, collect, &e) == 0);
    check_events(&e);
    CHECK(joule_sse_pending(&s)); /* "data: unfinished" has no blank line */
    joule_sse_release(&s);

    /* Every byte on its own: the same events ("\r\n" split across feeds). */
    struct joule_sse s2 = {0};
    struct events e2 = {0};
    for (size_t i = 0; i < sizeof(stream) - 1; i++)
        CHECK(joule_sse_feed(&s2, stream + i, 1, collect, &e2) == 0);
    check_events(&e2);
    joule_sse_release(&s2);
}

static int stop_at_first(void *user, const char *data, size_t len)
{
    (void)data, (void)len;
    ++*(int *)user;
    return 5;
}

static void test_sse_limits(void)
{
    struct joule_sse s = {.max_event = 16};
    char line[64];
    memset(line, 'x', sizeof(line));
    CHECK(joule_sse_feed(&s, "data: ", 6, collect, NULL) == 0);
    CHECK(joule_sse_feed(&s, line, sizeof(line), collect, NULL) == -1);
    joule_sse_release(&s);
    /* Data lines adding up past the limit. */
    struct joule_sse s2 = {.max_event = 16};
    CHECK(joule_sse_feed(&s2, "data: 12345678\ndata: 12345678\n", 30, collect, NULL) == -1);
    joule_sse_release(&s2);
    /* The callback's non-zero value stops the feed. */
    struct joule_sse s3 = {0};
    int calls = 0;
    CHECK(joule_sse_feed(&s3, "data: a\n\ndata: b\n\n", 18, stop_at_first, &calls) == 5);
    CHECK(calls == 1);
    joule_sse_release(&s3);
}

static void test_oai_chunks(void)
{
    struct joule_oai_chunk c;
    char err[200];
    const char *completion = "{\"choices\":[{\"index\":0,\"text\":\"Hi\",\"finish_reason\":"
                             "\"length\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":"
                             "2}}";
    CHECK(joule_oai_parse(completion, strlen(completion), &c, err, sizeof(err)) == 0);
    CHECK(c.text_len == 2 && memcmp(c.text, "Hi", 2) == 0);
    CHECK_STR(c.finish, "length");
    CHECK(c.prompt_tokens == 5 && c.completion_tokens == 2 && !c.done);
    joule_oai_chunk_release(&c);

    const char *delta = "{\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}";
    CHECK(joule_oai_parse(delta, strlen(delta), &c, err, sizeof(err)) == 0);
    CHECK(c.text_len == 1 && c.prompt_tokens == -1 && c.finish[0] == '\0');
    joule_oai_chunk_release(&c);

    const char *message = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":"
                          "\"ok\"},\"finish_reason\":\"stop\"}]}";
    CHECK(joule_oai_parse(message, strlen(message), &c, err, sizeof(err)) == 0);
    CHECK(c.text_len == 2);
    joule_oai_chunk_release(&c);

    const char *usage_only = "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
                             "\"completion_tokens\":4}}";
    CHECK(joule_oai_parse(usage_only, strlen(usage_only), &c, err, sizeof(err)) == 0);
    CHECK(c.text == NULL && c.completion_tokens == 4);
    joule_oai_chunk_release(&c);

    CHECK(joule_oai_parse(" [DONE] ", 8, &c, err, sizeof(err)) == 0 && c.done);

    const char *e = "{\"error\":{\"message\":\"overloaded\",\"code\":503}}";
    CHECK(joule_oai_parse(e, strlen(e), &c, err, sizeof(err)) == 0);
    CHECK_STR(c.error, "overloaded");

    static const char *const bad[] = {
        "{not json",
        "[1,2]",
        "{\"choices\":3}",
        "{\"choices\":[7]}",
        "{\"choices\":[{\"text\":5}]}",
        "{\"choices\":[{\"delta\":\"x\"}]}",
        "{}",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CHECK(joule_oai_parse(bad[i], strlen(bad[i]), &c, err, sizeof(err)) == -1);
        CHECK(err[0] != '\0');
    }
    /* Negative or huge counts are no counts. */
    const char *neg = "{\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":1e3}}";
    CHECK(joule_oai_parse(neg, strlen(neg), &c, err, sizeof(err)) == 0);
    CHECK(c.prompt_tokens == -1 && c.completion_tokens == -1);
}

static void test_arrivals(void)
{
    enum { N = 20000 };
    double *a = malloc(N * sizeof(double)), *b = malloc(N * sizeof(double));
    CHECK(a && b);
    if (!a || !b) {
        free(a);
        free(b);
        return;
    }
    joule_http_arrivals(50.0, 7, N, a);
    joule_http_arrivals(50.0, 7, N, b);
    CHECK(memcmp(a, b, N * sizeof(double)) == 0); /* seeded */
    int increasing = a[0] > 0;
    double sum = 0, sum2 = 0;
    for (size_t i = 1; i < N; i++) {
        double g = a[i] - a[i - 1];
        increasing &= g > 0;
        sum += g;
        sum2 += g * g;
    }
    CHECK(increasing);
    /* Mean rate N / t_N within 3%: the standard error is 1/sqrt(N) = 0.7%. */
    CHECK_NEAR((double)N / a[N - 1], 50.0, 1.5);
    /* Exponential gaps: the standard deviation equals the mean. */
    double mean = sum / (N - 1), sd = sqrt(sum2 / (N - 1) - mean * mean);
    CHECK_NEAR(sd / mean, 1.0, 0.05);
    joule_http_arrivals(50.0, 8, N, b);
    CHECK(memcmp(a, b, N * sizeof(double)) != 0);
    free(a);
    free(b);
}

static void test_command_tokens(void)
{
    int32_t in = -1, out = -1;
    const char *o = "loading\n{\"tokens_in\": 1, \"tokens_out\": 2}\n"
                    "{\"tokens_in\": 10, \"tokens_out\": 20}\r\n"
                    "done\n{\"other\": 1}\n\n";
    CHECK(joule_command_tokens(o, strlen(o), &in, &out) == 0);
    CHECK(in == 10 && out == 20);
    static const char *const none[] = {"",
                                       "\n\n",
                                       "{\"tokens_in\": 1}",
                                       "{\"tokens_in\": -1, \"tokens_out\": 2}",
                                       "{\"tokens_in\": 1.5, \"tokens_out\": 2}",
                                       "{broken"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        CHECK(joule_command_tokens(none[i], strlen(none[i]), &in, &out) == -1);
}

static void test_managed_expand(void)
{
    char out[128];
    CHECK(joule_managed_expand("srv -m {model} --port {port} -np {concurrency} {x}", "a.gguf", 8081,
                               4, out, sizeof(out)) == 0);
    CHECK_STR(out, "srv -m a.gguf --port 8081 -np 4 {x}");
    CHECK(joule_managed_expand("{model}{model}", "0123456789", 1, 1, out, 12) == -1);
    int port = joule_managed_free_port();
    CHECK(port > 0 && port < 65536);
}

static void test_config_keys(void)
{
    struct joule_config *c = NULL;
    CHECK(joule_config_new(&c) == JOULE_OK);
    if (!c)
        return;
    char err[512];
    char *y = NULL;
    /* A builtin config's canonical form holds no key of other backends. */
    CHECK(joule_config_to_yaml(c, 0, &y) == JOULE_OK);
    CHECK(y && !strstr(y, "http:") && !strstr(y, "server:") && !strstr(y, "command:"));
    joule_free(y);
    const char *text = "backend: http\n"
                       "http:\n"
                       "  base_url: http://127.0.0.1:9/x\n"
                       "  concurrency: 8\n"
                       "  stream: false\n"
                       "  endpoint: chat\n"
                       "server:\n"
                       "  command: srv --port {port}\n";
    CHECK(joule_config_parse(c, "t.yaml", text, strlen(text), NULL, err, sizeof(err)) == JOULE_OK);
    CHECK(c->http.concurrency == 8 && !c->http.stream);
    CHECK_STR(c->http.endpoint, "chat");
    CHECK(joule_config_validate(c, err, sizeof(err)) == JOULE_OK); /* no model needed */
    CHECK(joule_config_to_yaml(c, 0, &y) == JOULE_OK);
    CHECK(y && strstr(y, "http:\n") && strstr(y, "  concurrency: 8\n") && strstr(y, "server:\n") &&
          !strstr(y, "command:\n"));
    joule_free(y);
    const char *typo = "http:\n  concurency: 2\n";
    CHECK(joule_config_parse(c, "t.yaml", typo, strlen(typo), NULL, err, sizeof(err)) != JOULE_OK);
    CHECK(strstr(err, "t.yaml:2:3") && strstr(err, "http.concurrency"));
    CHECK(joule_config_set(c, "http.endpoint", "chats", err, sizeof(err)) != JOULE_OK);
    CHECK(strstr(err, "did you mean 'chat'"));
    CHECK(joule_config_set(c, "backend", "http", err, sizeof(err)) == JOULE_OK);
    CHECK(joule_config_set(c, "http.base_url", "localhost:80", err, sizeof(err)) == JOULE_OK);
    CHECK(joule_config_set(c, "server.command", "", err, sizeof(err)) == JOULE_OK);
    CHECK(joule_config_validate(c, err, sizeof(err)) != JOULE_OK);
    CHECK(strstr(err, "http.base_url"));
    CHECK(joule_config_set(c, "backend", "command", err, sizeof(err)) == JOULE_OK);
    CHECK(joule_config_validate(c, err, sizeof(err)) != JOULE_OK);
    CHECK(strstr(err, "command.run"));
    joule_config_free(c);
}

int main(void)
{
    RUN(test_sse_whole_and_split);
    RUN(test_sse_limits);
    RUN(test_oai_chunks);
    RUN(test_arrivals);
    RUN(test_command_tokens);
    RUN(test_managed_expand);
    RUN(test_config_keys);
    TEST_MAIN_END();
}
