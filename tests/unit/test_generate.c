/*
 * test_generate.c - the engine API of joule.h on synthesized models of the
 * three architectures: generation runs and its logits are finite; a
 * sequence's greedy output is the same alone, inside a batch of 8 other
 * prompts, and with its prompt prefilled in small chunks; a model's
 * perplexity on its own greedy text is far below that of random tokens;
 * requests end at max_tokens, stop strings, cancel; the phase hooks and
 * the per-request accounting add up.
 */
#include "joule.h"
#include "kernels.h"
#include "lm.h"
#include "model.h"
#include "pool.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OUT 64

static char tmpdir[512];

struct arch_case {
    const char *arch;
    const char *type;
    const char *tokenizer;
    int tied;
};

/* Small models: 2 blocks, width 128, 4 heads (2 KV heads), ffn 256, 512
 * tokens.  Weights of std 0.02 give flat logits; the output matrix is
 * scaled up by a wider std below so greedy text is not uniform noise. */
static const struct arch_case cases[] = {
    {"llama", "q4_0", "spm", 0},
    {"qwen2", "q8_0", "bpe", 1},
    {"phi3", "f16", "spm", 0},
    {"llama", "q4_k_m", "bpe", 0},
    {"llama", "f32", "spm", 1}, /* a batch of 9 prompts takes the OpenBLAS path */
};

static int synth(const struct arch_case *c, const char *path)
{
    struct joule_synth_params p = joule_synth_default_params();
    p.arch = c->arch;
    p.n_embd = 256;
    p.n_layer = 2;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_ff = 256;
    p.n_vocab = 512;
    p.n_ctx = 512;
    p.tied_output = c->tied;
    p.tokenizer = c->tokenizer;
    p.type = c->type;
    p.seed = 7;
    char err[256];
    if (joule_model_synth(&p, path, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "synth %s: %s\n", path, err);
        return 0;
    }
    return 1;
}

/* --- collecting results -------------------------------------------------- */

struct collected {
    int n_done;
    struct {
        uint64_t id;
        int32_t n_input, n_output;
        int32_t tokens[MAX_OUT];
        char text[1024];
        enum joule_finish finish;
        double ttft, prefill, decode, total, queue;
        int itl_ok;
    } r[32];
    int phase_begin, phase_end, bad_order, prefill_steps, decode_steps;
    int open;            /* a step has begun and not ended */
    int decode_before_prefill_done;
    size_t streamed[32]; /* bytes streamed per request index */
};

static void on_phase(void *user, int begin, const struct joule_step_info *s)
{
    struct collected *c = user;
    if (begin) {
        c->phase_begin++;
        c->bad_order += c->open;
        c->open = 1;
        c->bad_order += !isnan(s->t_end);
    } else {
        c->phase_end++;
        c->bad_order += !c->open || !(s->t_end >= s->t_begin);
        c->open = 0;
        int sum = 0;
        for (int32_t i = 0; i < s->n_requests; i++)
            sum += s->tokens_of[i];
        c->bad_order += sum != s->n_tokens;
        if (s->phase == JOULE_PHASE_PREFILL)
            c->prefill_steps++;
        else
            c->decode_steps++;
    }
}

static void on_text(void *user, uint64_t id, void *req_user, const char *text, size_t len)
{
    struct collected *c = user;
    (void)id;
    (void)text;
    c->streamed[(uintptr_t)req_user] += len;
}

