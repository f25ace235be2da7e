/*
 * engine.c - the public engine of joule.h: a model, a thread pool and a
 * run state with n_seq slots; requests queue, take a slot, are prefilled
 * in chunks, then decode in lockstep with every other running request.
 *
 * Each step is one forward pass of one phase (prefill or decode), wrapped
 * by the on_phase hook, so a meter window can measure input and output
 * tokens apart instead of dividing the same joules twice.  Accounting per
 * request (tokens, queue, prefill, time to first token, inter-token
 * latencies, decode) is taken from the same clock as the hooks.
 * See docs/internals/engine.md ("Requests and steps").
 */
#include "alloc.h"
#include "chat.h"
#include "clock.h"
#include "joule_int.h"
#include "kernels.h"
#include "lm.h"
#include "pool.h"
#include "sampler.h"
#include "tokenizer.h"

#include <math.h>

struct req {
    uint64_t id;
    void *user;
    int32_t *prompt;        /* [n_prompt] ids */
    int32_t n_prompt;
    int32_t max_tokens;
    bool ignore_eos;
    char *stop[JOULE_MAX_STOP];
    size_t n_stop, max_stop;
    struct joule_sampler *sampler;
    int32_t slot;           /* -1 while queued */
    int32_t n_prefilled;    /* prompt ids in the cache */
    int32_t *out;           /* [max_tokens] generated ids */
    int32_t n_out;
    double *itl;            /* [max_tokens] inter-token latencies */
    char *text;             /* generated text, NUL-terminated */
    size_t text_len, text_cap;
    size_t emitted;         /* bytes of text handed to on_text */
    double t_submit, t_admit, t_prefill_begin, t_prefill_end, t_first, t_last, t_done;
    bool cancel;
    enum joule_finish finish;
    struct req *next;       /* queue link */
};

struct joule_engine {
    struct joule_gguf *g;
    struct joule_lm *m;
    struct joule_tokenizer tok;   /* owns the vocabulary */
    struct joule_pool *pool;
    struct joule_lm_ctx *ctx;
    struct joule_engine_params p;
    enum joule_chat_template chat;
    const char *weight_type;
    int64_t n_params, model_bytes;
    uint8_t *eog;                 /* [n_vocab] 1: ends generation */
    struct req **slots;           /* [n_seq] */
    struct req *queue_head, *queue_tail;
    int32_t n_queued, n_running;
    uint64_t next_id, n_steps;
    /* A step's batch. */
    int32_t *b_token, *b_seq;     /* [n_batch] */
    uint8_t *b_logits;            /* [n_batch] */
    struct req **b_req;           /* [n_batch] request of each token */
    uint64_t *s_ids;              /* [n_seq] requests in the step */
    int32_t *s_tokens;            /* [n_seq] tokens each contributed */
    struct joule_engine_callbacks cb;
};

/* ---------------------------------------------------------------------------
 * Parameters and opening
 */

void joule_engine_default_params(struct joule_engine_params *p)
{
    p->n_threads = 0;
    p->n_seq = 1;
    p->n_ctx = 0;
    p->n_batch = 512;
    p->kv_f32 = 0;
    p->isa = NULL;
    p->int8_threshold = -1.0f;
}

void joule_sampling_default(struct joule_sampling *s)
{
    s->temperature = 0.0f;
    s->top_k = 0;
    s->top_p = 1.0f;
    s->min_p = 0.0f;
    s->repeat_penalty = 1.0f;
    s->repeat_last_n = 64;
    s->seed = 42;
}

void joule_request_default(struct joule_request *r)
{
    memset(r, 0, sizeof(*r));
    r->max_tokens = 128;
    joule_sampling_default(&r->sampling);
}

const char *joule_finish_str(enum joule_finish f)
{
    switch (f) {
    case JOULE_FINISH_NONE: return "running";
    case JOULE_FINISH_EOS: return "eos";
    case JOULE_FINISH_LENGTH: return "length";
    case JOULE_FINISH_STOP: return "stop";
    case JOULE_FINISH_CANCELLED: return "cancelled";
    }
    return "unknown";
}

static bool parse_isa(const char *s, enum joule_isa *out)
{
    if (!s || strcmp(s, "auto") == 0 || strcmp(s, "avx512") == 0)
        *out = JOULE_ISA_AVX512; /* the best the CPU has, at most this */
    else if (strcmp(s, "avx2") == 0)
        *out = JOULE_ISA_AVX2;
    else if (strcmp(s, "scalar") == 0)
        *out = JOULE_ISA_SCALAR;
    else
        return false;
    return true;
}

/* Tokens that end a generation: EOS, and the end-of-turn markers of the
 * chat families when the vocabulary has them as control tokens. */
