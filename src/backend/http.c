/*
 * http.c - the `http` backend: the prompts of a pass sent to an
 * OpenAI-compatible server (/v1/completions or /v1/chat/completions) with
 * libcurl's multi interface, from this one thread.
 *
 * Load: a closed loop of http.concurrency requests in flight (a request
 * is sent when one finishes), or an open loop at http.rate requests per
 * second with seeded Poisson arrivals.  Streamed responses are read as
 * server-sent events as they arrive: the first text event gives TTFT, the
 * gaps between text events the inter-token latencies.
 *
 * What the runner measures is the local devices while the load runs: one
 * phase (ALL) around the pass, and in a closed loop a STEADY phase inside
 * it (docs/methodology.md, "Steady state for server load").  A request
 * that fails (connection, HTTP status, timeout, malformed stream) is a
 * result with finish CANCELLED and its error text, never a failed batch.
 */
#define _POSIX_C_SOURCE 200809L
#include "http.h"
#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "joule_int.h"
#include "managed.h"
#include "oai.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct joule_backend {
    struct joule_backend_params p;
    struct joule_backend_info info;
    struct joule_tokenizer *tok; /* the model file's, or NULL */
    struct joule_managed server;
    char url[1200];     /* the endpoint */
    char auth[1100];    /* "Authorization: Bearer KEY", or "" */
    uint64_t n_batches; /* seeds each batch's arrivals */
    CURLM *multi;
    int curl_ready;
};

/* ------------------------------------------------------------------------
 * Arrivals.
 */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void joule_http_arrivals(double rate, uint64_t seed, size_t n, double *out)
{
    uint64_t s = seed;
    double t = 0;
    for (size_t i = 0; i < n; i++) {
        /* u in (0, 1]: 53 random bits, never 0, so log(u) is finite. */
        double u = ((double)(splitmix64(&s) >> 11) + 1.0) * 0x1.0p-53;
        t += -log(u) / rate;
        out[i] = t;
    }
}

/* ------------------------------------------------------------------------
 * One request.
 */

enum { R_PENDING, R_FLIGHT, R_RETRY, R_DONE };

struct batch;

struct req {
    struct batch *bt;
    size_t i;
    CURL *h;
    struct curl_slist *hdr;
    char *body;
    int state, attempts;
    double t_sched, t_issue, t_first, t_end, retry_at; /* s from the batch start */
    struct joule_buf resp;                             /* a non-streamed body or an error body */
    struct joule_sse sse;
    struct joule_buf text;
    double *tt; /* times of the text events */
    size_t ntt, ctt;
    int64_t usage_in, usage_out;
    char finish[16];
    int got_done, bad, retryable;
    char err[256];
    char curl_err[CURL_ERROR_SIZE];
};

struct batch {
    struct joule_backend *b;
    struct req *q;
    size_t n;
    uint64_t t0_ns;
    size_t started; /* requests in flight that have their first text */
};

static double now_s(const struct batch *bt)
{
    return (double)(joule_clock_ns() - bt->t0_ns) * 1e-9;
}

/* Records why q failed (the first reason wins): what, then detail. */
static void fail(struct req *q, const char *what, const char *detail)
{
    if (!q->err[0])
        joule_fmt(q->err, sizeof(q->err), "%s%s", what, detail);
    q->bad = 1;
}