static void on_done(void *user, const struct joule_request_result *r)
{
    struct collected *c = user;
    const size_t i = (size_t)(uintptr_t)r->user;
    if (i >= 32)
        return;
    c->n_done++;
    c->r[i].id = r->id;
    c->r[i].n_input = r->n_input;
    c->r[i].n_output = r->n_output;
    for (int32_t k = 0; k < r->n_output && k < MAX_OUT; k++)
        c->r[i].tokens[k] = r->tokens[k];
    snprintf(c->r[i].text, sizeof(c->r[i].text), "%s", r->text);
    c->r[i].finish = r->finish;
    c->r[i].ttft = r->ttft_s;
    c->r[i].prefill = r->prefill_s;
    c->r[i].decode = r->decode_s;
    c->r[i].total = r->total_s;
    c->r[i].queue = r->queue_s;
    int ok = 1;
    double sum = 0.0;
    for (int32_t k = 0; k + 1 < r->n_output; k++) {
        ok &= r->itl_s[k] >= 0.0;
        sum += r->itl_s[k];
    }
    /* The inter-token latencies add up to the decode time. */
    ok &= r->n_output < 2 || fabs(sum - r->decode_s) < 1e-6 + 1e-9 * r->decode_s;
    c->r[i].itl_ok = ok;
}

static const char *const prompts[9] = {
    "hello world",
    "the quick brown fox jumps over the lazy dog",
    "a",
    "energy per token is power times time",
    "batch size is the first lever",
    "one two three four five six seven eight nine ten eleven twelve",
    "zz",
    "what is the cost of a month of serving",
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod",
};

static struct joule_engine *open_engine(const char *path, int n_seq, int n_batch,
                                        const char *isa)
{
    struct joule_engine_params p;
    joule_engine_default_params(&p);
    p.n_threads = 2;
    p.n_seq = n_seq;
    p.n_ctx = 256;
    p.n_batch = n_batch;
    p.isa = isa;
    struct joule_engine *e = NULL;
    char err[512];
    if (joule_engine_open(path, &p, &e, err, sizeof(err)) != JOULE_OK)
        fprintf(stderr, "%s: %s\n", path, err);
    return e;
}

static int submit(struct joule_engine *e, size_t idx, int32_t max_tokens, const char *stop)
{
    struct joule_request r;
    joule_request_default(&r);
    r.prompt = prompts[idx];
    r.prompt_len = strlen(prompts[idx]);
    r.max_tokens = max_tokens;
    r.ignore_eos = 1;
    r.stop[0] = stop;
    r.user = (void *)(uintptr_t)idx;
    char err[256];
    uint64_t id = 0;
    enum joule_status st = joule_engine_submit(e, &r, &id, err, sizeof(err));
    if (st != JOULE_OK)
        fprintf(stderr, "submit: %s\n", err);
    return st == JOULE_OK;
}

/* Greedy output of prompt 0: alone, in a batch of 9, with 3-token prefill
 * chunks; all three must agree token for token. */
