/*
 * backend.c - the table of backends, and what all of them share.
 */
#include "backend.h"
#include "builtin.h"
#include "command.h"
#include "http.h"
#include "joule_int.h"
#include "stats.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

const struct joule_backend_ops *joule_backend_find(const char *name)
{
    static const struct joule_backend_ops *const all[] = {&joule_backend_builtin, &joule_backend_http,
                                                        &joule_backend_command};
    for (size_t i = 0; i < JOULE_ARRAY_LEN(all); i++)
        if (name && strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

void joule_backend_prompt_free(struct joule_backend_prompt *p)
{
    free(p->tokens);
    free(p->text);
    p->tokens = NULL;
    p->text = NULL;
    p->n_tokens = 0;
    p->text_len = 0;
}

void joule_backend_result_free(struct joule_backend_result *r)
{
    free(r->text);
    free(r->itl_s);
    free(r->error);
    r->text = NULL;
    r->itl_s = NULL;
    r->error = NULL;
}

const char *joule_backend_tokens_str(enum joule_backend_tokens t)
{
    switch (t) {
    case JOULE_BACKEND_TOKENS_ENGINE: return "engine";
    case JOULE_BACKEND_TOKENS_USAGE: return "usage";
    case JOULE_BACKEND_TOKENS_TOKENIZER: return "tokenizer";
    case JOULE_BACKEND_TOKENS_COMMAND: return "command";
    case JOULE_BACKEND_TOKENS_UNKNOWN: return "unknown";
    }
    return "unknown";
}

void joule_backend_itl_stats(const double *itl, int32_t n, struct joule_backend_result *r)
{
    r->itl_mean_s = r->itl_p50_s = r->itl_p90_s = r->itl_max_s = NAN;
    if (n <= 0)
        return;
    double *x = malloc((size_t)n * sizeof(double));
    if (!x)
        return;
    memcpy(x, itl, (size_t)n * sizeof(double));
    struct joule_summary s = joule_summarize(x, (size_t)n);
    r->itl_mean_s = s.mean;
    r->itl_max_s = s.max;
    r->itl_p50_s = joule_quantile_sorted_inplace(x, (size_t)n, 0.5);
    r->itl_p90_s = joule_quantile_sorted_inplace(x, (size_t)n, 0.9);
    free(x);
}