static int on_event(void *user, const char *data, size_t len)
{
    struct req *q = user;
    if (q->got_done)
        return 0;
    struct joule_oai_chunk c;
    char e[200];
    if (joule_oai_parse(data, len, &c, e, sizeof(e)) != 0) {
        fail(q, "malformed event stream: ", e);
        return 1;
    }
    if (c.done)
        q->got_done = 1;
    if (c.error[0]) {
        fail(q, "error event from the server: ", c.error);
        joule_oai_chunk_release(&c);
        return 1;
    }
    if (c.text_len) {
        double t = now_s(q->bt);
        if (q->ntt == 0) {
            q->t_first = t;
            q->bt->started++;
        }
        if (q->ntt == q->ctt) {
            size_t cap;
            double *g = NULL;
            if (joule_grow_cap(q->ctt, q->ntt + 1, 64, &cap))
                g = joule_realloc_array(q->tt, cap, sizeof(double));
            if (!g) {
                joule_oai_chunk_release(&c);
                fail(q, "", "out of memory");
                return 1;
            }
            q->tt = g;
            q->ctt = cap;
        }
        q->tt[q->ntt++] = t;
        joule_buf_put(&q->text, c.text, c.text_len);
    }
    if (c.finish[0])
        joule_strlcpy(q->finish, c.finish, sizeof(q->finish));
    if (c.prompt_tokens >= 0)
        q->usage_in = c.prompt_tokens;
    if (c.completion_tokens >= 0)
        q->usage_out = c.completion_tokens;
    joule_oai_chunk_release(&c);
    return 0;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *user)
{
    struct req *q = user;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &code);
    if (q->bt->b->p.stream && code == 200) {
        int rc = joule_sse_feed(&q->sse, p, n, on_event, q);
        if (rc < 0)
            fail(q, "malformed event stream: ", "a line or event longer than 1 MiB");
        return rc ? 0 : n;
    }
    if (q->resp.n + n > ((size_t)4 << 20)) {
        fail(q, "", "a response longer than 4 MiB");
        return 0;
    }
    joule_buf_put(&q->resp, p, n);
    return q->resp.oom ? 0 : n;
}