static void mark_eog(struct joule_engine *e)
{
    static const char *const names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>",
                                        "<end_of_turn>", "<|endoftext|>", "<|eom_id|>"};
    const struct joule_vocab *v = e->tok.vocab;
    const int32_t eos = joule_vocab_eos(v);
    if (eos >= 0 && eos < e->m->hp.n_vocab)
        e->eog[eos] = 1;
    for (size_t i = 0; i < JOULE_ARRAY_LEN(names); i++) {
        const int32_t id = joule_vocab_find(v, names[i], strlen(names[i]));
        if (id >= 0 && id < e->m->hp.n_vocab && joule_vocab_token_type(v, id) == JOULE_TOKEN_CONTROL)
            e->eog[id] = 1;
    }
}

/* Parameters, the type holding most weight bytes, and the chat family. */
static void describe_model(struct joule_engine *e)
{
    int64_t bytes_of[JOULE_QUANT_ID_LIMIT] = {0};
    for (uint64_t i = 0; i < joule_gguf_tensor_count(e->g); i++) {
        const struct joule_gguf_tensor *t = joule_gguf_tensor_at(e->g, i);
        e->n_params += t->n_elements;
        e->model_bytes += (int64_t)t->nbytes;
        if (t->type < JOULE_QUANT_ID_LIMIT && t->n_dims >= 2)
            bytes_of[t->type] += (int64_t)t->nbytes;
    }
    uint32_t best = 0;
    for (uint32_t t = 1; t < JOULE_QUANT_ID_LIMIT; t++)
        if (bytes_of[t] > bytes_of[best])
            best = t;
    e->weight_type = joule_quant_name(best);
    const char *tmpl = NULL;
    size_t len = 0;
    e->chat = JOULE_CHAT_NONE;
    if (joule_gguf_get_str(e->g, "tokenizer.chat_template", &tmpl, &len) == JOULE_OK) {
        char *z = malloc(len + 1);
        if (z) {
            memcpy(z, tmpl, len);
            z[len] = '\0';
            e->chat = joule_chat_detect(z);
            free(z);
        }
    }
}

static enum joule_status alloc_tables(struct joule_engine *e)
{
    const size_t nb = (size_t)e->p.n_batch, ns = (size_t)e->p.n_seq;
    e->eog = calloc((size_t)e->m->hp.n_vocab, 1);
    e->slots = calloc(ns, sizeof(*e->slots));
    e->b_token = calloc(nb, sizeof(int32_t));
    e->b_seq = calloc(nb, sizeof(int32_t));
    e->b_logits = calloc(nb, 1);
    e->b_req = calloc(nb, sizeof(*e->b_req));
    e->s_ids = calloc(ns, sizeof(uint64_t));
    e->s_tokens = calloc(ns, sizeof(int32_t));
    return e->eog && e->slots && e->b_token && e->b_seq && e->b_logits && e->b_req && e->s_ids &&
                   e->s_tokens
               ? JOULE_OK
               : JOULE_ERR_NOMEM;
}

enum joule_status joule_engine_open(const char *path, const struct joule_engine_params *params,
                                    struct joule_engine **out, char *err, size_t err_size)
{
    JOULE_ASSERT(out);
    *out = NULL;
    struct joule_engine_params p;
    if (params)
        p = *params;
    else
        joule_engine_default_params(&p);
    enum joule_isa isa;
    if (!path) {
        joule_fmt(err, err_size, "no model file given");
        return JOULE_ERR_INVALID;
    }
    if (!parse_isa(p.isa, &isa)) {
        joule_fmt(err, err_size, "unknown kernel level '%s' (expected auto, avx512, avx2, scalar)",
                  p.isa);
        return JOULE_ERR_INVALID;
    }
    if (p.n_threads < 0 || p.n_threads > 512 || p.n_seq < 1 || p.n_seq > 4096 || p.n_ctx < 0 ||
        p.n_batch < 1 || p.n_batch > 65536) {
        joule_fmt(err, err_size,
                  "threads %d, sequences %d, context %d or batch %d out of range "
                  "(0..512, 1..4096, >= 0, 1..65536)",
                  p.n_threads, p.n_seq, p.n_ctx, p.n_batch);
        return JOULE_ERR_INVALID;
    }
    if (p.n_threads == 0)
        p.n_threads = joule_cpu_physical_cores();

