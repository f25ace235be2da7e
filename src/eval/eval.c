/*
 * eval.c - the tasks of `joule eval` on an engine: perplexity by sliding
 * windows, multiple choice by log-likelihood, and generated answers scored
 * by exact match, numeric match or ROUGE (score.c).
 *
 * Likelihoods come from joule_engine_score, generations from the engine's
 * own batched scheduler, so a task sees exactly the arithmetic (weights,
 * kernels, KV cache type) that `joule run` measures energy for.
 */
#define _POSIX_C_SOURCE 200809L
#include "score.h"

#include "alloc.h"
#include "joule_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const task_names[] = {"ppl", "mc", "exact", "numeric", "rouge"};

const char *joule_eval_task_name(enum joule_eval_task t)
{
    return (unsigned)t < JOULE_ARRAY_LEN(task_names) ? task_names[t] : "unknown";
}

enum joule_status joule_eval_task_parse(const char *name, enum joule_eval_task *out)
{
    for (size_t i = 0; i < JOULE_ARRAY_LEN(task_names); i++)
        if (strcmp(name, task_names[i]) == 0) {
            *out = (enum joule_eval_task)i;
            return JOULE_OK;
        }
    return JOULE_ERR_NOT_FOUND;
}

struct joule_eval_params joule_eval_default_params(enum joule_eval_task t)
{
    struct joule_eval_params p = {t, 32, 0, 0, 0};
    if (t == JOULE_EVAL_NUMERIC)
        p.max_tokens = 256;
    else if (t == JOULE_EVAL_ROUGE)
        p.max_tokens = 128;
    return p;
}

static void result_init(struct joule_eval_result *r, enum joule_eval_task t)
{
    memset(r, 0, sizeof(*r));
    r->task = t;
    r->score = r->rouge1 = r->rouge2 = r->rougeL = r->nll = NAN;
}

/* Tokens of text (with the model's BOS) into a new array. */
static enum joule_status encode(struct joule_engine *e, const char *text, size_t len, int32_t **out,
                                size_t *n, char *err, size_t err_size)
{
    const struct joule_tokenizer *t = joule_engine_tokenizer(e);
    *out = NULL;
    *n = 0;
    size_t need = 0;
    enum joule_status st =
        joule_tokenizer_encode(t, text, len, JOULE_TOKENIZE_ADD_SPECIAL, NULL, 0, &need);
    if (st != JOULE_OK && need == 0) {
        joule_fmt(err, err_size, "the text could not be tokenized");
        return st;
    }
    int32_t *ids = joule_calloc(need ? need : 1, sizeof(*ids));
    if (!ids)
        return JOULE_ERR_NOMEM;
    if ((st = joule_tokenizer_encode(t, text, len, JOULE_TOKENIZE_ADD_SPECIAL, ids, need, &need)) !=
        JOULE_OK) {
        free(ids);
        joule_fmt(err, err_size, "the text could not be tokenized");
        return st;
    }
    *out = ids;
    *n = need;
    return JOULE_OK;
}

/* --- perplexity ------------------------------------------------------------ */