/* The request's JSON body (before any window). */
static char *request_body(const struct joule_backend *b, const struct joule_backend_prompt *pr)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (b->p.http_model && *b->p.http_model)
        json_object_set_new(o, "model", json_string(b->p.http_model));
    json_t *text = json_stringn(pr->text ? pr->text : "", pr->text ? pr->text_len : 0);
    if (strcmp(b->p.endpoint, "chat") == 0) {
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string("user"));
        json_object_set_new(m, "content", text);
        json_t *a = json_array();
        json_array_append_new(a, m);
        json_object_set_new(o, "messages", a);
    } else {
        json_object_set_new(o, "prompt", text);
    }
    json_object_set_new(o, "max_tokens", json_integer(b->p.max_output_tokens));
    json_object_set_new(o, "temperature", json_real(b->p.sampling.temperature));
    if (b->p.sampling.top_p < 1.0f)
        json_object_set_new(o, "top_p", json_real(b->p.sampling.top_p));
    json_object_set_new(o, "seed", json_integer((json_int_t)(b->p.sampling.seed & 0x7fffffff)));
    if (b->p.ignore_eos)
        json_object_set_new(o, "ignore_eos", json_true());
    if (b->p.stream) {
        json_object_set_new(o, "stream", json_true());
        json_t *so = json_object();
        json_object_set_new(so, "include_usage", json_true());
        json_object_set_new(o, "stream_options", so);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static enum joule_status req_setup(struct req *q)
{
    const struct joule_backend *b = q->bt->b;
    if (!(q->h = curl_easy_init()))
        return JOULE_ERR_NOMEM;
    q->hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (q->hdr && b->p.stream)
        q->hdr = curl_slist_append(q->hdr, "Accept: text/event-stream");
    if (q->hdr && b->auth[0])
        q->hdr = curl_slist_append(q->hdr, b->auth);
    if (!q->hdr)
        return JOULE_ERR_NOMEM;
    CURL *h = q->h;
    curl_easy_setopt(h, CURLOPT_URL, b->url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(q->body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, q->hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(h, CURLOPT_PRIVATE, q);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, q->curl_err);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(b->p.timeout_s * 1000.0));
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* Keep-alive connections are reused between requests, as clients do. */
    return JOULE_OK;
}

static void issue(struct req *q, double now)
{
    q->resp.n = 0;
    q->text.n = 0;
    joule_sse_release(&q->sse);
    q->ntt = 0;
    q->usage_in = q->usage_out = -1;
    q->finish[0] = q->err[0] = q->curl_err[0] = '\0';
    q->got_done = q->bad = q->retryable = 0;
    q->t_first = NAN;
    if (q->attempts == 0)
        q->t_issue = now;
    q->attempts++;
    q->state = R_FLIGHT;
    if (curl_multi_add_handle(q->bt->b->multi, q->h) != CURLM_OK) {
        fail(q, "", "libcurl refused the request");
        q->state = R_DONE;
    }
}

/* A finished transfer: success, or the error on the request. */
static void complete(struct req *q, CURLcode rc, double now)
{
    const struct joule_backend *b = q->bt->b;
    long code = 0;
    curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &code);
    q->t_end = now;
    if (q->bad) {
        /* the write callback stopped it: the reason is set */
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        char t[32];
        joule_fmt(t, sizeof(t), "%g s (http.timeout_s)", b->p.timeout_s);
        fail(q, "timed out after ", t);
    } else if (rc != CURLE_OK) {
        char m[200];
        joule_fmt(m, sizeof(m), "%s%s%s", curl_easy_strerror(rc), q->curl_err[0] ? ": " : "",
                  q->curl_err);
        fail(q, "", m);
        q->retryable = rc == CURLE_COULDNT_CONNECT || rc == CURLE_GOT_NOTHING ||
                       rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_PARTIAL_FILE;
    } else if (code != 200) {
        char m[200];
        struct joule_oai_chunk c;
        char e[64];
        if (q->resp.n && joule_oai_parse(q->resp.p, q->resp.n, &c, e, sizeof(e)) == 0 && c.error[0])
            joule_fmt(m, sizeof(m), "HTTP %ld: %s", code, c.error);
        else
            joule_fmt(m, sizeof(m), "HTTP %ld: %.120s", code, q->resp.p ? q->resp.p : "");
        if (q->resp.n)
            joule_oai_chunk_release(&c);
        for (char *s = m; *s; s++)
            if (*s == '\n' || *s == '\r')
                *s = ' ';
        fail(q, "", m);
        q->retryable = code == 429 || code >= 500;
    } else if (b->p.stream) {
        if (!q->got_done)
            fail(q, "malformed event stream: ",
                 joule_sse_pending(&q->sse) ? "it ends inside an event"
                                            : "it ends without `data: [DONE]`");
    } else {
        struct joule_oai_chunk c;
        char e[200];
        if (joule_oai_parse(q->resp.p ? q->resp.p : "", q->resp.n, &c, e, sizeof(e)) != 0) {
            fail(q, "malformed response: ", e);
        } else {
            if (c.error[0])
                fail(q, "error from the server: ", c.error);
            if (c.text_len)
                joule_buf_put(&q->text, c.text, c.text_len);
            joule_strlcpy(q->finish, c.finish, sizeof(q->finish));
            q->usage_in = c.prompt_tokens;
            q->usage_out = c.completion_tokens;
            q->t_first = now; /* the whole answer arrives at once */
            joule_oai_chunk_release(&c);
        }
    }
}

/* ------------------------------------------------------------------------
 * The backend.
 */

static void http_close(struct joule_backend *b)
{
    if (!b)
        return;
    joule_managed_stop(&b->server, b->p.grace_s);
    if (b->multi)
        curl_multi_cleanup(b->multi);
    if (b->curl_ready)
        curl_global_cleanup();
    joule_tokenizer_close(b->tok);
    free(b);
}

