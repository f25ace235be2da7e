#include "sampler.h"
#include "joule_int.h"
struct joule_sampler { int32_t n; };
enum joule_status joule_sampler_create(const struct joule_sampler_params *p, int32_t n_vocab, struct joule_sampler **out, char *err, size_t err_size)
{ (void)p; (void)err; (void)err_size; *out = calloc(1, sizeof(**out)); if (!*out) return JOULE_ERR_NOMEM; (*out)->n = n_vocab; return JOULE_OK; }
void joule_sampler_free(struct joule_sampler *s) { free(s); }
void joule_sampler_accept(struct joule_sampler *s, int32_t tok) { (void)s; (void)tok; }
int32_t joule_sampler_sample(struct joule_sampler *s, const float *l) { int32_t b = 0; for (int32_t i = 1; i < s->n; i++) if (l[i] > l[b]) b = i; return b; }