static void check_batch_equivalence(const char *path, const char *label)
{
    static struct collected alone, batch, chunked;
    memset(&alone, 0, sizeof(alone));
    memset(&batch, 0, sizeof(batch));
    memset(&chunked, 0, sizeof(chunked));
    char err[256];

    struct joule_engine *e = open_engine(path, 1, 512, NULL);
    CHECK(e != NULL);
    if (!e)
        return;
    struct joule_engine_callbacks cb = {on_phase, on_text, on_done, &alone};
    joule_engine_set_callbacks(e, &cb);
    CHECK(submit(e, 0, 24, NULL));
    CHECK(joule_engine_run(e, err, sizeof(err)) == JOULE_OK);
    joule_engine_close(e);

    e = open_engine(path, 9, 512, NULL);
    CHECK(e != NULL);
    if (!e)
        return;
    cb.user = &batch;
    joule_engine_set_callbacks(e, &cb);
    /* The others first, so prompt 0 sits in the middle of every batch. */
    for (size_t i = 1; i < 9; i++)
        CHECK(submit(e, i, 8 + (int32_t)i * 3, NULL));
    CHECK(submit(e, 0, 24, NULL));
    CHECK(joule_engine_run(e, err, sizeof(err)) == JOULE_OK);
    joule_engine_close(e);

    e = open_engine(path, 2, 3, NULL);
    CHECK(e != NULL);
    if (!e)
        return;
    cb.user = &chunked;
    joule_engine_set_callbacks(e, &cb);
    CHECK(submit(e, 0, 24, NULL));
    CHECK(submit(e, 5, 10, NULL));
    CHECK(joule_engine_run(e, err, sizeof(err)) == JOULE_OK);
    joule_engine_close(e);

    CHECK(alone.n_done == 1 && batch.n_done == 9 && chunked.n_done == 2);
    CHECK(alone.r[0].n_output == 24 && batch.r[0].n_output == 24 &&
          chunked.r[0].n_output == 24);
    int same_batch = memcmp(alone.r[0].tokens, batch.r[0].tokens, 24 * sizeof(int32_t)) == 0;
    int same_chunk = memcmp(alone.r[0].tokens, chunked.r[0].tokens, 24 * sizeof(int32_t)) == 0;
    CHECK(same_batch);
    CHECK(same_chunk);
    printf("%s: greedy alone == in a batch of 9: %s; == with 3-token prefill chunks: %s\n",
           label, same_batch ? "yes" : "NO", same_chunk ? "yes" : "NO");
    /* Every other request got exactly its max_tokens (ignore_eos). */
    for (size_t i = 1; i < 9; i++)
        CHECK(batch.r[i].n_output == 8 + (int32_t)i * 3 &&
              batch.r[i].finish == JOULE_FINISH_LENGTH);
    /* Hooks: paired, prefill steps before decode ones, tokens add up. */
    CHECK(batch.phase_begin == batch.phase_end && batch.bad_order == 0);
    CHECK(batch.prefill_steps == 1);              /* 9 prompts fit one 512-token step */
    CHECK(batch.decode_steps == 8 + 8 * 3 - 1);   /* the longest request sets it */
    CHECK(chunked.prefill_steps >= 6);            /* 3-token chunks */
    /* Accounting. */
    for (size_t i = 0; i < 9; i++) {
        CHECK(batch.r[i].itl_ok);
        CHECK(batch.r[i].n_input >= 1);
        CHECK(batch.r[i].ttft >= batch.r[i].prefill && batch.r[i].prefill > 0.0);
        CHECK(batch.r[i].total >= batch.r[i].ttft + batch.r[i].decode - 1e-9);
        CHECK(batch.streamed[i] == strlen(batch.r[i].text));
    }
}

/* Logits stay finite, and the model prefers its own greedy text to random
 * tokens by a wide margin (perplexity of each under the model). */
static double perplexity(struct joule_lm_ctx *c, const int32_t *toks, size_t n)
{
    joule_lm_ctx_reset(c);
    double nll = 0.0;
    const int32_t V = joule_lm_ctx_model(c)->hp.n_vocab;
    for (size_t i = 0; i + 1 < n; i++) {
        if (joule_lm_decode(c, toks[i], true) != JOULE_OK)
            return NAN;
        const float *l = joule_lm_ctx_logits(c);
        double mx = -INFINITY, sum = 0.0;
        for (int32_t k = 0; k < V; k++)
            mx = l[k] > mx ? l[k] : mx;
        for (int32_t k = 0; k < V; k++)
            sum += exp(l[k] - mx);
        nll -= l[toks[i + 1]] - mx - log(sum);
    }
    return exp(nll / (double)(n - 1));
}

static struct joule_engine *open_engine(const char *path, int n_seq, int n_batch,
                                        const char *isa);

/* joule_engine_score against the one-token-at-a-time perplexity above: in
 * batches of 7 (so the scored span crosses batch edges), every token's
 * log-probability; then a later start, a busy engine, a bad id. */