static enum joule_status http_open(const struct joule_backend_params *p, const char *path,
                                   struct joule_backend **out, char *err, size_t err_size)
{
    *out = NULL;
    struct joule_backend *b = joule_calloc(1, sizeof(*b));
    if (!b)
        return JOULE_ERR_NOMEM;
    b->p = *p;
    enum joule_status st = JOULE_OK;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        joule_fmt(err, err_size, "libcurl could not be initialised");
        free(b);
        return JOULE_ERR_UNSUPPORTED;
    }
    b->curl_ready = 1;
    if (!(b->multi = curl_multi_init())) {
        st = JOULE_ERR_NOMEM;
        goto fail;
    }
    struct joule_backend_info *in = &b->info;
    in->name = "http";
    joule_strlcpy(in->precision, "server", sizeof(in->precision));
    joule_strlcpy(in->isa, "remote", sizeof(in->isa));
    in->n_seq = p->rate > 0 ? 0 : p->concurrency;
    in->whole_pass = 1;
    in->steady = p->rate <= 0;
    in->int8_threshold = -1.0f;
    joule_strlcpy(in->model_name, p->http_model && *p->http_model ? p->http_model : "server",
                  sizeof(in->model_name));
    if (path && *path) {
        struct joule_model_info mi;
        if ((st = joule_model_inspect(path, &mi, err, err_size)) != JOULE_OK)
            goto fail;
        if (!(p->http_model && *p->http_model))
            joule_strlcpy(in->model_name, mi.name[0] ? mi.name : mi.arch, sizeof(in->model_name));
        in->n_params = (int64_t)mi.n_params;
        in->compute_params =
            (int64_t)mi.n_params - (mi.tied_output ? 0 : (int64_t)mi.n_vocab * mi.n_embd);
        in->model_bytes = (int64_t)mi.file_bytes;
        in->n_layer = (int32_t)mi.n_layer;
        in->n_embd = (int32_t)mi.n_embd;
        in->n_ctx = (int32_t)mi.n_ctx;
        char e[256];
        if (joule_tokenizer_open(path, &b->tok, e, sizeof(e)) != JOULE_OK)
            b->tok = NULL; /* counts then come from usage only */
    }
    if (p->api_key_env && *p->api_key_env) {
        const char *key = getenv(p->api_key_env);
        if (!key || !*key) {
            joule_fmt(err, err_size,
                      "http.api_key_env: the environment variable %s is not set (it holds the "
                      "server's API key)",
                      p->api_key_env);
            st = JOULE_ERR_INVALID;
            goto fail;
        }
        if (strlen(key) > 1000 || strpbrk(key, "\r\n")) {
            joule_fmt(err, err_size, "http.api_key_env: the key in %s is not a valid header value",
                      p->api_key_env);
            st = JOULE_ERR_INVALID;
            goto fail;
        }
        joule_fmt(b->auth, sizeof(b->auth), "Authorization: Bearer %s", key);
    }
    char base[1100];
    joule_strlcpy(base, p->base_url ? p->base_url : "", sizeof(base));
    if (p->server_command && *p->server_command) {
        int port = joule_managed_free_port();
        char cmd[4096];
        if (port < 0) {
            joule_fmt(err, err_size, "server: no free port on 127.0.0.1");
            st = JOULE_ERR_IO;
            goto fail;
        }
        if (joule_managed_expand(p->server_command, path, port, p->concurrency, cmd, sizeof(cmd)) !=
            0) {
            joule_fmt(err, err_size, "server.command: longer than %zu bytes once expanded",
                      sizeof(cmd) - 1);
            st = JOULE_ERR_INVALID;
            goto fail;
        }
        if ((st = joule_managed_start(&b->server, cmd, port, p->log_dir ? p->log_dir : ".",
                                      p->ready_path, p->startup_timeout_s, p->grace_s, err,
                                      err_size)) != JOULE_OK) {
            joule_strlcpy(in->server_log, b->server.log, sizeof(in->server_log));
            goto fail;
        }
        joule_strlcpy(in->server_log, b->server.log, sizeof(in->server_log));
        joule_strlcpy(base, b->server.base_url, sizeof(base));
    }
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        base[--bl] = '\0';
    joule_fmt(b->url, sizeof(b->url), "%s/v1/%s", base,
              strcmp(p->endpoint ? p->endpoint : "completions", "chat") == 0 ? "chat/completions"
                                                                             : "completions");
    b->p.endpoint = p->endpoint ? p->endpoint : "completions";
    *out = b;
    return JOULE_OK;