    struct joule_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        joule_fmt(err, err_size, "out of memory");
        return JOULE_ERR_NOMEM;
    }
    char msg[512];
    enum joule_status st = joule_gguf_open_file(path, &e->g, err, err_size);
    if (st == JOULE_OK && (st = joule_vocab_from_gguf(e->g, &e->tok.vocab, msg, sizeof(msg))))
        joule_fmt(err, err_size, "%s: %s", path, msg);
    if (st == JOULE_OK && (st = joule_lm_load(e->g, &e->m, msg, sizeof(msg))))
        joule_fmt(err, err_size, "%s: %s", path, msg);
    if (st == JOULE_OK && (size_t)e->m->hp.n_vocab > joule_vocab_n_tokens(e->tok.vocab)) {
        joule_fmt(err, err_size, "%s: the model has %d token rows but the vocabulary %zu tokens",
                  path, e->m->hp.n_vocab, joule_vocab_n_tokens(e->tok.vocab));
        st = JOULE_ERR_FORMAT;
    }
    if (st != JOULE_OK) {
        joule_engine_close(e);
        return st;
    }
    if (p.n_ctx == 0)
        p.n_ctx = e->m->hp.n_ctx_train < 2048 ? e->m->hp.n_ctx_train : 2048;
    e->p = p;
    e->p.isa = NULL; /* the caller's string is borrowed */
    if ((st = joule_pool_create(p.n_threads, &e->pool, err, err_size)) != JOULE_OK) {
        joule_engine_close(e);
        return st == JOULE_ERR_IO ? JOULE_ERR_THREAD : st;
    }
    struct joule_lm_ctx_params cp;
    joule_lm_ctx_params_init(&cp);
    cp.n_ctx = p.n_ctx;
    cp.n_seq = p.n_seq;
    cp.n_batch = p.n_batch;
    cp.kv_type = p.kv_f32 ? JOULE_LM_KV_F32 : JOULE_LM_KV_F16;
    cp.isa = (int)isa;
    cp.pool = e->pool;
    cp.int8_threshold = p.int8_threshold;
    if ((st = joule_lm_ctx_open(e->m, &cp, &e->ctx, msg, sizeof(msg))) != JOULE_OK) {
        joule_fmt(err, err_size, "%s: %s", path, msg);
        joule_engine_close(e);
        return st;
    }
    if (alloc_tables(e) != JOULE_OK) {
        joule_fmt(err, err_size, "out of memory");
        joule_engine_close(e);
        return JOULE_ERR_NOMEM;
    }
    describe_model(e);
    mark_eog(e);
    e->next_id = 1;
    *out = e;
    return JOULE_OK;
}