static void check_score(const char *path, const char *label, const int32_t *toks, size_t n,
                        double ref_ppl)
{
    struct joule_engine *e = open_engine(path, 1, 7, NULL);
    CHECK(e != NULL);
    if (!e)
        return;
    double lp[64], sum = 0, sum2 = 0;
    size_t top = 0;
    char err[256];
    CHECK(n <= 64);
    CHECK(joule_engine_score(e, toks, n, 1, lp, &sum, &top, err, sizeof(err)) == JOULE_OK);
    const double ppl = exp(-sum / (double)(n - 1));
    printf("%s: perplexity by joule_engine_score %.4f, by single steps %.4f\n", label, ppl,
           ref_ppl);
    CHECK_NEAR(ppl, ref_ppl, 1e-3 * ref_ppl);
    double check = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        CHECK(lp[i] <= 0);
        check += lp[i];
    }
    CHECK_NEAR(check, sum, 1e-9 * fabs(sum));
    CHECK(top < n); /* random tokens: the model's favourite now and then at most */
    /* Scoring from token 10 on sums the same log-probabilities. */
    CHECK(joule_engine_score(e, toks, n, 10, NULL, &sum2, NULL, err, sizeof(err)) == JOULE_OK);
    double tail = 0;
    for (size_t i = 9; i + 1 < n; i++)
        tail += lp[i];
    CHECK_NEAR(sum2, tail, 1e-6 * fabs(tail));
    /* Refusals. */
    CHECK(joule_engine_score(e, toks, n, 0, NULL, &sum2, NULL, err, sizeof(err)) ==
          JOULE_ERR_INVALID);
    int32_t bad[3] = {toks[0], toks[1], 1 << 30};
    CHECK(joule_engine_score(e, bad, 3, 1, NULL, &sum2, NULL, err, sizeof(err)) ==
          JOULE_ERR_INVALID);
    CHECK(strstr(err, "vocabulary") != NULL);
    struct joule_request r;
    joule_request_default(&r);
    r.prompt = "hello";
    r.prompt_len = 5;
    r.max_tokens = 2;
    uint64_t id;
    CHECK(joule_engine_submit(e, &r, &id, err, sizeof(err)) == JOULE_OK);
    CHECK(joule_engine_score(e, toks, n, 1, NULL, &sum2, NULL, err, sizeof(err)) ==
          JOULE_ERR_STATE);
    CHECK(joule_engine_run(e, err, sizeof(err)) == JOULE_OK);
    /* Usable again, with the same answer. */
    CHECK(joule_engine_score(e, toks, n, 1, NULL, &sum2, NULL, err, sizeof(err)) == JOULE_OK);
    CHECK_NEAR(sum2, sum, 1e-9 * fabs(sum));
    joule_engine_close(e);
}

static void check_logits_and_perplexity(const char *path, const char *label)
{
    char err[256];
    struct joule_gguf *g = NULL;
    struct joule_lm *m = NULL;
    struct joule_lm_ctx *c = NULL;
    struct joule_lm_ctx_params cp;
    joule_lm_ctx_params_init(&cp);
    cp.n_ctx = 128;
    CHECK(joule_gguf_open_file(path, &g, err, sizeof(err)) == JOULE_OK);
    CHECK(g && joule_lm_load(g, &m, err, sizeof(err)) == JOULE_OK);
    CHECK(m && joule_lm_ctx_open(m, &cp, &c, err, sizeof(err)) == JOULE_OK);
    if (!c) {
        joule_lm_free(m);
        joule_gguf_close(g);
        return;
    }
    const int32_t V = m->hp.n_vocab;
    enum { N = 64 };
    int32_t own[N], rnd[N];
    /* Greedy from token 1, checking every logit on the way. */
    own[0] = 1;
    int finite = 1;
    for (int i = 0; i + 1 < N; i++) {
        CHECK(joule_lm_decode(c, own[i], true) == JOULE_OK);
        const float *l = joule_lm_ctx_logits(c);
        for (int32_t k = 0; k < V; k++)
            finite &= isfinite(l[k]) != 0;
        own[i + 1] = joule_lm_argmax(l, V);
    }
    CHECK(finite);
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        rnd[i] = (int32_t)((s >> 33) % (uint64_t)V);
    }
    const double p_own = perplexity(c, own, N), p_rnd = perplexity(c, rnd, N);
    printf("%s: perplexity of its own greedy text %.2f, of random tokens %.2f (vocab %d)\n",
           label, p_own, p_rnd, V);
    CHECK(isfinite(p_own) && isfinite(p_rnd));
    CHECK(p_own < 0.5 * p_rnd);
    check_score(path, label, rnd, N, p_rnd);
    joule_lm_ctx_free(c);
    joule_lm_free(m);
    joule_gguf_close(g);
}