fail:
    http_close(b);
    return st;
}

static void http_info(const struct joule_backend *b, struct joule_backend_info *out)
{
    *out = b->info;
}

static enum joule_status http_prepare(struct joule_backend *b, const char *text, size_t len,
                                      int32_t max_input, struct joule_backend_prompt *out,
                                      char *err, size_t err_size)
{
    (void)max_input; /* the server applies its own limit: the text goes whole */
    memset(out, 0, sizeof(*out));
    if (!(out->text = malloc(len + 1)))
        return JOULE_ERR_NOMEM;
    memcpy(out->text, text, len);
    out->text[len] = '\0';
    out->text_len = len;
    if (!b->tok)
        return JOULE_OK;
    /* Counted locally in case the server sends no usage. */
    size_t n = 0;
    joule_tokenizer_encode(b->tok, text, len, JOULE_TOKENIZE_ADD_SPECIAL, NULL, 0, &n);
    if (n && (out->tokens = malloc(n * sizeof(int32_t))) &&
        joule_tokenizer_encode(b->tok, text, len, JOULE_TOKENIZE_ADD_SPECIAL, out->tokens, n, &n) ==
            JOULE_OK)
        out->n_tokens = n;
    (void)err, (void)err_size;
    return JOULE_OK;
}

/* Tokens of text by the local tokenizer, or -1. */
static int64_t count_tokens(const struct joule_tokenizer *t, const char *text, size_t len)
{
    size_t n = 0;
    if (!t)
        return -1;
    if (len == 0)
        return 0;
    enum joule_status st = joule_tokenizer_encode(t, text, len, 0, NULL, 0, &n);
    return st == JOULE_OK || st == JOULE_ERR_INVALID ? (int64_t)n : -1;
}

static enum joule_finish finish_of(const char *f)
{
    if (strcmp(f, "length") == 0)
        return JOULE_FINISH_LENGTH;
    return JOULE_FINISH_EOS; /* "stop", "eos", or none said */
}