static void req_free(struct req *r)
{
    if (!r)
        return;
    free(r->prompt);
    for (size_t i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    joule_sampler_free(r->sampler);
    free(r->out);
    free(r->itl);
    free(r->text);
    free(r);
}

void joule_engine_close(struct joule_engine *e)
{
    if (!e)
        return;
    for (struct req *r = e->queue_head, *n; r; r = n) {
        n = r->next;
        req_free(r);
    }
    for (int32_t s = 0; e->slots && s < e->p.n_seq; s++)
        req_free(e->slots[s]);
    joule_lm_ctx_free(e->ctx);
    joule_pool_free(e->pool);
    joule_lm_free(e->m);
    joule_vocab_free(e->tok.vocab);
    joule_gguf_close(e->g);
    free(e->eog);
    free(e->slots);
    free(e->b_token);
    free(e->b_seq);
    free(e->b_logits);
    free(e->b_req);
    free(e->s_ids);
    free(e->s_tokens);
    free(e);
}

void joule_engine_get_info(const struct joule_engine *e, struct joule_engine_info *o)
{
    memset(o, 0, sizeof(*o));
    o->arch = joule_lm_arch_name(e->m->hp.arch);
    o->weight_type = e->weight_type;
    o->isa = joule_lm_ctx_isa(e->ctx);
    o->kv_type = e->p.kv_f32 ? "f32" : "f16";
    o->n_params = e->n_params;
    o->model_bytes = e->model_bytes;
    o->state_bytes = (int64_t)joule_lm_ctx_bytes(e->ctx);
    o->n_vocab = e->m->hp.n_vocab;
    o->n_ctx_train = e->m->hp.n_ctx_train;
    o->n_layer = e->m->hp.n_layer;
    o->n_embd = e->m->hp.n_embd;
    o->n_threads = joule_pool_size(e->pool);
    o->n_seq = e->p.n_seq;
    o->n_ctx = e->p.n_ctx;
    o->n_batch = e->p.n_batch;
    o->chat_template = e->chat == JOULE_CHAT_NONE ? NULL : joule_chat_template_name(e->chat);
    o->int8_threshold = e->p.int8_threshold >= 0.0f ? e->p.int8_threshold : -1.0f;
    joule_lm_ctx_int8_stats(e->ctx, &o->int8_columns, &o->int8_outliers);
}

const struct joule_tokenizer *joule_engine_tokenizer(const struct joule_engine *e)
{
    return &e->tok;
}

void joule_engine_set_callbacks(struct joule_engine *e, const struct joule_engine_callbacks *cb)
{
    if (cb)
        e->cb = *cb;
    else
        memset(&e->cb, 0, sizeof(e->cb));
}

double joule_engine_now(const struct joule_engine *e)
{
    (void)e;
    return (double)joule_clock_ns() * 1e-9;
}

int32_t joule_engine_pending(const struct joule_engine *e)
{
    return e->n_queued + e->n_running;
}

/* ---------------------------------------------------------------------------
 * Submitting
 */

/* The prompt text to tokenize: the caller's, or the chat rendering of it. */
static enum joule_status prompt_text(const struct joule_engine *e, const struct joule_request *r,
                                     char **text, size_t *len, char *err, size_t err_size)
{
    *text = NULL;
    *len = 0;
    if (!r->chat) {
        *text = malloc(r->prompt_len + 1);
        if (!*text)
            return JOULE_ERR_NOMEM;
        memcpy(*text, r->prompt, r->prompt_len);
        (*text)[r->prompt_len] = '\0';
        *len = r->prompt_len;
        return JOULE_OK;
    }
    enum joule_chat_template t = e->chat;
    if (r->chat_template && joule_chat_template_from_name(r->chat_template, &t) != JOULE_OK) {
        joule_fmt(err, err_size, "unknown chat template '%s' (known: %s)", r->chat_template,
                  joule_chat_template_names());
        return JOULE_ERR_INVALID;
    }
    if (t == JOULE_CHAT_NONE) {
        joule_fmt(err, err_size,
                  "the model has no chat template joule recognises; name one (%s)",
                  joule_chat_template_names());
        return JOULE_ERR_UNSUPPORTED;
    }
    struct joule_chat_msg msgs[2];
    size_t n = 0;
    if (r->system)
        msgs[n++] = (struct joule_chat_msg){"system", r->system};
    char *user = malloc(r->prompt_len + 1);
    if (!user)
        return JOULE_ERR_NOMEM;
    memcpy(user, r->prompt, r->prompt_len);
    user[r->prompt_len] = '\0';
    msgs[n++] = (struct joule_chat_msg){"user", user};
    enum joule_status st = joule_chat_apply(t, msgs, n, true, text, len, err, err_size);
    free(user);
    return st;
}

static enum joule_status check_request(const struct joule_request *r, char *err,
                                       size_t err_size)
{
    if (r->n_tokens > 0) {
        if (!r->tokens) {
            joule_fmt(err, err_size, "n_tokens is %zu but tokens is NULL", r->n_tokens);
            return JOULE_ERR_INVALID;
        }
    } else if (!r->prompt || r->prompt_len == 0) {
        joule_fmt(err, err_size, "the prompt is empty");
        return JOULE_ERR_INVALID;
    }
    if (r->max_tokens < 1 || r->max_tokens > JOULE_LM_MAX_DIM) {
        joule_fmt(err, err_size, "max_tokens %d is out of range (1..%d)", r->max_tokens,
                  JOULE_LM_MAX_DIM);
        return JOULE_ERR_INVALID;
    }
    return JOULE_OK;
}

static enum joule_status copy_stops(struct req *q, const struct joule_request *r, char *err,
                                    size_t err_size)
{
    for (size_t i = 0; i < JOULE_MAX_STOP && r->stop[i]; i++) {
        const size_t n = strlen(r->stop[i]);
        if (n == 0) {
            joule_fmt(err, err_size, "stop string %zu is empty", i + 1);
            return JOULE_ERR_INVALID;
        }
        if (!(q->stop[q->n_stop] = malloc(n + 1)))
            return JOULE_ERR_NOMEM;
        memcpy(q->stop[q->n_stop++], r->stop[i], n + 1);
        q->max_stop = n > q->max_stop ? n : q->max_stop;
    }
    return JOULE_OK;
}

static enum joule_status copy_prompt_tokens(struct joule_engine *e, struct req *q,
                                            const int32_t *ids, size_t n, char *err,
                                            size_t err_size)
{
    if (n > (size_t)e->p.n_ctx) {
        joule_fmt(err, err_size,
                  "the prompt is %zu tokens, more than the context of %d positions "
                  "(open the engine with a larger n_ctx)",
                  n, e->p.n_ctx);
        return JOULE_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= e->m->hp.n_vocab) {
            joule_fmt(err, err_size, "prompt token %zu is id %d, outside the vocabulary (0..%d)",
                      i, ids[i], e->m->hp.n_vocab - 1);
            return JOULE_ERR_INVALID;
        }
    if (!(q->prompt = malloc(n * sizeof(int32_t))))
        return JOULE_ERR_NOMEM;
    memcpy(q->prompt, ids, n * sizeof(int32_t));
    q->n_prompt = (int32_t)n;
    return JOULE_OK;
}

static enum joule_status tokenize_prompt(struct joule_engine *e, struct req *q, const char *text,
                                         size_t len, char *err, size_t err_size)
{
    const unsigned flags = JOULE_TOKENIZE_ADD_SPECIAL | JOULE_TOKENIZE_PARSE_SPECIAL;
    size_t n = 0;
    enum joule_status st = joule_tokenize(e->tok.vocab, text, len, flags, NULL, 0, &n);
    if (st != JOULE_OK && n == 0) {
        joule_fmt(err, err_size, "the prompt could not be tokenized");
        return st;
    }
    if (n == 0) {
        joule_fmt(err, err_size, "the prompt is empty after tokenizing");
        return JOULE_ERR_INVALID;
    }
    if (n > (size_t)e->p.n_ctx) {
        joule_fmt(err, err_size,
                  "the prompt is %zu tokens, more than the context of %d positions "
                  "(open the engine with a larger n_ctx)",
                  n, e->p.n_ctx);
        return JOULE_ERR_INVALID;
    }
    if (!(q->prompt = malloc(n * sizeof(int32_t))))
        return JOULE_ERR_NOMEM;
    if ((st = joule_tokenize(e->tok.vocab, text, len, flags, q->prompt, n, &n)) != JOULE_OK) {
        joule_fmt(err, err_size, "the prompt could not be tokenized");
        return st;
    }
    q->n_prompt = (int32_t)n;
    return JOULE_OK;
}

enum joule_status joule_engine_submit(struct joule_engine *e, const struct joule_request *r,
                                      uint64_t *id, char *err, size_t err_size)
{
    JOULE_ASSERT(e && r);
    if (err && err_size)
        err[0] = '\0';
    enum joule_status st = check_request(r, err, err_size);
    if (st != JOULE_OK)
        return st;
    struct req *q = calloc(1, sizeof(*q));
    char *text = NULL;
    size_t len = 0;
    if (!q) {
        joule_fmt(err, err_size, "out of memory");
        return JOULE_ERR_NOMEM;
    }
    q->user = r->user;
    q->max_tokens = r->max_tokens;
    q->ignore_eos = r->ignore_eos != 0;
    q->slot = -1;
    q->t_prefill_begin = NAN;
    q->t_first = NAN;
    if ((st = copy_stops(q, r, err, err_size)) == JOULE_OK) {
        if (r->n_tokens > 0)
            st = copy_prompt_tokens(e, q, r->tokens, r->n_tokens, err, err_size);
        else if ((st = prompt_text(e, r, &text, &len, err, err_size)) == JOULE_OK)
            st = tokenize_prompt(e, q, text, len, err, err_size);
    }
    free(text);
    if (st == JOULE_OK) {
        struct joule_sampler_params sp = {
            .temperature = r->sampling.temperature,
            .top_k = r->sampling.top_k,
            .top_p = r->sampling.top_p,
            .min_p = r->sampling.min_p,
            .repeat_penalty = r->sampling.repeat_penalty,
            .repeat_last_n = r->sampling.repeat_last_n,
            .seed = r->sampling.seed,
        };
        st = joule_sampler_create(&sp, e->m->hp.n_vocab, &q->sampler, err, err_size);
    }
    if (st == JOULE_OK) {
        q->out = malloc((size_t)q->max_tokens * sizeof(int32_t));
        q->itl = malloc((size_t)q->max_tokens * sizeof(double));
        q->text_cap = 256;
        q->text = malloc(q->text_cap);
        if (!q->out || !q->itl || !q->text) {
            joule_fmt(err, err_size, "out of memory for %d output tokens", q->max_tokens);
            st = JOULE_ERR_NOMEM;
        }
    }
    if (st != JOULE_OK) {
        if (st == JOULE_ERR_NOMEM && err && err_size && !err[0])
            joule_fmt(err, err_size, "out of memory");
        req_free(q);
        return st;
    }
    q->text[0] = '\0';
    for (int32_t i = 0; i < q->n_prompt; i++)
        joule_sampler_accept(q->sampler, q->prompt[i]);
    q->id = e->next_id++;
    q->t_submit = joule_engine_now(e);
    if (e->queue_tail)
        e->queue_tail->next = q;
    else
        e->queue_head = q;
    e->queue_tail = q;
    e->n_queued++;
    if (id)
        *id = q->id;
    return JOULE_OK;
}

enum joule_status joule_engine_cancel(struct joule_engine *e, uint64_t id)
{
    for (struct req *r = e->queue_head; r; r = r->next)
        if (r->id == id) {
            r->cancel = true;
            return JOULE_OK;
        }
    for (int32_t s = 0; s < e->p.n_seq; s++)
        if (e->slots[s] && e->slots[s]->id == id) {
            e->slots[s]->cancel = true;
            return JOULE_OK;
        }
    return JOULE_ERR_NOT_FOUND;
}

/* ---------------------------------------------------------------------------
 * Scoring a given text
 */

/* ln softmax(logits)[target], in double: the sum of exponentials of a
 * 32k-entry row loses digits in float that perplexities would show. */
static double log_prob(const float *logits, int32_t n_vocab, int32_t target)
{
    float max = -INFINITY;
    for (int32_t v = 0; v < n_vocab; v++)
        if (logits[v] > max)
            max = logits[v];
    double z = 0;
    for (int32_t v = 0; v < n_vocab; v++)
        z += exp((double)logits[v] - (double)max);
    return (double)logits[target] - (double)max - log(z);
}

enum joule_status joule_engine_score(struct joule_engine *e, const int32_t *tokens, size_t n,
                                     size_t n_context, double *logprob, double *sum, size_t *n_top,
                                     char *err, size_t err_size)
{
    if (sum)
        *sum = 0;
    if (n_top)
        *n_top = 0;
    if (joule_engine_pending(e) > 0) {
        joule_fmt(err, err_size, "the engine is busy: score once its requests have finished");
        return JOULE_ERR_STATE;
    }
    if (n_context < 1 || n_context > n || n > (size_t)e->p.n_ctx) {
        joule_fmt(err, err_size,
                  "cannot score tokens %zu..%zu of %zu with a context of %d positions "
                  "(the first token is never scored)",
                  n_context, n, n, e->p.n_ctx);
        return JOULE_ERR_INVALID;
    }
    const int32_t n_vocab = e->m->hp.n_vocab, nb = e->p.n_batch;
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            joule_fmt(err, err_size, "token %zu is %d, not in the vocabulary of %d", i,
                      (int)tokens[i], (int)n_vocab);
            return JOULE_ERR_INVALID;
        }
    double total = 0;
    size_t top = 0;
    enum joule_status st = JOULE_OK;
    joule_lm_seq_reset(e->ctx, 0);
    /* Token i's logits predict token i + 1: ask for those of the tokens
     * n_context - 1 .. n - 2 only. */
    for (size_t at = 0; at < n - 1 && st == JOULE_OK;) {
        const int32_t k = (int32_t)(n - 1 - at < (size_t)nb ? n - 1 - at : (size_t)nb);
        for (int32_t j = 0; j < k; j++) {
            e->b_token[j] = tokens[at + (size_t)j];
            e->b_seq[j] = 0;
            e->b_logits[j] = at + (size_t)j + 1 >= n_context;
        }
        struct joule_lm_batch b = {k, e->b_token, e->b_seq, e->b_logits};
        if ((st = joule_lm_forward(e->ctx, &b, err, err_size)) != JOULE_OK)
            break;
        for (int32_t j = 0; j < k; j++) {
            if (!e->b_logits[j])
                continue;
            const size_t target = at + (size_t)j + 1;
            const float *lg = joule_lm_logits(e->ctx, j);
            const double lp = log_prob(lg, n_vocab, tokens[target]);
            if (logprob)
                logprob[target - n_context] = lp;
            total += lp;
            top += joule_lm_argmax(lg, n_vocab) == tokens[target];
        }
        at += (size_t)k;
    }
    joule_lm_seq_reset(e->ctx, 0);
    if (st == JOULE_OK) {
        if (sum)
            *sum = total;
        if (n_top)
            *n_top = top;
    }
    return st;
}

