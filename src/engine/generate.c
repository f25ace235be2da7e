/*
 * generate.c - greedy generation: tokenize, prefill, argmax until n_predict
 * tokens or EOS, as llama.cpp's reference driver does.
 */
#include "lm.h"

#include "joule_int.h"
#include "tokenizer.h"

int32_t joule_lm_argmax(const float *logits, int32_t n)
{
    JOULE_ASSERT(logits && n >= 1);
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (logits[i] > logits[best]) /* strict: the lowest id wins a tie */
            best = i;
    return best;
}

void joule_lm_generate_params_init(struct joule_lm_generate_params *p)
{
    p->n_predict = 16;
    p->tokenize_flags = JOULE_TOKENIZE_ADD_SPECIAL | JOULE_TOKENIZE_PARSE_SPECIAL;
    p->on_step = NULL;
    p->user = NULL;
}

enum joule_status joule_lm_generate(struct joule_lm_ctx *c, const struct joule_vocab *v,
                                    const char *prompt, size_t len,
                                    const struct joule_lm_generate_params *p,
                                    int32_t *prompt_ids, size_t prompt_cap, size_t *n_prompt,
                                    int32_t *out, size_t out_cap, size_t *n_out, char *err,
                                    size_t err_size)
{
    JOULE_ASSERT(c && v && p && n_prompt && n_out);
    *n_out = 0;
    *n_prompt = 0;
    if (p->n_predict < 0 || (size_t)p->n_predict > out_cap || (p->n_predict > 0 && !out)) {
        joule_fmt(err, err_size, "n_predict %d does not fit the output (%zu ids)", p->n_predict,
                  out_cap);
        return JOULE_ERR_INVALID;
    }
    enum joule_status st =
        joule_tokenize(v, prompt, len, p->tokenize_flags, prompt_ids, prompt_cap, n_prompt);
    if (st != JOULE_OK) {
        joule_fmt(err, err_size, "%s", *n_prompt > prompt_cap
                                           ? "the prompt ids do not fit the buffer"
                                           : "the prompt could not be tokenized");
        return st;
    }
    if (*n_prompt == 0) {
        joule_fmt(err, err_size, "the prompt is empty after tokenizing");
        return JOULE_ERR_INVALID;
    }
    joule_lm_ctx_reset(c);
    const struct joule_lm *m = joule_lm_ctx_model(c);
    /* The last generated token is never decoded: it needs no cache slot. */
    const size_t need = *n_prompt + (p->n_predict > 0 ? (size_t)p->n_predict - 1 : 0);
    if (need > (size_t)joule_lm_ctx_n_ctx(c)) {
        joule_fmt(err, err_size, "%zu prompt ids + %d generated do not fit n_ctx %d", *n_prompt,
                  p->n_predict, joule_lm_ctx_n_ctx(c));
        return JOULE_ERR_INVALID;
    }
    if ((st = joule_lm_prefill(c, prompt_ids, *n_prompt)) != JOULE_OK) {
        joule_fmt(err, err_size, "prefill failed (a prompt id outside the model's %d tokens?)",
                  m->hp.n_vocab);
        return st;
    }
    const int32_t eos = joule_vocab_eos(v);
    for (int32_t step = 0; step < p->n_predict; step++) {
        const float *logits = joule_lm_ctx_logits(c);
        const int32_t tok = joule_lm_argmax(logits, m->hp.n_vocab);
        out[(*n_out)++] = tok;
        if (p->on_step)
            p->on_step(p->user, step, logits, m->hp.n_vocab, tok);
        if (tok == eos || step + 1 == p->n_predict)
            break;
        if ((st = joule_lm_decode(c, tok, true)) != JOULE_OK) {
            joule_fmt(err, err_size, "decoding generated token %d failed", tok);
            return st;
        }
    }
    return JOULE_OK;
}