/* The result of request q (the window is closed). */
static enum joule_status fill_result(struct joule_backend *b, struct req *q,
                                     const struct joule_backend_prompt *pr, double ss0, double ss1,
                                     struct joule_backend_result *r)
{
    memset(r, 0, sizeof(*r));
    r->queue_s = q->t_issue - q->t_sched > 0 ? q->t_issue - q->t_sched : 0;
    r->total_s = q->t_end - q->t_issue;
    r->prefill_s = NAN; /* not observable from outside the server */
    r->itl_mean_s = r->itl_p50_s = r->itl_p90_s = r->itl_max_s = NAN;
    r->ttft_s = r->decode_s = NAN;
    if (q->err[0]) {
        r->finish = JOULE_FINISH_CANCELLED;
        r->tokens = JOULE_BACKEND_TOKENS_UNKNOWN;
        return (r->error = strdup(q->err)) ? JOULE_OK : JOULE_ERR_NOMEM;
    }
    r->finish = finish_of(q->finish);
    int64_t in = q->usage_in, outn = q->usage_out;
    r->tokens = JOULE_BACKEND_TOKENS_USAGE;
    if (in < 0 || outn < 0) {
        if (in < 0)
            in = pr->tokens ? (int64_t)pr->n_tokens : -1;
        if (outn < 0)
            outn = count_tokens(b->tok, q->text.p, q->text.n);
        r->tokens =
            in >= 0 && outn >= 0 ? JOULE_BACKEND_TOKENS_TOKENIZER : JOULE_BACKEND_TOKENS_UNKNOWN;
    }
    r->n_input = in > 0 ? (int32_t)in : 0;
    r->n_output = outn > 0 ? (int32_t)outn : 0;
    r->decode_tokens = r->n_output > 0 ? r->n_output - 1 : 0;
    if (isfinite(q->t_first)) {
        r->ttft_s = q->t_first - q->t_issue;
        r->decode_s = q->t_end - q->t_first;
    }
    if (q->ntt > 1) {
        if (!(r->itl_s = malloc((q->ntt - 1) * sizeof(double))))
            return JOULE_ERR_NOMEM;
        for (size_t k = 1; k < q->ntt; k++)
            r->itl_s[k - 1] = q->tt[k] - q->tt[k - 1];
        r->n_itl = (int32_t)(q->ntt - 1);
        joule_backend_itl_stats(r->itl_s, r->n_itl, r);
    }
    /* The output tokens inside the steady window: by the times of the text
     * events when streamed (each event's share of the count), else spread
     * evenly over the request's life. */
    if (ss1 > ss0 && r->n_output > 0) {
        if (q->ntt > 0) {
            size_t inside = 0;
            for (size_t k = 0; k < q->ntt; k++)
                inside += q->tt[k] >= ss0 && q->tt[k] <= ss1;
            r->steady_tokens = (double)r->n_output * (double)inside / (double)q->ntt;
        } else if (q->t_end > q->t_issue) {
            double lo = q->t_issue > ss0 ? q->t_issue : ss0;
            double hi = q->t_end < ss1 ? q->t_end : ss1;
            r->steady_tokens = hi > lo ? r->n_output * (hi - lo) / (q->t_end - q->t_issue) : 0;
        }
    }
    if (b->p.keep_text) {
        if (!(r->text = malloc(q->text.n + 1)))
            return JOULE_ERR_NOMEM;
        memcpy(r->text, q->text.p ? q->text.p : "", q->text.n);
        r->text[q->text.n] = '\0';
    }
    return JOULE_OK;
}

static void req_release(struct joule_backend *b, struct req *q)
{
    if (q->h) {
        if (q->state == R_FLIGHT)
            curl_multi_remove_handle(b->multi, q->h);
        curl_easy_cleanup(q->h);
    }
    curl_slist_free_all(q->hdr);
    free(q->body);
    free(q->resp.p);
    free(q->text.p);
    free(q->tt);
    joule_sse_release(&q->sse);
}

static void hook(const struct joule_backend_hooks *h, int begin, enum joule_backend_phase p)
{
    if (!h)
        return;
    if (begin && h->phase_begin)
        h->phase_begin(h->user, p);
    if (!begin && h->phase_end)
        h->phase_end(h->user, p);
}