/* ---------------------------------------------------------------------------
 * Text and finishing
 */

/* Bytes of s[0 .. n) that end on a UTF-8 character boundary: a sequence
 * cut by the end is held back until its last byte arrives. */
static size_t utf8_complete(const char *s, size_t n)
{
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        const unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte */
        const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

static void emit_text(struct joule_engine *e, struct req *r, size_t upto)
{
    if (upto <= r->emitted)
        return;
    if (e->cb.on_text)
        e->cb.on_text(e->cb.user, r->id, r->user, r->text + r->emitted, upto - r->emitted);
    r->emitted = upto;
}

static void finish(struct joule_engine *e, struct req *r, enum joule_finish why)
{
    r->finish = why;
    /* A request that produced tokens ended with its last one. */
    r->t_done = why != JOULE_FINISH_CANCELLED && r->n_out > 0 ? r->t_last : joule_engine_now(e);
    if (isnan(r->t_first))
        r->t_first = r->t_done; /* cancelled before its first token */
    emit_text(e, r, r->text_len);
    if (e->cb.on_done) {
        struct joule_request_result res = {
            .id = r->id,
            .user = r->user,
            .finish = why,
            .n_input = r->n_prompt,
            .n_output = r->n_out,
            .t_submit = r->t_submit,
            .t_admit = r->slot >= 0 || !isnan(r->t_prefill_begin) ? r->t_admit : r->t_done,
            .t_first_token = r->t_first,
            .t_done = r->t_done,
            .itl_s = r->itl,
            .tokens = r->out,
            .text = r->text,
            .text_len = r->text_len,
        };
        res.queue_s = res.t_admit - r->t_submit;
        res.prefill_s = isnan(r->t_prefill_begin) ? 0.0 : r->t_prefill_end - r->t_prefill_begin;
        res.ttft_s = r->t_first - r->t_submit;
        res.decode_s = r->t_done - r->t_first;
        res.total_s = r->t_done - r->t_submit;
        e->cb.on_done(e->cb.user, &res);
    }
}

static bool append_text(struct req *r, const char *s, size_t n)
{
    if (r->text_len + n + 1 > r->text_cap) {
        size_t cap;
        if (!joule_grow_cap(r->text_cap, r->text_len + n + 1, 256, &cap))
            return false;
        char *t = realloc(r->text, cap);
        if (!t)
            return false;
        r->text = t;
        r->text_cap = cap;
    }
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
    r->text[r->text_len] = '\0';
    return true;
}

/* The earliest stop string in the text not yet emitted (a stop string may
 * begin up to max_stop - 1 bytes before it), or -1. */
static ptrdiff_t find_stop(const struct req *r)
{
    const size_t from = r->emitted;
    ptrdiff_t best = -1;
    for (size_t i = 0; i < r->n_stop; i++) {
        const char *hit = strstr(r->text + from, r->stop[i]);
        if (hit && (best < 0 || hit - r->text < best))
            best = hit - r->text;
    }
    return best;
}

/*
 * Records token tok, generated for r at time now; finishes r when it ends
 * the generation.  Returns false when r finished.
 */
static bool take_token(struct joule_engine *e, struct req *r, int32_t tok, double now)
{
    if (r->n_out == 0)
        r->t_first = now;
    else
        r->itl[r->n_out - 1] = now - r->t_last;
    r->t_last = now;
    r->out[r->n_out++] = tok;
    joule_sampler_accept(r->sampler, tok);
    if (e->eog[tok] && !r->ignore_eos) {
        finish(e, r, JOULE_FINISH_EOS);
        return false;
    }
    char piece[JOULE_TOKEN_PIECE_MAX];
    const size_t n = joule_token_piece(e->tok.vocab, tok, false, piece);
    if (!append_text(r, piece, n)) {
        finish(e, r, JOULE_FINISH_LENGTH); /* out of memory for the text: stop here */
        return false;
    }
    if (r->n_stop) {
        const ptrdiff_t at = find_stop(r);
        if (at >= 0) {
            r->text_len = (size_t)at;
            r->text[at] = '\0';
            finish(e, r, JOULE_FINISH_STOP);
            return false;
        }
    }
    if (r->n_out >= r->max_tokens ||
        joule_lm_seq_len(e->ctx, r->slot) >= joule_lm_ctx_n_ctx(e->ctx)) {
        finish(e, r, JOULE_FINISH_LENGTH);
        return false;
    }
    /* Stream what can no longer be part of a stop string, whole characters. */
    size_t safe = r->text_len;
    safe = r->max_stop > 0 && safe >= r->max_stop - 1 ? safe - (r->max_stop - 1)
                                                      : (r->max_stop > 0 ? 0 : safe);
    emit_text(e, r, utf8_complete(r->text, safe));
    return true;
}

static void release_slot(struct joule_engine *e, struct req *r)
{
    e->slots[r->slot] = NULL;
    e->n_running--;
    req_free(r);
}

/* ---------------------------------------------------------------------------
 * Steps
 */

/* Cancelled requests leave; queued ones take the free slots. */
static void admit(struct joule_engine *e)
{
    for (struct req **pp = &e->queue_head; *pp;) {
        struct req *r = *pp;
        if (!r->cancel) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        e->n_queued--;
        finish(e, r, JOULE_FINISH_CANCELLED);
        req_free(r);
    }
    e->queue_tail = NULL;
    for (struct req *r = e->queue_head; r; r = r->next)
        e->queue_tail = r;
    for (int32_t s = 0; s < e->p.n_seq; s++) {
        struct req *r = e->slots[s];
        if (r && r->cancel) {
            finish(e, r, JOULE_FINISH_CANCELLED);
            release_slot(e, r);
        }
    }
    for (int32_t s = 0; s < e->p.n_seq && e->queue_head; s++) {
        if (e->slots[s])
            continue;
        struct req *r = e->queue_head;
        e->queue_head = r->next;
        if (!e->queue_head)
            e->queue_tail = NULL;
        r->next = NULL;
        e->n_queued--;
        r->slot = s;
        r->t_admit = joule_engine_now(e);
        joule_lm_seq_reset(e->ctx, s);
        e->slots[s] = r;
        e->n_running++;
    }
}

/* Fills the batch with prompt chunks; returns its token count (0: none). */
static int32_t plan_prefill(struct joule_engine *e, struct joule_step_info *si)
{
    int32_t n = 0;
    for (int32_t s = 0; s < e->p.n_seq && n < e->p.n_batch; s++) {
        struct req *r = e->slots[s];
        if (!r || r->n_prefilled >= r->n_prompt)
            continue;
        int32_t k = r->n_prompt - r->n_prefilled;
        k = k < e->p.n_batch - n ? k : e->p.n_batch - n;
        for (int32_t i = 0; i < k; i++) {
            e->b_token[n + i] = r->prompt[r->n_prefilled + i];
            e->b_seq[n + i] = s;
            e->b_logits[n + i] = r->n_prefilled + i + 1 == r->n_prompt;
            e->b_req[n + i] = r;
        }
        n += k;
        e->s_ids[si->n_requests] = r->id;
        e->s_tokens[si->n_requests++] = k;
    }
    si->phase = JOULE_PHASE_PREFILL;
    return n;
}

/* One token per generating request. */
static int32_t plan_decode(struct joule_engine *e, struct joule_step_info *si)
{
    int32_t n = 0;
    for (int32_t s = 0; s < e->p.n_seq && n < e->p.n_batch; s++) {
        struct req *r = e->slots[s];
        if (!r || r->n_out == 0)
            continue;
        e->b_token[n] = r->out[r->n_out - 1];
        e->b_seq[n] = s;
        e->b_logits[n] = 1;
        e->b_req[n] = r;
        n++;
        e->s_ids[si->n_requests] = r->id;
        e->s_tokens[si->n_requests++] = 1;
    }
    si->phase = JOULE_PHASE_DECODE;
    return n;
}

enum joule_status joule_engine_step(struct joule_engine *e, int *ran, char *err, size_t err_size)
{
    JOULE_ASSERT(e);
    if (ran)
        *ran = 0;
    admit(e);
    struct joule_step_info si;
    memset(&si, 0, sizeof(si));
    si.ids = e->s_ids;
    si.tokens_of = e->s_tokens;
    int32_t n = plan_prefill(e, &si);
    if (n == 0) {
        si.n_requests = 0;
        n = plan_decode(e, &si);
    }
    if (n == 0)
        return JOULE_OK;
    si.step = e->n_steps++;
    si.n_tokens = n;
    si.t_begin = joule_engine_now(e);
    si.t_end = NAN;
    if (e->cb.on_phase)
        e->cb.on_phase(e->cb.user, 1, &si);
    const struct joule_lm_batch b = {n, e->b_token, e->b_seq, e->b_logits};
    enum joule_status st = joule_lm_forward(e->ctx, &b, err, err_size);
    si.t_end = joule_engine_now(e);
    if (e->cb.on_phase)
        e->cb.on_phase(e->cb.user, 0, &si);
    if (st != JOULE_OK)
        return st; /* the cache is unchanged: the step can be retried */
    if (ran)
        *ran = 1;
    for (int32_t i = 0; i < n; i++) {
        struct req *r = e->b_req[i];
        if (si.phase == JOULE_PHASE_PREFILL) {
            if (isnan(r->t_prefill_begin))
                r->t_prefill_begin = si.t_begin;
            r->t_prefill_end = si.t_end;
            r->n_prefilled++;
        }
        if (!e->b_logits[i])
            continue;
        const int32_t tok = joule_sampler_sample(r->sampler, joule_lm_logits(e->ctx, i));
        if (!take_token(e, r, tok, si.t_end))
            release_slot(e, r);
    }
    return JOULE_OK;
}

enum joule_status joule_engine_run(struct joule_engine *e, char *err, size_t err_size)
{
    while (joule_engine_pending(e) > 0) {
        int ran = 0;
        enum joule_status st = joule_engine_step(e, &ran, err, err_size);
        if (st != JOULE_OK)
            return st;
        if (!ran && e->n_queued == 0 && e->n_running == 0)
            break;
    }
    return JOULE_OK;
}