static void test_archs(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[600], label[64];
        snprintf(path, sizeof(path), "%s/gen-%s-%s.gguf", tmpdir, cases[i].arch, cases[i].type);
        snprintf(label, sizeof(label), "%s %s", cases[i].arch, cases[i].type);
        if (!synth(&cases[i], path)) {
            CHECK(0);
            continue;
        }
        check_logits_and_perplexity(path, label);
        check_batch_equivalence(path, label);
    }
}

/* Stop strings cut the text; cancel ends a queued request; bad requests are
 * refused with a message. */
static void test_requests(void)
{
    char path[600], err[256];
    snprintf(path, sizeof(path), "%s/gen-llama-q4_0.gguf", tmpdir);
    struct joule_engine *e = open_engine(path, 1, 512, NULL);
    CHECK(e != NULL);
    if (!e)
        return;
    static struct collected col;
    memset(&col, 0, sizeof(col));
    struct joule_engine_callbacks cb = {on_phase, on_text, on_done, &col};
    joule_engine_set_callbacks(e, &cb);

    /* A first run tells what text comes; stop at a piece of it. */
    CHECK(submit(e, 1, 16, NULL));
    CHECK(joule_engine_run(e, err, sizeof(err)) == JOULE_OK);
    const char *full = col.r[1].text;
    const size_t full_len = strlen(full);
    CHECK(full_len >= 4);
    char stop[3] = {0};
    if (full_len >= 4) {
        memcpy(stop, full + full_len / 2, 2);
        const char *first = strstr(full, stop);
        const size_t cut = (size_t)(first - full);
        CHECK(submit(e, 1, 16, stop));
        CHECK(joule_engine_run(e, err, sizeof(err)) == JOULE_OK);
        CHECK(col.r[1].finish == JOULE_FINISH_STOP);
        CHECK(strlen(col.r[1].text) == cut && strncmp(col.r[1].text, full, cut) == 0);
        CHECK(col.streamed[1] == full_len + cut); /* both runs: nothing past the stop */
    }

    /* Cancel: two requests on one slot; the queued one is cancelled. */
    memset(&col, 0, sizeof(col));
    struct joule_request r;
    joule_request_default(&r);
    r.prompt = prompts[2];
    r.prompt_len = 1;
    r.max_tokens = 4;
    r.user = (void *)(uintptr_t)2;
    uint64_t id_a = 0, id_b = 0;
    CHECK(joule_engine_submit(e, &r, &id_a, err, sizeof(err)) == JOULE_OK);
    r.user = (void *)(uintptr_t)3;
    CHECK(joule_engine_submit(e, &r, &id_b, err, sizeof(err)) == JOULE_OK);
    CHECK(id_b == id_a + 1);
    CHECK(joule_engine_pending(e) == 2);
    CHECK(joule_engine_cancel(e, id_b) == JOULE_OK);
    CHECK(joule_engine_cancel(e, 999999) == JOULE_ERR_NOT_FOUND);
    CHECK(joule_engine_run(e, err, sizeof(err)) == JOULE_OK);
    CHECK(col.n_done == 2);
    CHECK(col.r[3].finish == JOULE_FINISH_CANCELLED && col.r[3].n_output == 0);
    CHECK(col.r[2].n_output >= 1 && col.r[2].n_output <= 4);
    CHECK(joule_engine_pending(e) == 0);

    /* Refusals. */
    joule_request_default(&r);
    r.prompt = "";
    CHECK(joule_engine_submit(e, &r, NULL, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(strstr(err, "empty") != NULL);
    r.prompt = "x";
    r.prompt_len = 1;
    r.max_tokens = 0;
    CHECK(joule_engine_submit(e, &r, NULL, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(strstr(err, "max_tokens") != NULL);
    r.max_tokens = 4;
    r.chat = 1; /* synthesized models carry no chat template */
    CHECK(joule_engine_submit(e, &r, NULL, err, sizeof(err)) == JOULE_ERR_UNSUPPORTED);
    CHECK(strstr(err, "chat template") != NULL);
    r.chat = 0;
    char *long_prompt = malloc(4000);
    if (long_prompt) {
        for (int i = 0; i < 3999; i++)
            long_prompt[i] = (char)('a' + i % 26);
        long_prompt[3999] = '\0';
        r.prompt = long_prompt;
        r.prompt_len = 3999;
        CHECK(joule_engine_submit(e, &r, NULL, err, sizeof(err)) == JOULE_ERR_INVALID);
        CHECK(strstr(err, "more than the context") != NULL);
        free(long_prompt);
    }
    struct joule_engine_info info;
    joule_engine_get_info(e, &info);
    CHECK_STR(info.arch, "llama");
    CHECK_STR(info.weight_type, "Q4_0");
    CHECK_STR(info.kv_type, "f16");
    CHECK(info.n_threads == 2 && info.n_seq == 1 && info.n_ctx == 256);
    CHECK(info.state_bytes > 0 && info.n_params > 0);
    joule_engine_close(e);

    /* Opening errors. */
    struct joule_engine *bad = (struct joule_engine *)&col;
    struct joule_engine_params p;
    joule_engine_default_params(&p);
    CHECK(joule_engine_open("/nonexistent/m.gguf", &p, &bad, err, sizeof(err)) == JOULE_ERR_IO);
    CHECK(bad == NULL);
    CHECK(strstr(err, "/nonexistent/m.gguf") != NULL);
    p.isa = "avx9000";
    CHECK(joule_engine_open(path, &p, &bad, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(strstr(err, "avx9000") != NULL);
}

/* Every kernel level gives the same greedy text on one model (the kernels
 * agree with their twins to 1e-5; a flip would show a real bug). */
static void test_isa_levels(void)
{
    char path[600], err[256];
    snprintf(path, sizeof(path), "%s/gen-qwen2-q8_0.gguf", tmpdir);
    static const char *const levels[] = {"scalar", "avx2", "avx512"};
    static struct collected col[3];
    for (int k = 0; k < 3; k++) {
        memset(&col[k], 0, sizeof(col[k]));
        struct joule_engine *e = open_engine(path, 1, 512, levels[k]);
        CHECK(e != NULL);
        if (!e)
            return;
        struct joule_engine_callbacks cb = {NULL, NULL, on_done, &col[k]};
        joule_engine_set_callbacks(e, &cb);
        CHECK(submit(e, 1, 16, NULL));
        CHECK(joule_engine_run(e, err, sizeof(err)) == JOULE_OK);
        joule_engine_close(e);
    }
    CHECK(memcmp(col[0].r[1].tokens, col[1].r[1].tokens, 16 * sizeof(int32_t)) == 0);
    CHECK(memcmp(col[0].r[1].tokens, col[2].r[1].tokens, 16 * sizeof(int32_t)) == 0);
}

int main(void)
{
    const char *t = getenv("JOULE_TEST_TMP");
    snprintf(tmpdir, sizeof(tmpdir), "%s", t && *t ? t : "/tmp");
    RUN(test_archs);
    RUN(test_requests);
    RUN(test_isa_levels);
    TEST_MAIN_END();
}