static enum joule_status http_run_batch(struct joule_backend *b,
                                        const struct joule_backend_prompt *p, size_t n,
                                        const struct joule_backend_hooks *hooks,
                                        struct joule_backend_result *results, char *err,
                                        size_t err_size)
{
    memset(results, 0, n * sizeof(*results));
    struct batch bt = {.b = b, .n = n};
    bt.q = joule_calloc(n ? n : 1, sizeof(*bt.q));
    double *arrive = b->p.rate > 0 ? joule_calloc(n ? n : 1, sizeof(double)) : NULL;
    enum joule_status st = JOULE_OK;
    if (!bt.q || (b->p.rate > 0 && !arrive)) {
        st = JOULE_ERR_NOMEM;
        goto out;
    }
    if (arrive)
        joule_http_arrivals(b->p.rate, b->p.sampling.seed + b->n_batches, n, arrive);
    b->n_batches++;
    /* Everything a request needs is made before the window opens. */
    for (size_t i = 0; i < n; i++) {
        struct req *q = &bt.q[i];
        q->bt = &bt;
        q->i = i;
        q->t_first = NAN;
        q->t_sched = arrive ? arrive[i] : 0;
        if (!(q->body = request_body(b, &p[i])) || (st = req_setup(q)) != JOULE_OK) {
            st = JOULE_ERR_NOMEM;
            goto out;
        }
    }
    const int closed = b->p.rate <= 0;
    const size_t c = (size_t)(b->p.concurrency > 0 ? b->p.concurrency : 1);
    size_t next = 0, done = 0, inflight = 0;
    int steady = 0, steady_done = !closed || !b->info.steady;
    double ss0 = 0, ss1 = 0;
    hook(hooks, 1, JOULE_BACKEND_PHASE_ALL);
    bt.t0_ns = joule_clock_ns();
    while (done < n) {
        double now = now_s(&bt);
        for (size_t i = 0; i < next; i++)
            if (bt.q[i].state == R_RETRY && bt.q[i].retry_at <= now)
                issue(&bt.q[i], now);
        while (next < n && (closed ? inflight < c : arrive[next] <= now)) {
            issue(&bt.q[next++], now);
            inflight++;
        }
        /* Saturated: c requests in flight, each generating (streamed: its
         * first text came; not streamed: sent). */
        if (!steady && !steady_done && inflight == c && (!b->p.stream || bt.started == c)) {
            hook(hooks, 1, JOULE_BACKEND_PHASE_STEADY);
            ss0 = now;
            steady = 1;
        }
        int running = 0;
        curl_multi_perform(b->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(b->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            struct req *q = (struct req *)(void *)priv;
            CURLcode rc = msg->data.result;
            curl_multi_remove_handle(b->multi, msg->easy_handle);
            now = now_s(&bt);
            complete(q, rc, now);
            if (q->ntt > 0)
                bt.started--;
            if (q->err[0] && q->retryable && q->attempts <= b->p.retries) {
                q->state = R_RETRY;
                q->retry_at =
                    now + 0.1 * (double)(1u << (q->attempts - 1 < 6 ? q->attempts - 1 : 6));
                continue;
            }
            q->state = R_DONE;
            done++;
            inflight--;
            /* The first completion after the last request was sent: the
             * tail starts to drain. */
            if (steady && next == n) {
                hook(hooks, 0, JOULE_BACKEND_PHASE_STEADY);
                ss1 = now;
                steady = 0;
                steady_done = 1;
            }
        }
        if (done == n)
            break;
        /* Sleep until a socket is ready, a retry or an arrival is due. */
        double wait = 0.05;
        now = now_s(&bt);
        if (!closed && next < n && arrive[next] - now < wait)
            wait = arrive[next] - now;
        for (size_t i = 0; i < next; i++)
            if (bt.q[i].state == R_RETRY && bt.q[i].retry_at - now < wait)
                wait = bt.q[i].retry_at - now;
        if (wait > 0)
            curl_multi_poll(b->multi, NULL, 0, (int)(wait * 1000.0) + 1, NULL);
    }
    if (steady) {
        hook(hooks, 0, JOULE_BACKEND_PHASE_STEADY);
        ss1 = now_s(&bt);
    }
    hook(hooks, 0, JOULE_BACKEND_PHASE_ALL);
    for (size_t i = 0; i < n && st == JOULE_OK; i++)
        st = fill_result(b, &bt.q[i], &p[i], ss0, ss1, &results[i]);
    if (st != JOULE_OK)
        joule_fmt(err, err_size, "out of memory for the results");
out:
    for (size_t i = 0; bt.q && i < n; i++)
        req_release(b, &bt.q[i]);
    free(bt.q);
    free(arrive);
    if (st == JOULE_ERR_NOMEM && err && !err[0])
        joule_fmt(err, err_size, "out of memory");
    return st;
}

const struct joule_backend_ops joule_backend_http = {
    "http", http_open, http_close, http_info, http_prepare, http_run_batch,
};
