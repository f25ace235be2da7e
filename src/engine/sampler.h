/* TEMPORARY stub until the sampler branch lands */
#ifndef JOULE_ENGINE_SAMPLER_H
#define JOULE_ENGINE_SAMPLER_H
#include "joule.h"
#include <stdint.h>
#include <stddef.h>
struct joule_sampler;
struct joule_sampler_params { float temperature; int32_t top_k; float top_p, min_p, repeat_penalty; int32_t repeat_last_n; uint64_t seed; };
enum joule_status joule_sampler_create(const struct joule_sampler_params *p, int32_t n_vocab, struct joule_sampler **out, char *err, size_t err_size);
void joule_sampler_free(struct joule_sampler *s);
void joule_sampler_accept(struct joule_sampler *s, int32_t tok);
int32_t joule_sampler_sample(struct joule_sampler *s, const float *logits);
#endif
