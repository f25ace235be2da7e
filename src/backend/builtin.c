/*
 * builtin.c - the `builtin` backend: joule's own engine in this process.
 *
 * A batch is submitted whole (tokens prepared before any window), then the
 * engine steps until every request is done.  Each engine step is either
 * prefill or decode; the hooks fire when the phase changes, so the runner's
 * windows cover whole runs of steps of one phase (with the bookkeeping
 * between steps, which belongs to that phase's work).
 */
#include "backend.h"
#include "joule_int.h"
#include "stats.h"
#include "builtin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct joule_backend {
    struct joule_engine *e;
    struct joule_backend_params p;
    struct joule_backend_info info;
    /* per batch */
    struct joule_backend_result *results;
    size_t n;
    const struct joule_backend_hooks *hooks;
    int phase;                 /* open phase, -1 none */
    enum joule_status cb_status;
};

static void builtin_close(struct joule_backend *b)
{
    if (!b)
        return;
    joule_engine_close(b->e);
    free(b);
}

static enum joule_status builtin_open(const struct joule_backend_params *p, const char *path,
                                      struct joule_backend **out, char *err, size_t err_size)
{
    *out = NULL;
    struct joule_model_info mi;
    enum joule_status st = joule_model_inspect(path, &mi, err, err_size);
    if (st != JOULE_OK)
        return st;
    struct joule_backend *b = calloc(1, sizeof(*b));
    if (!b)
        return JOULE_ERR_NOMEM;
    b->p = *p;
    struct joule_engine_params ep;
    joule_engine_default_params(&ep);
    ep.n_threads = p->threads;
    ep.n_seq = p->batch_size;
    ep.n_ctx = p->n_ctx;
    ep.int8_threshold = p->int8 ? p->int8_threshold : -1.0f;
    if ((st = joule_engine_open(path, &ep, &b->e, err, err_size)) != JOULE_OK) {
        free(b);
        return st;
    }
    struct joule_engine_info ei;
    joule_engine_get_info(b->e, &ei);
    struct joule_backend_info *in = &b->info;
    in->name = "builtin";
    joule_strlcpy(in->model_name, mi.name[0] ? mi.name : mi.arch, sizeof(in->model_name));
    joule_strlcpy(in->precision, ei.weight_type, sizeof(in->precision));
    for (char *c = in->precision; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    /* What is measured is the mode, not the storage type of the file. */
    if (p->int8)
        joule_strlcpy(in->precision, p->int8_threshold > 0 ? "int8-mixed" : "int8",
                      sizeof(in->precision));
    in->int8_threshold = ei.int8_threshold;
    joule_strlcpy(in->isa, ei.isa, sizeof(in->isa));
    in->n_params = ei.n_params;
    /* The token embedding is a table lookup, not a product; with a tied
     * output it is also the output matrix, which every token multiplies. */
    in->compute_params = ei.n_params - (mi.tied_output ? 0 : (int64_t)ei.n_vocab * ei.n_embd);
    in->model_bytes = ei.model_bytes;
    in->state_bytes = ei.state_bytes;
    in->n_layer = ei.n_layer;
    in->n_embd = ei.n_embd;
    in->n_ctx = ei.n_ctx;
    in->n_threads = ei.n_threads;
    in->n_seq = ei.n_seq;
    in->phases = 1;
    *out = b;
    return JOULE_OK;
}

static void builtin_info(const struct joule_backend *b, struct joule_backend_info *out)
{
    *out = b->info;
    struct joule_engine_info ei;
    joule_engine_get_info(b->e, &ei);
    out->int8_columns = ei.int8_columns;
    out->int8_outliers = ei.int8_outliers;
}

static enum joule_status builtin_prepare(struct joule_backend *b, const char *text, size_t len,
                                         int32_t max_input, struct joule_backend_prompt *out,
                                         char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    const struct joule_tokenizer *t = joule_engine_tokenizer(b->e);
    /* Dataset text is data: control-token spellings in it stay text. */
    const unsigned flags = JOULE_TOKENIZE_ADD_SPECIAL;
    size_t n = 0;
    enum joule_status st = joule_tokenizer_encode(t, text, len, flags, NULL, 0, &n);
    if (st != JOULE_OK && n == 0) {
        joule_fmt(err, err_size, "the prompt could not be tokenized");
        return st;
    }
    if (n == 0) {
        joule_fmt(err, err_size, "the prompt is empty after tokenizing");
        return JOULE_ERR_INVALID;
    }
    if (!(out->tokens = malloc(n * sizeof(int32_t))))
        return JOULE_ERR_NOMEM;
    if ((st = joule_tokenizer_encode(t, text, len, flags, out->tokens, n, &n)) != JOULE_OK) {
        joule_backend_prompt_free(out);
        joule_fmt(err, err_size, "the prompt could not be tokenized");
        return st;
    }
    out->n_tokens = n;
    if (max_input > 0 && n > (size_t)max_input) {
        out->n_cut = n - (size_t)max_input;
        out->n_tokens = (size_t)max_input;
    }
    return JOULE_OK;
}

static void set_phase(struct joule_backend *b, int phase)
{
    if (b->phase == phase)
        return;
    if (b->phase >= 0 && b->hooks && b->hooks->phase_end)
        b->hooks->phase_end(b->hooks->user, (enum joule_backend_phase)b->phase);
    b->phase = phase;
    if (phase >= 0 && b->hooks && b->hooks->phase_begin)
        b->hooks->phase_begin(b->hooks->user, (enum joule_backend_phase)phase);
}

static void on_phase(void *user, int begin, const struct joule_step_info *step)
{
    struct joule_backend *b = user;
    if (begin)
        set_phase(b, step->phase == JOULE_PHASE_PREFILL ? JOULE_BACKEND_PHASE_PREFILL
                                                        : JOULE_BACKEND_PHASE_DECODE);
}

static void on_done(void *user, const struct joule_request_result *rr)
{
    struct joule_backend *b = user;
    size_t i = (size_t)(uintptr_t)rr->user;
    if (i >= b->n)
        return;
    struct joule_backend_result *r = &b->results[i];
    r->n_input = rr->n_input;
    r->n_output = rr->n_output;
    r->finish = rr->finish;
    r->queue_s = rr->queue_s;
    r->prefill_s = rr->prefill_s;
    r->ttft_s = rr->ttft_s;
    r->decode_s = rr->decode_s;
    r->total_s = rr->total_s;
    r->decode_tokens = rr->n_output > 0 ? rr->n_output - 1 : 0;
    joule_backend_itl_stats(rr->itl_s, rr->n_output - 1, r);
    if (rr->n_output > 1) {
        r->itl_s = malloc((size_t)(rr->n_output - 1) * sizeof(double));
        if (r->itl_s) {
            memcpy(r->itl_s, rr->itl_s, (size_t)(rr->n_output - 1) * sizeof(double));
            r->n_itl = rr->n_output - 1;
        } else
            b->cb_status = JOULE_ERR_NOMEM;
    }
    if (b->p.keep_text) {
        r->text = malloc(rr->text_len + 1);
        if (r->text) {
            memcpy(r->text, rr->text, rr->text_len);
            r->text[rr->text_len] = '\0';
        } else {
            b->cb_status = JOULE_ERR_NOMEM;
        }
    }
}

static enum joule_status builtin_run_batch(struct joule_backend *b,
                                           const struct joule_backend_prompt *p, size_t n,
                                           const struct joule_backend_hooks *hooks,
                                           struct joule_backend_result *results, char *err,
                                           size_t err_size)
{
    memset(results, 0, n * sizeof(*results));
    b->results = results;
    b->n = n;
    b->hooks = hooks;
    b->phase = -1;
    b->cb_status = JOULE_OK;
    struct joule_engine_callbacks cb = {on_phase, NULL, on_done, b};
    joule_engine_set_callbacks(b->e, &cb);
    uint64_t *ids = calloc(n ? n : 1, sizeof(uint64_t));
    if (!ids)
        return JOULE_ERR_NOMEM;
    enum joule_status st = JOULE_OK;
    size_t submitted = 0;
    for (size_t i = 0; i < n && st == JOULE_OK; i++) {
        struct joule_request r;
        joule_request_default(&r);
        r.tokens = p[i].tokens;
        r.n_tokens = p[i].n_tokens;
        r.max_tokens = b->p.max_output_tokens;
        r.ignore_eos = b->p.ignore_eos;
        r.sampling = b->p.sampling;
        /* Each request its own stream of draws, reproducible for the seed. */
        r.sampling.seed = b->p.sampling.seed + i;
        r.user = (void *)(uintptr_t)i;
        if ((st = joule_engine_submit(b->e, &r, &ids[submitted], err, err_size)) == JOULE_OK)
            submitted++;
    }
    if (st == JOULE_OK)
        st = joule_engine_run(b->e, err, err_size);
    set_phase(b, -1);
    joule_engine_set_callbacks(b->e, NULL);
    if (st != JOULE_OK && submitted > 0) {
        /* Leave the engine empty for the next batch. */
        for (size_t i = 0; i < submitted; i++)
            joule_engine_cancel(b->e, ids[i]);
        char e2[64];
        joule_engine_run(b->e, e2, sizeof(e2));
    }
    free(ids);
    b->results = NULL;
    b->n = 0;
    if (st == JOULE_OK && b->cb_status != JOULE_OK) {
        joule_fmt(err, err_size, "out of memory for the generated text");
        st = b->cb_status;
    }
    return st;
}

const struct joule_backend_ops joule_backend_builtin = {
    "builtin", builtin_open, builtin_close, builtin_info, builtin_prepare, builtin_run_batch,
};
