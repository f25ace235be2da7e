/*
 * sampler.h - choosing the next token from logits: greedy, or a seeded
 * draw after repetition penalty, top-k, top-p, min-p and temperature.
 *
 * The chain, in this order (llama.cpp's default order for these stages):
 *  1. repetition penalty on the tokens of the last repeat_last_n accepted
 *     (prompt and output): a positive logit is divided by the penalty, a
 *     negative one multiplied (each token once, however often it appears);
 *  2. temperature 0: the argmax (the lowest id on ties), done;
 *  3. top-k: the k largest logits (0: all);
 *  4. top-p: the smallest set of the largest whose probability sums to at
 *     least p (at least one token);
 *  5. min-p: tokens whose probability is at least min_p times the largest;
 *  6. temperature: logits divided by it, softmax over the survivors, one
 *     draw from the sampler's own generator (xoshiro256** seeded by
 *     splitmix64 from the seed: the same seed gives the same tokens on every
 *     platform).
 * Probabilities in 4 and 5 are those of the logits after step 1 at
 * temperature 1, as llama.cpp computes them before its temperature stage.
 *
 * NaN logits never win: they are treated as -infinity; a row with no finite
 * logit gives token 0.
 *
 * A sampler belongs to one request; it allocates its scratch once.
 */
#ifndef JOULE_ENGINE_SAMPLER_H
#define JOULE_ENGINE_SAMPLER_H

#include "joule.h"

#include <stddef.h>
#include <stdint.h>

struct joule_sampler_params {
    float temperature;     /* <= 0: greedy */
    int32_t top_k;         /* 0: off; >= 0 */
    float top_p;           /* (0, 1]; 1: off */
    float min_p;           /* [0, 1]; 0: off */
    float repeat_penalty;  /* > 0; 1: off */
    int32_t repeat_last_n; /* >= 0 */
    uint64_t seed;
};

struct joule_sampler;

/* A sampler for a vocabulary of n_vocab (>= 1).  JOULE_ERR_INVALID with the
 * parameter, its value and the allowed range in err; JOULE_ERR_NOMEM. */
enum joule_status joule_sampler_create(const struct joule_sampler_params *p, int32_t n_vocab,
                                       struct joule_sampler **out, char *err, size_t err_size);

void joule_sampler_free(struct joule_sampler *s);

/* Records a token of the sequence (prompt or generated) for the penalty. */
void joule_sampler_accept(struct joule_sampler *s, int32_t token);

/* The next token for logits[n_vocab] (read only). */
int32_t joule_sampler_sample(struct joule_sampler *s, const float *logits);

#endif /* JOULE_ENGINE_SAMPLER_H */