enum joule_status joule_eval_perplexity(struct joule_engine *e, const char *text, size_t len,
                                        const struct joule_eval_params *p,
                                        struct joule_eval_result *out, char *err, size_t err_size)
{
    result_init(out, JOULE_EVAL_PPL);
    struct joule_engine_info info;
    joule_engine_get_info(e, &info);
    const int32_t window = p->window > 0 ? p->window : info.n_ctx;
    const int32_t stride = p->stride > 0 ? p->stride : (window + 1) / 2;
    if (window < 2 || window > info.n_ctx || stride > window) {
        joule_fmt(err, err_size,
                  "perplexity window %d and stride %d: the window must be 2..%d tokens (the "
                  "engine's context) and the stride at most the window",
                  window, stride, info.n_ctx);
        return JOULE_ERR_INVALID;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    enum joule_status st = encode(e, text, len, &ids, &n, err, err_size);
    if (st != JOULE_OK)
        return st;
    if (n < 2) {
        free(ids);
        joule_fmt(err, err_size, "the text is %zu token%s: perplexity needs at least 2", n,
                  n == 1 ? "" : "s");
        return JOULE_ERR_INVALID;
    }
    /* Each window scores the tokens the previous one did not reach, so
     * every token is scored once; after the first, a window starts
     * `keep` = window - stride tokens before the first token it scores
     * (at least 1: a token needs one before it to be predicted, so a
     * stride of a whole window advances by window - 1). */
    const size_t keep = window - stride > 1 ? (size_t)(window - stride) : 1;
    double sum = 0;
    size_t scored_to = 1; /* tokens [0, scored_to) are done: token 0 has no prediction */
    for (size_t begin = 0; scored_to < n && st == JOULE_OK; begin = scored_to - keep) {
        size_t end = begin + (size_t)window < n ? begin + (size_t)window : n;
        double s = 0;
        st = joule_engine_score(e, ids + begin, end - begin, scored_to - begin, NULL, &s, NULL, err,
                                err_size);
        sum += s;
        out->n_windows++;
        scored_to = end;
    }
    free(ids);
    if (st != JOULE_OK)
        return st;
    out->n = (int64_t)(n - 1);
    out->nll = -sum / (double)(n - 1);
    out->score = exp(out->nll);
    return JOULE_OK;
}

/* --- multiple choice --------------------------------------------------------- */

/* Log-likelihood of " L" (option letter L) after the prompt.  The prompt
 * and prompt + letter are tokenized whole and the shared prefix is the
 * context, so a tokenizer that merges across the seam is still scored on
 * what differs. */
static enum joule_status option_loglik(struct joule_engine *e, const char *prompt,
                                       const int32_t *ctx, size_t n_ctx, char letter, double *ll,
                                       char *err, size_t err_size)
{
    size_t len = strlen(prompt);
    char *full = malloc(len + 3);
    if (!full)
        return JOULE_ERR_NOMEM;
    memcpy(full, prompt, len);
    full[len] = ' ';
    full[len + 1] = letter;
    full[len + 2] = '\0';
    int32_t *ids = NULL;
    size_t n = 0;
    enum joule_status st = encode(e, full, len + 2, &ids, &n, err, err_size);
    free(full);
    if (st != JOULE_OK)
        return st;
    size_t common = 0;
    while (common < n_ctx && common < n && ids[common] == ctx[common])
        common++;
    if (common < 1)
        common = 1;
    if (common >= n) {
        free(ids);
        joule_fmt(err, err_size, "option %c adds no token to the prompt", letter);
        return JOULE_ERR_INVALID;
    }
    st = joule_engine_score(e, ids, n, common, NULL, ll, NULL, err, err_size);
    free(ids);
    return st;
}

static enum joule_status eval_mc(struct joule_engine *e, const struct joule_dataset *d,
                                 joule_eval_sample_fn on_sample, void *user,
                                 struct joule_eval_result *out, char *err, size_t err_size)
{
    const size_t n = joule_dataset_count(d);
    for (size_t i = 0; i < n; i++) {
        const struct joule_sample *s = joule_dataset_get(d, i);
        if (s->n_choices < 2 || s->n_choices > 26 || s->correct < 0) {
            joule_fmt(err, err_size,
                      "%s: sample %s has no choices with a correct one: task mc needs a "
                      "multiple-choice dataset (mmlu format)",
                      joule_dataset_source(d), s->id ? s->id : "?");
            return JOULE_ERR_INVALID;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct joule_sample *s = joule_dataset_get(d, i);
        int32_t *ctx = NULL;
        size_t n_ctx = 0;
        enum joule_status st = encode(e, s->prompt, strlen(s->prompt), &ctx, &n_ctx, err, err_size);
        if (st != JOULE_OK)
            return st;
        int32_t best = -1;
        double best_ll = -INFINITY;
        for (int32_t k = 0; k < s->n_choices && st == JOULE_OK; k++) {
            double ll = 0;
            st = option_loglik(e, s->prompt, ctx, n_ctx, (char)('A' + k), &ll, err, err_size);
            if (st == JOULE_OK && (best < 0 || ll > best_ll)) {
                best = k;
                best_ll = ll;
            }
        }
        free(ctx);
        if (st != JOULE_OK)
            return st;
        const int ok = best == s->correct;
        out->n++;
        out->n_correct += ok;
        if (on_sample) {
            struct joule_eval_sample es = {i, s->id, ok, best, NULL};
            on_sample(user, &es);
        }
    }
    out->score = out->n ? (double)out->n_correct / (double)out->n : NAN;
    return JOULE_OK;
}

/* --- generated answers ------------------------------------------------------- */

struct gen {
    char **text;     /* [n] generated text of sample i */
    int32_t *tokens; /* [n] tokens generated */
    enum joule_status st;
};

static void on_done(void *user, const struct joule_request_result *r)
{
    struct gen *g = user;
    size_t i = (size_t)(uintptr_t)r->user;
    char *t = malloc(r->text_len + 1);
    if (!t) {
        g->st = JOULE_ERR_NOMEM;
        return;
    }
    memcpy(t, r->text, r->text_len);
    t[r->text_len] = '\0';
    free(g->text[i]);
    g->text[i] = t;
    g->tokens[i] = r->n_output;
}

/* Greedy generations of every prompt of d, the engine batching them. */
static enum joule_status generate_all(struct joule_engine *e, const struct joule_dataset *d,
                                      const struct joule_eval_params *p, struct gen *g, char *err,
                                      size_t err_size)
{
    const size_t n = joule_dataset_count(d);
    g->text = joule_calloc(n ? n : 1, sizeof(char *));
    g->tokens = joule_calloc(n ? n : 1, sizeof(int32_t));
    if (!g->text || !g->tokens)
        return JOULE_ERR_NOMEM;
    struct joule_engine_callbacks cb = {NULL, NULL, on_done, g};
    joule_engine_set_callbacks(e, &cb);
    enum joule_status st = JOULE_OK;
    for (size_t i = 0; i < n && st == JOULE_OK; i++) {
        const struct joule_sample *s = joule_dataset_get(d, i);
        struct joule_request r;
        joule_request_default(&r);
        r.prompt = s->prompt;
        r.prompt_len = strlen(s->prompt);
        r.max_tokens = p->max_tokens;
        r.user = (void *)(uintptr_t)i;
        /* An exact answer is one line: stop there rather than score the
         * ramble after it. */
        if (p->task == JOULE_EVAL_EXACT)
            r.stop[0] = "\n";
        uint64_t id;
        st = joule_engine_submit(e, &r, &id, err, err_size);
        if (st != JOULE_OK) {
            char keep[512];
            joule_strlcpy(keep, err, sizeof(keep));
            joule_fmt(err, err_size, "%s: sample %s: %s", joule_dataset_source(d),
                      s->id ? s->id : "?", keep);
        }
    }
    if (st == JOULE_OK)
        st = joule_engine_run(e, err, err_size);
    else
        while (joule_engine_pending(e) > 0) {
            /* Drain what was queued so the engine is left idle. */
            int ran = 0;
            char ignore[64];
            if (joule_engine_step(e, &ran, ignore, sizeof(ignore)) != JOULE_OK || !ran)
                break;
        }
    joule_engine_set_callbacks(e, NULL);
    return st != JOULE_OK ? st : g->st;
}

static enum joule_status eval_generated(struct joule_engine *e, const struct joule_dataset *d,
                                        const struct joule_eval_params *p,
                                        joule_eval_sample_fn on_sample, void *user,
                                        struct joule_eval_result *out, char *err, size_t err_size)
{
    const size_t n = joule_dataset_count(d);
    for (size_t i = 0; i < n; i++) {
        const struct joule_sample *s = joule_dataset_get(d, i);
        const char *want = p->task == JOULE_EVAL_ROUGE ? s->reference : s->answer;
        if (!want) {
            joule_fmt(err, err_size, "%s: sample %s has no %s: task %s needs one",
                      joule_dataset_source(d), s->id ? s->id : "?",
                      p->task == JOULE_EVAL_ROUGE ? "reference" : "answer",
                      joule_eval_task_name(p->task));
            return JOULE_ERR_INVALID;
        }
    }
    struct gen g = {NULL, NULL, JOULE_OK};
    enum joule_status st = generate_all(e, d, p, &g, err, err_size);
    double r1 = 0, r2 = 0, rl = 0;
    for (size_t i = 0; i < n && st == JOULE_OK; i++) {
        const struct joule_sample *s = joule_dataset_get(d, i);
        const char *text = g.text[i] ? g.text[i] : "";
        double score;
        if (p->task == JOULE_EVAL_ROUGE) {
            struct joule_eval_rouge rg[3];
            if ((st = joule_eval_rouge(text, s->reference, p->stem, rg)) != JOULE_OK) {
                joule_fmt(err, err_size, "ROUGE of sample %s: %s", s->id ? s->id : "?",
                          joule_status_str(st));
                break;
            }
            r1 += rg[0].f;
            r2 += rg[1].f;
            rl += rg[2].f;
            score = rg[2].f;
        } else if (p->task == JOULE_EVAL_EXACT) {
            score = joule_eval_exact(text, s->answer);
        } else {
            score = joule_eval_numeric_match(text, s->answer);
        }
        out->n++;
        out->n_correct += score == 1.0 && p->task != JOULE_EVAL_ROUGE;
        out->n_generated += g.tokens[i];
        if (on_sample) {
            struct joule_eval_sample es = {i, s->id, score, -1, text};
            on_sample(user, &es);
        }
    }
    for (size_t i = 0; i < n && g.text; i++)
        free(g.text[i]);
    free(g.text);
    free(g.tokens);
    if (st != JOULE_OK)
        return st;
    if (p->task == JOULE_EVAL_ROUGE && out->n > 0) {
        out->rouge1 = r1 / (double)out->n;
        out->rouge2 = r2 / (double)out->n;
        out->rougeL = rl / (double)out->n;
        out->score = out->rougeL;
    } else if (out->n > 0) {
        out->score = (double)out->n_correct / (double)out->n;
    }
    return JOULE_OK;
}

enum joule_status joule_eval_dataset(struct joule_engine *e, const struct joule_dataset *d,
                                     const struct joule_eval_params *p,
                                     joule_eval_sample_fn on_sample, void *user,
                                     struct joule_eval_result *out, char *err, size_t err_size)
{
    result_init(out, p->task);
    if (err && err_size)
        err[0] = '\0';
    if (joule_engine_pending(e) > 0) {
        joule_fmt(err, err_size, "the engine is busy: evaluate once its requests have finished");
        return JOULE_ERR_STATE;
    }
    switch (p->task) {
    case JOULE_EVAL_MC:
        return eval_mc(e, d, on_sample, user, out, err, err_size);
    case JOULE_EVAL_EXACT:
    case JOULE_EVAL_NUMERIC:
    case JOULE_EVAL_ROUGE:
        if (p->max_tokens < 1) {
            joule_fmt(err, err_size, "max_tokens %d: at least 1 token must be generated",
                      p->max_tokens);
            return JOULE_ERR_INVALID;
        }
        return eval_generated(e, d, p, on_sample, user, out, err, err_size);
    case JOULE_EVAL_PPL:
        joule_fmt(err, err_size,
                  "perplexity scores a text, not samples: use joule_eval_perplexity");
        return JOULE_ERR_INVALID;
    }
    joule_fmt(err, err_size, "unknown task %d", (int)p->task);
    return JOULE_ERR_INVALID;
}
